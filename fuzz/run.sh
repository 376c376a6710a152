#!/usr/bin/env bash
# Runs the libFuzzer targets built by fuzz/build.sh, one after the other, each for SECONDS, over
# the seed corpus in fuzz/corpus/<target> (read only) plus a working corpus in .build-fuzz that
# grows from run to run. Prints executions, speed, corpus size and crashes per target; exits 1 if
# any target crashed (the input is kept in .build-fuzz/artifacts/).
#   fuzz/run.sh [SECONDS] [TARGET...]      (default: 60 s, every target)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json sse session http)
OUT=.build-fuzz
mkdir -p "$OUT/artifacts"
status=0
rows=()
for t in "${targets[@]}"; do
    bin="$OUT/fuzz-$t"
    [ -x "$bin" ] || { echo "fuzz/run.sh: $bin not built (fuzz/build.sh $t)" >&2; exit 2; }
    work="$OUT/corpus-$t"
    mkdir -p "$work"
    log="$OUT/fuzz-$t.log"
    "$bin" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$t-" "$work" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log")
    speed=$(awk '/stat::average_exec_per_sec/ {print $NF}' "$log")
    corpus=$(ls "$work" | wc -l)
    crashes=0
    if [ $rc -ne 0 ]; then
        crashes=1
        status=1
        echo "fuzz/run.sh: $t failed (exit $rc); the end of its log:" >&2
        tail -30 "$log" >&2
    fi
    rows+=("$(printf '%-8s %8ss %14s %12s %10s %8s' "$t" "$SECONDS_PER" "${runs:-?}" "${speed:-?}" "$corpus" "$crashes")")
done
printf '%-8s %9s %14s %12s %10s %8s\n' target time executions "exec/s" corpus crashes
printf '%s\n' "${rows[@]}"
exit $status
