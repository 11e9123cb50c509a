#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for tests, from the Debian packages (/usr/lib/postgresql/*/bin).
#
#   pg-cluster.sh start DIR [PORT]      create (initdb) if needed and start; prints the URL
#                                       postgresql://postgres@127.0.0.1:PORT/postgres
#                                       (the only line on stdout) and writes PORT to DIR/port
#   pg-cluster.sh stop DIR [fast|immediate]   stop (default immediate); no error if not running
#   pg-cluster.sh destroy DIR           stop immediate, then rm -rf DIR
#
# DIR may be relative. It holds data/ (the cluster), log (the server log), port, initdb.log and
# the Unix socket. Without PORT a free loopback port is picked from a random point in
# 20000-60000, so parallel runs do not collide; re-running `start` on an existing cluster reuses
# the port in DIR/port. The server trusts every local connection and runs with fsync off: for
# tests only. PG_CLUSTER_DURABLE=1 keeps PostgreSQL's durability defaults (fsync, synchronous
# commit, full page writes) and a larger shared_buffers, for benchmarks. As root, initdb and pg_ctl run as the `postgres` user (DIR is chowned to it, so DIR
# must be somewhere that user can reach, e.g. under /tmp).
set -euo pipefail

prog="pg-cluster.sh"

die() {
  echo "$prog: $*" >&2
  exit 1
}

usage() {
  cat >&2 <<EOF
usage: $prog start DIR [PORT]
       $prog stop DIR [fast|immediate]
       $prog destroy DIR
EOF
  exit 2
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a PostgreSQL program: as the postgres user when we are root, directly otherwise.
# Always from /, which every user can enter (the caller's cwd may be /root).
as_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# Directory of the PostgreSQL binaries: the version the cluster in DIR was created with when
# it exists and is installed, else the highest installed version.
pg_bindir() {
  local want="" best="" v
  if [ -f "$data/PG_VERSION" ]; then
    want=$(cat "$data/PG_VERSION")
    if [ -x "/usr/lib/postgresql/$want/bin/pg_ctl" ]; then
      echo "/usr/lib/postgresql/$want/bin"
      return 0
    fi
  fi
  local f
  for f in /usr/lib/postgresql/*/bin/pg_ctl; do
    if [ ! -x "$f" ] || [ ! -x "${f%/pg_ctl}/initdb" ]; then
      continue
    fi
    v=${f#/usr/lib/postgresql/}
    v=${v%%/*}
    if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best" "$v" | sort -V | tail -n 1)" = "$v" ]; then
      best="$v"
    fi
  done
  if [ -z "$best" ]; then
    die "no PostgreSQL server found in /usr/lib/postgresql/*/bin; install it with scripts/install-deps.sh (Debian package 'postgresql')"
  fi
  if [ -n "$want" ]; then
    die "the cluster in $data was created by PostgreSQL $want, which is not installed (found $best)"
  fi
  echo "/usr/lib/postgresql/$best/bin"
}

# True when something already uses TCP port $1 on this host (any state, any address).
port_in_use() {
  local p="$1"
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] && return 0
  fi
  # Fallback (and double check): can we connect to it on loopback?
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null
}

# Prints a free port, probing from a random starting point in 20000-60000.
free_port() {
  local start p i
  start=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
  for ((i = 0; i < 40001; i++)); do
    p=$((20000 + (start - 20000 + i) % 40001))
    if ! port_in_use "$p"; then
      echo "$p"
      return 0
    fi
  done
  die "no free TCP port in 20000-60000"
}

valid_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

# 0 when the server of $data is running.
running() {
  [ -f "$data/postmaster.pid" ] || return 1
  as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

log_tail() {
  local from="${1:-0}"
  if [ -f "$dir/log" ]; then
    echo "$prog: server log ($dir/log):" >&2
    tail -c +"$((from + 1))" "$dir/log" | tail -n 40 >&2
  fi
}

cmd_start() {
  local port="${1:-}" auto=0 attempt from ok out
  if [ -n "$port" ] && ! valid_port "$port"; then
    die "invalid port '$port'"
  fi

  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  data="$dir/data"
  case "$dir" in
    *[\'\"\\\$\`]*) die "DIR must not contain quotes, backslashes, \$ or backquotes: $dir" ;;
  esac
  # The Unix socket DIR/.s.PGSQL.PORT must fit in sun_path (107 bytes).
  if [ $((${#dir} + 16)) -gt 107 ]; then
    die "DIR path is too long for a Unix socket (max 91 characters): $dir"
  fi

  if is_root; then
    id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist; install the Debian package 'postgresql'"
    chown postgres "$dir"
    chmod u+rwx "$dir"
    if ! runuser -u postgres -- test -w "$dir" -a -x "$dir"; then
      die "the postgres user cannot write $dir (a parent directory is closed to it); use a directory under /tmp"
    fi
  fi

  bindir=$(pg_bindir)

  if [ ! -f "$data/PG_VERSION" ]; then
    if [ -e "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
      die "$data exists, is not empty and holds no cluster"
    fi
    if ! as_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C \
      >"$dir/initdb.log" 2>&1; then
      echo "$prog: initdb failed:" >&2
      tail -n 40 "$dir/initdb.log" >&2
      exit 1
    fi
    rm -f "$dir/port"
  fi

  # Already running (e.g. `start` twice): report it.
  if running; then
    port=$(sed -n 4p "$data/postmaster.pid")
    valid_port "$port" || die "cannot read the port of the running server from $data/postmaster.pid"
    echo "$port" >"$dir/port"
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    return 0
  fi

  if [ -z "$port" ] && [ -f "$dir/port" ]; then
    port=$(cat "$dir/port")
    valid_port "$port" || die "invalid port in $dir/port"
  fi
  if [ -z "$port" ]; then
    auto=1
  fi

  # With an auto-picked port another process may take it between the probe and the bind:
  # then try another one.
  for attempt in 1 2 3 4 5; do
    if [ "$auto" -eq 1 ]; then
      port=$(free_port)
    fi
    from=0
    [ -f "$dir/log" ] && from=$(stat -c %s "$dir/log")
    ok=0
    settings="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB"
    if [ "${PG_CLUSTER_DURABLE:-0}" = "1" ]; then
      settings="-c shared_buffers=256MB -c max_wal_size=2GB"
    fi
    out=$(as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/log" -w -t 30 -s start \
      -o "-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c max_connections=300 $settings" \
      2>&1) && ok=1
    if [ "$ok" -eq 1 ]; then
      echo "$port" >"$dir/port"
      echo "postgresql://postgres@127.0.0.1:$port/postgres"
      return 0
    fi
    # Do not leave a half-started server behind.
    as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 -s stop >/dev/null 2>&1 || true
    if [ "$auto" -eq 1 ] && [ "$attempt" -lt 5 ] &&
      tail -c +"$((from + 1))" "$dir/log" 2>/dev/null | grep -q "Address already in use"; then
      echo "$prog: port $port was taken meanwhile; trying another one" >&2
      continue
    fi
    [ -z "$out" ] || echo "$out" >&2
    echo "$prog: PostgreSQL failed to start on port $port" >&2
    log_tail "$from"
    exit 1
  done
}

cmd_stop() {
  local mode="${1:-immediate}" pid i
  case "$mode" in
    fast | immediate | smart) ;;
    *) die "invalid stop mode '$mode' (fast or immediate)" ;;
  esac
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd -P)
  data="$dir/data"
  [ -f "$data/postmaster.pid" ] || return 0
  bindir=$(pg_bindir)
  running || return 0
  if as_pg "$bindir/pg_ctl" -D "$data" -m "$mode" -w -t 60 -s stop >&2; then
    return 0
  fi
  running || return 0
  # pg_ctl could not stop it: immediate shutdown by signal, as a last resort.
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -QUIT "$pid" 2>/dev/null; then
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
  fi
  die "could not stop the server of $data"
}

cmd_destroy() {
  local entry name
  [ -e "$dir" ] || return 0
  [ -d "$dir" ] || die "$dir is not a directory"
  dir=$(cd "$dir" && pwd -P)
  [ "$dir" != "/" ] || die "refusing to remove /"
  # Remove only what this script creates: never an unrelated directory given by mistake.
  for entry in "$dir"/* "$dir"/.[!.]* "$dir"/..?*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    name=${entry##*/}
    case "$name" in
      data | log | port | initdb.log | .s.PGSQL.*) ;;
      *) die "refusing to remove $dir: it holds '$name', which is not part of a cluster made by $prog" ;;
    esac
  done
  cmd_stop immediate
  rm -rf -- "$dir"
}

[ $# -ge 2 ] || usage
cmd="$1"
dir="$2"
shift 2
[ -n "$dir" ] || usage
data=""
bindir=""

case "$cmd" in
  start)
    [ $# -le 1 ] || usage
    cmd_start "$@"
    ;;
  stop)
    [ $# -le 1 ] || usage
    cmd_stop "$@"
    ;;
  destroy)
    [ $# -eq 0 ] || usage
    cmd_destroy
    ;;
  *) usage ;;
esac
