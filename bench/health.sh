#!/usr/bin/env bash
# bench/health.sh — what one dead downstream costs the others. Two echo downstreams
# (bench/echo_mcp.py) are registered as services `a` and `b`; then `b` is killed (SIGKILL) and the
# gateway must shut it out (health `down`, circuit `open`, calls refused at once with JSON-RPC
# -32004) while `a` goes on as before.
#
# 1. baseline: ROUNDS rounds of CALLS sequential `a__echo` calls on one keep-alive connection
#    (bench/health_probe.py: p50 / p99, errors), then ROUNDS wrk runs of DURATION s on `a__echo`
#    (req/s, p50 / p99). Rows of rounds show the calls and errors summed, p50 / p99 / req/s as the
#    median of the rounds (the machine is shared and noisy; one bad second should not decide).
#    Control (CONTROL=1, the default): a measured the same way while the background load described
#    in 2 sends `ping` (answered by the gateway itself) instead of calls to b: the same load
#    generator on the same core, the same request rate, nothing dead.
# 2. b down: bench/health_probe.py kills b and calls `b__echo` back to back, reading
#    GET /services/b after each call, until b is `down`, its circuit `open` and a call was refused
#    with -32004: the time from the kill to each. Then, with the circuit open:
#    - CALLS sequential `b__echo` calls: every answer must be -32004; their latency is the refusal's
#      (no network behind it); then one wrk run on `b__echo` alone (refusals at saturation);
#    - a background load on `b__echo` (wrk, BG_CONNECTIONS connections, each pausing BG_DELAY_MS
#      between calls) while a is measured again as in 1. Every answer to a must be the echo and
#      every answer to b -32004 (wrk's Lua counts them).
#    The ratios of a's numbers during the failure to the baseline (and to the control) close the
#    report.
# The gateway runs with HEALTH_CHECK_INTERVAL=1 and CIRCUIT_COOL_DOWN=60 (so the circuit stays open
# for the whole measurement; the script checks that it opened exactly once) on the embedded SQLite
# store in a temp folder, on 127.0.0.1 only.
#
# CPU µs/req: the gateway's time on CPU (/proc/<pid>/schedstat) over a run per request answered.
# While a background load runs that time serves both loads, so a's rows divide it by a's and the
# background's requests together (the background rows show "-").
# Pinning (2 cores): the gateway on SERVER_CPU; the echo servers, the probe and wrk on CLIENT_CPU.
# The background load is paced so that it leaves most of the client core to a's measurement; its
# rate is in the table, and the control shows what the load generator alone does to a's numbers.
#
# Environment:
#   GATEWAY_BIN   gateway executable (default .build/release/mcp-gateway; this script never builds)
#   CALLS         sequential calls per round (default 2000)
#   DURATION      seconds per wrk run (default 5)
#   ROUNDS        rounds of a's measurements, sequential and wrk, in each phase (default 3)
#   CONNECTIONS   wrk connections of the measured runs (default 16)
#   BG_CONNECTIONS / BG_DELAY_MS   the background load: connections, pause between a connection's
#                 calls in ms (default 8 / 1)
#   CONTROL       1 (default): measure a under the `ping` background load too; 0: skip it
#   HEALTH_CHECK_INTERVAL / CIRCUIT_FAILURE_THRESHOLD / CIRCUIT_COOL_DOWN / HEALTH_DOWN_AFTER
#                 the gateway's settings (default 1 / 5 / 60 / 2)
#   ECHO_PYTHON   python for bench/echo_mcp.py and bench/health_probe.py (default python3)
#   SERVER_CPU / CLIENT_CPU   core of the gateway / of everything else (default 0 / 1)
#   RESULTS_DIR   where the tables are also written as data, health.json (default bench/results/;
#                 bench/results.py describes it)
#
# Exit status: 0 when every call to a was answered with its echo (before and after b died), every
# call to b with the circuit open was answered -32004, the circuit opened once, and a stayed healthy
# (no log line about it, `healthy` with its circuit closed at the end); 1 otherwise (all reasons
# printed).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mcp_lib.sh"

cd "$(dirname "$0")/.."
ROOT=$(pwd)

GATEWAY_BIN=${GATEWAY_BIN:-.build/release/mcp-gateway}
ECHO_PYTHON=${ECHO_PYTHON:-python3}
CALLS=${CALLS:-2000}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
BG_CONNECTIONS=${BG_CONNECTIONS:-8}
BG_DELAY_MS=${BG_DELAY_MS:-1}
CONTROL=${CONTROL:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
export HEALTH_CHECK_INTERVAL=${HEALTH_CHECK_INTERVAL:-1}
export CIRCUIT_FAILURE_THRESHOLD=${CIRCUIT_FAILURE_THRESHOLD:-5}
export CIRCUIT_COOL_DOWN=${CIRCUIT_COOL_DOWN:-60}
export HEALTH_DOWN_AFTER=${HEALTH_DOWN_AFTER:-2}
API_KEY=bench-key-123
PROTO=2025-11-25
TEXT='hello, gateway'
PROBE_WARMUP=200
absolute_gateway_bin

require_tools "apt-get install wrk util-linux curl iproute2 python3" wrk taskset curl ss "$ECHO_PYTHON"
[ -x "$GATEWAY_BIN" ] || die "gateway binary $GATEWAY_BIN not found (build it with: swift build -c release)"
share_single_cpu "everything shares one core"
make_tmp mcp-gateway-bench-health

# cpu_ns PID: the process's time on CPU so far, in ns (/proc/<pid>/schedstat).
cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }

# json_get FILE KEY: one top-level value of a JSON object (floats with 1 decimal; null -> "-").
json_get() {
    "$ECHO_PYTHON" -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("-" if v is None else f"{v:.1f}" if isinstance(v, float) else json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else v)' "$1" "$2"
}

# probe NAME ARGS...: bench/health_probe.py ARGS on CLIENT_CPU, its JSON in $TMP/NAME.json.
probe() {
    local name=$1
    shift
    taskset -c "$CLIENT_CPU" "$ECHO_PYTHON" "$ROOT/bench/health_probe.py" "$@" >"$TMP/$name.json" 2>"$TMP/$name.log" &
    local pid=$!
    PIDS+=("$pid")
    wait "$pid" || { cat "$TMP/$name.log" >&2; die "bench/health_probe.py $1 ($name) failed"; }
}

call_body() { echo '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"'"$1"'","arguments":{"text":"'"$TEXT"'"}}}'; }

# write_check_lua FILE BODY PATTERN [DELAY_MS]: a wrk script POSTing BODY that counts answers
# (HTTP 200 with PATTERN in the body: good; else bad) and prints "CHECKED good bad" at the end;
# with DELAY_MS each connection pauses that long between calls.
write_check_lua() {
    local file=$1 body=$2 pattern=$3 delay=${4:-}
    write_lua "$file" "$SID" "$body"
    cat >>"$file" <<LUA
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) good = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and string.find(body, '$(lua_quote "$pattern")', 1, true) then good = good + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
  io.write(string.format("CHECKED %d %d\n", g, b))
end
LUA
    if [ -n "$delay" ]; then echo "function delay() return $delay end" >>"$file"; fi
}

# wrk_counts: from WRK_OUT sets R_REQ, R_GOOD, R_BAD (R_BAD includes wrk's socket errors).
wrk_counts() {
    R_REQ=$(awk '/ requests in / {print $1}' "$WRK_OUT")
    R_GOOD=$(awk '$1 == "CHECKED" {print $2}' "$WRK_OUT")
    R_BAD=$(awk '$1 == "CHECKED" {print $3}' "$WRK_OUT")
    [ -n "$R_GOOD" ] || { cat "$WRK_OUT" >&2; die "no CHECKED line from wrk"; }
    local sock
    sock=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$WRK_OUT")
    R_BAD=$((R_BAD + ${sock:-0}))
}

# wrk_checked NAME WRK-ARGS...: wrk_run + wrk_parse + wrk_counts: R_RPS, R_P50, R_P99 (ms), R_REQ,
# R_GOOD, R_BAD.
wrk_checked() {
    local name=$1
    shift
    wrk_run "$name" "$@"
    wrk_parse "$name"
    wrk_counts
}

median() { printf '%s\n' $1 | sort -g | awk '{v[NR] = $1} END {if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# wrk_rounds NAME: ROUNDS wrk runs on a__echo; W_REQ, W_BAD summed, W_RPS, W_P50, W_P99 (ms) the
# medians of the rounds.
wrk_rounds() {
    local rps= p50= p99= r
    W_REQ=0 W_BAD=0
    for r in $(seq 1 "$ROUNDS"); do
        wrk_checked "$1-$r" -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$TMP/a.lua" "$GATEWAY_MCP"
        log "$(printf '%s round %s: %10s req/s  p50 %6s ms  p99 %6s ms  not the echo: %s' "$1" "$r" "$R_RPS" "$R_P50" "$R_P99" "$R_BAD")"
        W_REQ=$((W_REQ + R_REQ)) W_BAD=$((W_BAD + R_BAD))
        rps="$rps $R_RPS" p50="$p50 $R_P50" p99="$p99 $R_P99"
    done
    W_RPS=$(median "$rps") W_P50=$(median "$p50") W_P99=$(median "$p99")
}

# bg_start NAME LUA: the paced background load (wrk) on CLIENT_CPU; bg_stop: SIGINT (wrk prints
# its summary) and wait; sets BG_RPS, BG_P50, BG_P99 (ms), BG_REQ, BG_GOOD, BG_BAD.
bg_start() {
    BG_OUT="$TMP/wrk-$1.txt"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$BG_CONNECTIONS" -d300s --latency -s "$2" "$GATEWAY_MCP" >"$BG_OUT" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
    sleep 0.5
}
bg_stop() {
    kill -INT "$BG_PID"
    wait "$BG_PID" || { cat "$BG_OUT" >&2; die "the background wrk failed"; }
    local save=${WRK_OUT:-}
    WRK_OUT=$BG_OUT
    wrk_parse background
    wrk_counts
    WRK_OUT=$save
    BG_RPS=$R_RPS BG_P50=$R_P50 BG_P99=$R_P99 BG_REQ=$R_REQ BG_GOOD=$R_GOOD BG_BAD=$R_BAD
}

us() { awk -v v="$1" 'BEGIN {printf "%.0f", v * 1000}'; }         # ms -> µs
per_req() { awk -v d="$1" -v n="$2" 'BEGIN {if (n > 0) printf "%.1f", d / 1000 / n; else print "-"}'; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN {if (y > 0) printf "%.2f", x / y; else print "-"}'; }

ROWS=()
FAIL=()
# row PHASE SERVICE CALLS ERRORS P50 P99 RPS CPU (RPS rounded to a whole number)
row() {
    local rps
    rps=$(awk -v v="$7" 'BEGIN {if (v ~ /^[0-9.]+$/) printf "%.0f", v; else printf "%s", v}')
    ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s |' "$1" "$2" "$3" "$4" "$5" "$6" "$rps" "$8")")
    results_row health rows "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8"
}

# measure_a PHASE KEY [BG_LUA BG_LABEL BG_EXPECT]: a's sequential rounds, then a's wrk rounds, each
# under the background load BG_LUA when given; rows for a (and the background); a's numbers in
# SEQ_P50[KEY], SEQ_P99[KEY], SEQ_RPS[KEY], WRK_RPS[KEY], WRK_P50[KEY], WRK_P99[KEY] (µs).
declare -A SEQ_P50 SEQ_P99 SEQ_RPS WRK_RPS WRK_P50 WRK_P99
measure_a() {
    local phase=$1 key=$2 bg_lua=${3:-} bg_label=${4:-} bg_expect=${5:-} c0 c1 j bg_n=0 under=
    if [ -n "$bg_lua" ]; then under=", $bg_label in the background (wrk -c$BG_CONNECTIONS, ${BG_DELAY_MS} ms pauses)"; fi

    log "$phase: $ROUNDS x $CALLS sequential a__echo calls$under"
    c0=$(cpu_ns "$GATEWAY_PID")
    if [ -n "$bg_lua" ]; then bg_start "$key-seq" "$bg_lua"; fi
    probe "$key-seq" calls --url "$GATEWAY_MCP" --tool a__echo -n "$CALLS" --rounds "$ROUNDS" --warmup "$PROBE_WARMUP" --text "$TEXT"
    if [ -n "$bg_lua" ]; then bg_stop; bg_n=$BG_REQ; fi
    c1=$(cpu_ns "$GATEWAY_PID")
    j="$TMP/$key-seq.json"
    SEQ_P50[$key]=$(json_get "$j" p50_us) SEQ_P99[$key]=$(json_get "$j" p99_us) SEQ_RPS[$key]=$(json_get "$j" rps)
    row "$phase" "a (sequential)" "$(json_get "$j" calls)" "$(json_get "$j" errors)" "${SEQ_P50[$key]}" "${SEQ_P99[$key]}" \
        "${SEQ_RPS[$key]}" "$(per_req $((c1 - c0)) $((CALLS * ROUNDS + PROBE_WARMUP + bg_n)))"
    [ "$(json_get "$j" errors)" = 0 ] || FAIL+=("$phase: a's sequential calls were not all the echo: $(json_get "$j" codes)")
    if [ -n "$bg_lua" ]; then bg_row "$phase" "$bg_label" "$bg_expect"; fi

    log "$phase: $ROUNDS x wrk -t1 -c$CONNECTIONS -d${DURATION}s on a__echo$under"
    c0=$(cpu_ns "$GATEWAY_PID")
    if [ -n "$bg_lua" ]; then bg_start "$key-wrk" "$bg_lua"; fi
    wrk_rounds "$key-wrk"
    if [ -n "$bg_lua" ]; then bg_stop; bg_n=$BG_REQ; fi
    c1=$(cpu_ns "$GATEWAY_PID")
    WRK_RPS[$key]=$W_RPS WRK_P50[$key]=$(us "$W_P50") WRK_P99[$key]=$(us "$W_P99")
    row "$phase" "a (wrk -c$CONNECTIONS)" "$W_REQ" "$W_BAD" "${WRK_P50[$key]}" "${WRK_P99[$key]}" "$W_RPS" \
        "$(per_req $((c1 - c0)) $((W_REQ + bg_n)))"
    [ "$W_BAD" = 0 ] || FAIL+=("$phase: $W_BAD of a's wrk calls were not the echo")
    if [ -n "$bg_lua" ]; then bg_row "$phase" "$bg_label" "$bg_expect"; fi
}
# bg_row PHASE LABEL EXPECT: the background load's row (the last bg_stop).
bg_row() {
    row "$1" "$2 (background, wrk -c$BG_CONNECTIONS)" "$BG_REQ" "$BG_GOOD ($3), $BG_BAD other" "$(us "$BG_P50")" "$(us "$BG_P99")" "$BG_RPS" "-"
    [ "$BG_BAD" = 0 ] || FAIL+=("$1: $BG_BAD of the background $2 calls were not answered $3")
}

# ---------------------------------------------------------------- setup
results_table health rows phase service calls errors p50_us p99_us rps cpu_us_per_request
start_echo
A_MCP=$ECHO_MCP
mv "$TMP/echo.out" "$TMP/echo-a.out"; mv "$TMP/echo.log" "$TMP/echo-a.log"
start_echo
B_PID=$ECHO_PID B_MCP=$ECHO_MCP
disown "$B_PID"  # it is killed on purpose: no "Killed" notice from bash (stop_all still tries it)
start_gateway
register a "$A_MCP"
register b "$B_MCP"
SID=$(mcp_session gateway "$GATEWAY_MCP") || die "no gateway session"
for s in a b; do
    status=$(mcp_post "$GATEWAY_MCP" "$SID" "$(call_body "${s}__echo")" "$TMP/check-$s.json")
    [ "$status" = 200 ] && grep -q "\"text\":\"$TEXT\"" "$TMP/check-$s.json" || die "${s}__echo through the gateway failed: $status $(cat "$TMP/check-$s.json")"
done
status=$(mcp_post "$GATEWAY_MCP" "$SID" '{"jsonrpc":"2.0","id":1,"method":"ping"}' "$TMP/check-ping.json")
[ "$status" = 200 ] && grep -q '"result":{}' "$TMP/check-ping.json" || die "ping answered $status: $(cat "$TMP/check-ping.json")"
log "settings: HEALTH_CHECK_INTERVAL=$HEALTH_CHECK_INTERVAL CIRCUIT_FAILURE_THRESHOLD=$CIRCUIT_FAILURE_THRESHOLD CIRCUIT_COOL_DOWN=$CIRCUIT_COOL_DOWN HEALTH_DOWN_AFTER=$HEALTH_DOWN_AFTER"

write_check_lua "$TMP/a.lua" "$(call_body a__echo)" "\"text\":\"$TEXT\""
write_check_lua "$TMP/b.lua" "$(call_body b__echo)" '"code":-32004'
write_check_lua "$TMP/b-bg.lua" "$(call_body b__echo)" '"code":-32004' "$BG_DELAY_MS"
write_check_lua "$TMP/ping-bg.lua" '{"jsonrpc":"2.0","id":1,"method":"ping"}' '"result":{}' "$BG_DELAY_MS"

log "warm-up: wrk on a__echo for 1 s"
wrk_run warmup -t1 -c"$CONNECTIONS" -d1s -s "$TMP/a.lua" "$GATEWAY_MCP"

# ---------------------------------------------------------------- 1. baseline (and control)
measure_a baseline base
if [ "$CONTROL" = 1 ]; then measure_a control ctl "$TMP/ping-bg.lua" ping "result"; fi

# ---------------------------------------------------------------- 2. b down
log "killing b (pid $B_PID) and calling b__echo until its circuit is open"
probe open open --url "$GATEWAY_MCP" --tool b__echo --service-url "$GATEWAY_BASE/services/b" --api-key "$API_KEY" \
    --kill-pid "$B_PID" --text "$TEXT" --timeout 30
OPENED_AT=$(date +%s)
j="$TMP/open.json"
[ "$(json_get "$j" done)" = True ] || die "b did not go down with its circuit open within 30 s: $(cat "$j")"
OPEN_LINE="b killed (SIGKILL) -> first call answered $(json_get "$j" first_answer_ms) ms, \`down\` $(json_get "$j" down_ms) ms (health since; seen $(json_get "$j" down_seen_ms) ms), first -32004 $(json_get "$j" first_reject_ms) ms; $(json_get "$j" failed_before_open) calls failed before the circuit opened: codes $(json_get "$j" codes), each in ms $(json_get "$j" failed_call_ms)"
log "$OPEN_LINE"

log "b down: $CALLS sequential b__echo calls (circuit open)"
probe down-b calls --url "$GATEWAY_MCP" --tool b__echo -n "$CALLS" --expect circuit --warmup "$PROBE_WARMUP" --text "$TEXT" --gateway-pid "$GATEWAY_PID"
j="$TMP/down-b.json"
other=$(json_get "$j" unexpected)
row "b down" "b (sequential)" "$CALLS" "$((CALLS - other)) (-32004), $other other" "$(json_get "$j" p50_us)" "$(json_get "$j" p99_us)" \
    "$(json_get "$j" rps)" "$(json_get "$j" cpu_us_per_call)"
[ "$other" = 0 ] || FAIL+=("b down: b's sequential calls answered other than -32004: $(json_get "$j" codes)")

log "b down: wrk -t1 -c$CONNECTIONS -d${DURATION}s on b__echo alone (circuit open)"
c0=$(cpu_ns "$GATEWAY_PID")
wrk_checked down-b-wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$TMP/b.lua" "$GATEWAY_MCP"
c1=$(cpu_ns "$GATEWAY_PID")
row "b down" "b (wrk -c$CONNECTIONS)" "$R_REQ" "$R_GOOD (-32004), $R_BAD other" "$(us "$R_P50")" "$(us "$R_P99")" "$R_RPS" "$(per_req $((c1 - c0)) "$R_REQ")"
[ "$R_BAD" = 0 ] || FAIL+=("b down: $R_BAD of b's wrk calls were not answered -32004")

measure_a "b down" down "$TMP/b-bg.lua" b "-32004"

# ---------------------------------------------------------------- checks after the run
health_of() {
    curl -sS --max-time 5 -H "X-API-Key: $API_KEY" "$GATEWAY_BASE/services/$1" \
        | "$ECHO_PYTHON" -c 'import json, sys; print(json.dumps(json.load(sys.stdin).get("health")))'
}
HEALTH_A=$(health_of a)
HEALTH_B=$(health_of b)
opened=$(grep -c 'circuit opened' "$TMP/gateway.log" || true)
[ "$opened" = 1 ] || FAIL+=("the gateway logged 'circuit opened' $opened times (expected once; CIRCUIT_COOL_DOWN=$CIRCUIT_COOL_DOWN too short for the run?)")
if [ $(($(date +%s) - OPENED_AT)) -ge "$CIRCUIT_COOL_DOWN" ]; then FAIL+=("the run outlasted CIRCUIT_COOL_DOWN=$CIRCUIT_COOL_DOWN s"); fi
a_lines=$(grep -E 'service=a( |$)' "$TMP/gateway.log" || true)
[ -z "$a_lines" ] || FAIL+=("the gateway logged about service a: $a_lines")
case "$HEALTH_A" in *'"state": "healthy"'*'"circuit": "closed"'*) ;; *) FAIL+=("a is not healthy with its circuit closed after the run: $HEALTH_A") ;; esac
case "$HEALTH_B" in *'"state": "down"'*'"circuit": "open"'*) ;; *) FAIL+=("b is not down with its circuit open after the run: $HEALTH_B") ;; esac

# ---------------------------------------------------------------- report
# ratios KEY BASE: a's numbers in phase KEY over those in phase BASE.
ratios() {
    echo "sequential p50 $(ratio "${SEQ_P50[$1]}" "${SEQ_P50[$2]}"), p99 $(ratio "${SEQ_P99[$1]}" "${SEQ_P99[$2]}"), calls/s $(ratio "${SEQ_RPS[$1]}" "${SEQ_RPS[$2]}"); wrk req/s $(ratio "${WRK_RPS[$1]}" "${WRK_RPS[$2]}"), p50 $(ratio "${WRK_P50[$1]}" "${WRK_P50[$2]}"), p99 $(ratio "${WRK_P99[$1]}" "${WRK_P99[$2]}")"
}
echo
echo "bench/health.sh — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "gateway: $GATEWAY_BIN ($(date -u -r "$GATEWAY_BIN" +%Y-%m-%dT%H:%M:%SZ)) on cpu $SERVER_CPU; echo servers, probe and wrk on cpu $CLIENT_CPU"
echo "HEALTH_CHECK_INTERVAL=$HEALTH_CHECK_INTERVAL CIRCUIT_FAILURE_THRESHOLD=$CIRCUIT_FAILURE_THRESHOLD CIRCUIT_COOL_DOWN=$CIRCUIT_COOL_DOWN HEALTH_DOWN_AFTER=$HEALTH_DOWN_AFTER; CALLS=$CALLS DURATION=$DURATION ROUNDS=$ROUNDS CONNECTIONS=$CONNECTIONS BG_CONNECTIONS=$BG_CONNECTIONS BG_DELAY_MS=$BG_DELAY_MS"
echo
echo "| phase | service | calls | errors | p50 µs | p99 µs | req/s | CPU µs/req |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "(a's rows: $ROUNDS rounds, calls and errors summed, p50 / p99 / req/s the median of the rounds; sequential: one"
echo " keep-alive connection; CPU µs/req: the gateway's time on CPU per request, with a background load over a's and its requests)"
echo "$OPEN_LINE"
echo "a during b down / baseline: $(ratios down base)"
if [ "$CONTROL" = 1 ]; then echo "a during b down / control (ping load): $(ratios down ctl)"; fi
echo "health after the run: a $HEALTH_A; b $HEALTH_B"

results_table health opening metric value
for k in first_answer_ms down_ms down_seen_ms first_reject_ms failed_before_open; do
    results_row health opening "$k" "$(json_get "$TMP/open.json" "$k")"
done
# a's numbers during the failure over the baseline (and the control), as printed
results_table health ratios over seq_p50 seq_p99 seq_rps wrk_rps wrk_p50 wrk_p99
for base in base $([ "$CONTROL" = 1 ] && echo ctl); do
    results_row health ratios "$([ $base = base ] && echo baseline || echo control)" \
        "$(ratio "${SEQ_P50[down]}" "${SEQ_P50[$base]}")" "$(ratio "${SEQ_P99[down]}" "${SEQ_P99[$base]}")" \
        "$(ratio "${SEQ_RPS[down]}" "${SEQ_RPS[$base]}")" "$(ratio "${WRK_RPS[down]}" "${WRK_RPS[$base]}")" \
        "$(ratio "${WRK_P50[down]}" "${WRK_P50[$base]}")" "$(ratio "${WRK_P99[down]}" "${WRK_P99[$base]}")"
done
results_save health calls="$CALLS" duration_s="$DURATION" rounds="$ROUNDS" connections="$CONNECTIONS" \
    bg_connections="$BG_CONNECTIONS" bg_delay_ms="$BG_DELAY_MS" control="$CONTROL" \
    health_check_interval="$HEALTH_CHECK_INTERVAL" circuit_failure_threshold="$CIRCUIT_FAILURE_THRESHOLD" \
    circuit_cool_down="$CIRCUIT_COOL_DOWN" health_down_after="$HEALTH_DOWN_AFTER" failures="${#FAIL[@]}"
if [ ${#FAIL[@]} -gt 0 ]; then
    echo
    printf 'FAILED: %s\n' "${FAIL[@]}"
    exit 1
fi
