#!/usr/bin/env bash
# bench/mcp.sh — the gateway's MCP hot paths: tools/list against nginx, tools/call against a direct call.
#
# 1. tools/list throughput. The gateway answers a handshake-era `tools/list` (POST /mcp, a valid
#    Mcp-Session-Id from `initialize`, Accept: application/json, text/event-stream,
#    MCP-Protocol-Version: 2025-11-25) for one registered downstream with 20 tools
#    (Tests/e2e/servers/downstream.py --mode json --tools 14). nginx answers the same POST with the
#    same bytes (the gateway's response body, fetched once, served with `return 200` from constant
#    variables; checked byte for byte). Gateway and nginx (one worker) run on SERVER_CPU, wrk
#    (one thread, CONNECTIONS connections, a Lua script for the POST) on CLIENT_CPU; rounds
#    alternate (gateway, nginx, gateway, nginx, ...). Best-of and median of the rounds, and the
#    ratio gateway/nginx.
# 2. tools/call. bench/echo_mcp.py (a minimal asyncio MCP server: one tool `echo`) is registered as
#    service `echo`; `echo__echo` through the gateway is compared with `echo` sent to the echo server
#    directly (its own session):
#    a. latency: bench/mcp_latency.py, 1 keep-alive connection, LAT_N sequential calls per round,
#       LAT_ROUNDS alternating rounds: p50 / p99 of each and the added latency (gateway - direct);
#    b. throughput: wrk + Lua, CALL_CONNECTIONS connections, alternating rounds, req/s of each.
#    Pinning (2 cores): the gateway on SERVER_CPU; the echo server AND the client (python or wrk)
#    share CLIENT_CPU. In the direct runs the echo server has that core to share with the client
#    only; through the gateway it also waits for the gateway's core. The direct throughput of 2b
#    is bounded by that shared core (single-threaded Python echo server + wrk); through the gateway
#    by whichever core saturates first, the gateway's or that one: the CPU-per-request columns
#    tell which (gateway us/req x req/s close to 1 s/s = the gateway is the bottleneck).
# 3. tools/call to an https downstream (PHASES=tls; informational, not in the default): the echo server
#    serves https (bench/echo_mcp.py --tls-cert/--tls-key, Python's asyncio TLS) with a certificate
#    for localhost from a CA made for the run (openssl), registered as `echotls` at
#    https://localhost:P/mcp on a gateway started with DOWNSTREAM_CA_FILE=<that CA>. Compared with
#    nginx proxy_pass to the same https upstream (keepalive upstream, proxy_ssl_verify on,
#    proxy_ssl_session_reuse on) and with the client calling the echo server over https itself:
#    the one-connection latency and wrk throughput, as in 2. The gateway's TLS handshakes are
#    read from /metrics before and after: kept-alive connections mean a handful, not one per call.
# Every wrk run also reports the servers' time on CPU per request (from /proc/<pid>/schedstat;
# median of rounds), which stays meaningful on a busy machine; the latency table adds the
# gateway's CPU and run-queue wait per call.
#
# Environment:
#   GATEWAY_BIN   gateway executable (default .build/release/mcp-gateway; this script never builds)
#   PYTHON        python with the MCP SDK for the 20-tool downstream (default .venv/bin/python, else
#                 /tmp/venv/bin/python); the echo server and the latency client need only python3
#   ECHO_PYTHON   python for bench/echo_mcp.py and bench/mcp_latency.py (default python3)
#   NGINX_BIN     nginx executable (default /usr/sbin/nginx)
#   PROXY=0       leave nginx proxy_pass out of the tools/call phase (it is in by default when nginx
#                 is installed: nginx, one worker on SERVER_CPU, proxies POST /mcp to the echo server
#                 over a keepalive upstream; the same wrk rounds and the same one-connection latency
#                 run against it, so the gateway is compared with nginx doing the same hop)
#   PHASES        which parts to run: "list call" (default), "list", "call", "read" (resources/read
#                 through the gateway against tools/call through the gateway, alternating rounds),
#                 "tls" (3.: tools/call to an https echo server; needs openssl)
#   DURATION      seconds per wrk run (default 10)
#   WARMUP        seconds of wrk warm-up per target (default 2; 0 = none)
#   ROUNDS        alternating wrk rounds per phase (default 3)
#   CONNECTIONS   wrk connections for tools/list (default 50)
#   CALL_CONNECTIONS  wrk connections for tools/call (default 64)
#   LAT_N         sequential calls per latency round (default 5000)
#   LAT_ROUNDS    latency rounds (default 5)
#   LIST_TOOLS    --tools for the SDK downstream (default 14: 6 fixed tools + 14 = 20 tools)
#   SERVER_CPU / CLIENT_CPU   core of the gateway and nginx / of wrk, the echo server and the
#                 latency client (default 0 / 1)
#   RESULTS_DIR   where the tables are also written as data, one JSON file per phase: mcp-list.json,
#                 mcp-call.json, mcp-read.json (default bench/results/; bench/results.py describes them)
#   PERF=1        after the measured rounds, one extra (unmeasured) gateway round per wrk phase under
#                 `perf record -g -p <gateway>`; prints `perf report --no-children --sort symbol`
#                 (top PERF_LINES lines, default 40). PERF_DIR=dir keeps the perf.data files there.
#   STRACE=1      likewise one extra round under `strace -c -f -p <gateway>`: the system calls the
#                 gateway made per request (counted against /metrics' request counter), by call.
#
# Exit status: 0 when every target answered correctly and was measured.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mcp_lib.sh"

cd "$(dirname "$0")/.."
ROOT=$(pwd)

GATEWAY_BIN=${GATEWAY_BIN:-.build/release/mcp-gateway}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
ECHO_PYTHON=${ECHO_PYTHON:-python3}
PHASES=${PHASES:-list call}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-50}
CALL_CONNECTIONS=${CALL_CONNECTIONS:-64}
LAT_N=${LAT_N:-5000}
LAT_ROUNDS=${LAT_ROUNDS:-5}
LIST_TOOLS=${LIST_TOOLS:-14}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PERF=${PERF:-0}
PERF_LINES=${PERF_LINES:-40}
API_KEY=bench-key-123
PROTO=2025-11-25
absolute_gateway_bin

require_tools "apt-get install wrk util-linux curl iproute2 python3" wrk taskset curl ss "$ECHO_PYTHON"
[ -x "$GATEWAY_BIN" ] || die "gateway binary $GATEWAY_BIN not found (build it with: swift build -c release)"
want_list=0 want_call=0
case " $PHASES " in *" list "*) want_list=1 ;; esac
case " $PHASES " in *" call "*) want_call=1 ;; esac
want_read=0
case " $PHASES " in *" read "*) want_read=1 ;; esac
want_tls=0
case " $PHASES " in *" tls "*) want_tls=1 ;; esac
[ $want_list = 1 ] || [ $want_call = 1 ] || [ $want_read = 1 ] || [ $want_tls = 1 ] || die "PHASES must name list, call, read and/or tls"
if [ $want_tls = 1 ]; then require_tools "apt-get install openssl" openssl; fi
if [ $want_list = 1 ]; then
    require_nginx
    find_mcp_python
    [ -n "${PYTHON:-}" ] || die "no python with the MCP SDK for the 20-tool downstream (run scripts/venv.sh or set PYTHON)"
fi
if [ $PERF = 1 ]; then command -v perf >/dev/null 2>&1 || die "PERF=1 but perf not found"; fi
share_single_cpu "everything shares one core"

make_tmp mcp-gateway-bench-mcp

# ---------------------------------------------------------------- downstreams
start_list_downstream() {
    local port
    port=$(free_port)
    taskset -c "$CLIENT_CPU" "$PYTHON" "$ROOT/Tests/e2e/servers/downstream.py" --port "$port" --mode json \
        --tools "$LIST_TOOLS" >"$TMP/tools20.out" 2>"$TMP/tools20.log" &
    LIST_DS_PID=$!
    PIDS+=("$LIST_DS_PID")
    wait_ready tools20 "$LIST_DS_PID" "$TMP/tools20.out" >/dev/null || die "the 20-tool downstream did not start"
    LIST_DS_URL="http://127.0.0.1:$port/mcp"
    log "downstream.py --mode json --tools $LIST_TOOLS on 127.0.0.1:$port (pid $LIST_DS_PID, cpu $CLIENT_CPU)"
}

# ---------------------------------------------------------------- nginx
# start_nginx BODYFILE: nginx answers POST /mcp with 200, application/json and exactly BODYFILE.
# The body goes into the config as constant `map` variables (one config token is limited to 4 KB,
# so it is split in chunks) concatenated by `return 200`; `\` and `'` are escaped, `$` comes from
# a `geo` constant.
start_nginx() {
    local body=$1 port
    port=$(free_port)
    mkdir -p "$TMP/nginx"
    "$ECHO_PYTHON" - "$body" "$TMP/nginx/body.conf" <<'EOF'
import sys
body = open(sys.argv[1], "rb").read().decode("utf-8")
def esc(s):
    return s.replace("\\", "\\\\").replace("'", "\\'").replace("$", "${bench_dollar}")
parts = [body[i:i + 1000] for i in range(0, len(body), 1000)] or [""]
with open(sys.argv[2], "w") as f:
    f.write('geo $bench_dollar { default "$"; }\n')
    for i, p in enumerate(parts):
        f.write(f"map \"\" $bench_body_{i} {{ default '{esc(p)}'; }}\n")
with open(sys.argv[2] + ".return", "w") as f:
    f.write("".join("${bench_body_%d}" % i for i in range(len(parts))))
EOF
    write_nginx_conf <<EOF
    include $TMP/nginx/body.conf;
    server {
        listen 127.0.0.1:$port;
        location = /mcp {
            default_type application/json;
            return 200 "$(cat "$TMP/nginx/body.conf.return")";
        }
    }
EOF
    NGINX_MCP="http://127.0.0.1:$port/mcp"
    launch_nginx "$NGINX_MCP" -X POST -d '{}'
    log "nginx $(nginx_version) on 127.0.0.1:$port (pid $NGINX_PID, cpu $SERVER_CPU)"
}


declare -A ALL_RPS ALL_CPU_A ALL_CPU_B

# start_results NAME: the phase's results (RESULTS_DIR/NAME.json); every measured round goes into
# its table `rounds`, the summary into `throughput` (results_throughput).
start_results() {
    RES=$1
    results_table "$RES" rounds target round rps p50_ms p99_ms cpu_a_us cpu_b_us
    results_table "$RES" throughput target best_rps median_rps p50_ms p99_ms cpu_a_us cpu_b_us
}

# results_throughput KEY LABEL: a row of `throughput` as printed: best req/s with its p50/p99 (ms),
# median req/s, median CPU per request of each process (µs).
results_throughput() {
    local key=$1
    results_row "$RES" throughput "$2" "${BEST_RPS[$key]}" "$(median "${ALL_RPS[$key]}")" "${BEST_P50[$key]}" \
        "${BEST_P99[$key]}" "$(median "${ALL_CPU_A[$key]}")" "$(median "${ALL_CPU_B[$key]}")"
}

# measure KEY LABEL URL SCRIPT CONNECTIONS [PID_A [PID_B]]
measure() {
    local key=$1 label=$2 url=$3 script=$4 conns=$5 pid_a=${6:-} pid_b=${7:-} rps cpu=
    run_wrk "$key" "$url" "$script" "$conns" "$DURATION" "$pid_a" "$pid_b"
    rps=$R_RPS
    [ -n "$pid_a" ] && cpu="   cpu/req $R_CPU_A us"
    [ -n "$pid_b" ] && cpu="$cpu + $R_CPU_B us"
    log "$(printf '%-22s %12s req/s   p50 %8s ms   p99 %8s ms%s' "$label" "$rps" "$R_P50" "$R_P99" "$cpu")"
    ALL_RPS[$key]="${ALL_RPS[$key]:-} $rps"
    ALL_CPU_A[$key]="${ALL_CPU_A[$key]:-} $R_CPU_A"
    ALL_CPU_B[$key]="${ALL_CPU_B[$key]:-} $R_CPU_B"
    keep_best "$key" "$rps" "$R_P50" "$R_P99"
    results_row "$RES" rounds "$key" "$(wc -w <<<"${ALL_RPS[$key]}")" "$rps" "$R_P50" "$R_P99" \
        "$([ -n "$pid_a" ] && echo "$R_CPU_A")" "$([ -n "$pid_b" ] && echo "$R_CPU_B")"
}

median() { printf '%s\n' $1 | grep -v '^-$' | sort -g | awk '{v[NR] = $1} END {if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# extra_round WHAT KEY URL SCRIPT CONNECTIONS: starts an unmeasured wrk round in the background
# (its output in $TMP/wrk-WHAT-KEY.txt, its pid in WRK_PID) and waits a second for it to get going;
# sets SECS, how long to observe the gateway during it.
extra_round() {
    SECS=$((DURATION > 4 ? DURATION - 2 : DURATION))
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$5" -d"${DURATION}s" -s "$4" "$3" >"$TMP/wrk-$1-$2.txt" 2>&1 &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
    sleep 1
}

# perf_round KEY URL SCRIPT CONNECTIONS: one unmeasured gateway round under perf record.
perf_round() {
    local key=$1 data
    [ "$PERF" = 1 ] || return 0
    data="${PERF_DIR:-$TMP}/perf-$key.data"
    mkdir -p "$(dirname "$data")"
    log "perf: recording the gateway (pid $GATEWAY_PID) during an extra, unmeasured $key round"
    extra_round perf "$@"
    local secs=$SECS
    perf record -q -g -o "$data" -p "$GATEWAY_PID" -- sleep "$secs" >"$TMP/perf-$key.log" 2>&1 \
        || { cat "$TMP/perf-$key.log" >&2; log "perf record failed"; }
    wait "$WRK_PID" || true
    local demangle=cat
    if command -v swift-demangle >/dev/null 2>&1; then demangle="swift-demangle --simplified"
    elif [ -x /opt/swift/usr/bin/swift-demangle ]; then demangle="/opt/swift/usr/bin/swift-demangle --simplified"; fi
    {
        echo
        echo "perf report --no-children --sort symbol (gateway, $key, top $PERF_LINES; $(awk '/^Requests\/sec:/ {print $2 " req/s under perf"}' "$TMP/wrk-perf-$key.txt"))"
        perf report -i "$data" --no-children --sort symbol --stdio -g none 2>"$TMP/perf-report-$key.log" \
            | { grep -E '^ +[0-9]+\.[0-9]+%' || cat "$TMP/perf-report-$key.log"; } | sed -E 's/[ -]+$//' | $demangle \
            | head -n "$PERF_LINES" || true
    } >>"$TMP/perf-report.txt"
}

# strace_round KEY URL SCRIPT CONNECTIONS: one unmeasured gateway round under `strace -c`: the
# system calls the gateway made per request (STRACE=1). strace slows the gateway down; the
# counts, not the times, are the point.
strace_round() {
    local key=$1
    [ "${STRACE:-0}" = 1 ] || return 0
    log "strace: counting the gateway's system calls during an extra, unmeasured $key round"
    extra_round strace "$@"
    local secs=$SECS before after
    before=$(curl -s "$GATEWAY_BASE/metrics" | awk '/^mcp_gateway_http_requests_total/ {s += $2} END {print s + 0}')
    timeout -s INT "$secs" strace -c -f -p "$GATEWAY_PID" -o "$TMP/strace-$key.txt" >/dev/null 2>&1 || true
    after=$(curl -s "$GATEWAY_BASE/metrics" | awk '/^mcp_gateway_http_requests_total/ {s += $2} END {print s + 0}')
    wait "$WRK_PID" || true
    {
        echo
        echo "system calls per request (gateway, $key; strace -c over $((after - before)) requests)"
        awk -v n="$((after - before))" 'n > 0 && $1 ~ /^[0-9.]+$/ && NF >= 5 {
            printf "  %-16s %8.3f\n", $NF, $4 / n }' "$TMP/strace-$key.txt"
    } >>"$TMP/perf-report.txt"
}

# The listing downstream is stopped once its tools are fetched (so it cannot steal the client
# core): the gateway must not find it down and name it in tools/list's _meta in the middle of the
# run, nor hold a notification stream to it.
export HEALTH_CHECK_INTERVAL=${HEALTH_CHECK_INTERVAL:-86400} WATCH_DOWNSTREAMS=${WATCH_DOWNSTREAMS:-false}
if [ $want_tls = 1 ]; then
    # The gateway trusts the run's CA; curl (sessions, checks) too.
    make_tls_files "$TMP/tls"
    export DOWNSTREAM_CA_FILE=$TMP/tls/ca.pem CURL_CA_BUNDLE=$TMP/tls/ca.pem
fi
start_gateway
LIST_TABLE=
CALL_TABLE=
LAT_TABLE=

# ---------------------------------------------------------------- 1. tools/list
if [ $want_list = 1 ]; then
    start_list_downstream
    register tools20 "$LIST_DS_URL"
    LIST_SID=$(mcp_session gateway-list "$GATEWAY_MCP") || die "no gateway session"
    LIST_REQ='{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
    status=$(mcp_post "$GATEWAY_MCP" "$LIST_SID" "$LIST_REQ" "$TMP/tools-list.json")
    [ "$status" = 200 ] || die "gateway tools/list answered $status: $(head -c 300 "$TMP/tools-list.json")"
    ntools=$(grep -o '"name":"tools20__' "$TMP/tools-list.json" | wc -l)
    [ "$ntools" -ge 20 ] || die "gateway tools/list lists $ntools tools20__ tools, expected 20: $(head -c 300 "$TMP/tools-list.json")"
    log "gateway tools/list: $ntools tools, $(wc -c <"$TMP/tools-list.json" | tr -d ' ') bytes"
    start_nginx "$TMP/tools-list.json"
    status=$(mcp_post "$NGINX_MCP" "$LIST_SID" "$LIST_REQ" "$TMP/tools-list-nginx.json")
    [ "$status" = 200 ] || die "nginx answered POST /mcp with $status"
    cmp -s "$TMP/tools-list.json" "$TMP/tools-list-nginx.json" || die "nginx's body differs from the gateway's"
    log "nginx answers POST /mcp with 200 and the same $(wc -c <"$TMP/tools-list-nginx.json" | tr -d ' ') bytes"
    write_lua "$TMP/list.lua" "$LIST_SID" "$LIST_REQ"
    # the listing downstream is idle from now on; stop it so it cannot steal the client core
    kill -TERM "$LIST_DS_PID" 2>/dev/null || true

    if [ "$WARMUP" != 0 ]; then
        log "warm-up tools/list (${WARMUP}s each)"
        run_wrk list-gateway-warmup "$GATEWAY_MCP" "$TMP/list.lua" "$CONNECTIONS" "$WARMUP"
        run_wrk list-nginx-warmup "$NGINX_MCP" "$TMP/list.lua" "$CONNECTIONS" "$WARMUP"
    fi
    log "tools/list: wrk -t1 -c$CONNECTIONS -d${DURATION}s -s list.lua; wrk on cpu $CLIENT_CPU, gateway and nginx on cpu $SERVER_CPU; $ROUNDS rounds"
    start_results mcp-list
    NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -n1 || true)
    for round in $(seq 1 "$ROUNDS"); do
        measure list-gateway "tools/list gateway" "$GATEWAY_MCP" "$TMP/list.lua" "$CONNECTIONS" "$GATEWAY_PID"
        measure list-nginx "tools/list nginx" "$NGINX_MCP" "$TMP/list.lua" "$CONNECTIONS" "$NGINX_WORKER"
    done
    # the body must still be the same after the load
    status=$(mcp_post "$GATEWAY_MCP" "$LIST_SID" "$LIST_REQ" "$TMP/tools-list-after.json")
    { [ "$status" = 200 ] && cmp -s "$TMP/tools-list.json" "$TMP/tools-list-after.json"; } \
        || die "gateway tools/list changed during the run (status $status)"
    perf_round list-gateway "$GATEWAY_MCP" "$TMP/list.lua" "$CONNECTIONS"
    strace_round list-gateway "$GATEWAY_MCP" "$TMP/list.lua" "$CONNECTIONS"
    kill -TERM "$NGINX_PID" 2>/dev/null || true

    LIST_TABLE=$(
        echo "tools/list, $ntools tools ($(wc -c <"$TMP/tools-list.json" | tr -d ' ') bytes; nginx: return 200 with the same bytes), wrk -t1 -c$CONNECTIONS -d${DURATION}s x $ROUNDS rounds; servers on cpu $SERVER_CPU, wrk on cpu $CLIENT_CPU"
        printf '%-10s %14s %14s %12s %12s %16s\n' target 'best req/s' 'median req/s' 'p50 (ms)' 'p99 (ms)' 'cpu us/req'
        printf '%-10s %14s %14s %12s %12s %16s\n' ---------- -------------- -------------- ------------ ------------ ----------------
        for t in gateway nginx; do
            printf '%-10s %14s %14s %12s %12s %16s\n' "$t" "${BEST_RPS[list-$t]}" "$(median "${ALL_RPS[list-$t]}")" \
                "${BEST_P50[list-$t]}" "${BEST_P99[list-$t]}" "$(median "${ALL_CPU_A[list-$t]}")"
        done
        echo "(p50/p99: of the best run; cpu us/req: the server's CPU time per request (/proc/<pid>/schedstat), median of rounds)"
        awk -v g="${BEST_RPS[list-gateway]}" -v n="${BEST_RPS[list-nginx]}" \
            -v gm="$(median "${ALL_RPS[list-gateway]}")" -v nm="$(median "${ALL_RPS[list-nginx]}")" \
            'BEGIN { printf "gateway/nginx tools/list ratio: best %.3f, median %.3f (target >= 1.0)\n", g / n, gm / nm }'
    )
    for t in gateway nginx; do results_throughput "list-$t" "$t"; done
    results_save mcp-list tools="$ntools" bytes="$(wc -c <"$TMP/tools-list.json" | tr -d ' ')" \
        connections="$CONNECTIONS" duration_s="$DURATION" rounds="$ROUNDS" warmup_s="$WARMUP" \
        server_cpu="$SERVER_CPU" client_cpu="$CLIENT_CPU" nginx="$(nginx_version)"
fi

# start_proxy_nginx ECHO_URL [NAME]: nginx (one worker, SERVER_CPU) proxying POST /mcp to the echo
# server over a keepalive upstream, in $TMP/NAME (default nginx-proxy); sets NGINX_PROXY_MCP and
# NGINX_PROXY_WORKER. An https ECHO_URL (https://localhost:P) is verified against
# DOWNSTREAM_CA_FILE under the name localhost, with TLS sessions reused.
start_proxy_nginx() {
    local echo_url=$1 name=${2:-nginx-proxy} port upstream scheme tls_conf=
    local dir=$TMP/$name
    port=$(free_port)
    scheme=${echo_url%%://*}
    upstream=${echo_url#*://}
    upstream=${upstream%%/*}
    if [ "$scheme" = https ]; then
        upstream=127.0.0.1:${upstream##*:}
        tls_conf="proxy_ssl_server_name on; proxy_ssl_name localhost; proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $DOWNSTREAM_CA_FILE; proxy_ssl_session_reuse on;"
    fi
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream echo {
        server $upstream;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port;
        location /mcp {
            proxy_pass $scheme://echo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            $tls_conf
        }
    }
}
EOF
    "$NGINX_BIN" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$TMP/$name.log" 2>&1 \
        || { cat "$TMP/$name.log" >&2; die "nginx proxy config test failed"; }
    taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >>"$TMP/$name.log" 2>&1 &
    NGINX_PROXY_PID=$!
    PIDS+=("$NGINX_PROXY_PID")
    NGINX_PROXY_MCP="http://127.0.0.1:$port/mcp"
    NGINX_PROXY_WORKER=
    for _ in $(seq 1 100); do
        NGINX_PROXY_WORKER=$(pgrep -P "$NGINX_PROXY_PID" | head -n1 || true)
        [ -n "$NGINX_PROXY_WORKER" ] && break
        sleep 0.05
    done
    [ -n "$NGINX_PROXY_WORKER" ] || die "nginx proxy has no worker"
    log "nginx $(nginx_version) proxy_pass on 127.0.0.1:$port -> $scheme://$upstream (worker pid $NGINX_PROXY_WORKER, cpu $SERVER_CPU)"
}

# ---------------------------------------------------------------- 2. tools/call
TEXT='hello, gateway'
EXPECTED_CALL='{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"'"$TEXT"'"}]}}'
# check_call NAME URL SESSION REQUEST: the call answers 200 with EXPECTED_CALL, or the run dies.
check_call() {
    local name=$1 url=$2 sid=$3 req=$4 status
    status=$(mcp_post "$url" "$sid" "$req" "$TMP/call-$name.json")
    if [ "$status" != 200 ] || [ "$(cat "$TMP/call-$name.json")" != "$EXPECTED_CALL" ]; then
        die "$name tools/call answered $status: $(head -c 300 "$TMP/call-$name.json") (expected $EXPECTED_CALL)"
    fi
}
# latency URL TOOL PID NAME [DIRECT_URL ECHO_PID]: one-connection latency of URL (TOOL, process PID)
# against the direct call (default: the plain http echo server).
latency() {
    taskset -c "$CLIENT_CPU" "$ECHO_PYTHON" "$ROOT/bench/mcp_latency.py" --gateway "$1" --gateway-tool "$2" \
        --direct "${5:-$ECHO_MCP}" --direct-tool echo -n "$LAT_N" --rounds "$LAT_ROUNDS" --text "$TEXT" \
        --gateway-pid "$3" --echo-pid "${6:-$ECHO_PID}" ${DOWNSTREAM_CA_FILE:+--cafile "$DOWNSTREAM_CA_FILE"} \
        --json "$TMP/$4.json" >"$TMP/$4.txt" &
    LAT_PID=$!
    PIDS+=("$LAT_PID")
    wait "$LAT_PID" || die "bench/mcp_latency.py ($4) failed"
}
# call_rounds KEY LABEL GATEWAY_LUA DIRECT_URL DIRECT_LUA ECHO_PID [NGINX_URL NGINX_WORKER]: a warm-up,
# then ROUNDS alternating wrk rounds of tools/call through the gateway, straight to the echo server
# and (with NGINX_URL) through nginx, recorded as KEY-gateway, KEY-direct and KEY-nginx.
call_rounds() {
    local key=$1 label=$2 gw_lua=$3 direct_url=$4 direct_lua=$5 echo_pid=$6 nginx_url=${7:-} nginx_worker=${8:-}
    if [ "$WARMUP" != 0 ]; then
        log "warm-up $label (${WARMUP}s each)"
        run_wrk "$key-gateway-warmup" "$GATEWAY_MCP" "$gw_lua" "$CALL_CONNECTIONS" "$WARMUP"
        run_wrk "$key-direct-warmup" "$direct_url" "$direct_lua" "$CALL_CONNECTIONS" "$WARMUP"
    fi
    log "$label: wrk -t1 -c$CALL_CONNECTIONS -d${DURATION}s; gateway and nginx on cpu $SERVER_CPU, echo server + wrk on cpu $CLIENT_CPU; $ROUNDS rounds"
    for round in $(seq 1 "$ROUNDS"); do
        measure "$key-gateway" "$label via gateway" "$GATEWAY_MCP" "$gw_lua" "$CALL_CONNECTIONS" "$GATEWAY_PID" "$echo_pid"
        measure "$key-direct" "$label direct" "$direct_url" "$direct_lua" "$CALL_CONNECTIONS" "$GATEWAY_PID" "$echo_pid"
        if [ -n "$nginx_url" ]; then
            measure "$key-nginx" "$label via nginx" "$nginx_url" "$direct_lua" "$CALL_CONNECTIONS" "$nginx_worker" "$echo_pid"
        fi
    done
}

# call_rows KEY TARGET...: the throughput table's header and one row per TARGET (gateway, direct, nginx).
call_rows() {
    local key=$1 t
    shift
    printf '%-10s %14s %14s %12s %12s %16s %14s\n' target 'best req/s' 'median req/s' 'p50 (ms)' 'p99 (ms)' 'gateway us/req' 'echo us/req'
    printf '%-10s %14s %14s %12s %12s %16s %14s\n' ---------- -------------- -------------- ------------ ------------ ---------------- --------------
    for t in "$@"; do
        printf '%-10s %14s %14s %12s %12s %16s %14s\n' "$t" "${BEST_RPS[$key-$t]}" "$(median "${ALL_RPS[$key-$t]}")" \
            "${BEST_P50[$key-$t]}" "${BEST_P99[$key-$t]}" "$(median "${ALL_CPU_A[$key-$t]}")" "$(median "${ALL_CPU_B[$key-$t]}")"
    done
}

PROXY=${PROXY:-1}
want_proxy=0
if [ $want_call = 1 ]; then
    start_echo
    register echo "$ECHO_MCP"
    if [ "$PROXY" = 1 ] && [ -x "$NGINX_BIN" ]; then want_proxy=1; start_proxy_nginx "$ECHO_MCP"; fi
    CALL_GW_SID=$(mcp_session gateway-call "$GATEWAY_MCP") || die "no gateway session"
    CALL_DIRECT_SID=$(mcp_session echo-direct "$ECHO_MCP") || die "no echo session"
    CALL_GW_REQ='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"'"$TEXT"'"}}}'
    CALL_DIRECT_REQ='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"'"$TEXT"'"}}}'
    check_call gateway "$GATEWAY_MCP" "$CALL_GW_SID" "$CALL_GW_REQ"
    check_call direct "$ECHO_MCP" "$CALL_DIRECT_SID" "$CALL_DIRECT_REQ"
    if [ $want_proxy = 1 ]; then check_call nginx "$NGINX_PROXY_MCP" "$CALL_DIRECT_SID" "$CALL_DIRECT_REQ"; fi
    log "tools/call answers: $EXPECTED_CALL (gateway, direct$([ $want_proxy = 1 ] && echo ', nginx proxy'))"

    log "tools/call latency: bench/mcp_latency.py on cpu $CLIENT_CPU (with the echo server), gateway on cpu $SERVER_CPU"
    latency "$GATEWAY_MCP" echo__echo "$GATEWAY_PID" latency
    # The same with nginx in the gateway's place (it passes the echo's own tool name).
    if [ $want_proxy = 1 ]; then latency "$NGINX_PROXY_MCP" echo "$NGINX_PROXY_WORKER" latency-nginx; fi
    LAT_TABLE=$(
        echo "pinning: gateway on cpu $SERVER_CPU; echo server and client (mcp_latency.py / wrk) share cpu $CLIENT_CPU"
        cat "$TMP/latency.txt"
        "$ECHO_PYTHON" - "$TMP/latency.json" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))["summary"]["added"]
ok50 = "met" if a["best_p50"] <= 60 else "MISSED"
ok99 = "met" if a["best_p99"] <= 250 else "MISSED"
print(f"added latency (best-of): p50 {a['best_p50']:.1f} us (target <= 60: {ok50}), "
      f"p99 {a['best_p99']:.1f} us (target <= 250: {ok99}); "
      f"median of rounds: p50 {a['median_p50']:.1f} us, p99 {a['median_p99']:.1f} us")
EOF
        if [ -s "$TMP/latency-nginx.json" ]; then
            echo "nginx proxy_pass in the gateway's place, same client and echo server:"
            cat "$TMP/latency-nginx.txt"
            "$ECHO_PYTHON" - "$TMP/latency.json" "$TMP/latency-nginx.json" <<'EOF'
import json, sys
g = json.load(open(sys.argv[1]))["summary"]["added"]
n = json.load(open(sys.argv[2]))["summary"]["added"]
print(f"added latency p50 (median of rounds): gateway {g['median_p50']:.1f} us, nginx {n['median_p50']:.1f} us "
      f"(gateway/nginx {g['median_p50'] / max(n['median_p50'], 0.1):.2f})")
EOF
        fi
    )

    write_lua "$TMP/call-gateway.lua" "$CALL_GW_SID" "$CALL_GW_REQ"
    write_lua "$TMP/call-direct.lua" "$CALL_DIRECT_SID" "$CALL_DIRECT_REQ"
    start_results mcp-call
    # (the nginx URL is empty when PROXY=0)
    call_rounds call "tools/call" "$TMP/call-gateway.lua" "$ECHO_MCP" "$TMP/call-direct.lua" "$ECHO_PID" \
        "${NGINX_PROXY_MCP:-}" "${NGINX_PROXY_WORKER:-}"
    check_call gateway "$GATEWAY_MCP" "$CALL_GW_SID" "$CALL_GW_REQ"
    check_call direct "$ECHO_MCP" "$CALL_DIRECT_SID" "$CALL_DIRECT_REQ"
    perf_round call-gateway "$GATEWAY_MCP" "$TMP/call-gateway.lua" "$CALL_CONNECTIONS"
    strace_round call-gateway "$GATEWAY_MCP" "$TMP/call-gateway.lua" "$CALL_CONNECTIONS"

    CALL_TABLE=$(
        echo "tools/call throughput, wrk -t1 -c$CALL_CONNECTIONS -d${DURATION}s x $ROUNDS rounds; gateway on cpu $SERVER_CPU, echo server + wrk on cpu $CLIENT_CPU"
        call_rows call gateway direct $([ $want_proxy = 1 ] && echo nginx)
        echo "(p50/p99: of the best run; us/req: CPU time (/proc/<pid>/schedstat) of the gateway / the echo server per request, median of rounds)"
        awk -v g="${BEST_RPS[call-gateway]}" -v n="${BEST_RPS[call-direct]}" \
            -v gm="$(median "${ALL_RPS[call-gateway]}")" -v nm="$(median "${ALL_RPS[call-direct]}")" \
            'BEGIN { printf "gateway/direct tools/call ratio: best %.3f, median %.3f\n", g / n, gm / nm }'
        if [ $want_proxy = 1 ]; then
            awk -v g="${BEST_RPS[call-gateway]}" -v n="${BEST_RPS[call-nginx]}" \
                -v gm="$(median "${ALL_RPS[call-gateway]}")" -v nm="$(median "${ALL_RPS[call-nginx]}")" \
                -v gc="$(median "${ALL_CPU_A[call-gateway]}")" -v nc="$(median "${ALL_CPU_A[call-nginx]}")" \
                'BEGIN { printf "gateway/nginx proxy_pass tools/call throughput: best %.3f, median %.3f; CPU per call gateway/nginx: %.2f\n", g / n, gm / nm, gc / nc }'
            echo "(on the nginx row, 'gateway us/req' is the nginx worker's CPU per request)"
        fi
    )
    for t in gateway direct $([ $want_proxy = 1 ] && echo nginx); do results_throughput "call-$t" "$t"; done
    # the latency table: per proxy (gateway; nginx), the proxied call, the direct call of the same
    # run and the difference (added), in µs, as bench/mcp_latency.py printed them
    results_table "$RES" latency via target best_p50_us best_p99_us median_p50_us median_p99_us \
        proxy_cpu_us proxy_runq_wait_us echo_cpu_us
    for via in gateway $([ $want_proxy = 1 ] && echo nginx); do
        "$ECHO_PYTHON" -c '
import json, sys
summary = json.load(open(sys.argv[1]))["summary"]
for target, key in (("proxy", "gateway"), ("direct", "direct"), ("added", "added")):
    s = summary[key]
    print("\t".join([sys.argv[2], target] + ["%.1f" % s[k] for k in (
        "best_p50", "best_p99", "median_p50", "median_p99", "median_gateway_cpu", "median_gateway_wait",
        "median_echo_cpu")]))
' "$TMP/latency$([ $via = nginx ] && echo -nginx).json" "$via" >>"$TMP/results/$RES/latency.tsv"
    done
    results_save mcp-call connections="$CALL_CONNECTIONS" duration_s="$DURATION" rounds="$ROUNDS" \
        warmup_s="$WARMUP" lat_n="$LAT_N" lat_rounds="$LAT_ROUNDS" proxy="$want_proxy" \
        server_cpu="$SERVER_CPU" client_cpu="$CLIENT_CPU" nginx="$([ $want_proxy = 1 ] && nginx_version)"
fi

# ---------------------------------------------------------------- 3. resources/read against tools/call
if [ $want_read = 1 ]; then
    if [ $want_call = 0 ]; then start_echo; register echo "$ECHO_MCP"; fi
    READ_SID=$(mcp_session gateway-read "$GATEWAY_MCP") || die "no gateway session"
    READ_REQ='{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"echo://echo/text"}}'
    CALL2_REQ='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"hello, gateway"}}}'
    EXPECTED_READ='{"jsonrpc":"2.0","id":1,"result":{"contents":[{"uri":"echo://echo/text","mimeType":"text/plain","text":"hello, gateway"}]}}'
    status=$(mcp_post "$GATEWAY_MCP" "$READ_SID" "$READ_REQ" "$TMP/read.json")
    [ "$status" = 200 ] && [ "$(cat "$TMP/read.json")" = "$EXPECTED_READ" ] \
        || die "resources/read answered $status: $(head -c 300 "$TMP/read.json") (expected $EXPECTED_READ)"
    write_lua "$TMP/read-gateway.lua" "$READ_SID" "$READ_REQ"
    write_lua "$TMP/call2-gateway.lua" "$READ_SID" "$CALL2_REQ"
    log "resources/read vs tools/call through the gateway: wrk -t1 -c$CALL_CONNECTIONS -d${DURATION}s; $ROUNDS rounds"
    start_results mcp-read
    for round in $(seq 1 "$ROUNDS"); do
        measure read-gateway "resources/read" "$GATEWAY_MCP" "$TMP/read-gateway.lua" "$CALL_CONNECTIONS" "$GATEWAY_PID" "$ECHO_PID"
        measure call2-gateway "tools/call" "$GATEWAY_MCP" "$TMP/call2-gateway.lua" "$CALL_CONNECTIONS" "$GATEWAY_PID" "$ECHO_PID"
    done
    READ_TABLE=$(
        echo "resources/read vs tools/call, both through the gateway to the same echo server, wrk -t1 -c$CALL_CONNECTIONS -d${DURATION}s x $ROUNDS rounds"
        printf '%-15s %14s %14s %12s %12s %16s %14s\n' method 'best req/s' 'median req/s' 'p50 (ms)' 'p99 (ms)' 'gateway us/req' 'echo us/req'
        printf '%-15s %14s %14s %12s %12s %16s %14s\n' --------------- -------------- -------------- ------------ ------------ ---------------- --------------
        for t in read call2; do
            label=$([ "$t" = read ] && echo resources/read || echo tools/call)
            printf '%-15s %14s %14s %12s %12s %16s %14s\n' "$label" "${BEST_RPS[$t-gateway]}" "$(median "${ALL_RPS[$t-gateway]}")" \
                "${BEST_P50[$t-gateway]}" "${BEST_P99[$t-gateway]}" "$(median "${ALL_CPU_A[$t-gateway]}")" "$(median "${ALL_CPU_B[$t-gateway]}")"
        done
        awk -v r="$(median "${ALL_RPS[read-gateway]}")" -v c="$(median "${ALL_RPS[call2-gateway]}")" \
            'BEGIN { printf "resources/read / tools/call throughput (medians): %.3f\n", r / c }'
    )
    results_throughput read-gateway resources/read
    results_throughput call2-gateway tools/call
    results_save mcp-read connections="$CALL_CONNECTIONS" duration_s="$DURATION" rounds="$ROUNDS" \
        server_cpu="$SERVER_CPU" client_cpu="$CLIENT_CPU"
fi

# ---------------------------------------------------------------- 4. tools/call to an https downstream
if [ $want_tls = 1 ]; then
    start_echo "$TMP/tls/server.pem" "$TMP/tls/server.key"
    register echotls "$ECHO_TLS_MCP"
    want_tls_proxy=0
    if [ "${PROXY:-1}" = 1 ] && [ -x "$NGINX_BIN" ]; then
        want_tls_proxy=1
        start_proxy_nginx "$ECHO_TLS_MCP" nginx-tls
        NGINX_TLS_MCP=$NGINX_PROXY_MCP NGINX_TLS_WORKER=$NGINX_PROXY_WORKER
    fi
    TLS_GW_SID=$(mcp_session gateway-tls "$GATEWAY_MCP") || die "no gateway session"
    TLS_DIRECT_SID=$(mcp_session echo-tls-direct "$ECHO_TLS_MCP") || die "no https echo session"
    TLS_GW_REQ='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echotls__echo","arguments":{"text":"'"$TEXT"'"}}}'
    TLS_DIRECT_REQ='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"'"$TEXT"'"}}}'
    check_call gateway-tls "$GATEWAY_MCP" "$TLS_GW_SID" "$TLS_GW_REQ"
    check_call direct-tls "$ECHO_TLS_MCP" "$TLS_DIRECT_SID" "$TLS_DIRECT_REQ"
    if [ $want_tls_proxy = 1 ]; then check_call nginx-tls "$NGINX_TLS_MCP" "$TLS_DIRECT_SID" "$TLS_DIRECT_REQ"; fi
    tls_metric() { curl -sS --max-time 5 "$GATEWAY_BASE/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
    TLS_HS0=$(tls_metric mcp_gateway_downstream_tls_handshakes_total)
    TLS_RS0=$(tls_metric mcp_gateway_downstream_tls_resumptions_total)

    log "tools/call to https: latency, bench/mcp_latency.py on cpu $CLIENT_CPU (with the echo server)"
    latency "$GATEWAY_MCP" echotls__echo "$GATEWAY_PID" latency-tls "$ECHO_TLS_MCP" "$ECHO_TLS_PID"
    if [ $want_tls_proxy = 1 ]; then latency "$NGINX_TLS_MCP" echo "$NGINX_TLS_WORKER" latency-tls-nginx "$ECHO_TLS_MCP" "$ECHO_TLS_PID"; fi
    write_lua "$TMP/tls-gateway.lua" "$TLS_GW_SID" "$TLS_GW_REQ"
    write_lua "$TMP/tls-direct.lua" "$TLS_DIRECT_SID" "$TLS_DIRECT_REQ"
    start_results mcp-tls
    call_rounds tls "tools/call https" "$TMP/tls-gateway.lua" "$ECHO_TLS_MCP" "$TMP/tls-direct.lua" "$ECHO_TLS_PID" \
        "${NGINX_TLS_MCP:-}" "${NGINX_TLS_WORKER:-}"
    check_call gateway-tls "$GATEWAY_MCP" "$TLS_GW_SID" "$TLS_GW_REQ"
    TLS_HS1=$(tls_metric mcp_gateway_downstream_tls_handshakes_total)
    TLS_RS1=$(tls_metric mcp_gateway_downstream_tls_resumptions_total)
    TLS_CALLS=$(awk '/ requests in / {n += $1} END {print n + 0}' "$TMP"/wrk-tls-gateway-[0-9]*.txt 2>/dev/null || echo "?")

    TLS_TABLE=$(
        echo "tools/call to an https downstream (echo_mcp.py over asyncio TLS, certificate for localhost from the run's CA)"
        echo "latency, one keep-alive connection; 'direct' = the client calls the echo server over https itself:"
        cat "$TMP/latency-tls.txt"
        if [ -s "$TMP/latency-tls-nginx.json" ]; then
            echo "nginx proxy_pass https (proxy_ssl_verify on, proxy_ssl_session_reuse on) in the gateway's place:"
            cat "$TMP/latency-tls-nginx.txt"
            "$ECHO_PYTHON" - "$TMP/latency-tls.json" "$TMP/latency-tls-nginx.json" <<'PYEOF'
import json, sys
g = json.load(open(sys.argv[1]))["summary"]
n = json.load(open(sys.argv[2]))["summary"]
def p50(s, k): return s[k]["median_p50"]
print(f"p50 (median of rounds): through the gateway {p50(g, 'gateway'):.1f} us, through nginx {p50(n, 'gateway'):.1f} us, "
      f"direct https {p50(g, 'direct'):.1f} us")
PYEOF
        fi
        echo
        echo "throughput, wrk -t1 -c$CALL_CONNECTIONS -d${DURATION}s x $ROUNDS rounds"
        call_rows tls gateway direct $([ $want_tls_proxy = 1 ] && echo nginx)
        echo "(gateway us/req: the gateway's CPU per call (on the nginx row: the nginx worker's); echo us/req: the echo server's)"
        if [ $want_tls_proxy = 1 ]; then
            awk -v g="$(median "${ALL_RPS[tls-gateway]}")" -v n="$(median "${ALL_RPS[tls-nginx]}")" \
                -v gc="$(median "${ALL_CPU_A[tls-gateway]}")" -v nc="$(median "${ALL_CPU_A[tls-nginx]}")" \
                'BEGIN { printf "gateway/nginx proxy_pass https: throughput (medians) %.3f; CPU per call gateway/nginx: %.2f\n", g / n, gc / nc }'
        fi
        echo "gateway TLS handshakes during the measured runs: $((TLS_HS1 - TLS_HS0)) full, $((TLS_RS1 - TLS_RS0)) resumed, for $TLS_CALLS calls"
    )
fi

echo
echo "bench/mcp.sh — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "gateway: $GATEWAY_BIN ($(date -u -r "$GATEWAY_BIN" +%Y-%m-%dT%H:%M:%SZ))"
if [ -n "$LIST_TABLE" ]; then echo; echo "$LIST_TABLE"; fi
if [ -n "$LAT_TABLE" ]; then echo; echo "$LAT_TABLE"; fi
if [ -n "$CALL_TABLE" ]; then echo; echo "$CALL_TABLE"; fi
if [ -n "${READ_TABLE:-}" ]; then echo; echo "$READ_TABLE"; fi
if [ -n "${TLS_TABLE:-}" ]; then echo; echo "$TLS_TABLE"; fi
if [ -n "$R_ERRORS" ]; then echo; echo "wrk reported errors:$R_ERRORS"; fi
if [ -s "$TMP/perf-report.txt" ]; then cat "$TMP/perf-report.txt"; fi
[ -z "$R_ERRORS" ]
