#!/usr/bin/env bash
# The benchmark harness (`make bench`): for each backend and each size, a fresh database filled
# by referrald-bench seed (through the domain's use cases), a release `referrald serve`, and wrk
# scenarios on loopback — every read route one request at a time (latency) and 32 at a time
# (throughput), the write routes 32 at a time, and /livez, which touches no database, as the HTTP
# stack's ceiling. Then each backend's raw single-row commit rate and, on PostgreSQL, the
# hot-row measurement. Results: build/bench/results.tsv, build/bench/report.md and the chart
# docs/performance-read-latency.svg (bench/report.py).
#
# Usage: bench/run.sh            (sizes 10000 100000 1000000, both backends: about 45 minutes)
#        BENCH_SIZES="10000" BENCH_BACKENDS=sqlite BENCH_SECONDS=3 bench/run.sh   (a quick look)
#        BENCH_ONLY='^click' BENCH_SIZES=10000 bench/run.sh   (only the scenarios whose name
#        matches the extended regex, and none of the raw probes unless it matches their names
#        commit-rate / contention)
# The machine should be otherwise idle: the load generator shares its cores with the server.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

sizes=${BENCH_SIZES:-"10000 100000 1000000"}
backends=${BENCH_BACKENDS:-"sqlite postgres"}
seconds=${BENCH_SECONDS:-5}
only=${BENCH_ONLY:-}
bin=$root/build/release/referrald
tool=$root/build/release/referrald-bench
lua=$root/bench/scenarios/scenario.lua
out=$root/build/bench
secret=bench-secret-0123456789abcdef-0123456789
port=5097
url=http://127.0.0.1:$port

for f in "$bin" "$tool"; do
  [ -x "$f" ] || { echo "bench: $f is missing: run 'make bench' (it builds first)" >&2; exit 2; }
done
for p in wrk gnuplot psql; do
  command -v $p >/dev/null || { echo "bench: $p is missing (scripts/install-deps.sh)" >&2; exit 2; }
done

mkdir -p "$out"
work=$(mktemp -d /tmp/referrald-bench.XXXXXX)
chmod 755 "$work"
results=$out/results.tsv
meta=$out/meta.tsv
printf 'backend\tsize\tscenario\tmode\trps\tp50_ms\tp99_ms\tnon2xx\terrors\n' >"$results"
printf 'backend\tsize\tkey\tvalue\n' >"$meta"
server_pid=""
pg_dir=""

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap bench_cleanup EXIT

note() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$meta"; }

# wrk one scenario: backend size name mode connections method path auth [file]
selected() { [ -z "$only" ] || grep -Eq -- "$only" <<<"$1"; }

scenario() {
  local backend=$1 size=$2 name=$3 mode=$4 connections=$5
  shift 5
  selected "$name" || return 0
  local line
  line=$(wrk -t1 -c"$connections" -d"${seconds}s" -s "$lua" "$url" -- "$@" | grep '^RESULT' || true)
  [ -n "$line" ] || line="RESULT 0 0 0 0 0"
  set -- $line
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$size" "$name" "$mode" "$2" "$3" "$4" \
    "$5" "$6" >>"$results"
  printf '  %-28s %-10s %9s req/s  p50 %7s ms  p99 %7s ms  non-2xx %s\n' "$name" "$mode" "$2" "$3" \
    "$4" "$5"
}

rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

run_size() {
  local backend=$1 size=$2 database_url=$3
  local tokens=$work/tokens-$backend-$size
  echo "== $backend, $size referrals"
  local seeded
  seeded=$("$tool" seed --database-url "$database_url" --out "$tokens" --jwt-secret "$secret" \
    --referrals "$size" --tokens 60000 --threads "$([ "$backend" = postgres ] && echo 4 || echo 1)" \
    2>"$work/seed.log" | tail -1)
  echo "  seeded: $seeded"
  note "$backend" "$size" seed "$seeded"
  start_server "$bin" "$database_url"
  # Warm the caches and the prepared statements.
  for route in stats "leaderboard?period=all" "leaderboard?period=week" "leaderboard?period=month"; do
    wrk -t1 -c4 -d1s -s "$lua" "$url" -- GET "/api/referral/$route" token "$tokens/referrers.tokens" \
      >/dev/null
  done
  local reads=(
    "livez|GET|/livez|none|"
    "stats|GET|/api/referral/stats|token|$tokens/referrers.tokens"
    "leaderboard all|GET|/api/referral/leaderboard?period=all|token|$tokens/referrers.tokens"
    "leaderboard month|GET|/api/referral/leaderboard?period=month|token|$tokens/referrers.tokens"
    "leaderboard week|GET|/api/referral/leaderboard?period=week|token|$tokens/referrers.tokens"
    "analytics all|GET|/api/referral/analytics|token|$tokens/admin.token"
    "analytics month|GET|/api/referral/analytics?period=month|token|$tokens/admin.token"
    "trends 30 days|GET|/api/referral/trends?days=30|token|$tokens/admin.token"
  )
  local r name method path mode file
  for r in "${reads[@]}"; do
    IFS='|' read -r name method path mode file <<<"$r"
    scenario "$backend" "$size" "$name" latency 1 "$method" "$path" "$mode" $file
    scenario "$backend" "$size" "$name" throughput 32 "$method" "$path" "$mode" $file
  done
  scenario "$backend" "$size" "generate-code" throughput 32 POST /api/referral/generate-code token \
    "$tokens/generate.tokens"
  scenario "$backend" "$size" "track" throughput 32 POST /api/referral/track track \
    "$tokens/track.lines"
  scenario "$backend" "$size" "subscription" throughput 32 POST /api/subscriptions/create token \
    "$tokens/subscribe.tokens"
  # Referral links: GET /r/CODE of the seeded referrers' codes, no token. "click new": every
  # request another visitor (each click counted: a read, then a write transaction); "click
  # repeat": one visitor, so after each code's first every click is a repeat (the read only).
  scenario "$backend" "$size" "click new" throughput 32 GET /r/ click-new "$tokens/track.lines"
  scenario "$backend" "$size" "click repeat" throughput 32 GET /r/ click-repeat \
    "$tokens/track.lines"
  note "$backend" "$size" rss_kb "$(rss_kb "$server_pid" VmRSS)"
  note "$backend" "$size" peak_rss_kb "$(rss_kb "$server_pid" VmHWM)"
  echo "  server memory: $(rss_kb "$server_pid" VmRSS) kB resident, peak $(rss_kb "$server_pid" VmHWM) kB"
  stop_server
}

for backend in $backends; do
  if [ "$backend" = sqlite ]; then
    for size in $sizes; do
      run_size sqlite "$size" "sqlite:$work/sqlite-$size.db"
      rm -f "$work/sqlite-$size.db"*
    done
    if selected commit-rate; then
      rate=$("$tool" commit-rate --database-url "sqlite:$work/commits.db" --seconds "$seconds")
      echo "  raw commit rate: $rate"
      note sqlite - commit_rate "$rate"
    fi
  else
    pg_dir=$work/pg
    server=$(PG_CLUSTER_DURABLE=1 "$root/scripts/pg-cluster.sh" start "$pg_dir")
    for size in $sizes; do
      psql -q "$server" -c "CREATE DATABASE bench_$size"
      run_size postgres "$size" "${server%/postgres}/bench_$size"
      psql -q "$server" -c "DROP DATABASE bench_$size"
    done
    psql -q "$server" -c "CREATE DATABASE bench_probe"
    if selected commit-rate; then
      rate=$("$tool" commit-rate --database-url "${server%/postgres}/bench_probe" --threads 8 \
        --seconds "$seconds")
      echo "  raw commit rate: $rate"
      note postgres - commit_rate "$rate"
    fi
    for shards in 1 16; do
      selected contention || continue
      c=$("$tool" contention --database-url "${server%/postgres}/bench_probe" --threads 8 \
        --seconds "$seconds" --shards "$shards" 2>>"$work/seed.log")
      echo "  contention: $c"
      note postgres - "contention_$shards" "$c"
    done
    "$root/scripts/pg-cluster.sh" destroy "$pg_dir" >/dev/null
    pg_dir=""
  fi
done

note machine - cpus "$(nproc)"
note machine - cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
note machine - memory_kb "$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
if [ -n "$only" ]; then
  python3 "$root/bench/report.py" "$out" -
  echo "bench: $results, $out/report.md (BENCH_ONLY: the chart is left as it is)"
else
  python3 "$root/bench/report.py" "$out" "$root/docs/performance-read-latency.svg"
  echo "bench: $results, $out/report.md, docs/performance-read-latency.svg"
fi
