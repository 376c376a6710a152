#!/usr/bin/env bash
# bench/charts.sh — the charts of docs/performance.md: runs the benchmarks behind them with moderate
# durations (about 3 minutes on the 2-core development machine), then bench/plot.py draws
# docs/img/tools-call.png, registry-reload.png and registry-rss.png from RESULTS_DIR.
#
#   1. PHASES=call ROUNDS=3 DURATION=5 WARMUP=1 LAT_N=3000 LAT_ROUNDS=3 bash bench/mcp.sh
#      (tools/call: the gateway, nginx proxy_pass and the direct call)       -> mcp-call.json
#   2. bash bench/registry.sh (100 to 100k tools, SQLite and PostgreSQL)     -> registry.json
#   3. .venv/bin/python bench/plot.py --out docs/img
# Each benchmark's own output goes to stdout as usual. `make plots` runs this after building.
#
# Environment:
#   RESULTS_DIR   where the benchmarks write their data and the plot reads it (default bench/results/)
#   GATEWAY_BIN   gateway executable (default .build/release/mcp-gateway; this script never builds)
#   PLOT_PYTHON   python with matplotlib (default .venv/bin/python; scripts/venv.sh installs it)
#   NO_RUN=1      only draw, from the data already in RESULTS_DIR
#   ONLY          the charts to run and draw (default "tools-call registry")
#   Anything bench/mcp.sh or bench/registry.sh reads (SIZES, RELOADS, ...) passes through, except
#   the mcp.sh settings named in 1, which this script sets.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$(dirname "$0")/.."
ROOT=$(pwd)
export RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
PLOT_PYTHON=${PLOT_PYTHON:-$ROOT/.venv/bin/python}
ONLY=${ONLY:-tools-call registry}

"$PLOT_PYTHON" -c 'import matplotlib' 2>/dev/null || die "no matplotlib in $PLOT_PYTHON (run scripts/venv.sh or set PLOT_PYTHON)"
charts=()
for c in $ONLY; do
    case "$c" in
        tools-call) charts+=(tools-call) ;;
        registry) charts+=(registry-reload registry-rss) ;;
        *) die "ONLY: unknown chart $c (tools-call, registry)" ;;
    esac
done

started=$(date +%s)
if [ "${NO_RUN:-0}" != 1 ]; then
    for c in $ONLY; do
        case "$c" in
            tools-call)
                log "bench/mcp.sh, tools/call phase"
                PHASES=call ROUNDS=3 DURATION=5 WARMUP=1 LAT_N=3000 LAT_ROUNDS=3 bash bench/mcp.sh ;;
            registry)
                log "bench/registry.sh"
                bash bench/registry.sh ;;
        esac
    done
fi
"$PLOT_PYTHON" bench/plot.py --results "$RESULTS_DIR" --out "$ROOT/docs/img" --only "${charts[@]}"
log "charts done in $(( $(date +%s) - started )) s"
