# Sourced by scripts/services.sh and scripts/cluster.sh.
# port_free PORT: true when PORT can be bound on 127.0.0.1 now. SO_REUSEADDR, like the servers
# themselves, so TIME_WAIT leftovers of a previous run do not count as taken.
port_free() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}
