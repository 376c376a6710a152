#!/usr/bin/env python3
"""Sequential tools/call latency, through the gateway and directly, for bench/mcp.sh.

    python3 bench/mcp_latency.py --gateway URL --gateway-tool echo__echo
                                 --direct URL --direct-tool echo [-n 5000] [--rounds 5]
                                 [--warmup 500] [--text hello] [--json FILE]
                                 [--gateway-pid PID] [--echo-pid PID] [--cafile CA.pem]

One keep-alive TCP connection per target (TCP_NODELAY, raw socket, no HTTP library; an https URL is
wrapped in TLS, trusting --cafile), each with its own MCP session (initialize + notifications/initialized, protocol 2025-11-25). Every call is one
POST with a fresh id; the clock (time.perf_counter_ns) runs from before send() to the last byte of
the response. Each answer must be HTTP 200 with a JSON-RPC result for that id whose text is the
echoed text (checked on every call: a wrong answer stops the run).

Rounds alternate (gateway, direct, gateway, direct, ...). Per round: p50 / p99 / mean of each.
Summary: best-of (lowest p50 and lowest p99 over the rounds) and the median over the rounds, and
the added latency = gateway - direct for both. Printed as a table; --json writes the numbers.
With --gateway-pid / --echo-pid, each round also reports those processes' time on CPU per call
and the gateway's run-queue wait per call (time it was runnable but another process had its core),
from /proc/<pid>/schedstat: what the gateway itself costs, apart from a noisy machine.
Only the standard library is used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import ssl
import statistics
import sys
import time
from urllib.parse import urlsplit

PROTOCOL_VERSION = "2025-11-25"


class Conn:
    """One keep-alive HTTP/1.1 connection speaking MCP (handshake era) to URL."""

    def __init__(self, url: str, timeout: float = 10.0, cafile: str | None = None):
        u = urlsplit(url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.path = u.path or "/"
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if u.scheme == "https":
            self.sock = ssl.create_default_context(cafile=cafile).wrap_socket(self.sock, server_hostname=self.host)
        self.buf = bytearray()
        self.session: str | None = None
        self.head_prefix = b""
        self._build_prefix()

    def _build_prefix(self) -> None:
        h = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            "Accept: application/json, text/event-stream",
            f"MCP-Protocol-Version: {PROTOCOL_VERSION}",
        ]
        if self.session:
            h.append(f"Mcp-Session-Id: {self.session}")
        self.head_prefix = ("\r\n".join(h) + "\r\nContent-Length: ").encode()

    def send(self, body: bytes) -> None:
        self.sock.sendall(b"".join((self.head_prefix, str(len(body)).encode(), b"\r\n\r\n", body)))

    def recv_response(self) -> tuple[int, dict[str, str], bytes]:
        """Read one response (Content-Length or chunked). Returns (status, headers, body)."""
        buf = self.buf
        sock = self.sock
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before the response head")
            buf += chunk
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            pos = start
            while True:
                eol = buf.find(b"\r\n", pos)
                while eol < 0:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("connection closed inside a chunked body")
                    buf += chunk
                    eol = buf.find(b"\r\n", pos)
                size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
                need = eol + 2 + size + 2
                while len(buf) < need:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("connection closed inside a chunked body")
                    buf += chunk
                if size == 0:
                    pos = need
                    break
                body += buf[eol + 2:eol + 2 + size]
                pos = need
            del buf[:pos]
            return status, headers, bytes(body)
        length = int(headers.get("content-length", "0"))
        need = start + length
        while len(buf) < need:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed inside the body")
            buf += chunk
        body = bytes(buf[start:need])
        del buf[:need]
        return status, headers, body

    def rpc(self, obj: dict) -> tuple[int, dict[str, str], bytes]:
        self.send(json.dumps(obj, separators=(",", ":")).encode())
        return self.recv_response()

    def handshake(self) -> None:
        status, headers, body = self.rpc({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                       "clientInfo": {"name": "bench-mcp-latency", "version": "1.0"}},
        })
        if status != 200:
            raise RuntimeError(f"initialize: HTTP {status}: {body[:300]!r}")
        self.session = headers.get("mcp-session-id")
        if not self.session:
            raise RuntimeError("initialize: no Mcp-Session-Id header")
        self._build_prefix()
        status, _, body = self.rpc({"jsonrpc": "2.0", "method": "notifications/initialized"})
        if status not in (200, 202):
            raise RuntimeError(f"notifications/initialized: HTTP {status}: {body[:300]!r}")


def sse_last_data(body: bytes) -> bytes:
    data = b""
    for line in body.split(b"\n"):
        if line.startswith(b"data:"):
            data = line[5:].strip()
    return data


def run_calls(conn: Conn, tool: str, text: str, n: int, first_id: int) -> list[int]:
    """n sequential tools/call; returns latencies in ns."""
    text_json = json.dumps(text)
    pre = ('{"jsonrpc":"2.0","id":').encode()
    post = (',"method":"tools/call","params":{"name":' + json.dumps(tool)
            + ',"arguments":{"text":' + text_json + '}}}').encode()
    expect = ('"text":' + text_json).encode()
    lat = [0] * n
    clock = time.perf_counter_ns
    send = conn.send
    recv = conn.recv_response
    for i in range(n):
        rid = first_id + i
        body = pre + str(rid).encode() + post
        t0 = clock()
        send(body)
        status, headers, rbody = recv()
        lat[i] = clock() - t0
        if status != 200 or expect not in rbody:
            raise RuntimeError(f"{tool}: call {i}: HTTP {status}: {rbody[:300]!r}")
        if headers.get("content-type", "").startswith("text/event-stream"):
            rbody = sse_last_data(rbody)
        # cheap id check: the response must carry our id
        if (b'"id":' + str(rid).encode() + b",") not in rbody:
            raise RuntimeError(f"{tool}: call {i}: id {rid} not in the answer: {rbody[:300]!r}")
    return lat


def schedstat(pid: int | None) -> tuple[float, float]:
    """(CPU time, run-queue wait) of PID so far, in seconds, from /proc/<pid>/schedstat."""
    if not pid:
        return 0.0, 0.0
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            on_cpu, wait, _ = f.read().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(on_cpu) / 1e9, int(wait) / 1e9


def pct(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile, in µs."""
    k = max(0, min(len(sorted_ns) - 1, math.ceil(p / 100.0 * len(sorted_ns)) - 1))
    return sorted_ns[k] / 1000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--gateway", required=True, help="gateway MCP URL, e.g. http://127.0.0.1:P/mcp")
    ap.add_argument("--gateway-tool", default="echo__echo")
    ap.add_argument("--direct", required=True, help="echo server MCP URL")
    ap.add_argument("--direct-tool", default="echo")
    ap.add_argument("-n", type=int, default=5000, help="calls per target per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=500, help="unmeasured calls per target first")
    ap.add_argument("--text", default="hello, gateway")
    ap.add_argument("--json", help="write the numbers to this file")
    ap.add_argument("--gateway-pid", type=int, help="report the gateway's CPU time per call")
    ap.add_argument("--echo-pid", type=int, help="report the echo server's CPU time per call")
    ap.add_argument("--cafile", help="CA bundle trusted for https targets")
    a = ap.parse_args()

    targets = {"gateway": (Conn(a.gateway, cafile=a.cafile), a.gateway_tool),
               "direct": (Conn(a.direct, cafile=a.cafile), a.direct_tool)}
    for conn, _ in targets.values():
        conn.handshake()
    next_id = 1
    for name, (conn, tool) in targets.items():
        run_calls(conn, tool, a.text, a.warmup, next_id)
        next_id += a.warmup

    rounds: dict[str, list[dict]] = {"gateway": [], "direct": []}
    for r in range(1, a.rounds + 1):
        for name, (conn, tool) in targets.items():
            (g0, gw0), (e0, _) = schedstat(a.gateway_pid), schedstat(a.echo_pid)
            lat = run_calls(conn, tool, a.text, a.n, next_id)
            (g1, gw1), (e1, _) = schedstat(a.gateway_pid), schedstat(a.echo_pid)
            next_id += a.n
            lat.sort()
            st = {"p50": pct(lat, 50), "p99": pct(lat, 99), "mean": sum(lat) / len(lat) / 1000.0,
                  "max": lat[-1] / 1000.0,
                  "gateway_cpu": (g1 - g0) * 1e6 / a.n, "echo_cpu": (e1 - e0) * 1e6 / a.n,
                  "gateway_wait": (gw1 - gw0) * 1e6 / a.n}
            rounds[name].append(st)
            cpu = ""
            if a.gateway_pid:
                cpu += f"  gateway cpu {st['gateway_cpu']:6.1f} us/call (runqueue wait {st['gateway_wait']:6.1f})"
            if a.echo_pid:
                cpu += f"  echo cpu {st['echo_cpu']:6.1f} us/call"
            print(f"[bench] latency round {r} {name:8s} n={a.n} p50 {st['p50']:8.1f} us  p99 {st['p99']:8.1f} us"
                  f"  mean {st['mean']:8.1f} us  max {st['max']:9.1f} us{cpu}", file=sys.stderr, flush=True)

    summary = {}
    for name, sts in rounds.items():
        summary[name] = {
            "best_p50": min(s["p50"] for s in sts), "best_p99": min(s["p99"] for s in sts),
            "median_p50": statistics.median(s["p50"] for s in sts),
            "median_p99": statistics.median(s["p99"] for s in sts),
            "median_gateway_cpu": statistics.median(s["gateway_cpu"] for s in sts),
            "median_echo_cpu": statistics.median(s["echo_cpu"] for s in sts),
            "median_gateway_wait": statistics.median(s["gateway_wait"] for s in sts),
        }
    g, d = summary["gateway"], summary["direct"]
    summary["added"] = {k: g[k] - d[k] for k in g}
    show_cpu = bool(a.gateway_pid or a.echo_pid)

    print(f"tools/call latency, 1 connection, {a.n} sequential calls x {a.rounds} rounds per target (us)")
    head = f"{'target':<10} {'p50 best':>10} {'p99 best':>10} {'p50 median':>11} {'p99 median':>11}"
    rule = f"{'-' * 10} {'-' * 10} {'-' * 10} {'-' * 11} {'-' * 11}"
    if show_cpu:
        head += f" {'gateway cpu/call':>16} {'gw runq wait/call':>17} {'echo cpu/call':>14}"
        rule += f" {'-' * 16} {'-' * 17} {'-' * 14}"
    print(head)
    print(rule)
    for name in ("gateway", "direct", "added"):
        s = summary[name]
        line = f"{name:<10} {s['best_p50']:10.1f} {s['best_p99']:10.1f} {s['median_p50']:11.1f} {s['median_p99']:11.1f}"
        if show_cpu:
            line += f" {s['median_gateway_cpu']:16.1f} {s['median_gateway_wait']:17.1f} {s['median_echo_cpu']:14.1f}"
        print(line)
    if show_cpu:
        print("(cpu/call: time on CPU, runq wait: time runnable but waiting for the CPU (other processes),"
              " from /proc/<pid>/schedstat over each round / calls; median of rounds)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": rounds, "summary": summary, "n": a.n}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
