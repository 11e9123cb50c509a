#!/usr/bin/env bash
# Load scenarios against a release build on loopback: wrk drives a read route, the
# leaderboard, and a write route (POST /generate-code, one fresh user per request).
# Usage: bench/load.sh [duration=10s] [connections=32]
# Needs: make build (build/release/referrald), wrk (apt-get install wrk) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10s}"
connections="${2:-32}"
bin=build/release/referrald
[ -x "$bin" ] || { echo "bench: run 'make build' first" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export JWT_SECRET=bench-secret-0123456789abcdef DATABASE_URL="sqlite:$work/bench.db"
export HOST=127.0.0.1 PORT=5099 ENABLE_AUTOMATION_WORKER=false LOG_LEVEL=warn
"$bin" serve > "$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:5099/health >/dev/null && break; sleep 0.1; done

uuid() { printf '%08x-%04x-4%03x-8%03x-%012x' $((RANDOM*RANDOM)) $RANDOM $((RANDOM%4096)) \
  $((RANDOM%4096)) $(( (RANDOM<<30) + (RANDOM<<15) + RANDOM )); }

# One user with a code and a few hundred referrals behind it, so reads have data.
owner=$(uuid)
owner_token=$("$bin" token --sub "$owner" --email owner@example.com --ttl 86400)
code=$(curl -s -X POST http://127.0.0.1:5099/api/referral/generate-code \
  -H "Authorization: Bearer $owner_token" | sed -E 's/.*"code":"([^"]+)".*/\1/')
for i in $(seq 300); do
  t=$("$bin" token --sub "$(uuid)" --email "r$i@example.com" --ttl 86400)
  curl -s -o /dev/null -X POST http://127.0.0.1:5099/api/referral/track \
    -H "Authorization: Bearer $t" -H 'Content-Type: application/json' \
    -d "{\"referralCode\":\"$code\"}"
done

# Tokens for the write scenario: one fresh user per request (minted by bench/mint_tokens.py,
# the same HS256 as `referrald token`, because forking the CLI 100k times takes minutes).
tokens="$work/tokens.txt"
python3 bench/mint_tokens.py 100000 > "$tokens"
cat > "$work/write.lua" <<LUA
local tokens = {}
for line in io.lines("$tokens") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  local t = tokens[(i % #tokens) + 1]
  return wrk.format("POST", "/api/referral/generate-code",
    {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"}, "{}")
end
LUA

run() {
  echo "== $1"
  shift
  wrk -t1 -c"$connections" -d"$duration" --latency "$@" | grep -E 'Requests/sec|Latency|99%|Non-2xx'
}
run "GET /health" http://127.0.0.1:5099/health
run "GET /api/referral/stats (JWT + user upsert memo + 4 counts)" \
  -H "Authorization: Bearer $owner_token" http://127.0.0.1:5099/api/referral/stats
run "GET /api/referral/leaderboard?period=all" \
  -H "Authorization: Bearer $owner_token" "http://127.0.0.1:5099/api/referral/leaderboard?period=all"
run "POST /api/referral/generate-code (new user + code + audit row, one transaction each)" \
  -s "$work/write.lua" http://127.0.0.1:5099
