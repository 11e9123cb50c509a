#!/usr/bin/env bash
# The write routes, side by side with a baseline revision, in one run: what the event outbox and
# Idempotency-Key cost each write (issue 9 allows 25%).
#
# Builds BENCH_BASELINE (a git revision, default: the last commit before the event outbox) in
# build/baseline/, then for each backend runs rounds of [baseline, current] — each round a fresh
# database of BENCH_SIZE referrals seeded by that binary's own referrald-bench, a server, and the
# three write scenarios 32 at a time, every request with a fresh Idempotency-Key (a baseline that
# does not know the header ignores it). Alternating the binaries spreads the machine's drift over
# both. Prints the median of each and the ratio; results in build/bench/compare.tsv.
#
# Usage: bench/compare-writes.sh          (both backends, 3 rounds of 5 s: about 10 minutes)
#        BENCH_BACKENDS=sqlite BENCH_ROUNDS=1 bench/compare-writes.sh
# The machine should be otherwise idle.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

baseline=${BENCH_BASELINE:-10cf2f0}
backends=${BENCH_BACKENDS:-"sqlite postgres"}
rounds=${BENCH_ROUNDS:-3}
seconds=${BENCH_SECONDS:-5}
size=${BENCH_SIZE:-10000}
lua=$root/bench/scenarios/scenario.lua
out=$root/build/bench
secret=bench-secret-0123456789abcdef-0123456789
port=5098
url=http://127.0.0.1:$port

current_bin=$root/build/release
for f in "$current_bin/referrald" "$current_bin/referrald-bench"; do
  [ -x "$f" ] || { echo "compare: $f is missing: run 'make bench' (it builds first)" >&2; exit 2; }
done
for p in wrk psql; do
  command -v $p >/dev/null || { echo "compare: $p is missing (scripts/install-deps.sh)" >&2; exit 2; }
done

# The baseline: a detached worktree of the revision, built with the same preset.
base_src=$root/build/baseline/src
base_rev=$(git rev-parse --verify --quiet "$baseline^{commit}") ||
  { echo "compare: no revision '$baseline' in this clone" >&2; exit 2; }
if [ "$(git -C "$base_src" rev-parse HEAD 2>/dev/null || true)" != "$base_rev" ]; then
  git worktree remove --force "$base_src" 2>/dev/null || rm -rf "$base_src"
  git worktree prune
  git worktree add --detach "$base_src" "$base_rev" >/dev/null
fi
echo "compare: building the baseline $(git log -1 --format='%h %s' "$base_rev")"
(cd "$base_src" && cmake --preset release >/dev/null &&
  cmake --build --preset release --target referrald referrald-bench >/dev/null)
baseline_bin=$base_src/build/release

mkdir -p "$out"
work=$(mktemp -d /tmp/referrald-compare.XXXXXX)
chmod 755 "$work"
results=$out/compare.tsv
printf 'backend\tbinary\tround\tscenario\trps\tp50_ms\tp99_ms\tnon2xx\terrors\n' >"$results"
server_pid=""
pg_dir=""

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap bench_cleanup EXIT

# One round: backend binary-name binary-dir round database-url
round() {
  local backend=$1 name=$2 bin=$3 r=$4 database_url=$5
  local tokens=$work/tokens-$backend-$name-$r
  "$bin/referrald-bench" seed --database-url "$database_url" --out "$tokens" \
    --jwt-secret "$secret" --referrals "$size" --tokens 60000 \
    --threads "$([ "$backend" = postgres ] && echo 4 || echo 1)" >/dev/null 2>>"$work/seed.log"
  # The seed's dirty pages go to disk now, not in the kernel's writeback during a measurement.
  sync
  start_server "$bin/referrald" "$database_url"
  local s scenario method path mode file line
  for s in "generate-code|POST|/api/referral/generate-code|token|$tokens/generate.tokens" \
    "track|POST|/api/referral/track|track|$tokens/track.lines" \
    "subscription|POST|/api/subscriptions/create|token|$tokens/subscribe.tokens"; do
    IFS='|' read -r scenario method path mode file <<<"$s"
    line=$(BENCH_IDEMPOTENCY_KEYS=${BENCH_IDEMPOTENCY_KEYS:-1} wrk -t1 -c32 -d"${seconds}s" -s "$lua" "$url" -- \
      "$method" "$path" "$mode" "$file" | grep '^RESULT' || true)
    [ -n "$line" ] || line="RESULT 0 0 0 0 0"
    set -- $line
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$name" "$r" "$scenario" "$2" "$3" \
      "$4" "$5" "$6" >>"$results"
    printf '  %-9s round %s  %-14s %9s req/s  p50 %7s ms  p99 %7s ms  non-2xx %s\n' "$name" "$r" \
      "$scenario" "$2" "$3" "$4" "$5"
  done
  stop_server
}

for backend in $backends; do
  echo "== $backend, $size referrals, $rounds round(s) of ${seconds} s per scenario"
  if [ "$backend" = postgres ]; then
    pg_dir=$work/pg
    server=$(PG_CLUSTER_DURABLE=1 "$root/scripts/pg-cluster.sh" start "$pg_dir")
  fi
  for r in $(seq "$rounds"); do
    for pair in "baseline|$baseline_bin" "current|$current_bin"; do
      IFS='|' read -r name bin <<<"$pair"
      if [ "$backend" = sqlite ]; then
        round sqlite "$name" "$bin" "$r" "sqlite:$work/$name-$r.db"
        rm -f "$work/$name-$r.db"*
      else
        psql -q "$server" -c "CREATE DATABASE compare_${name}_$r"
        round postgres "$name" "$bin" "$r" "${server%/postgres}/compare_${name}_$r"
        psql -q "$server" -c "DROP DATABASE compare_${name}_$r"
      fi
    done
  done
  if [ "$backend" = postgres ]; then
    "$root/scripts/pg-cluster.sh" destroy "$pg_dir" >/dev/null
    pg_dir=""
  fi
done

python3 - "$results" "$(git log -1 --format=%h "$base_rev")" "$(git rev-parse --short HEAD)" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
print(f"\nwrite routes, median req/s: baseline {sys.argv[2]} vs current {sys.argv[3]}")
print("| backend | route | baseline | current | current / baseline |")
print("|---|---|---:|---:|---:|")
keys = sorted({(r['backend'], r['scenario']) for r in rows}, key=lambda k: (k[0] != 'sqlite', k))
for backend, scenario in keys:
    med = {b: statistics.median(float(r['rps']) for r in rows
                                if (r['backend'], r['scenario'], r['binary']) == (backend, scenario, b))
           for b in ('baseline', 'current')}
    ratio = med['current'] / med['baseline'] if med['baseline'] else float('nan')
    print(f"| {backend} | {scenario} | {med['baseline']:,.0f} | {med['current']:,.0f} | {ratio:.0%} |")
EOF
echo "compare: $results"
