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
#   RESULTS_DIR   where the table is also written as data, http.json (default bench/results/;
#                 bench/results.py describes it)
#
# Exit status: 0 when every target that ran answered correctly and was measured.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

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
API_KEY=bench-key-123
absolute_gateway_bin
ROUTE=/livez
EXPECTED_BODY='{"status":"ok"}'

require_tools "apt-get install wrk util-linux curl iproute2" wrk taskset curl ss
require_nginx
share_single_cpu "server and wrk will share a core"

make_tmp mcp-gateway-bench

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
    write_nginx_conf <<EOF
    server {
        listen 127.0.0.1:$port;
        location = $ROUTE {
            default_type application/json;
            return 200 '$EXPECTED_BODY';
        }
    }
EOF
    NGINX_URL="http://127.0.0.1:$port$ROUTE"
    launch_nginx "$NGINX_URL"
    check_response nginx "$NGINX_URL" || die "nginx answers wrongly"
    log "nginx $(nginx_version) on 127.0.0.1:$port (pid $NGINX_PID, cpu $SERVER_CPU)"
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
    launch_gateway "$port" "$GATEWAY_ARGS"
    GATEWAY_URL="http://127.0.0.1:$port$ROUTE"
    wait_http gateway "$GATEWAY_PID" "$GATEWAY_URL" || die "gateway did not start"
    check_response gateway "$GATEWAY_URL" || die "gateway answers wrongly"
    log "gateway $GATEWAY_BIN on 127.0.0.1:$port (pid $GATEWAY_PID, cpu $SERVER_CPU)"
}

# ---------------------------------------------------------------- wrk
# run_wrk NAME URL DURATION: sets R_RPS, R_P50, R_P99 (latencies in ms).
run_wrk() {
    local name=$1 url=$2 duration=$3
    wrk_run "$name" -t1 -c"$CONNECTIONS" -d"${duration}s" --latency "$url"
    wrk_parse "$name"
}

measure() {
    local name=$1 url=$2 rps p50 p99
    run_wrk "$name" "$url" "$DURATION"
    rps=$R_RPS p50=$R_P50 p99=$R_P99
    log "$(printf '%-8s %12s req/s   p50 %8s ms   p99 %8s ms' "$name" "$rps" "$p50" "$p99")"
    keep_best "$name" "$rps" "$p50" "$p99"
    results_row http rounds "$name" "$round" "$rps" "$p50" "$p99"
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
results_table http rounds target round rps p50_ms p99_ms
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

results_table http throughput target rps p50_ms p99_ms
for t in "${TARGETS[@]}"; do results_row http throughput "$t" "${BEST_RPS[$t]}" "${BEST_P50[$t]}" "${BEST_P99[$t]}"; done
results_save http route="$ROUTE" connections="$CONNECTIONS" duration_s="$DURATION" rounds="$ROUNDS" \
    warmup_s="$WARMUP" server_cpu="$SERVER_CPU" client_cpu="$CLIENT_CPU" nginx="$(nginx_version)"
