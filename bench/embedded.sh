#!/usr/bin/env bash
# bench/embedded.sh: tools/call latency on the embedded SQLite default, with and without admin
# mutations running at the same time (do SQLite statements on the loop stall other requests?).
#
# The gateway (release build, GATEWAY_BIN) runs on core 0 with DATABASE_URL=sqlite:<tmp>; the
# echo MCP server (bench/echo_mcp.py) and the clients on core 1. Prints a table (bench/embedded.py),
# also written as data to RESULTS_DIR/embedded.json (default bench/results/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
GATEWAY_BIN=${GATEWAY_BIN:-$ROOT/.build/release/mcp-gateway}
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
[ -x "$GATEWAY_BIN" ] || { [ "${NO_BUILD:-0}" = 1 ] && { echo "no $GATEWAY_BIN" >&2; exit 1; }; swift build -c release; }

TMP=$(mktemp -d /tmp/mcp-gateway-embedded.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { "$PY" -c 'import random,socket
for _ in range(200):
    p = random.randint(20000, 32000); s = socket.socket()
    try: s.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: s.close()'; }

ECHO_PORT=$(free_port)
taskset -c 1 "$PY" bench/echo_mcp.py --port "$ECHO_PORT" > "$TMP/echo.out" 2>&1 &
PIDS+=($!)
GW_PORT=$(free_port)
KEY=bench-key-$RANDOM$RANDOM
(cd "$TMP" && exec taskset -c 0 env HOST=127.0.0.1 PORT="$GW_PORT" API_KEY="$KEY" LOG_LEVEL=warn \
    DATABASE_URL="sqlite:$TMP/registry.db" "$GATEWAY_BIN" serve > "$TMP/gateway.out" 2>&1) &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null 2>&1 && grep -q READY "$TMP/echo.out" && break
  sleep 0.1
done
curl -sf -X POST "http://127.0.0.1:$GW_PORT/register" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
  -d "{\"name\":\"echo\",\"url\":\"http://127.0.0.1:$ECHO_PORT/mcp\"}" >/dev/null
GATEWAY_BIN=$GATEWAY_BIN taskset -c 1 "$PY" bench/embedded.py --gateway "http://127.0.0.1:$GW_PORT" --key "$KEY" \
  --echo-url "http://127.0.0.1:$ECHO_PORT/mcp" "$@"
