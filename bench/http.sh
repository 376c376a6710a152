#!/usr/bin/env bash
# bench/http.sh — raw HTTP throughput of the gateway's smallest route against nginx.
#
# Both servers answer `GET /livez` with 200 `{"status":"ok"}` (Content-Type: application/json),
# each runs on ONE core (taskset -c 0; nginx with one worker), and wrk drives them from another
# core (taskset -c 1, one thread, 50 connections). The order alternates twice
# (gateway, nginx, gateway, nginx) and the best run of each counts.
#
# Environment:
#   GATEWAY_BIN   gateway executable (default .build/release/mcp-gateway; built with
#                 `swift build -c release` when missing, unless NO_BUILD=1, in which case the
#                 gateway half is skipped)
#   GATEWAY_ARGS  arguments for the gateway (default: serve)
#   NO_BUILD=1    never build; skip the gateway when GATEWAY_BIN is missing
#   DURATION      seconds per wrk run (default 10)
#   CONNECTIONS   wrk connections (default 50)
#   WARMUP        seconds of warm-up per target before measuring (default 2; 0 = none)
#   ROUNDS        alternation rounds (default 2)
#   NGINX_BIN     nginx executable (default /usr/sbin/nginx, Debian nginx-light)
#   SERVER_CPU / CLIENT_CPU   cores for the servers / for wrk (default 0 / 1)
#
# Exit status: 0 when every target that ran answered correctly and was measured.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

GATEWAY_BIN=${GATEWAY_BIN:-.build/release/mcp-gateway}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-2}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
GATEWAY_ARGS=${GATEWAY_ARGS:-serve}
case "$GATEWAY_BIN" in
    /*) ;;
    *) GATEWAY_BIN=$ROOT/$GATEWAY_BIN ;;
esac
ROUTE=/livez
EXPECTED_BODY='{"status":"ok"}'

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in wrk taskset curl ss; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install wrk util-linux curl iproute2)"
done
[ -x "$NGINX_BIN" ] || die "nginx not found at $NGINX_BIN (apt-get install nginx-light)"
if [ "$(nproc)" -lt 2 ]; then
    log "warning: fewer than 2 CPUs; server and wrk will share a core"
    CLIENT_CPU=$SERVER_CPU
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcp-gateway-bench.XXXXXX")
PIDS=()

cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free TCP port below 32768 (outside Linux's default ephemeral range, so wrk's own
# connections can never collide with it).
free_port() {
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 12000))
        if ! ss -Htan "( sport = :$port or dport = :$port )" 2>/dev/null | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# wait_http NAME PID URL: wait until URL answers 200 (max 15 s) while PID is alive.
wait_http() {
    local name=$1 pid=$2 url=$3
    for _ in $(seq 1 150); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during startup; its log:"
            cat "$TMP/$name.log" >&2 2>/dev/null || true
            return 1
        fi
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "$name did not answer $url within 15 s; its log:"
    cat "$TMP/$name.log" >&2 2>/dev/null || true
    return 1
}

# check_response NAME URL: the route must answer exactly like the reference.
check_response() {
    local name=$1 url=$2 headers body status ctype
    headers="$TMP/$name.headers"
    body=$(curl -sS -D "$headers" --max-time 2 "$url") || { log "$name: request failed"; return 1; }
    status=$(head -n1 "$headers" | awk '{print $2}')
    ctype=$(grep -i '^content-type:' "$headers" | head -n1 | cut -d: -f2- | tr -d ' \r')
    if [ "$status" != 200 ] || [ "$body" != "$EXPECTED_BODY" ] || [[ "$ctype" != application/json* ]]; then
        log "$name: unexpected answer on $ROUTE: status=$status content-type=$ctype body=$body"
        return 1
    fi
    log "$name: $ROUTE OK; $(wc -c <"$headers" | tr -d ' ') header bytes:$(awk -F: 'NR > 1 && NF > 1 {printf " %s", $1}' "$headers")"
}

# ---------------------------------------------------------------- nginx
start_nginx() {
    local port
    port=$(free_port)
    mkdir -p "$TMP/nginx"
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    # Let nginx keep every wrk connection open for the whole run (its default closes a
    # connection after 1000 requests), so it is measured at its best.
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$port;
        location = $ROUTE {
            default_type application/json;
            return 200 '$EXPECTED_BODY';
        }
    }
}
EOF
    "$NGINX_BIN" -t -q -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
        >"$TMP/nginx.log" 2>&1 || { cat "$TMP/nginx.log" >&2; die "nginx config test failed"; }
    taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
        >>"$TMP/nginx.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    NGINX_URL="http://127.0.0.1:$port$ROUTE"
    wait_http nginx "$NGINX_PID" "$NGINX_URL" || die "nginx did not start"
    check_response nginx "$NGINX_URL" || die "nginx answers wrongly"
    log "nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*version: //') on 127.0.0.1:$port (pid $NGINX_PID, cpu $SERVER_CPU)"
}

# ---------------------------------------------------------------- gateway
GATEWAY_URL=
start_gateway() {
    if [ ! -x "$GATEWAY_BIN" ]; then
        if [ "${NO_BUILD:-0}" = 1 ]; then
            log "gateway binary $GATEWAY_BIN not found and NO_BUILD=1: skipping the gateway"
            return 0
        fi
        log "gateway binary $GATEWAY_BIN not found: running swift build -c release"
        (cd "$ROOT" && swift build -c release) >&2
        [ -x "$GATEWAY_BIN" ] || die "$GATEWAY_BIN still missing after the build"
    fi
    local port
    port=$(free_port)
    mkdir -p "$TMP/gateway"
    # Embedded storage in the temp dir, so the benchmark never touches a real database.
    (cd "$TMP/gateway" && exec env HOST=127.0.0.1 PORT="$port" API_KEY=bench-key-123 LOG_LEVEL=warn \
        DATABASE_URL="sqlite:$TMP/gateway/bench.db" \
        taskset -c "$SERVER_CPU" "$GATEWAY_BIN" $GATEWAY_ARGS) >"$TMP/gateway.log" 2>&1 &
    GATEWAY_PID=$!
    PIDS+=("$GATEWAY_PID")
    GATEWAY_URL="http://127.0.0.1:$port$ROUTE"
    wait_http gateway "$GATEWAY_PID" "$GATEWAY_URL" || die "gateway did not start"
    check_response gateway "$GATEWAY_URL" || die "gateway answers wrongly"
    log "gateway $GATEWAY_BIN on 127.0.0.1:$port (pid $GATEWAY_PID, cpu $SERVER_CPU)"
}

# ---------------------------------------------------------------- wrk
# run_wrk NAME URL DURATION -> prints "rps p50 p99" (latencies in ms) and keeps the raw output.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else { printf "%s", v }
    }'
}

# run_wrk NAME URL DURATION: sets R_RPS, R_P50, R_P99 (latencies in ms). wrk runs in the
# background and is waited for, so an INT/TERM reaches the cleanup trap at once.
run_wrk() {
    local name=$1 url=$2 duration=$3 out errors
    out="$TMP/wrk-$name-$(date +%s%N).txt"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${duration}s" --latency "$url" >"$out" 2>&1 &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
    if ! wait "$WRK_PID"; then
        cat "$out" >&2
        die "wrk failed against $name"
    fi
    R_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    R_P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    R_P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    errors=$(awk '/Non-2xx or 3xx responses:/ {print "non-2xx: " $NF} /Socket errors:/ {sub(/^ */, ""); print}' "$out" | paste -sd';' -)
    if [ -n "$errors" ]; then log "$name: wrk reported errors: $errors"; fi
    if [ -z "$R_RPS" ]; then
        cat "$out" >&2
        die "could not parse wrk output for $name"
    fi
}

declare -A BEST_RPS BEST_P50 BEST_P99

measure() {
    local name=$1 url=$2 rps p50 p99
    run_wrk "$name" "$url" "$DURATION"
    rps=$R_RPS p50=$R_P50 p99=$R_P99
    log "$(printf '%-8s %12s req/s   p50 %8s ms   p99 %8s ms' "$name" "$rps" "$p50" "$p99")"
    if [ -z "${BEST_RPS[$name]:-}" ] || awk -v a="$rps" -v b="${BEST_RPS[$name]}" 'BEGIN {exit !(a > b)}'; then
        BEST_RPS[$name]=$rps
        BEST_P50[$name]=$p50
        BEST_P99[$name]=$p99
    fi
}

start_gateway
start_nginx

TARGETS=()
[ -n "$GATEWAY_URL" ] && TARGETS+=(gateway)
TARGETS+=(nginx)
url_of() { if [ "$1" = gateway ]; then echo "$GATEWAY_URL"; else echo "$NGINX_URL"; fi; }

if [ "$WARMUP" != 0 ]; then
    for t in "${TARGETS[@]}"; do
        log "warm-up $t (${WARMUP}s)"
        run_wrk "$t-warmup" "$(url_of "$t")" "$WARMUP"
    done
fi

log "wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency, wrk on cpu $CLIENT_CPU, servers on cpu $SERVER_CPU, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
    for t in "${TARGETS[@]}"; do
        measure "$t" "$(url_of "$t")"
    done
done

echo
printf '%-10s %14s %12s %12s\n' target 'req/s' 'p50 (ms)' 'p99 (ms)'
printf '%-10s %14s %12s %12s\n' ---------- -------------- ------------ ------------
for t in "${TARGETS[@]}"; do
    printf '%-10s %14s %12s %12s\n' "$t" "${BEST_RPS[$t]}" "${BEST_P50[$t]}" "${BEST_P99[$t]}"
done
echo
if [ -n "$GATEWAY_URL" ]; then
    awk -v g="${BEST_RPS[gateway]}" -v n="${BEST_RPS[nginx]}" \
        'BEGIN { printf "gateway/nginx throughput ratio: %.3f\n", g / n }'
else
    echo "gateway/nginx throughput ratio: n/a (gateway skipped)"
fi
