#!/usr/bin/env bash
# bench/allocs.sh — heap allocations per request on the gateway's hot paths.
#
# The gateway runs with bench/alloc_count.c preloaded (built here with cc), which counts every
# malloc, calloc, realloc and aligned allocation of the process in a file this script reads
# between runs. For each path, after a warm-up, wrk (one thread, CONNECTIONS kept-alive
# connections) sends requests for DURATION seconds; the allocations made during the run divided by
# the requests wrk counted is the path's cost in allocations (and bytes) per request:
#   GET /livez                      the HTTP server alone
#   POST /mcp tools/list            a handshake-era session, one registered service with 1 tool
#   POST /mcp tools/call            relayed to bench/echo_mcp.py (the tools/call of bench/mcp.sh)
# Connections are opened once per run, so their setup is spread over thousands of requests. The
# gateway's own timers (health checks off, heartbeats) add a few allocations a second in all.
#
# Environment:
#   GATEWAY_BIN   gateway executable (default .build/release/mcp-gateway; this script never builds)
#   ECHO_PYTHON   python for bench/echo_mcp.py (default python3)
#   DURATION      seconds per run (default 3); WARMUP seconds before each (default 1)
#   CONNECTIONS   wrk connections (default 16)
#   SERVER_CPU / CLIENT_CPU   core of the gateway / of wrk and the echo server (default 0 / 1)
#   RESULTS_DIR   where the table is also written as data, allocs.json (default bench/results/)
#   STACKS=1      after each path's run, one more (unmeasured) second of it with a perf uprobe on
#                 glibc's malloc, calloc and realloc in the gateway; prints the call stacks that
#                 allocate most (perf report, top STACK_LINES lines, default 60). Needs root.
#                 STACK_DIR=dir keeps the perf.data files there.
#
# Exit status: 0 when every path answered correctly and was measured.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mcp_lib.sh"

cd "$(dirname "$0")/.."
ROOT=$(pwd)

GATEWAY_BIN=${GATEWAY_BIN:-.build/release/mcp-gateway}
ECHO_PYTHON=${ECHO_PYTHON:-python3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-16}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
API_KEY=bench-key-123
PROTO=2025-11-25
absolute_gateway_bin
[ -x "$GATEWAY_BIN" ] || die "no gateway at $GATEWAY_BIN (swift build -c release)"
require_tools "apt-get install wrk util-linux curl iproute2 python3 gcc" wrk taskset curl ss cc "$ECHO_PYTHON"
share_single_cpu "gateway and wrk will share a core"

make_tmp mcp-gateway-bench-allocs
cc -O2 -shared -fPIC -o "$TMP/alloc_count.so" "$ROOT/bench/alloc_count.c" || die "cannot build bench/alloc_count.c"
COUNTS=$TMP/alloc-counts

# counts: "<allocations> <bytes>" so far.
counts() { od -A n -t u8 -N 16 "$COUNTS" | awk '{print $1, $2}'; }

export HEALTH_CHECK_INTERVAL=86400 WATCH_DOWNSTREAMS=false
ALLOC_COUNT_FILE=$COUNTS LD_PRELOAD=$TMP/alloc_count.so start_gateway
[ -s "$COUNTS" ] || die "the allocation counter is not running in the gateway ($COUNTS is empty)"
start_echo
register echo "$ECHO_MCP"
SID=$(mcp_session gateway "$GATEWAY_MCP") || die "no gateway session"
LIST_REQ='{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
CALL_REQ='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"hello, gateway"}}}'
for what in list call; do
    req=LIST_REQ
    [ $what = call ] && req=CALL_REQ
    status=$(mcp_post "$GATEWAY_MCP" "$SID" "${!req}" "$TMP/$what.json")
    [ "$status" = 200 ] && grep -q '"result"' "$TMP/$what.json" || die "$what answered $status: $(head -c 300 "$TMP/$what.json")"
done
write_lua "$TMP/list.lua" "$SID" "$LIST_REQ"
write_lua "$TMP/call.lua" "$SID" "$CALL_REQ"

results_table allocs paths path requests allocs_per_request bytes_per_request
ROWS=()
# measure LABEL URL [wrk args]: allocations per request of one path.
measure() {
    local label=$1 url=$2 key
    shift 2
    key=$(printf '%s' "$label" | tr 'A-Z' 'a-z' | tr -cs 'a-z' '-' | sed 's/^-//; s/-$//')
    if [ "$WARMUP" != 0 ]; then wrk_run "$key-warmup" -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "$@" "$url"; fi
    read -r a0 b0 < <(counts)
    wrk_run "$key" -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$@" "$url"
    read -r a1 b1 < <(counts)
    wrk_parse "$key"
    [ -z "$R_WRK_ERRORS" ] || die "$label: wrk reported errors: $R_WRK_ERRORS"
    local n
    n=$(awk '/ requests in / {print $1}' "$WRK_OUT")
    [ "${n:-0}" -gt 0 ] || die "$label: no requests"
    local per bytes
    per=$(awk -v d=$((a1 - a0)) -v n="$n" 'BEGIN {printf "%.1f", d / n}')
    bytes=$(awk -v d=$((b1 - b0)) -v n="$n" 'BEGIN {printf "%.0f", d / n}')
    log "$(printf '%-22s %9d requests  %7s allocations/request  %8s bytes/request' "$label" "$n" "$per" "$bytes")"
    ROWS+=("$(printf '%-22s %10d %16s %16s' "$label" "$n" "$per" "$bytes")")
    results_row allocs paths "$label" "$n" "$per" "$bytes"
    stacks "$label" "$key" "$url" "$@"
}

STACKS=${STACKS:-0}
STACK_LINES=${STACK_LINES:-60}
LIBC=$(ldd "$GATEWAY_BIN" | awk '$1 ~ /^libc\.so/ {print $3}')
if [ "$STACKS" = 1 ]; then
    require_tools "apt-get install linux-perf" perf
    for f in malloc calloc realloc; do
        perf probe -q -x "$LIBC" "$f" 2>/dev/null || perf probe -q -l | grep -q "probe_libc:$f" || die "perf probe on $f failed"
    done
fi
# stacks LABEL KEY URL [wrk args]: where that path allocates (STACKS=1).
stacks() {
    [ "$STACKS" = 1 ] || return 0
    local label=$1 key=$2 url=$3 data
    shift 3
    data="${STACK_DIR:-$TMP}/allocs-$key.data"
    mkdir -p "$(dirname "$data")"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d3s "$@" "$url" >/dev/null 2>&1 &
    local wrk=$!
    PIDS+=("$wrk")
    sleep 1
    perf record -q -g -e probe_libc:malloc -e probe_libc:calloc -e probe_libc:realloc -o "$data" -p "$GATEWAY_PID" -- sleep 1 \
        >"$TMP/perf-$key.log" 2>&1 || { cat "$TMP/perf-$key.log" >&2; die "perf record failed"; }
    wait "$wrk" || true
    local demangle=cat
    if [ -x /opt/swift/usr/bin/swift-demangle ]; then demangle="/opt/swift/usr/bin/swift-demangle --simplified"; fi
    {
        echo
        echo "allocating call stacks, $label (perf report --children --sort symbol, top $STACK_LINES)"
        perf report -i "$data" --children --sort symbol --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' \
            | sed -E 's/[ -]+$//' | $demangle | cut -c1-160 | head -n "$STACK_LINES" || true
    } >>"$TMP/stacks.txt"
}

measure "GET /livez" "$GATEWAY_BASE/livez"
measure "POST /mcp tools/list" "$GATEWAY_MCP" -s "$TMP/list.lua"
measure "POST /mcp tools/call" "$GATEWAY_MCP" -s "$TMP/call.lua"

echo
echo "bench/allocs.sh — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "gateway: $GATEWAY_BIN; heap allocations counted by bench/alloc_count.c (LD_PRELOAD)"
echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s per path; gateway on cpu $SERVER_CPU, wrk and the echo server on cpu $CLIENT_CPU"
echo
printf '%-22s %10s %16s %16s\n' path requests allocs/request bytes/request
printf '%-22s %10s %16s %16s\n' ---------------------- ---------- ---------------- ----------------
printf '%s\n' "${ROWS[@]}"
if [ -s "$TMP/stacks.txt" ]; then cat "$TMP/stacks.txt"; fi
results_save allocs connections="$CONNECTIONS" duration_s="$DURATION" warmup_s="$WARMUP"
