#!/usr/bin/env bash
# bench/replicas.sh — how fast a change reaches the other replicas, and what a large registry costs.
#
# Starts a private cluster (scripts/cluster.sh: PostgreSQL, Redis, 3 replicas, nginx) in a /tmp folder,
# then bench/replicas.py measures:
#   1. over MUTATIONS register/delete mutations on replica A: A's admin 2xx -> replica B's tools/list
#      (polled directly, every 0.5 ms on a keep-alive connection) shows the change, and -> a GET /mcp
#      listener on replica C receives notifications/tools/list_changed (p50 / p99);
#   2. SERVICES x TOOLS tools inserted with SQL (nothing published): the full reload time (log line
#      `index reloaded ... ms=`), of the fence on the running replicas and of a newly started replica, its
#      RSS, and a delta at that size (B's `index delta applied ... ms=`).
# Everything it starts is stopped at exit (trap), even on failure or Ctrl-C.
#
# Environment:
#   GATEWAY_BIN   gateway executable (default .build/release/mcp-gateway if it exists, else
#                 .build/debug/mcp-gateway — reported as a debug build; this script never builds)
#   MUTATIONS     part 1 mutations (default 200)
#   SERVICES      part 2 services (default 5000)     TOOLS   tools per service (default 20)
#   PYTHON        python with the MCP SDK (default .venv/bin/python, else /tmp/venv/bin/python)
#   KEEP_DIR=1    keep the cluster folder (logs) instead of removing it
#   Extra arguments go to bench/replicas.py (e.g. --skip-part2).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ -z "${GATEWAY_BIN:-}" ]; then
  if [ -x "$ROOT/.build/release/mcp-gateway" ]; then GATEWAY_BIN="$ROOT/.build/release/mcp-gateway"
  else
    GATEWAY_BIN="$ROOT/.build/debug/mcp-gateway"
    echo "bench/replicas.sh: no release build (.build/release/mcp-gateway): measuring the DEBUG build" >&2
  fi
fi
absolute_gateway_bin
[ -x "$GATEWAY_BIN" ] || { echo "bench/replicas.sh: gateway binary not found: $GATEWAY_BIN" >&2; exit 1; }

find_mcp_python
[ -n "${PYTHON:-}" ] || { echo "bench/replicas.sh: no python with the MCP SDK (run scripts/venv.sh)" >&2; exit 1; }

# /tmp explicitly: PostgreSQL (run as the postgres user) must reach the folder.
DIR="$(mktemp -d /tmp/mcp-bench-replicas.XXXXXX)"
chmod 755 "$DIR"
cleanup() {
  "$ROOT/scripts/cluster.sh" down "$DIR" >/dev/null 2>&1 || true
  if [ "${KEEP_DIR:-0}" = 1 ]; then echo "bench/replicas.sh: kept $DIR" >&2; else rm -rf "$DIR"; fi
}
exit_traps cleanup

echo "== cluster (3 replicas, LOG_LEVEL=debug) in $DIR"
GATEWAY_BIN="$GATEWAY_BIN" REPLICAS=3 LOG_LEVEL=debug scripts/cluster.sh up "$DIR"

echo "== measuring"
"$PYTHON" bench/replicas.py --cluster-env "$DIR/cluster.env" --python "$PYTHON" \
  --mutations "${MUTATIONS:-200}" --services "${SERVICES:-5000}" --tools "${TOOLS:-20}" "$@"
