-- One wrk scenario: `wrk -s bench/scenarios/scenario.lua URL -- METHOD PATH MODE [FILE]`.
--   MODE none:   no Authorization header.
--   MODE token:  FILE has one bearer token per line; each request takes the next (fresh users
--                for the write routes, referrers for /stats, one admin token for analytics).
--   MODE track:  FILE lines are "TOKEN CODE"; the body is {"referralCode": CODE}.
--   MODE click-new, click-repeat: FILE lines are "TOKEN CODE"; each request is PATH .. CODE
--                (PATH "/r/": a referral link) without a token, from a User-Agent of its own
--                (click-new: every request a new visitor, so every click is counted) or from
--                one User-Agent (click-repeat: after a code's first, every click is a repeat).
-- With BENCH_IDEMPOTENCY_KEYS=1 in the environment every POST carries a fresh Idempotency-Key.
-- At the end it prints one line: RESULT <requests/s> <p50 ms> <p99 ms> <non-2xx> <errors>.
local method, path, mode, file
local lines = {}
local next_line = 0
local keyed = os.getenv("BENCH_IDEMPOTENCY_KEYS") == "1"
local key_prefix = string.format("bench-%d-%d-", os.time(), math.random(1, 1e9))
local key_count = 0

function init(args)
  method, path, mode, file = args[1], args[2], args[3], args[4]
  if file then
    for line in io.lines(file) do lines[#lines + 1] = line end
  end
end

function request()
  local headers = {}
  local body = nil
  if mode == "click-new" or mode == "click-repeat" then
    next_line = next_line % #lines + 1
    local code = lines[next_line]:match("^%S+%s+(%S+)$")
    key_count = key_count + 1
    headers["User-Agent"] = mode == "click-new" and (key_prefix .. key_count) or "bench-repeat"
    return wrk.format(method, path .. code, headers, nil)
  end
  if mode ~= "none" then
    next_line = next_line % #lines + 1
    local line = lines[next_line]
    local token, code = line:match("^(%S+)%s*(%S*)$")
    headers["Authorization"] = "Bearer " .. token
    if mode == "track" then body = '{"referralCode":"' .. code .. '"}' end
  end
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    body = body or (path:find("subscriptions") and '{"tier":"premium","nonce":"bench"}' or "{}")
    if keyed then
      key_count = key_count + 1
      headers["Idempotency-Key"] = key_prefix .. key_count
    end
  end
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local non2xx = summary.errors.status
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
                 summary.errors.timeout
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n", summary.requests / seconds,
                         latency:percentile(50) / 1000, latency:percentile(99) / 1000,
                         non2xx, errors))
end
