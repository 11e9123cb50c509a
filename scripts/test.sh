#!/usr/bin/env bash
# Runs every test of the given preset's build (default release) with CTest, two at a time.
#   scripts/test.sh [PRESET] [CTEST ARGS...]     e.g. scripts/test.sh release -R Postgres
# Integration tests start the real server on ephemeral loopback ports against temporary
# SQLite files, so they run side by side without sharing state.
# PostgreSQL tests get a throwaway cluster (scripts/pg-cluster.sh, under /tmp, removed on exit)
# through REFERRALD_TEST_POSTGRES_URL, and fail rather than skip when it is unusable
# (REFERRALD_REQUIRE_POSTGRES=1). Tests that need a private cluster to stop and restart run
# $REFERRALD_PG_CLUSTER_SCRIPT. When REFERRALD_TEST_POSTGRES_URL is already set (your own
# server), no cluster is started.
# Sanitizer presets (asan, tsan): every report — from a test process or from a `referrald` it
# starts — is written under a temporary directory instead of stderr, and any report fails the
# run: it is printed at the end and kept in build/<preset>/sanitizer-reports/. Suppressions
# (third-party frames only) are in sanitizers/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

preset="${1:-release}"
if [ $# -gt 0 ]; then
  shift
fi

pg_cluster="$root/scripts/pg-cluster.sh"
export REFERRALD_PG_CLUSTER_SCRIPT="$pg_cluster"
export REFERRALD_REQUIRE_POSTGRES="${REFERRALD_REQUIRE_POSTGRES:-1}"

pg_dir=""
reports_dir=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  if [ -n "$reports_dir" ]; then
    rm -rf "$reports_dir"
    reports_dir=""
  fi
  if [ -n "$pg_dir" ]; then
    "$pg_cluster" destroy "$pg_dir" || echo "test: could not remove the PostgreSQL cluster in $pg_dir" >&2
    pg_dir=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${REFERRALD_TEST_POSTGRES_URL:-}" ]; then
  pg_dir=$(mktemp -d /tmp/referrald-pg.XXXXXX)
  if ! url=$("$pg_cluster" start "$pg_dir"); then
    echo "test: could not start a throwaway PostgreSQL cluster (see above)" >&2
    exit 1
  fi
  export REFERRALD_TEST_POSTGRES_URL="$url"
  echo "test: throwaway PostgreSQL cluster at $url" >&2
fi

# Sanitizer options, set after the cluster started (PostgreSQL itself is not instrumented).
launcher=()
case "$preset" in
  asan | tsan)
    reports_dir=$(mktemp -d /tmp/referrald-sanitizers.XXXXXX)
    common="log_path=$reports_dir/report:log_exe_name=1"
    export ASAN_OPTIONS="$common:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1"
    export LSAN_OPTIONS="$common:suppressions=$root/sanitizers/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="$common:print_stacktrace=1:halt_on_error=1"
    export TSAN_OPTIONS="$common:halt_on_error=1:second_deadlock_stack=1:suppressions=$root/sanitizers/tsan.supp"
    # ThreadSanitizer (gcc 12, clang 14) cannot map its shadow memory under the high-entropy
    # ASLR of newer kernels (vm.mmap_rnd_bits > 28): run the tests without ASLR there.
    if [ "$preset" = tsan ] && [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)" -gt 28 ]; then
      launcher=(setarch "$(uname -m)" -R)
    fi
    ;;
esac

status=0
"${launcher[@]}" ctest --preset "$preset" --output-on-failure -j2 "$@" || status=$?
if [ -n "$reports_dir" ] && [ -n "$(ls -A "$reports_dir")" ]; then
  kept="$root/build/$preset/sanitizer-reports"
  rm -rf "$kept"
  mkdir -p "$kept"
  cp "$reports_dir"/* "$kept"/
  echo "test: $preset: sanitizer reports (kept in $kept):" >&2
  for report in "$reports_dir"/*; do
    echo "----- $(basename "$report")" >&2
    cat "$report" >&2
  done
  status=1
fi
if [ "$status" -ne 0 ] && [ -n "$pg_dir" ] && [ -f "$pg_dir/log" ]; then
  echo "test: last lines of the PostgreSQL server log ($pg_dir/log):" >&2
  tail -n 20 "$pg_dir/log" >&2 || true
fi
exit "$status"
