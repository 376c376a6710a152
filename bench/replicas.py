#!/usr/bin/env python3
"""The measuring half of bench/replicas.sh (run it through that script; it starts the cluster).

    replicas.py --cluster-env DIR/cluster.env [--mutations 200] [--services 5000] [--tools 20]

Part 1, propagation: alternating register/delete of one service (pointing at one downstream MCP server)
on replica A, `--mutations` times. For each mutation, from the moment A's admin 2xx arrives:
  * B: `tools/list` sent directly to replica B in a tight loop (keep-alive connection, a poll every
    0.5 ms) until the federated tool appears / disappears;
  * C: a `GET /mcp` listener on replica C (separate process, so its timestamps are not delayed by this
    one) receiving `notifications/tools/list_changed`. An event that arrived before the 2xx counts as 0.
Part 2, size: `--services` × `--tools` tool rows inserted with SQL (~300 bytes of JSON per tool), the
registry version bumped, nothing published: the replicas' fence finds it and reloads (their log line
`index reloaded ... ms=<n>`), then one more replica is started on the loaded registry (its first reload,
uncontended, and its RSS from /proc/PID/status), then one register on A and B's `index delta applied ...
ms=<n>` at that size.

The tables also go to RESULTS_DIR/replicas.json (default bench/results/; bench/results.py describes it).
Standard library only (the downstream server runs under --python, which needs the MCP SDK).
Exit status 0 when everything was measured (a missed target is reported, not an error).
"""

from __future__ import annotations

import argparse
import ctypes
import http.client
import json
import math
import multiprocessing as mp
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOWNSTREAM = ROOT / "Tests" / "e2e" / "servers" / "downstream.py"
PROTOCOL = "2025-06-18"
ACCEPT_BOTH = "application/json, text/event-stream"
LIST_CHANGED = b"notifications/tools/list_changed"


class BenchError(Exception):
    pass


def pdeathsig():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith("export "):
            continue
        k, _, v = line[len("export "):].partition("=")
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        env[k] = v
    return env


def hostport(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[1].split("/", 1)[0]
    h, _, p = rest.rpartition(":")
    return h, int(p)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


# ---------------------------------------------------------------------------------------------------
# HTTP

class Conn:
    """One keep-alive HTTP/1.1 connection (http.client), reconnecting once if the server closed it."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.host, self.port = hostport(url)
        self.timeout = timeout
        self.c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        for attempt in (1, 2):
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                return r.status, r.headers, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.c.close()
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                if attempt == 2:
                    raise

    def close(self):
        self.c.close()


def mcp_headers(session: str | None = None) -> dict:
    h = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json", "MCP-Protocol-Version": PROTOCOL}
    if session:
        h["Mcp-Session-Id"] = session
    return h


def initialize(conn: Conn) -> str:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                                  "clientInfo": {"name": "bench-replicas", "version": "1"}}}).encode()
    st, hd, data = conn.request("POST", "/mcp", body, mcp_headers())
    sid = hd.get("Mcp-Session-Id")
    if st != 200 or not sid:
        raise BenchError(f"initialize on :{conn.port} -> {st} {data[:300]!r}")
    st, _, data = conn.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode(),
                               mcp_headers(sid))
    if st != 202:
        raise BenchError(f"notifications/initialized on :{conn.port} -> {st} {data[:300]!r}")
    return sid


def health(url: str) -> dict:
    c = Conn(url, timeout=10)
    try:
        st, _, data = c.request("GET", "/health")
        if st != 200:
            raise BenchError(f"GET {url}/health -> {st}")
        return json.loads(data)
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------------
# the GET /mcp listener (its own process: it timestamps every list_changed the moment it arrives)

def listener_main(url: str, session: str, pipe) -> None:
    pdeathsig()
    host, port = hostport(url)
    s = socket.create_connection((host, port), timeout=10)
    s.sendall((f"GET /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
               f"MCP-Protocol-Version: {PROTOCOL}\r\nMcp-Session-Id: {session}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            pipe.send(("error", "closed before the response head"))
            return
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        pipe.send(("error", status.decode(errors="replace")))
        return
    pipe.send(("open", time.monotonic()))
    s.settimeout(None)
    tail = rest
    n = tail.count(LIST_CHANGED)
    for _ in range(n):
        pipe.send(("event", time.monotonic()))
    tail = tail[-(len(LIST_CHANGED) - 1):]
    while True:
        chunk = s.recv(65536)
        now = time.monotonic()
        if not chunk:
            pipe.send(("closed", now))
            return
        data = tail + chunk
        for _ in range(data.count(LIST_CHANGED)):
            pipe.send(("event", now))
        tail = data[-(len(LIST_CHANGED) - 1):]


class Listener:
    def __init__(self, url: str, session: str):
        ctx = mp.get_context("fork")
        self.rx, tx = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=listener_main, args=(url, session, tx), daemon=True)
        self.proc.start()
        kind, value = self.recv(10.0) or (None, None)
        if kind != "open":
            self.stop()
            raise BenchError(f"GET /mcp listener on {url}: {kind} {value}")

    def recv(self, timeout: float):
        if self.rx.poll(timeout):
            return self.rx.recv()
        return None

    def next_event_after(self, t: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.0, deadline - time.monotonic()))
            if m is None:
                return None
            kind, value = m
            if kind == "closed" or kind == "error":
                raise BenchError(f"the GET /mcp listener stream ended: {kind} {value}")
            if kind == "event" and value >= t:
                return value

    def stop(self):
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(3)


# ---------------------------------------------------------------------------------------------------
# processes this script starts

class Proc:
    def __init__(self, argv, env=None, stdout=subprocess.PIPE, stderr=None):
        self.p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                  preexec_fn=pdeathsig)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


def start_downstream(python: str, log: Path) -> tuple[Proc, str]:
    err = open(log, "wb")
    d = Proc([python, str(DOWNSTREAM), "--port", "0", "--mode", "json"], stderr=err)
    deadline = time.monotonic() + 30
    buf = b""
    fd = d.p.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            for line in buf.splitlines():
                if line.startswith(b"READY "):
                    return d, f"http://127.0.0.1:{int(line.split()[1])}/mcp"
        if d.p.poll() is not None:
            break
    d.stop()
    raise BenchError(f"downstream did not print READY (stdout {buf!r}); see {log}")


def free_port() -> int:
    import random
    for _ in range(500):
        p = random.randint(30000, 32767)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise BenchError("no free port")


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    return int(proc_status(pid)[key].split()[0]) / 1024.0


# ---------------------------------------------------------------------------------------------------
# admin

class Admin:
    def __init__(self, url: str, key: str):
        self.conn = Conn(url)
        self.key = key

    def register(self, name: str, url: str) -> dict:
        st, _, data = self.conn.request("POST", "/register", json.dumps({"name": name, "url": url}).encode(),
                                        {"X-API-Key": self.key, "Content-Type": "application/json"})
        if st != 201:
            raise BenchError(f"register {name} -> {st} {data[:300]!r}")
        return json.loads(data)

    def delete(self, name: str) -> dict:
        st, _, data = self.conn.request("DELETE", f"/delete/{name}", None, {"X-API-Key": self.key})
        if st != 200:
            raise BenchError(f"delete {name} -> {st} {data[:300]!r}")
        return json.loads(data)


# ---------------------------------------------------------------------------------------------------
# logs

LINE_FIELDS = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def log_lines_since(path: Path, offset: int, message: str) -> list[dict]:
    """The log lines after byte `offset` whose message is `message`, as {field: value} (+ "_time")."""
    out = []
    with open(path, "rb") as f:
        f.seek(offset)
        for raw in f.read().decode(errors="replace").splitlines():
            parts = raw.split(" ", 2)
            if len(parts) < 3 or not parts[2].startswith(message + " ") and parts[2] != message:
                continue
            fields = {k: v.strip('"') for k, v in LINE_FIELDS.findall(parts[2][len(message):])}
            fields["_time"] = parts[0]
            out.append(fields)
    return out


def wait_log(path: Path, offset: int, message: str, pred, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        for fields in log_lines_since(path, offset, message):
            if pred(fields):
                return fields
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: no '{message}' line in {path} within {timeout} s")
        time.sleep(0.05)


def wait_quiet(paths: list[Path], message: str, quiet: float = 3.0, timeout: float = 120.0) -> None:
    """Waits until none of the logs has had a new `message` line for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    counts = [len(log_lines_since(p, 0, message)) for p in paths]
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = [len(log_lines_since(p, 0, message)) for p in paths]
        if now != counts:
            counts, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise BenchError(f"the replicas kept logging '{message}' for {timeout} s")


def size(path: Path) -> int:
    return path.stat().st_size


# ---------------------------------------------------------------------------------------------------
# part 1

def part1(env: dict, downstream_url: str, mutations: int, poll_interval: float) -> dict:
    a_url, b_url, c_url = env["REPLICA_URLS"].split()[:3]
    admin = Admin(a_url, env["API_KEY"])
    b = Conn(b_url)
    b_session = initialize(b)
    listener = Listener(c_url, initialize(Conn(c_url)))
    name = "bench-prop"
    marker = f'"{name}__echo"'.encode()
    list_body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}).encode()
    list_headers = mcp_headers(b_session)
    b_lat, c_lat, early_c, b_polls = [], [], 0, []
    present = False
    try:
        # start from a known state
        st, _, data = b.request("POST", "/mcp", list_body, list_headers)
        if st != 200:
            raise BenchError(f"tools/list on B -> {st} {data[:300]!r}")
        if marker in data:
            admin.delete(name)
            time.sleep(0.5)
        for i in range(mutations):
            want = not present
            t_sent = time.monotonic()
            if want:
                admin.register(name, downstream_url)
            else:
                admin.delete(name)
            t0 = time.monotonic()
            present = want
            polls = 0
            while True:
                st, _, data = b.request("POST", "/mcp", list_body, list_headers)
                t = time.monotonic()
                polls += 1
                if st != 200:
                    raise BenchError(f"tools/list on B -> {st} {data[:300]!r}")
                if (marker in data) == want:
                    break
                if t - t0 > 10:
                    raise BenchError(f"mutation {i}: B did not show the change within 10 s")
                time.sleep(poll_interval)
            b_lat.append((t - t0) * 1000)
            b_polls.append(polls)
            te = listener.next_event_after(t_sent, 10.0)
            if te is None:
                raise BenchError(f"mutation {i}: no list_changed on C's GET /mcp listener within 10 s")
            if te < t0:
                early_c += 1
            c_lat.append(max(0.0, te - t0) * 1000)
        if present:
            admin.delete(name)
            listener.next_event_after(time.monotonic() - 1, 5.0)
    finally:
        listener.stop()
        b.close()
    return {"b": b_lat, "c": c_lat, "early_c": early_c, "b_polls": b_polls}


# ---------------------------------------------------------------------------------------------------
# part 2

def psql(env: dict, sql: str, timeout: float = 600) -> str:
    pg_bin = env.get("PG_BIN", "/usr/lib/postgresql/15/bin")
    exe = os.path.join(pg_bin, "psql")
    penv = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    penv["PGPASSWORD"] = env["DB_PASSWORD"]
    p = subprocess.run([exe, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", env["DB_HOST"], "-p", env["DB_PORT"],
                        "-U", env["DB_USERNAME"], "-d", env["DB_DATABASE"], "-c", sql],
                       capture_output=True, text=True, env=penv, timeout=timeout)
    if p.returncode != 0:
        raise BenchError(f"psql failed: {p.stderr}")
    return p.stdout.strip()


BULK_SQL = """
BEGIN;
WITH s AS (
  INSERT INTO services (name, url)
  SELECT 'bulk-' || lpad(g::text, 5, '0'), 'http://127.0.0.1:9/bulk-' || g || '/mcp'
  FROM generate_series(1, {services}) g
  RETURNING id, name
)
INSERT INTO service_tools (service_id, tools)
SELECT s.id, ARRAY(
  SELECT jsonb_build_object(
    'name', 'tool_' || lpad(t::text, 2, '0'),
    'description', 'Tool ' || t || ' of ' || s.name || ': returns the records that match the text.',
    'inputSchema', jsonb_build_object(
      'type', 'object',
      'properties', jsonb_build_object(
        'text', jsonb_build_object('type', 'string', 'description', 'the text to look up'),
        'limit', jsonb_build_object('type', 'integer', 'description', 'at most this many')),
      'required', jsonb_build_array('text')))
  FROM generate_series(1, {tools}) t)
FROM s;
-- What the gateway writes beside the jsonb[] column (migration 0002): the definitions as text.
UPDATE service_tools SET tools_text = array_to_json(tools)::text WHERE tools_text IS NULL;
UPDATE registry_version SET version = version + 1, updated_at = now() WHERE id = 1;
COMMIT;
"""


def part2(env: dict, cluster_dir: Path, downstream_url: str, n_services: int, n_tools: int) -> dict:
    urls = env["REPLICA_URLS"].split()
    pids = [int(p) for p in env["REPLICA_PIDS"].split()]
    logs = [cluster_dir / f"replica-{i + 1}.log" for i in range(len(urls))]
    res: dict = {}
    offsets = [size(p) for p in logs]
    t = time.monotonic()
    psql(env, BULK_SQL.format(services=int(n_services), tools=int(n_tools)))
    res["insert_s"] = time.monotonic() - t
    stored = int(psql(env, "SELECT version FROM registry_version WHERE id = 1"))
    res["avg_tool_bytes"] = float(psql(env, "SELECT avg(length(x::text)) FROM (SELECT unnest(tools) x FROM service_tools "
                                             "WHERE deleted_at IS NULL LIMIT 2000) u"))
    total_tools = int(psql(env, "SELECT coalesce(sum(array_length(tools, 1)), 0) FROM service_tools WHERE deleted_at IS NULL"))
    res["total_tools"] = total_tools

    # the fence of every running replica finds the bump (nothing was published); then let them settle
    for i, path in enumerate(logs):
        wait_log(path, offsets[i], "index reloaded", lambda f: int(f.get("version", 0)) >= stored,
                 timeout=300, what=f"replica {i + 1} fence reload")
    wait_quiet(logs, "index reloaded")
    fence = [[float(f["ms"]) for f in log_lines_since(path, offsets[i], "index reloaded")]
             for i, path in enumerate(logs)]
    res["fence_reloads"] = fence
    res["rss_b_mb"] = rss_mb(pids[1])
    res["hwm_b_mb"] = rss_mb(pids[1], "VmHWM")
    h = health(urls[1])
    res["b_tools"] = h["tools"]

    # one more replica, started on the loaded registry while the others are idle
    renv = {k: v for k, v in os.environ.items()}
    renv.update(read_env(cluster_dir / "replica.env"))
    for k in ("DATABASE_URL", "SQLITE_PATH", "REUSE_PORT"):
        renv.pop(k, None)
    port = free_port()
    renv.update({"PORT": str(port), "LOG_LEVEL": "debug"})
    log = cluster_dir / "replica-extra.log"
    with open(log, "wb") as out:
        extra = Proc([env["GATEWAY_BIN"], "serve"], env=renv, stdout=out, stderr=subprocess.STDOUT)
    try:
        line = wait_log(log, 0, "index reloaded", lambda f: int(f.get("tools", 0)) >= total_tools,
                        timeout=300, what="the extra replica's first reload")
        res["fresh_reload_ms"] = float(line["ms"])
        wait_quiet([log], "index reloaded")
        res["fresh_reloads"] = [float(f["ms"]) for f in log_lines_since(log, 0, "index reloaded")]
        res["rss_fresh_mb"] = rss_mb(extra.p.pid)
        res["hwm_fresh_mb"] = rss_mb(extra.p.pid, "VmHWM")
    finally:
        extra.stop()

    # a delta at that size: register one more on A, B applies it (log line), and when B shows it
    admin = Admin(urls[0], env["API_KEY"])
    off_b = size(logs[1])
    off_a = size(logs[0])
    name = "bench-delta"
    body = admin.register(name, downstream_url)
    t0 = time.monotonic()
    version = body["version"]
    while True:
        if health(urls[1])["registryVersion"] >= version:
            break
        if time.monotonic() - t0 > 30:
            raise BenchError("B did not reach the delta's version within 30 s")
        time.sleep(0.0005)
    res["delta_visible_ms"] = (time.monotonic() - t0) * 1000
    lines = log_lines_since(logs[1], off_b, "index delta applied")
    mine = [f for f in lines if f.get("service") == name]
    if not mine:
        reloads = log_lines_since(logs[1], off_b, "index reloaded")
        raise BenchError(f"B did not log 'index delta applied service={name}' (reloads instead: {reloads})")
    res["delta_b_ms"] = float(mine[0]["ms"])
    mine_a = [f for f in log_lines_since(logs[0], off_a, "index delta applied") if f.get("service") == name]
    res["delta_a_ms"] = float(mine_a[0]["ms"]) if mine_a else None
    admin.delete(name)
    # one register + one delete should have been two deltas everywhere, with no full reload
    time.sleep(2.0)
    res["reloads_after_mutations"] = [len(log_lines_since(p, o, "index reloaded"))
                                      for p, o in ((logs[0], off_a), (logs[1], off_b))]
    return res


# ---------------------------------------------------------------------------------------------------

def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    out = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    out += [fmt.format(*[str(c) for c in r]) for r in rows]
    return "\n".join(out)


def verdict(value: float | None, limit: float) -> str:
    if value is None:
        return "n/a"
    return "ok" if value <= limit else "MISSED"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cluster-env", required=True, type=Path)
    ap.add_argument("--mutations", type=int, default=200)
    ap.add_argument("--services", type=int, default=5000)
    ap.add_argument("--tools", type=int, default=20, help="tools per bulk service")
    ap.add_argument("--poll-interval", type=float, default=0.0005, help="seconds between B's tools/list polls")
    ap.add_argument("--python", default=sys.executable, help="python with the MCP SDK, for the downstream server")
    ap.add_argument("--skip-part2", action="store_true")
    args = ap.parse_args()
    # SIGTERM (e.g. bench/replicas.sh's trap, a CI timeout): run the finally blocks, stop what we started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    env = read_env(args.cluster_env)
    cluster_dir = args.cluster_env.resolve().parent
    build = "release" if "/release/" in env["GATEWAY_BIN"] else ("debug" if "/debug/" in env["GATEWAY_BIN"] else "?")
    print(f"gateway: {env['GATEWAY_BIN']} ({build} build); replicas: {env['REPLICA_URLS']}; cores: {os.cpu_count()}; "
          f"load average at start: {os.getloadavg()[0]:.2f}")
    downstream, ds_url = start_downstream(args.python, cluster_dir / "downstream.log")
    try:
        print(f"part 1: {args.mutations} mutations (register/delete alternating) on A ...", flush=True)
        p1 = part1(env, ds_url, args.mutations, args.poll_interval)
        rows = []
        propagation = []
        for key, label in (("b", "A 2xx -> B tools/list (direct) shows it"),
                           ("c", "A 2xx -> C GET /mcp gets list_changed")):
            v = p1[key]
            rows.append([label, f"{percentile(v, 0.5):.2f}", f"{percentile(v, 0.99):.2f}", f"{max(v):.2f}",
                         str(len(v))])
            propagation.append({"path": label, "p50_ms": round(percentile(v, 0.5), 3),
                                "p99_ms": round(percentile(v, 0.99), 3), "max_ms": round(max(v), 3), "n": len(v)})
        print()
        print(table(rows, ["propagation", "p50 ms", "p99 ms", "max ms", "n"]))
        print(f"(C events that arrived before A's 2xx, counted as 0: {p1['early_c']}; "
              f"B polls per mutation p50 {percentile(p1['b_polls'], 0.5)}, max {max(p1['b_polls'])})")
        p2 = None
        if not args.skip_part2:
            print(f"\npart 2: {args.services} services x {args.tools} tools inserted with SQL ...", flush=True)
            p2 = part2(env, cluster_dir, ds_url, args.services, args.tools)
            print(f"inserted in {p2['insert_s']:.1f} s; {p2['total_tools']} live tools, "
                  f"~{p2['avg_tool_bytes']:.0f} bytes of JSON each; B now serves {p2['b_tools']} tools")

        b99, c99 = percentile(p1["b"], 0.99), percentile(p1["c"], 0.99)
        rows = [["propagation p99, A 2xx -> B tools/list", f"{b99:.2f} ms", "<= 10 ms", verdict(b99, 10)],
                ["propagation p99, A 2xx -> C list_changed", f"{c99:.2f} ms", "<= 10 ms", verdict(c99, 10)]]
        if p2:
            fr = p2["fresh_reload_ms"]
            fence_first = [r[0] for r in p2["fence_reloads"]]
            rows += [
                [f"full reload, new replica ({p2['total_tools']} tools; its 1st)", f"{fr} ms", "<= 100 ms",
                 verdict(fr, 100)],
                ["  every reload the new replica did at start", " / ".join(map(str, p2["fresh_reloads"])) + " ms",
                 "(1 expected)", ""],
                ["full reload by the fence, 3 replicas at once (1st)", " / ".join(map(str, fence_first)) + " ms",
                 "<= 100 ms", verdict(max(fence_first), 100)],
                ["  reloads per replica for the one bump", " / ".join(str(len(r)) for r in p2["fence_reloads"]),
                 "(1 expected)", ""],
                ["RSS, new replica after its reload(s) (VmRSS)", f"{p2['rss_fresh_mb']:.1f} MB", "<= 150 MB",
                 verdict(p2["rss_fresh_mb"], 150)],
                ["RSS peak, new replica (VmHWM)", f"{p2['hwm_fresh_mb']:.1f} MB", "(info)", ""],
                ["RSS, replica B after the fence reload(s) (VmRSS)", f"{p2['rss_b_mb']:.1f} MB", "<= 150 MB",
                 verdict(p2["rss_b_mb"], 150)],
                ["delta at that size, B's log ms", f"{p2['delta_b_ms']} ms", "<= 1 ms",
                 verdict(p2["delta_b_ms"], 1)],
                ["delta at that size, A's log ms", "not logged" if p2["delta_a_ms"] is None else f"{p2['delta_a_ms']} ms",
                 "(info)", ""],
                ["delta at that size, A 2xx -> B /health version", f"{p2['delta_visible_ms']:.2f} ms", "(info)", ""],
                ["  full reloads on A / B after that register + delete", " / ".join(map(str, p2["reloads_after_mutations"])),
                 "(0 expected)", ""],
            ]
        print()
        print(table(rows, ["metric", "value", "target", ""]))
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (everything else on this machine competes for "
              f"the same {os.cpu_count()} cores)")
        if build != "release":
            print("\nNOTE: measured with a DEBUG build of the gateway; release numbers will be lower.")
        tables = {"propagation": propagation}
        if p2:
            tables["size"] = [{k: p2[k] for k in (
                "total_tools", "avg_tool_bytes", "insert_s", "fresh_reload_ms", "fresh_reloads", "fence_reloads",
                "rss_fresh_mb", "hwm_fresh_mb", "rss_b_mb", "hwm_b_mb", "delta_b_ms", "delta_a_ms",
                "delta_visible_ms", "reloads_after_mutations")}]
        save("replicas", tables, params={"mutations": args.mutations, "services": args.services,
                                         "tools_per_service": args.tools, "replicas": 3, "build": build},
             gateway_bin=env["GATEWAY_BIN"])
        return 0
    except BenchError as e:
        print(f"bench/replicas.py: {e}", file=sys.stderr)
        return 1
    finally:
        downstream.stop()


if __name__ == "__main__":
    sys.exit(main())
