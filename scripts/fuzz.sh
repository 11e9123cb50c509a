#!/usr/bin/env bash
# Runs the libFuzzer targets of the asan build (build/asan/fuzz/fuzz_*; `make fuzz` builds them).
#   scripts/fuzz.sh smoke                           replay fuzz/regressions/, then every target
#                                                   for ~8 s on a temporary copy of its seed
#                                                   corpus (part of `make test`, about a minute)
#   scripts/fuzz.sh long [SECONDS_EACH] [TARGET...] every (or each named) target for SECONDS_EACH
#                                                   (default 600), two at a time, growing
#                                                   build/fuzz-corpus/<target>/ (kept between runs)
#   scripts/fuzz.sh replay [TARGET...]              only replay fuzz/regressions/
# TARGET is a name without the fuzz_ prefix: request json_bodies jwt cron query code.
# Exits non-zero on any finding (crash, sanitizer report, broken invariant, leak, timeout, OOM),
# naming the target, its log and the reproducer, which libFuzzer writes under
# build/fuzz-artifacts/<target>/. Keep a reproducer as a regression test by copying it to
# fuzz/regressions/<target>/ once the bug is fixed: every run replays that folder first.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

all_targets=(request json_bodies jwt cron query code)
bin_dir="${REFERRALD_FUZZ_BIN_DIR:-$root/build/asan/fuzz}"
artifacts_root="$root/build/fuzz-artifacts"
smoke_seconds="${REFERRALD_FUZZ_SMOKE_SECONDS:-8}"
jobs=1

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

mode="${1:-}"
[ -n "$mode" ] || usage
shift
seconds="$smoke_seconds"
case "$mode" in
  smoke) ;;
  long)
    seconds=600
    if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
      seconds="$1"
      shift
    fi
    jobs=2
    ;;
  replay) ;;
  *) usage ;;
esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
  if [ ! -x "$bin_dir/fuzz_$t" ]; then
    echo "fuzz: no $bin_dir/fuzz_$t (known targets: ${all_targets[*]}; build them with make fuzz)" >&2
    exit 2
  fi
done

work=$(mktemp -d /tmp/referrald-fuzz-run.XXXXXX)
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The sanitizers stop at the first report; LSan skips only the third-party frames listed.
export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:strict_init_order=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$root/sanitizers/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

common_flags=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

# Reports a finding of target $1 from its log $2; returns 1.
finding() {
  local target="$1" log="$2" artifact
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  echo "fuzz: FINDING in fuzz_$target — reproducer: ${artifact:-none written}; log: $log" >&2
  echo "fuzz: replay it with: $bin_dir/fuzz_$target ${artifact:-<input>}" >&2
  grep -E -A40 'ERROR: |runtime error:|==== fuzz invariant broken|ALARM|out-of-memory' \
    "$log" | head -n 80 >&2 || tail -n 40 "$log" >&2
  return 1
}

# Runs every file of fuzz/regressions/$1/ once. Returns non-zero on a finding.
replay() {
  local target="$1" inputs=() log
  local dir="$root/fuzz/regressions/$target"
  [ -d "$dir" ] || return 0
  while IFS= read -r -d '' f; do inputs+=("$f"); done \
    < <(find "$dir" -type f ! -name '.*' ! -name '*.md' -print0 | sort -z)
  [ ${#inputs[@]} -gt 0 ] || return 0
  mkdir -p "$artifacts_root/$target" "$work/tmp-$target"
  log="$artifacts_root/$target/replay.log"
  if TMPDIR="$work/tmp-$target" "$bin_dir/fuzz_$target" "${common_flags[@]}" \
    -artifact_prefix="$artifacts_root/$target/" "${inputs[@]}" >"$log" 2>&1; then
    echo "fuzz: fuzz_$target: ${#inputs[@]} regression inputs pass"
  else
    finding "$target" "$log"
  fi
}

# Fuzzes target $1 for $2 seconds on corpus folder $3. Returns non-zero on a finding.
fuzz_one() {
  local target="$1" secs="$2" corpus="$3" log dict=()
  mkdir -p "$artifacts_root/$target" "$work/tmp-$target" "$corpus"
  log="$artifacts_root/$target/$mode.log"
  if [ -f "$root/fuzz/dict/$target.dict" ]; then
    dict=(-dict="$root/fuzz/dict/$target.dict")
  fi
  if TMPDIR="$work/tmp-$target" "$bin_dir/fuzz_$target" "${common_flags[@]}" "${dict[@]}" \
    -max_total_time="$secs" -artifact_prefix="$artifacts_root/$target/" \
    "$corpus" >"$log" 2>&1; then
    local runs cov
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    echo "fuzz: fuzz_$target: ${secs}s, ${runs:-?} inputs, coverage ${cov:-?}, no finding"
  else
    finding "$target" "$log"
  fi
}

failed=()
for t in "${targets[@]}"; do
  replay "$t" || failed+=("$t")
done

if [ "$mode" != replay ]; then
  running=0
  for t in "${targets[@]}"; do
    if [ "$mode" = smoke ]; then
      # A throwaway copy: what the run adds does not end up in the repository's corpus.
      corpus="$work/corpus-$t"
      mkdir -p "$corpus"
      cp "$root/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
    else
      corpus="$root/build/fuzz-corpus/$t"
      mkdir -p "$corpus"
      cp -n "$root/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
    fi
    if [ "$running" -ge "$jobs" ]; then
      wait -n || true
      running=$((running - 1))
    fi
    (fuzz_one "$t" "$seconds" "$corpus" || touch "$work/failed-$t") &
    running=$((running + 1))
  done
  wait
  for t in "${targets[@]}"; do
    if [ -e "$work/failed-$t" ]; then failed+=("$t"); fi
  done
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (reproducers under $artifacts_root/)" >&2
  exit 1
fi
echo "fuzz: $mode: no finding in ${targets[*]}"
