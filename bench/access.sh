#!/usr/bin/env bash
# bench/access.sh — what client authentication, rate limiting and audit lines cost per tools/call.
#
# One echo downstream (bench/echo_mcp.py, registered as `echo`); the same gateway binary is started
# once per configuration and `echo__echo` is called through it in the 2026-07-28 era (stateless
# POST /mcp) by wrk with CALL_CONNECTIONS connections; rounds alternate over the configurations:
#   open        MCP_AUTH=none, AUDIT_LOG=false (the bare relay)
#   audit       MCP_AUTH=none, one audit line per call (the default)
#   token       MCP_AUTH=token, a bearer token (SHA-256 of it looked up per request), audit on
#   token+rate  the same token with a rate limit it never reaches (a bucket per client and tool)
#   jwt-es256   MCP_AUTH=jwt, an ES256 token verified per request (keys from a local JWKS file
#               server), audit on
#   jwt-rs256   the same with an RS256 token
#   traced      MCP_AUTH=none, audit on, OTEL_EXPORTER_OTLP_ENDPOINT set (a local sink that answers
#               200): a server and a client span per call, exported in batches
# The gateway runs on SERVER_CPU; wrk, the echo server and the JWKS server on CLIENT_CPU. The
# table gives req/s (median of rounds) and the gateway's CPU time per call (/proc/<pid>/schedstat,
# median of rounds), and each configuration's extra CPU per call over `open`.
#
# Environment: GATEWAY_BIN (default .build/release/mcp-gateway), DURATION (s per run, default 5),
# ROUNDS (default 3), CALL_CONNECTIONS (default 16), CONFIGS (default all six, by name),
# SERVER_CPU / CLIENT_CPU (default 0 / 1), PYTHON (with `cryptography`, default .venv/bin/python).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mcp_lib.sh"

cd "$(dirname "$0")/.."
ROOT=$(pwd)
GATEWAY_BIN=${GATEWAY_BIN:-.build/release/mcp-gateway}
ECHO_PYTHON=${ECHO_PYTHON:-python3}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CALL_CONNECTIONS=${CALL_CONNECTIONS:-16}
CONFIGS=${CONFIGS:-open audit token token+rate jwt-es256 jwt-rs256 traced}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
API_KEY=bench-key-123
PROTO=2026-07-28
absolute_gateway_bin

require_tools "apt-get install wrk util-linux curl python3" wrk taskset curl "$ECHO_PYTHON"
[ -x "$GATEWAY_BIN" ] || die "gateway binary $GATEWAY_BIN not found (build it with: swift build -c release)"
[ -x "$PYTHON" ] || die "no $PYTHON (run scripts/venv.sh or set PYTHON)"
share_single_cpu "everything shares one core"
make_tmp mcp-gateway-bench-access

start_echo
"$PYTHON" "$ROOT/bench/jwt_keys.py" "$TMP" >"$TMP/tokens" || die "could not make test keys"
JWKS_PORT=$(free_port)
(cd "$TMP" && exec taskset -c "$CLIENT_CPU" "$ECHO_PYTHON" -m http.server "$JWKS_PORT" --bind 127.0.0.1) >"$TMP/jwks.log" 2>&1 &
PIDS+=("$!")
wait_http jwks "$!" "http://127.0.0.1:$JWKS_PORT/jwks.json" || die "the JWKS server did not start"

SINK_PORT=$(free_port)
taskset -c "$CLIENT_CPU" "$ECHO_PYTHON" -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$SINK_PORT" >"$TMP/sink.log" 2>&1 &
PIDS+=("$!")
wait_http sink "$!" "http://127.0.0.1:$SINK_PORT/" || die "the OTLP sink did not start"

BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'

# lua FILE [BEARER]: the wrk script for one configuration.
lua() {
    cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = '$(lua_quote "$BODY")'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "$PROTO"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "echo__echo"
LUA
    if [ -n "${2:-}" ]; then echo "wrk.headers[\"Authorization\"] = \"Bearer $2\"" >>"$1"; fi
}

# start CONFIG: a gateway for CONFIG with `echo` registered and a wrk script; sets URL_<n>, PID_<n>.
declare -A URL PID SCRIPT
for config in $CONFIGS; do
    extra=(AUDIT_LOG=true)
    bearer=
    case $config in
        open) extra=(AUDIT_LOG=false) ;;
        audit) ;;
        token|token+rate) extra+=(MCP_AUTH=token) ;;
        jwt-es256|jwt-rs256) extra+=(MCP_AUTH=jwt JWKS_URL="http://127.0.0.1:$JWKS_PORT/jwks.json" JWT_ISSUER=bench-issuer JWT_AUDIENCE=bench)
                   bearer=$(awk -v a="${config#jwt-}" '$1 == a {print $2}' "$TMP/tokens") ;;
        traced) extra+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT") ;;
        *) die "unknown configuration $config" ;;
    esac
    export "${extra[@]}"
    TMP_ROOT=$TMP TMP="$TMP/$config" && mkdir -p "$TMP"
    start_gateway
    TMP=$TMP_ROOT
    unset MCP_AUTH JWKS_URL JWT_ISSUER JWT_AUDIENCE AUDIT_LOG OTEL_EXPORTER_OTLP_ENDPOINT
    register echo "$ECHO_MCP"
    if [ "$config" = token ] || [ "$config" = token+rate ]; then
        rate=
        [ "$config" = token+rate ] && rate=',"rateLimit":{"perMinute":1000000}'
        bearer=$(curl -sS --max-time 10 -X POST -H "X-API-Key: $API_KEY" -H 'Content-Type: application/json' \
            -d '{"name":"bench"'"$rate"'}' "$GATEWAY_BASE/tokens" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
        [ -n "$bearer" ] || die "$config: no token issued"
    fi
    SCRIPT[$config]="$TMP/$config.lua"
    lua "${SCRIPT[$config]}" "$bearer"
    URL[$config]=$GATEWAY_MCP
    PID[$config]=$GATEWAY_PID
    # One checked call: the configuration answers the echo, not an error.
    auth=()
    [ -n "$bearer" ] && auth=(-H "Authorization: Bearer $bearer")
    out=$(curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
        -H "MCP-Protocol-Version: $PROTO" -H 'Mcp-Method: tools/call' -H 'Mcp-Name: echo__echo' "${auth[@]}" -d "$BODY" "$GATEWAY_MCP")
    case $out in *'"text":"hi"'*) ;; *) die "$config: the checked call answered $out" ;; esac
    log "$config: gateway pid $GATEWAY_PID at $GATEWAY_MCP"
done

declare -A RPS CPU
for round in $(seq 1 "$ROUNDS"); do
    for config in $CONFIGS; do
        run_wrk "$config" "${URL[$config]}" "${SCRIPT[$config]}" "$CALL_CONNECTIONS" "$DURATION" "${PID[$config]}"
        [ -z "$R_WRK_ERRORS" ] || die "$config: wrk saw errors: $R_WRK_ERRORS"
        log "$(printf 'round %d %-11s %10s req/s   gateway %6s us/call' "$round" "$config" "$R_RPS" "$R_CPU_A")"
        RPS[$config]="${RPS[$config]:-} $R_RPS"
        CPU[$config]="${CPU[$config]:-} $R_CPU_A"
    done
done

median() { printf '%s\n' $1 | sort -g | awk '{v[NR] = $1} END {if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo
echo "tools/call through the gateway, 2026-07-28, $CALL_CONNECTIONS connections, ${DURATION}s x $ROUNDS rounds (medians)"
printf '%-12s %12s %16s %18s\n' configuration "req/s" "gateway us/call" "extra us/call"
base=$(median "${CPU[open]:-0}")
for config in $CONFIGS; do
    cpu=$(median "${CPU[$config]}")
    printf '%-12s %12s %16s %18s\n' "$config" "$(median "${RPS[$config]}")" "$cpu" \
        "$(awk -v a="$cpu" -v b="$base" 'BEGIN {printf "%+.1f", a - b}')"
done
echo "(us/call: the gateway's CPU time per call from /proc/<pid>/schedstat; extra: over 'open')"
