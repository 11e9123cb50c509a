#!/usr/bin/env bash
# Static analysis: clang-tidy with the checked-in .clang-tidy over every source file of src/
# (and the headers of src/ they include), two files at a time. Exits non-zero on any warning.
# Needs a compilation database made by clang: build/asan's (`make asan` or `make fuzz` configure
# it); configures it when missing. Extra arguments go to run-clang-tidy (e.g. -fix).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
if [ ! -f build/asan/compile_commands.json ]; then
  cmake --preset asan >/dev/null
fi
# The generated headers (embedded migrations, include views) must exist for the files to parse.
cmake --build --preset asan --target referrald_storage >/dev/null

log=$(mktemp /tmp/referrald-lint.XXXXXX)
trap 'rm -f "$log"' EXIT
start=$SECONDS
status=0
# The OpenAPI document is one generated string literal longer than the 65,536 characters the
# standard promises; GCC and clang take it, so that portability note is not a finding.
run-clang-tidy -p build/asan -j "$(nproc)" -quiet -extra-arg=-Wno-overlength-strings "$@" \
  "$PWD/src/.*\.cpp\$" >"$log" 2>&1 || status=$?
# run-clang-tidy prints the command of each file; keep what clang-tidy said.
warnings=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '(warning|error): ' | sort -u || true)
files=$(find src -name '*.cpp' | wc -l)
if [ -n "$warnings" ] || [ "$status" -ne 0 ]; then
  sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -vE '^(clang-tidy|Running|[0-9]+ warnings? generated|Suppressed|Use -header-filter)' >&2 || true
  echo "lint: $(printf '%s\n' "$warnings" | grep -c . ) finding(s) in $files files ($((SECONDS - start)) s)" >&2
  exit 1
fi
echo "lint: clang-tidy clean on $files files of src/ ($((SECONDS - start)) s)"
