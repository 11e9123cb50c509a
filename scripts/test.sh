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
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
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

status=0
ctest --preset "$preset" --output-on-failure -j2 "$@" || status=$?
if [ "$status" -ne 0 ] && [ -n "$pg_dir" ] && [ -f "$pg_dir/log" ]; then
  echo "test: last lines of the PostgreSQL server log ($pg_dir/log):" >&2
  tail -n 20 "$pg_dir/log" >&2 || true
fi
exit "$status"
