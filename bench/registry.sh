#!/usr/bin/env bash
# bench/registry.sh — what the registry's size costs one gateway: the full reload, a delta, and the
# resident memory when idle, at SIZES tools (default 100 1k 10k 50k 100k, and an empty registry as
# the baseline), on the embedded SQLite store and on PostgreSQL.
#
# For each store and size, bench/registry.py writes the services straight into a fresh registry
# (TOOLS_PER_SERVICE tools of ~300 bytes each per service, as bench/replicas.py does), starts one
# gateway on it (LOG_LEVEL=debug) and reads its own timings from the log: the first full reload
# (`index reloaded ... ms=`), then DELTAS register + delete pairs through the admin API (`index
# delta applied ... ms=`), RELOADS more full reloads (the stored version bumped behind its back, its
# fence reloading), and the DELTAS pairs again; VmRSS one second after the first reload (idle) and
# after the reloads. /metrics' reload histogram is read as a cross-check. bench/registry.py's
# docstring has the details.
#
# Pinning (2 cores): the gateway on SERVER_CPU; the driver and the echo server (the downstream the
# delta service points at) on CLIENT_CPU; PostgreSQL is not pinned (it shares both).
#
# Environment:
#   GATEWAY_BIN   gateway executable (default .build/release/mcp-gateway; this script never builds)
#   SIZES         tool counts, space- or comma-separated (default "100 1000 10000 50000 100000")
#   TOOLS_PER_SERVICE   tools per service (default 20: 100k tools = 5,000 services)
#   RELOADS       full reloads per size after the first (default 8: the gateway keeps its last 8
#                 snapshots, so RSS after them is its most for that size)
#   DELTAS        register + delete pairs per size (default 5)
#   STORES        "sqlite postgres" (default; postgres is left out, with a note, when PostgreSQL 15
#                 is not installed in PG_BIN), or one of them
#   PG_BIN        PostgreSQL's binaries (default /usr/lib/postgresql/15/bin; scripts/services.sh
#                 starts a private server in a temporary folder, stopped at exit)
#   SERVER_CPU / CLIENT_CPU   core of the gateway / of the driver and the echo server (default 0 / 1);
#                 SERVER_CPU=0,1 lets the gateway's two reload builders and its store worker run on
#                 both cores (the driver waits while a reload runs), as an unpinned gateway would
#   RESULTS_DIR   where the tables are also written as data, registry.json (default bench/results/;
#                 bench/results.py describes it)
#
# Exit status: 0 when every size of every store was measured.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$(dirname "$0")/.."
ROOT=$(pwd)

GATEWAY_BIN=${GATEWAY_BIN:-.build/release/mcp-gateway}
SIZES=${SIZES:-100 1000 10000 50000 100000}
TOOLS_PER_SERVICE=${TOOLS_PER_SERVICE:-20}
RELOADS=${RELOADS:-8}
DELTAS=${DELTAS:-5}
STORES=${STORES:-sqlite postgres}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
absolute_gateway_bin

require_tools "apt-get install util-linux python3" taskset python3
[ -x "$GATEWAY_BIN" ] || die "gateway binary $GATEWAY_BIN not found (build it with: swift build -c release)"
share_single_cpu "the gateway and the driver share one core"

stores=()
for s in $(tr ',' ' ' <<<"$STORES"); do
    case "$s" in
        sqlite) stores+=(sqlite) ;;
        postgres)
            if [ -x "$PG_BIN/initdb" ]; then stores+=(postgres)
            else log "note: no PostgreSQL in $PG_BIN (apt-get install postgresql): postgres left out"; fi ;;
        *) die "STORES: unknown store $s (sqlite, postgres)" ;;
    esac
done
[ ${#stores[@]} -gt 0 ] || die "no store to measure"

# /tmp explicitly: PostgreSQL (run as the postgres user when this runs as root) must reach the folder.
TMP=$(mktemp -d /tmp/mcp-gateway-bench-registry.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
    local status=$?
    if [ -d "$TMP/services" ]; then "$ROOT/scripts/services.sh" stop "$TMP/services" >/dev/null 2>&1 || true; fi
    rm -rf "$TMP"
    exit "$status"
}
exit_traps cleanup

pg_args=()
case " ${stores[*]} " in
    *" postgres "*)
        log "starting a private PostgreSQL (scripts/services.sh) in $TMP/services"
        PG_BIN=$PG_BIN "$ROOT/scripts/services.sh" start "$TMP/services" >"$TMP/services.log" 2>&1 \
            || { cat "$TMP/services.log" >&2; die "scripts/services.sh start failed"; }
        pg_args=(--pg-env "$TMP/services/env")
        ;;
esac

mkdir -p "$TMP/work"
python3 "$ROOT/bench/registry.py" --gateway-bin "$GATEWAY_BIN" --sizes "$(tr ' ' ',' <<<"$SIZES" | tr -s ',')" \
    --tools-per-service "$TOOLS_PER_SERVICE" --reloads "$RELOADS" --deltas "$DELTAS" \
    --stores "$(IFS=,; echo "${stores[*]}")" "${pg_args[@]}" --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" \
    --echo-python python3 --work "$TMP/work"
