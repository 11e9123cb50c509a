# Shared by bench/run.sh and bench/compare-writes.sh (sourced): the server under test and the
# clean-up. The caller sets root, work, secret, port, url, server_pid="" and pg_dir="".

# Removes what a run leaves: the server, a throwaway PostgreSQL cluster, the work directory.
bench_cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$pg_dir" ] && "$root/scripts/pg-cluster.sh" destroy "$pg_dir" >/dev/null 2>&1
  rm -rf "$work"
}

# start_server BINARY DATABASE_URL: `BINARY serve` on $port, without the worker, until /livez answers.
start_server() {
  local binary=$1 database_url=$2
  JWT_SECRET=$secret DATABASE_URL=$database_url HOST=127.0.0.1 PORT=$port \
    ENABLE_AUTOMATION_WORKER=false LOG_LEVEL=warn "$binary" serve >"$work/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    curl -sf "$url/livez" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench: the server did not start:" >&2
  cat "$work/serve.log" >&2
  exit 1
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
