#!/usr/bin/env bash
# Private PostgreSQL 15 + Redis for the test suite, inside a temporary folder.
#
#   scripts/services.sh start DIR        initdb + start PostgreSQL, start Redis, write DIR/env
#   scripts/services.sh stop DIR         stop both (safe to call twice, or on a half-started DIR)
#   scripts/services.sh pg-stop DIR      stop PostgreSQL only      (data and port are kept)
#   scripts/services.sh pg-start DIR     start it again, same port and same data
#   scripts/services.sh redis-stop DIR   stop Redis only
#   scripts/services.sh redis-start DIR  start it again on the same port
#   scripts/services.sh status DIR       print what is running
#
# DIR/env holds `export` lines: DB_HOST DB_PORT DB_USERNAME DB_PASSWORD DB_DATABASE REDIS_URL
# PG_PORT REDIS_PORT PGDATA PG_BIN PG_SOCKET_DIR SERVICES_DIR.
#
# Ports are picked at random in 20000-30000 (below the ephemeral range 32768-60999, so an outgoing
# connection never steals them between a stop and a restart) and checked free before use.
# PostgreSQL refuses to run as root: when run as root, initdb/pg_ctl run as the `postgres` user.
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
DB_USER=gateway
DB_PASS=gateway-test-pw
DB_NAME=mcp_registry

die() { echo "services.sh: $*" >&2; exit 1; }
usage() { echo "usage: $0 {start|stop|pg-start|pg-stop|redis-start|redis-stop|status} DIR" >&2; exit 2; }

[ $# -eq 2 ] || usage
CMD="$1"
if [ "$CMD" = start ]; then mkdir -p "$2"; fi
if [ ! -d "$2" ]; then
  # stop on a folder that is already gone: nothing to do.
  case "$CMD" in stop|pg-stop|redis-stop) exit 0 ;; esac
  die "no such directory: $2"
fi
DIR="$(cd "$2" && pwd)"

PGDATA="$DIR/pgdata"
PGSOCK="$DIR/pgsock"
PGLOG="$DIR/postgres.log"
REDIS_PID="$DIR/redis.pid"
REDIS_LOG="$DIR/redis.log"
STATE="$DIR/ports"

if [ "$(id -u)" -eq 0 ]; then
  PGUSER_OS=postgres
  as_pg() { (cd "$DIR" && runuser -u postgres -- "$@"); }
else
  PGUSER_OS="$(id -un)"
  as_pg() { (cd "$DIR" && "$@"); }
fi

. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"  # port_free

pick_port() {
  local avoid="${1:-0}" p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 10000))
    [ "$p" = "$avoid" ] && continue
    if port_free "$p"; then echo "$p"; return 0; fi
  done
  die "no free port found in 20000-30000"
}

load_ports() {
  [ -f "$STATE" ] || die "$DIR was not set up by '$0 start' (no $STATE)"
  # shellcheck disable=SC1090
  . "$STATE"
}

pg_running() { [ -f "$PGDATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

pg_start() {
  load_ports
  if pg_running; then return 0; fi
  port_free "$PG_PORT" || die "PostgreSQL port $PG_PORT is taken"
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PGSOCK" start >/dev/null \
    || { tail -n 30 "$PGLOG" >&2 || true; die "PostgreSQL did not start"; }
}

pg_stop() {
  [ -d "$PGDATA" ] || return 0
  if [ -f "$PGDATA/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
}

# True only when the pid file names a live redis-server (pids wrap: never trust a stale file).
redis_running() {
  local pid
  pid="$(cat "$REDIS_PID" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null
}

redis_start() {
  load_ports
  if redis_running; then return 0; fi
  port_free "$REDIS_PORT" || die "Redis port $REDIS_PORT is taken"
  rm -f "$REDIS_PID"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$DIR" \
    --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --save '' --appendonly no >/dev/null
  local i
  for i in $(seq 1 100); do
    if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.1
  done
  tail -n 30 "$REDIS_LOG" >&2 || true
  die "Redis did not start on port $REDIS_PORT"
}

redis_stop() {
  [ -f "$REDIS_PID" ] || return 0
  local pid i
  pid="$(cat "$REDIS_PID" 2>/dev/null || true)"
  if [ -n "$pid" ] && redis_running; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$REDIS_PID"
}

write_env() {
  cat > "$DIR/env" <<ENV
export SERVICES_DIR='$DIR'
export DB_HOST=127.0.0.1
export DB_PORT=$PG_PORT
export DB_USERNAME=$DB_USER
export DB_PASSWORD=$DB_PASS
export DB_DATABASE=$DB_NAME
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export PG_PORT=$PG_PORT
export REDIS_PORT=$REDIS_PORT
export PGDATA='$PGDATA'
export PG_BIN='$PG_BIN'
export PG_SOCKET_DIR='$PGSOCK'
ENV
}

start() {
  command -v redis-server >/dev/null || die "redis-server not installed (run scripts/deps.sh)"
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found in $PG_BIN (run scripts/deps.sh)"
  if [ "$PGUSER_OS" = postgres ]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user (is the postgresql package installed?)"
  fi

  if [ -f "$STATE" ]; then
    # Already set up: just make sure both run (e.g. start after a partial stop).
    pg_start; redis_start; write_env; return 0
  fi

  chmod a+rx "$DIR"
  if [ "$PGUSER_OS" = postgres ] && ! runuser -u postgres -- test -x "$DIR"; then
    die "$DIR is not reachable by the postgres user (a parent folder is not traversable); use a folder under /tmp"
  fi

  local pg_port redis_port
  pg_port="$(pick_port)"
  redis_port="$(pick_port "$pg_port")"
  printf 'PG_PORT=%s\nREDIS_PORT=%s\n' "$pg_port" "$redis_port" > "$STATE"

  mkdir -p "$PGDATA" "$PGSOCK"
  : > "$PGLOG"
  chmod 700 "$PGDATA"
  chown "$PGUSER_OS" "$PGDATA" "$PGSOCK" "$PGLOG"

  as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --no-locale \
    --auth-host=scram-sha-256 --auth-local=trust >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  cat >> "$PGDATA/postgresql.conf" <<CONF

# scripts/services.sh: a throwaway test cluster
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$PGSOCK'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
password_encryption = 'scram-sha-256'
CONF

  pg_start
  as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$pg_port" -U postgres -d postgres \
    -c "CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASS'" \
    -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >/dev/null \
    || die "could not create role/database"

  redis_start
  write_env
}

stop() {
  pg_stop
  redis_stop
}

status() {
  load_ports
  if pg_running; then echo "postgresql: running on 127.0.0.1:$PG_PORT"; else echo "postgresql: stopped"; fi
  if redis_running; then echo "redis: running on 127.0.0.1:$REDIS_PORT (pid $(cat "$REDIS_PID"))"; else echo "redis: stopped"; fi
}

case "$CMD" in
  start) start ;;
  stop) stop ;;
  pg-start) pg_start ;;
  pg-stop) pg_stop ;;
  redis-start) redis_start ;;
  redis-stop) redis_stop ;;
  status) status ;;
  *) usage ;;
esac
