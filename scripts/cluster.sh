#!/usr/bin/env bash
# A local scale-out cluster: PostgreSQL + Redis (scripts/services.sh), N gateway replicas sharing them,
# and an nginx round-robin load balancer in front (no sticky sessions).
#
#   scripts/cluster.sh up [DIR]       start everything, write DIR/cluster.env
#   scripts/cluster.sh down [DIR]     stop everything this script started (by recorded PID)
#   scripts/cluster.sh status [DIR]   every component, and each replica's /health
#
# DIR defaults to .cluster/ in the repository (git-ignored). Everything lives in DIR:
#   services/            PostgreSQL data + Redis (scripts/services.sh; see services.path when DIR is not
#                        reachable by the postgres user, e.g. a private pytest tmp folder)
#   replica-<i>.pid/.log/.port   gateway replica i (1..N)
#   nginx.conf nginx.pid nginx-error.log nginx-access.log nginx-tmp/
#   cluster.env          export lines: LB_URL LB_PORT REPLICA_URLS REPLICA_PORTS REPLICA_PIDS API_KEY
#                        SESSION_SECRET GATEWAY_BIN CLUSTER_DIR + the services env (DB_*, REDIS_URL, ...)
#   replica.env          the environment every replica got (without PORT), to start one more by hand
#
# Environment:
#   REPLICAS        number of gateway replicas (default 3)
#   GATEWAY_BIN     gateway executable (default .build/release/mcp-gateway if built, else .build/debug/…)
#   API_KEY         admin key (default: generated)
#   SESSION_SECRET  shared session-signing secret (default: generated, 48 hex chars)
#   LB_PORT         load balancer port (default: a free port)
#   NGINX_BIN       default /usr/sbin/nginx (Debian nginx-light)
#   READY_TIMEOUT   seconds to wait for each replica's storage to be up (default 60)
#   Passed through to every replica when set: LOG_LEVEL (default info) LOG_FORMAT VERSION_CHECK_INTERVAL
#   NODE_ENV APP_ENV GATEWAY_TEST_ROUTES TOOLS_PAGE_SIZE DB_POOL_SIZE DB_CONNECT_TIMEOUT
#   DB_STATEMENT_TIMEOUT DOWNSTREAM_CONNECT_TIMEOUT DOWNSTREAM_TIMEOUT TOOL_CALL_TIMEOUT IDLE_TIMEOUT
#   REQUEST_TIMEOUT SHUTDOWN_TIMEOUT SSE_KEEPALIVE MAX_BODY_BYTES MAX_HEADER_BYTES MAX_CONNECTIONS
#   ALLOWED_ORIGINS
#
# Gateway and nginx ports are picked at random in 30000-32767 (below the ephemeral range, above the
# 20000-30000 range of scripts/services.sh) and checked free before use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES_SH="$ROOT/scripts/services.sh"
NGINX_BIN="${NGINX_BIN:-/usr/sbin/nginx}"
PASS_THROUGH=(LOG_FORMAT VERSION_CHECK_INTERVAL NODE_ENV APP_ENV GATEWAY_TEST_ROUTES TOOLS_PAGE_SIZE
  DB_POOL_SIZE DB_CONNECT_TIMEOUT DB_STATEMENT_TIMEOUT DOWNSTREAM_CONNECT_TIMEOUT DOWNSTREAM_TIMEOUT
  TOOL_CALL_TIMEOUT IDLE_TIMEOUT REQUEST_TIMEOUT SHUTDOWN_TIMEOUT SSE_KEEPALIVE MAX_BODY_BYTES
  MAX_HEADER_BYTES MAX_CONNECTIONS ALLOWED_ORIGINS)

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*" >&2; }
usage() { echo "usage: $0 {up|down|status} [DIR]" >&2; exit 2; }

[ $# -ge 1 ] && [ $# -le 2 ] || usage
CMD="$1"
RAW_DIR="${2:-$ROOT/.cluster}"
case "$CMD" in
  up) mkdir -p "$RAW_DIR" ;;
  down|status) [ -d "$RAW_DIR" ] || { [ "$CMD" = down ] && exit 0; die "no such directory: $RAW_DIR"; } ;;
  *) usage ;;
esac
DIR="$(cd "$RAW_DIR" && pwd)"

# ---------------------------------------------------------------------------------------------------
# helpers

. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"  # port_free

TAKEN=" "
PICKED=
pick_port() {  # sets PICKED (no subshell, so TAKEN remembers what this run already handed out)
  local p i
  for i in $(seq 1 300); do
    p=$((30000 + RANDOM % 2768))
    case "$TAKEN" in *" $p "*) continue ;; esac
    if port_free "$p"; then TAKEN="$TAKEN$p "; PICKED="$p"; return 0; fi
  done
  die "no free port found in 30000-32767"
}

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# GET url -> prints "<status> <body>" (status 000 when nothing answered)
http_get() {
  python3 - "$1" <<'PY' 2>/dev/null || echo "000 "
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        print(r.status, r.read().decode(errors="replace"))
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(errors="replace"))
except Exception:
    print("000 ")
PY
}

# storage state from a /health body
storage_state() {
  python3 -c 'import json,sys
try: print(json.loads(sys.stdin.read()).get("storage",{}).get("state","?"))
except Exception: print("?")' <<<"$1"
}

# is PID alive and running the executable we expect (guards against a reused PID)?
pid_is() {
  local pid="$1" want="$2" exe
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  exe="${exe% (deleted)}"
  [ "$(basename "$exe")" = "$(basename "$want")" ]
}

# running = exists and not a zombie (our processes are reparented to PID 1, which may reap them late)
running() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st="$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

stop_pid() {  # stop_pid PIDFILE EXPECTED-EXE NAME
  local file="$1" want="$2" name="$3" pid i
  [ -f "$file" ] || return 0
  pid="$(cat "$file" 2>/dev/null || true)"
  if pid_is "$pid" "$want"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then
      say "$name (pid $pid) did not stop within 10 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$file"
}

services_dir() {
  if [ -f "$DIR/services.path" ]; then cat "$DIR/services.path"; else echo "$DIR/services"; fi
}

gateway_bin() {
  local b="${GATEWAY_BIN:-}"
  if [ -z "$b" ]; then
    if [ -x "$ROOT/.build/release/mcp-gateway" ]; then b="$ROOT/.build/release/mcp-gateway"
    else b="$ROOT/.build/debug/mcp-gateway"; fi
  fi
  case "$b" in /*) ;; *) b="$ROOT/$b" ;; esac
  [ -x "$b" ] || die "gateway binary not found or not executable: $b (swift build, or set GATEWAY_BIN)"
  echo "$b"
}

q() { printf "%q" "$1"; }

# ---------------------------------------------------------------------------------------------------
# down

down() {
  local f i bin=mcp-gateway
  [ -f "$DIR/cluster.env" ] && bin="$(. "$DIR/cluster.env"; echo "${GATEWAY_BIN:-mcp-gateway}")"
  stop_pid "$DIR/nginx.pid.cluster" "$NGINX_BIN" nginx
  rm -f "$DIR/nginx.pid"
  for f in "$DIR"/replica-*.pid; do
    [ -e "$f" ] || continue
    i="$(basename "$f" .pid)"
    stop_pid "$f" "$bin" "replica ${i#replica-}"
  done
  local sdir
  sdir="$(services_dir)"
  if [ -d "$sdir" ]; then
    "$SERVICES_SH" stop "$sdir" || true
    say "stopped PostgreSQL and Redis ($sdir)"
  fi
  if [ -f "$DIR/services.path" ]; then
    # a /tmp folder made because DIR itself is not reachable by the postgres user: nothing to keep
    case "$sdir" in /tmp/mcp-cluster-services.*) rm -rf "$sdir" ;; esac
    rm -f "$DIR/services.path"
  fi
}

# ---------------------------------------------------------------------------------------------------
# up

start_replica() {  # start_replica I PORT -> pid on stdout
  local i="$1" port="$2" log="$DIR/replica-$1.log"
  : >"$log"
  (
    cd "$DIR"
    # shellcheck disable=SC1091
    . "$DIR/replica.env"
    export PORT="$port"
    exec setsid "$BIN" serve
  ) >>"$log" 2>&1 </dev/null &
  echo $!
}

wait_replica() {  # wait_replica I PORT PID -> 0 ready, 1 died (log in replica-I.log), 2 timeout
  local i="$1" port="$2" pid="$3" deadline res state
  deadline=$(( $(date +%s) + ${READY_TIMEOUT:-60} ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    running "$pid" || return 1
    res="$(http_get "http://127.0.0.1:$port/health")"
    if [ "${res%% *}" = 200 ]; then
      state="$(storage_state "${res#* }")"
      [ "$state" = up ] && return 0
    fi
    sleep 0.1
  done
  return 2
}

up() {
  local n="${REPLICAS:-3}" i port pid tries rc
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "REPLICAS must be a positive integer, got '$n'"
  [ -x "$NGINX_BIN" ] || die "nginx not found at $NGINX_BIN (apt-get install nginx-light)"
  for f in "$DIR"/replica-*.pid "$DIR/nginx.pid.cluster"; do
    [ -e "$f" ] || continue
    if running "$(cat "$f" 2>/dev/null || echo 0)"; then
      die "a cluster is already running in $DIR ($(basename "$f")); run '$0 down $DIR' first"
    fi
  done
  BIN="$(gateway_bin)"

  # a half-started cluster is torn down again
  trap 'rc=$?; if [ $rc -ne 0 ]; then say "up failed, stopping what was started"; down || true; fi' EXIT

  # --- PostgreSQL + Redis
  local sdir="$DIR/services"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$DIR"; then
    # e.g. a pytest tmp folder (mode 0700): PostgreSQL (run as `postgres`) could not reach it
    sdir="$(mktemp -d /tmp/mcp-cluster-services.XXXXXX)"
    echo "$sdir" >"$DIR/services.path"
  fi
  say "starting PostgreSQL + Redis in $sdir"
  "$SERVICES_SH" start "$sdir" || die "scripts/services.sh start $sdir failed"
  # shellcheck disable=SC1091
  . "$sdir/env"
  TAKEN=" $PG_PORT $REDIS_PORT "

  # --- shared secrets
  local api_key="${API_KEY:-mgw_$(random_hex 16)}"
  local secret="${SESSION_SECRET:-$(random_hex 24)}"
  [ "${#secret}" -ge 16 ] || die "SESSION_SECRET must be at least 16 characters"
  [ "${#api_key}" -ge 8 ] || die "API_KEY must be at least 8 characters"

  {
    echo "# written by scripts/cluster.sh up: the environment of every replica (PORT is per replica)"
    echo "export HOST=127.0.0.1"
    echo "export API_KEY=$(q "$api_key")"
    echo "export SESSION_SECRET=$(q "$secret")"
    echo "export LOG_LEVEL=$(q "${LOG_LEVEL:-info}")"
    for v in DB_HOST DB_PORT DB_USERNAME DB_PASSWORD DB_DATABASE REDIS_URL; do
      echo "export $v=$(q "${!v}")"
    done
    for v in "${PASS_THROUGH[@]}"; do
      if [ -n "${!v+x}" ]; then echo "export $v=$(q "${!v}")"; fi
    done
    echo "unset DATABASE_URL SQLITE_PATH REUSE_PORT"
  } >"$DIR/replica.env"

  # --- replicas (started together: migrations run under an advisory lock)
  local ports=() pids=()
  for i in $(seq 1 "$n"); do
    pick_port; port="$PICKED"
    pid="$(start_replica "$i" "$port")"
    ports+=("$port"); pids+=("$pid")
    echo "$pid" >"$DIR/replica-$i.pid"
    echo "$port" >"$DIR/replica-$i.port"
  done
  for i in $(seq 1 "$n"); do
    port="${ports[$((i-1))]}"; pid="${pids[$((i-1))]}"
    for tries in 1 2 3; do
      rc=0; wait_replica "$i" "$port" "$pid" || rc=$?
      [ $rc -eq 0 ] && break
      if [ $rc -eq 1 ] && grep -qi "address already in use\|EADDRINUSE" "$DIR/replica-$i.log" && [ $tries -lt 3 ]; then
        say "replica $i: port $port was taken meanwhile, trying another"
        pick_port; port="$PICKED"; pid="$(start_replica "$i" "$port")"
        ports[$((i-1))]="$port"; pids[$((i-1))]="$pid"
        echo "$pid" >"$DIR/replica-$i.pid"; echo "$port" >"$DIR/replica-$i.port"
        continue
      fi
      tail -n 30 "$DIR/replica-$i.log" >&2 || true
      if [ $rc -eq 1 ]; then die "replica $i (port $port) exited before it was ready"; fi
      die "replica $i (port $port) did not report storage up within ${READY_TIMEOUT:-60} s"
    done
    pid_is "$pid" "$BIN" || die "replica $i: pid $pid is not $BIN"
    say "replica $i: http://127.0.0.1:$port (pid $pid)"
  done

  # --- nginx
  local lb_port="${LB_PORT:-}"
  if [ -z "$lb_port" ]; then pick_port; lb_port="$PICKED"
  else port_free "$lb_port" || die "LB_PORT $lb_port is taken"; fi
  mkdir -p "$DIR/nginx-tmp"
  {
    cat <<CONF
# written by scripts/cluster.sh: round-robin over the gateway replicas, no sticky sessions
worker_processes 1;
daemon off;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log $DIR/nginx-access.log;
    client_body_temp_path $DIR/nginx-tmp/body;
    proxy_temp_path $DIR/nginx-tmp/proxy;
    fastcgi_temp_path $DIR/nginx-tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx-tmp/uwsgi;
    scgi_temp_path $DIR/nginx-tmp/scgi;
    client_max_body_size 16m;

    upstream gateways {
CONF
    for port in "${ports[@]}"; do echo "        server 127.0.0.1:$port;"; done
    cat <<CONF
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$lb_port;
        location / {
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            # SSE (GET /mcp, streamed tools/call results): pass bytes through as they come, keep it open
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_cache off;
            proxy_read_timeout 24h;
            proxy_send_timeout 24h;
        }
    }
}
CONF
  } >"$DIR/nginx.conf"
  "$NGINX_BIN" -t -q -p "$DIR" -e "$DIR/nginx-error.log" -c "$DIR/nginx.conf" \
    || die "nginx rejected $DIR/nginx.conf"
  (exec setsid "$NGINX_BIN" -p "$DIR" -e "$DIR/nginx-error.log" -c "$DIR/nginx.conf") \
    >>"$DIR/nginx-error.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$DIR/nginx.pid.cluster"
  local ok=0 res
  for i in $(seq 1 100); do
    running "$pid" || break
    res="$(http_get "http://127.0.0.1:$lb_port/health")"
    if [ "${res%% *}" = 200 ]; then ok=1; break; fi
    sleep 0.1
  done
  if [ $ok != 1 ]; then
    tail -n 20 "$DIR/nginx-error.log" >&2 || true
    die "nginx did not answer GET /health on port $lb_port"
  fi
  say "load balancer: http://127.0.0.1:$lb_port (nginx pid $pid)"

  # --- cluster.env
  local urls=() p
  for p in "${ports[@]}"; do urls+=("http://127.0.0.1:$p"); done
  {
    echo "# written by scripts/cluster.sh up $DIR"
    echo "export CLUSTER_DIR=$(q "$DIR")"
    echo "export GATEWAY_BIN=$(q "$BIN")"
    echo "export LB_PORT=$lb_port"
    echo "export LB_URL=http://127.0.0.1:$lb_port"
    echo "export REPLICAS=$n"
    echo "export REPLICA_PORTS='${ports[*]}'"
    echo "export REPLICA_URLS='${urls[*]}'"
    echo "export REPLICA_PIDS='${pids[*]}'"
    echo "export NGINX_PID=$pid"
    echo "export API_KEY=$(q "$api_key")"
    echo "export SESSION_SECRET=$(q "$secret")"
    cat "$sdir/env"
  } >"$DIR/cluster.env"
  trap - EXIT
  say "up: $n replicas behind http://127.0.0.1:$lb_port; environment in $DIR/cluster.env"
}

# ---------------------------------------------------------------------------------------------------
# status

status() {
  local sdir f i port pid res bin=mcp-gateway
  [ -f "$DIR/cluster.env" ] && bin="$(. "$DIR/cluster.env"; echo "${GATEWAY_BIN:-mcp-gateway}")"
  sdir="$(services_dir)"
  if [ -f "$sdir/ports" ]; then "$SERVICES_SH" status "$sdir"; else echo "postgresql/redis: not set up"; fi
  local any=0
  for f in "$DIR"/replica-*.pid; do
    [ -e "$f" ] || continue
    any=1
    i="$(basename "$f" .pid)"; i="${i#replica-}"
    pid="$(cat "$f")"; port="$(cat "$DIR/replica-$i.port" 2>/dev/null || echo '?')"
    if pid_is "$pid" "$bin"; then
      res="$(http_get "http://127.0.0.1:$port/health")"
      echo "replica $i: running on http://127.0.0.1:$port (pid $pid) health: ${res}"
    else
      echo "replica $i: stopped (port $port, last pid $pid)"
    fi
  done
  [ $any = 1 ] || echo "replicas: none running"
  if [ -f "$DIR/nginx.pid.cluster" ] && pid_is "$(cat "$DIR/nginx.pid.cluster")" "$NGINX_BIN"; then
    local lb_port
    lb_port="$(. "$DIR/cluster.env" 2>/dev/null; echo "${LB_PORT:-?}")"
    res="$(http_get "http://127.0.0.1:$lb_port/health")"
    echo "nginx: running on http://127.0.0.1:$lb_port (pid $(cat "$DIR/nginx.pid.cluster")) health via LB: ${res}"
  else
    echo "nginx: stopped"
  fi
}

case "$CMD" in
  up) up ;;
  down) down ;;
  status) status ;;
esac
