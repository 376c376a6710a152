# bench/mcp_lib.sh — MCP helpers the benchmarks share (sourced after lib.sh): start the gateway and
# the echo downstream, register services, open handshake-era sessions, write wrk scripts.
# Expects TMP, PIDS, API_KEY, PROTO, SERVER_CPU, CLIENT_CPU, ECHO_PYTHON and ROOT to be set.

# wait_ready NAME PID FILE: wait for "READY <port>" in FILE (max 30 s); prints the port.
wait_ready() {
    local name=$1 pid=$2 file=$3 port
    for _ in $(seq 1 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during startup; its log:"
            cat "$file" "$TMP/$name.log" >&2 2>/dev/null || true
            return 1
        fi
        port=$(awk '$1 == "READY" {print $2; exit}' "$file" 2>/dev/null)
        if [ -n "$port" ]; then echo "$port"; return 0; fi
        sleep 0.1
    done
    log "$name did not print READY within 30 s"
    return 1
}

MCP_HEADERS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')

# mcp_session NAME URL: initialize + notifications/initialized; prints the Mcp-Session-Id.
mcp_session() {
    local name=$1 url=$2 headers sid status
    headers="$TMP/$name-init.headers"
    curl -sS -o "$TMP/$name-init.body" -D "$headers" --max-time 5 -X POST "${MCP_HEADERS[@]}" \
        -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"'$PROTO'","capabilities":{},"clientInfo":{"name":"bench-mcp","version":"1.0"}}}' \
        "$url" || { log "$name: initialize failed"; return 1; }
    status=$(head -n1 "$headers" | awk '{print $2}')
    sid=$(grep -i '^mcp-session-id:' "$headers" | head -n1 | cut -d: -f2- | tr -d ' \r')
    if [ "$status" != 200 ] || [ -z "$sid" ]; then
        log "$name: initialize answered $status without a session: $(cat "$TMP/$name-init.body")"
        return 1
    fi
    status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST "${MCP_HEADERS[@]}" \
        -H "Mcp-Session-Id: $sid" -H "MCP-Protocol-Version: $PROTO" \
        -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url")
    case "$status" in 200|202) ;; *) log "$name: notifications/initialized answered $status"; return 1 ;; esac
    echo "$sid"
}

# mcp_post URL SESSION BODY OUT: POST an MCP request; the body goes to OUT, the status to stdout.
mcp_post() {
    curl -sS -o "$4" -w '%{http_code}' --max-time 10 -X POST "${MCP_HEADERS[@]}" \
        -H "Mcp-Session-Id: $2" -H "MCP-Protocol-Version: $PROTO" -d "$3" "$1"
}

# write_lua FILE SESSION BODY: a wrk script POSTing BODY with the MCP headers.
lua_quote() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; }
write_lua() {
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = '$(lua_quote "$3")'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "$PROTO"
wrk.headers["Mcp-Session-Id"] = "$2"
EOF
}

# ---------------------------------------------------------------- gateway
start_gateway() {
    local port
    port=$(free_port)
    launch_gateway "$port" serve
    GATEWAY_BASE="http://127.0.0.1:$port"
    GATEWAY_MCP="$GATEWAY_BASE/mcp"
    wait_http gateway "$GATEWAY_PID" "$GATEWAY_BASE/livez" || die "gateway did not start"
    log "gateway $GATEWAY_BIN on 127.0.0.1:$port (pid $GATEWAY_PID, cpu $SERVER_CPU)"
}

# register NAME URL: admin POST /register; dies unless 201.
register() {
    local status
    status=$(curl -sS -o "$TMP/register-$1.json" -w '%{http_code}' --max-time 30 -X POST \
        -H "X-API-Key: $API_KEY" -H 'Content-Type: application/json' \
        -d '{"name":"'"$1"'","url":"'"$2"'"}' "$GATEWAY_BASE/register") || die "register $1 failed"
    [ "$status" = 201 ] || die "register $1 answered $status: $(cat "$TMP/register-$1.json")"
    log "registered $1 -> $2: $(grep -o '"toolCount":[0-9]*' "$TMP/register-$1.json")"
}

# start_echo [CERT KEY]: bench/echo_mcp.py on CLIENT_CPU. Plain http: sets ECHO_PID and ECHO_MCP
# (http://127.0.0.1:P/mcp). With a certificate and its key, https: sets ECHO_TLS_PID and
# ECHO_TLS_MCP (https://localhost:P/mcp, the name the certificate carries).
start_echo() {
    local port name=echo pid tls=()
    port=$(free_port)
    if [ $# -ge 2 ]; then name=echo-tls tls=(--tls-cert "$1" --tls-key "$2"); fi
    taskset -c "$CLIENT_CPU" "$ECHO_PYTHON" "$ROOT/bench/echo_mcp.py" --port "$port" "${tls[@]}" \
        >"$TMP/$name.out" 2>"$TMP/$name.log" &
    pid=$!
    PIDS+=("$pid")
    wait_ready "$name" "$pid" "$TMP/$name.out" >/dev/null || die "the $name server did not start"
    if [ ${#tls[@]} -eq 0 ]; then
        ECHO_PID=$pid ECHO_MCP="http://127.0.0.1:$port/mcp"
    else
        ECHO_TLS_PID=$pid ECHO_TLS_MCP="https://localhost:$port/mcp"
    fi
    log "$name server bench/echo_mcp.py ($("$ECHO_PYTHON" -V 2>&1)) on 127.0.0.1:$port (pid $pid, cpu $CLIENT_CPU)"
}

# make_tls_files DIR: a CA (ca.pem) and a certificate for localhost and 127.0.0.1 signed by it
# (server.pem, server.key), P-256, valid for a day, made with the openssl command line.
make_tls_files() {
    local dir=$1
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=mcp-gateway bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>"$dir/openssl.log" \
    && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>>"$dir/openssl.log" \
    && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext" \
    && openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 1 \
        -extfile "$dir/server.ext" -out "$dir/server.pem" 2>>"$dir/openssl.log" \
    || { cat "$dir/openssl.log" >&2; die "openssl could not make the test certificates"; }
}

# ---------------------------------------------------------------- wrk
# cpu_ns PID...: time on CPU of the processes so far, in ns (/proc/<pid>/schedstat; 0 if missing).
cpu_ns() {
    local pid total=0 t
    for pid in "$@"; do
        t=$(awk '{print $1}' "/proc/$pid/schedstat" 2>/dev/null) || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

# run_wrk NAME URL SCRIPT CONNECTIONS DURATION [PID_A [PID_B]]: sets R_RPS, R_P50, R_P99 (ms),
# and R_CPU_A / R_CPU_B: CPU time (user + system) of those processes per request, in µs.
run_wrk() {
    local name=$1 url=$2 script=$3 conns=$4 duration=$5 pid_a=${6:-} pid_b=${7:-} a0 b0 a1 b1 requests
    a0=$(cpu_ns $pid_a) b0=$(cpu_ns $pid_b)
    wrk_run "$name" -t1 -c"$conns" -d"${duration}s" --latency -s "$script" "$url"
    a1=$(cpu_ns $pid_a) b1=$(cpu_ns $pid_b)
    requests=$(awk '/ requests in / {print $1}' "$WRK_OUT")
    R_CPU_A=$(awk -v d=$((a1 - a0)) -v n="${requests:-0}" 'BEGIN {if (n > 0) printf "%.1f", d / 1000 / n; else print "-"}')
    R_CPU_B=$(awk -v d=$((b1 - b0)) -v n="${requests:-0}" 'BEGIN {if (n > 0) printf "%.1f", d / 1000 / n; else print "-"}')
    wrk_parse "$name"
    if [ -n "$R_WRK_ERRORS" ]; then R_ERRORS="$R_ERRORS $name($R_WRK_ERRORS)"; fi
}
R_ERRORS=
