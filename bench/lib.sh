# bench/lib.sh — shell helpers shared by the bench/*.sh scripts; sourced, never run:
#     . "$(dirname "$0")/lib.sh"
# It only defines functions (and the BEST_* arrays), so `make bench`, which runs every bench/*.sh,
# runs it as a no-op. The helpers expect `set -euo pipefail`; most of them use ROOT (the repository),
# TMP and PIDS (see make_tmp), SERVER_CPU / CLIENT_CPU, GATEWAY_BIN and NGINX_BIN from the script.

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# require_tools HINT TOOL...: die unless every TOOL is on PATH; HINT says how to install them.
require_tools() {
    local hint=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found ($hint)"
    done
}

require_nginx() {
    [ -x "$NGINX_BIN" ] || die "nginx not found at $NGINX_BIN (apt-get install nginx-light)"
}

# share_single_cpu WHAT: with fewer than 2 CPUs, warn ("fewer than 2 CPUs; WHAT") and run the
# client on SERVER_CPU too.
share_single_cpu() {
    if [ "$(nproc)" -lt 2 ]; then
        log "warning: fewer than 2 CPUs; $1"
        CLIENT_CPU=$SERVER_CPU
    fi
}

# absolute_gateway_bin: a relative GATEWAY_BIN is taken from ROOT.
absolute_gateway_bin() {
    case "$GATEWAY_BIN" in
        /*) ;;
        *) GATEWAY_BIN=$ROOT/$GATEWAY_BIN ;;
    esac
}

# find_mcp_python: unless PYTHON is set, set it to the first of .venv/bin/python and
# /tmp/venv/bin/python that has the MCP SDK (PYTHON stays unset when neither has it).
find_mcp_python() {
    local p
    if [ -z "${PYTHON:-}" ]; then
        for p in "$ROOT/.venv/bin/python" /tmp/venv/bin/python; do
            if [ -x "$p" ] && "$p" -c 'import mcp' 2>/dev/null; then PYTHON=$p; break; fi
        done
    fi
}

# exit_traps FUNCTION: FUNCTION runs at exit; INT exits 130 and TERM 143 (through FUNCTION).
exit_traps() {
    trap "$1" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# make_tmp NAME: TMP = a new folder ${TMPDIR:-/tmp}/NAME.XXXXXX, PIDS = () for the processes the
# script starts; at exit every process in PIDS is stopped and TMP removed (stop_all).
make_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    PIDS=()
    exit_traps stop_all
}

# stop_all: TERM every process in PIDS, give each up to 5 s, then KILL; remove TMP; exit with the
# status the script was exiting with.
stop_all() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
    exit "$status"
}

# A free TCP port below 32768 (outside Linux's default ephemeral range, so wrk's own
# connections can never collide with it).
free_port() {
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 12000))
        if ! ss -Htan "( sport = :$port or dport = :$port )" 2>/dev/null | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# wait_http NAME PID URL [curl args...]: wait until URL answers 2xx (max 15 s) while PID is alive;
# on failure shows $TMP/NAME.log.
wait_http() {
    local name=$1 pid=$2 url=$3
    shift 3
    for _ in $(seq 1 150); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during startup; its log:"
            cat "$TMP/$name.log" >&2 2>/dev/null || true
            return 1
        fi
        if curl -fsS -o /dev/null --max-time 1 "$@" "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "$name did not answer $url within 15 s; its log:"
    cat "$TMP/$name.log" >&2 2>/dev/null || true
    return 1
}

# ---------------------------------------------------------------- gateway
# launch_gateway PORT ARGS: the gateway (`$GATEWAY_BIN ARGS`, ARGS split into words) on
# 127.0.0.1:PORT and SERVER_CPU with the admin key API_KEY, its log in $TMP/gateway.log; sets
# GATEWAY_PID. Embedded storage in the temp dir, so the benchmark never touches a real database.
launch_gateway() {
    local port=$1 args=$2
    mkdir -p "$TMP/gateway"
    # shellcheck disable=SC2086 # ARGS is split (and globbed) inside $TMP/gateway, as it always was
    (cd "$TMP/gateway" && exec env HOST=127.0.0.1 PORT="$port" API_KEY="$API_KEY" LOG_LEVEL=warn \
        DATABASE_URL="sqlite:$TMP/gateway/bench.db" \
        taskset -c "$SERVER_CPU" "$GATEWAY_BIN" $args) >"$TMP/gateway.log" 2>&1 &
    GATEWAY_PID=$!
    PIDS+=("$GATEWAY_PID")
}

# ---------------------------------------------------------------- nginx
# write_nginx_conf <<EOF ... EOF: $TMP/nginx/nginx.conf for one worker in the foreground, with its
# pid, logs and temp files in $TMP/nginx; stdin goes at the end of its http block (the servers).
# nginx keeps every wrk connection open for the whole run (its default closes a connection after
# 1000 requests), so it is measured at its best.
write_nginx_conf() {
    mkdir -p "$TMP/nginx"
    {
        cat <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
EOF
        cat
        echo '}'
    } >"$TMP/nginx/nginx.conf"
}

# launch_nginx URL [curl args...]: test $TMP/nginx/nginx.conf, start nginx on SERVER_CPU (sets
# NGINX_PID, log in $TMP/nginx.log) and wait until URL answers (the curl args go to wait_http).
launch_nginx() {
    local url=$1
    shift
    "$NGINX_BIN" -t -q -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
        >"$TMP/nginx.log" 2>&1 || { cat "$TMP/nginx.log" >&2; die "nginx config test failed"; }
    taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
        >>"$TMP/nginx.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_http nginx "$NGINX_PID" "$url" "$@" || die "nginx did not start"
}

nginx_version() { "$NGINX_BIN" -v 2>&1 | sed 's/.*version: //'; }

# ---------------------------------------------------------------- wrk
# to_ms VALUE: a wrk latency (123.45us, 1.2ms, 1.5s, 2m) in ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else { printf "%s", v }
    }'
}

# wrk_run NAME WRK-ARGS...: wrk on CLIENT_CPU, its output in WRK_OUT; dies when wrk fails. wrk runs
# in the background and is waited for, so an INT/TERM reaches the cleanup trap at once.
wrk_run() {
    local name=$1
    shift
    WRK_OUT="$TMP/wrk-$name-$(date +%s%N).txt"
    taskset -c "$CLIENT_CPU" wrk "$@" >"$WRK_OUT" 2>&1 &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
    if ! wait "$WRK_PID"; then
        cat "$WRK_OUT" >&2
        die "wrk failed against $name"
    fi
}

# wrk_parse NAME: from WRK_OUT (wrk --latency) sets R_RPS, R_P50, R_P99 (latencies in ms) and
# R_WRK_ERRORS (non-2xx and socket errors, also logged); dies when there is no req/s.
wrk_parse() {
    local name=$1
    R_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$WRK_OUT")
    R_P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$WRK_OUT")")
    R_P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$WRK_OUT")")
    R_WRK_ERRORS=$(awk '/Non-2xx or 3xx responses:/ {print "non-2xx: " $NF} /Socket errors:/ {sub(/^ */, ""); print}' "$WRK_OUT" | paste -sd';' -)
    if [ -n "$R_WRK_ERRORS" ]; then log "$name: wrk reported errors: $R_WRK_ERRORS"; fi
    if [ -z "$R_RPS" ]; then
        cat "$WRK_OUT" >&2
        die "could not parse wrk output for $name"
    fi
}

# keep_best KEY RPS P50 P99: BEST_RPS/BEST_P50/BEST_P99[KEY] keep the run with the most req/s.
declare -A BEST_RPS BEST_P50 BEST_P99
keep_best() {
    local key=$1 rps=$2
    if [ -z "${BEST_RPS[$key]:-}" ] || awk -v a="$rps" -v b="${BEST_RPS[$key]}" 'BEGIN {exit !(a > b)}'; then
        BEST_RPS[$key]=$rps
        BEST_P50[$key]=$3
        BEST_P99[$key]=$4
    fi
}

# ---------------------------------------------------------------- results as data
# Every benchmark also writes what it printed as data: RESULTS_DIR/NAME.json (default
# bench/results/, git-ignored; bench/results.py describes the file). Nothing is printed.
# results_table NAME TABLE COLUMN...: starts TABLE of NAME with these column names.
# results_row NAME TABLE FIELD...: one row of it (fields without tabs; `-` or empty = null).
# results_save NAME [KEY=VALUE...]: writes the file from the tables, with KEY=VALUE as its params;
# a failure is logged and does not fail the benchmark.
results_table() {
    local name=$1 table=$2
    shift 2
    mkdir -p "$TMP/results/$name"
    (IFS=$'\t'; printf '%s\n' "$*") >"$TMP/results/$name/$table.tsv"
}
results_row() {
    local name=$1 table=$2
    shift 2
    (IFS=$'\t'; printf '%s\n' "$*") >>"$TMP/results/$name/$table.tsv"
}
results_save() {
    local name=$1
    shift
    mkdir -p "$TMP/results/$name"
    GATEWAY_BIN=${GATEWAY_BIN:-} python3 "$ROOT/bench/results.py" "$name" "$TMP/results/$name" "$@" \
        || log "warning: could not write the results of $name"
}
