#!/usr/bin/env bash
# bench/rss.sh — does the gateway give back what a request takes? Resident memory (VmRSS) of one
# gateway before and after CALLS relayed `tools/call`, and, as the control in the same run, before
# and after as many `tools/list` (answered from the snapshot, no downstream, no per-call record).
#
# The echo downstream (bench/echo_mcp.py) is registered as service `echo`; wrk (one thread,
# CONNECTIONS connections, one handshake-era session) sends the calls. A WARM_CALLS warm-up first
# lets allocator arenas and the downstream connection pool reach their steady size. With TLS=1 the
# echo server serves https (a CA made for the run, trusted through DOWNSTREAM_CA_FILE), so the TLS
# objects of every connection are counted too (each phase's end aborts the calls in flight, whose
# connections close and are opened again with new handshakes). Each phase
# runs wrk until CALLS requests completed (wrk's -d with a generous bound; the completed count is
# read from wrk), then samples RSS after a short settle. The table shows RSS before and after,
# the growth, and bytes per call; a relay that leaks ~750 bytes a call grows ~75 MB over 100k.
#
# Environment:
#   GATEWAY_BIN   gateway executable (default .build/release/mcp-gateway; this script never builds)
#   CALLS         requests per phase (default 100000)
#   WARM_CALLS    warm-up calls (default 20000)
#   CONNECTIONS   wrk connections (default 8)
#   TLS=1         the downstream over https (needs openssl)
#   ECHO_PYTHON   python for bench/echo_mcp.py (default python3)
#   SERVER_CPU / CLIENT_CPU   core of the gateway / of wrk and the echo server (default 0 / 1)
#   RESULTS_DIR   where the table is also written as data, rss.json (default bench/results/;
#                 bench/results.py describes it)
#
# Exit status: 0 when every phase ran; 1 when tools/call grew by more than LIMIT_KB (default 1024).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mcp_lib.sh"

cd "$(dirname "$0")/.."
ROOT=$(pwd)

GATEWAY_BIN=${GATEWAY_BIN:-.build/release/mcp-gateway}
ECHO_PYTHON=${ECHO_PYTHON:-python3}
CALLS=${CALLS:-100000}
WARM_CALLS=${WARM_CALLS:-20000}
CONNECTIONS=${CONNECTIONS:-8}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LIMIT_KB=${LIMIT_KB:-1024}
TLS=${TLS:-0}
API_KEY=bench-key-123
PROTO=2025-11-25
absolute_gateway_bin

require_tools "apt-get install wrk util-linux curl python3" wrk taskset curl "$ECHO_PYTHON"
[ -x "$GATEWAY_BIN" ] || die "gateway binary $GATEWAY_BIN not found (build it with: swift build -c release)"
share_single_cpu "everything shares one core"
make_tmp mcp-gateway-bench-rss

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# drive NAME LUA COUNT: wrk until COUNT requests completed (a request-counting Lua `response`
# stops the thread once the count is reached; wrk itself still runs for its duration, which is
# set from the rate measured in the warm-up, RATE req/s); prints the completed count.
drive() {
    local name=$1 lua=$2 count=$3 seconds
    local script="$TMP/$name-drive.lua"
    cat "$lua" >"$script"
    cat >>"$script" <<LUA
local done_n = 0
response = function(status, headers, body)
  done_n = done_n + 1
  if done_n >= $count then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  io.write(string.format("COMPLETED %d\n", summary.requests))
end
LUA
    seconds=$(awk -v n="$count" -v r="$RATE" 'BEGIN {s = int(n / r * 1.3) + 2; print (s > 900 ? 900 : s)}')
    wrk_run "$name" -t1 -c"$CONNECTIONS" -d"${seconds}s" -s "$script" "$GATEWAY_MCP"
    awk '$1 == "COMPLETED" {print $2}' "$WRK_OUT"
}

if [ "$TLS" = 1 ]; then
    require_tools "apt-get install openssl" openssl
    make_tls_files "$TMP/tls"
    export DOWNSTREAM_CA_FILE=$TMP/tls/ca.pem
    start_echo "$TMP/tls/server.pem" "$TMP/tls/server.key"
    ECHO_URL=$ECHO_TLS_MCP
else
    start_echo
    ECHO_URL=$ECHO_MCP
fi
start_gateway
register echo "$ECHO_URL"
SID=$(mcp_session gateway "$GATEWAY_MCP") || die "no gateway session"
write_lua "$TMP/call.lua" "$SID" '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"hello"}}}'
write_lua "$TMP/list.lua" "$SID" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'

status=$(mcp_post "$GATEWAY_MCP" "$SID" '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"check"}}}' "$TMP/check.json")
[ "$status" = 200 ] && grep -q '"text":"check"' "$TMP/check.json" || die "tools/call through the gateway failed: $status $(cat "$TMP/check.json")"

log "rate probe: 3 s of calls"
wrk_run probe -t1 -c"$CONNECTIONS" -d3s -s "$TMP/call.lua" "$GATEWAY_MCP"
RATE=$(awk '/^Requests\/sec:/ {print $2}' "$WRK_OUT")
[ -n "$RATE" ] || die "no rate from the probe"
log "warm-up: $WARM_CALLS calls (probe: $RATE req/s)"
drive warm "$TMP/call.lua" "$WARM_CALLS" >/dev/null
sleep 1

declare -A BEFORE AFTER DONE
for phase in call list; do
    BEFORE[$phase]=$(rss_kb "$GATEWAY_PID")
    log "$phase: $CALLS requests, wrk -t1 -c$CONNECTIONS (RSS before ${BEFORE[$phase]} kB)"
    DONE[$phase]=$(drive "$phase" "$TMP/$phase.lua" "$CALLS")
    sleep 1
    AFTER[$phase]=$(rss_kb "$GATEWAY_PID")
done

[ "$TLS" = 1 ] && printf '\n(downstream over https: %s)' "$ECHO_URL"
printf '\n%-30s %10s %12s %12s %10s %12s\n' "path" requests "RSS before" "RSS after" growth "bytes/req"
results_table rss memory path requests rss_before_kb rss_after_kb growth_kb bytes_per_request
for phase in call list; do
    label="tools/call (relayed)"; [ "$phase" = list ] && label="tools/list (control)"
    growth=$(( AFTER[$phase] - BEFORE[$phase] ))
    per=$(awk -v g="$growth" -v n="${DONE[$phase]}" 'BEGIN {printf "%.1f", (n > 0 ? g * 1024 / n : 0)}')
    printf '%-30s %10s %9s kB %9s kB %7s kB %12s\n' "$label" "${DONE[$phase]}" "${BEFORE[$phase]}" "${AFTER[$phase]}" "$growth" "$per"
    results_row rss memory "$label" "${DONE[$phase]}" "${BEFORE[$phase]}" "${AFTER[$phase]}" "$growth" "$per"
done
results_save rss calls="$CALLS" warm_calls="$WARM_CALLS" connections="$CONNECTIONS" limit_kb="$LIMIT_KB" \
    server_cpu="$SERVER_CPU" client_cpu="$CLIENT_CPU"
growth=$(( AFTER[call] - BEFORE[call] ))
if [ "$growth" -gt "$LIMIT_KB" ]; then
    log "tools/call grew RSS by $growth kB over ${DONE[call]} calls (limit $LIMIT_KB kB)"
    exit 1
fi
