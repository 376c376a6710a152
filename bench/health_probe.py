#!/usr/bin/env python3
"""Sequential tools/call probes for bench/health.sh: a healthy service's latency, a dead one's.

    python3 bench/health_probe.py calls --url URL --tool a__echo [-n 2000] [--rounds 1]
                                  [--warmup 200] [--expect ok|circuit] [--text hello] [--gateway-pid PID]
    python3 bench/health_probe.py open --url URL --tool b__echo --service-url URL/services/b
                                  --api-key KEY --kill-pid PID [--timeout 30]

``calls``: one keep-alive connection, one MCP session (bench/mcp_latency.py's ``Conn``), rounds
of N sequential tools/call after an unmeasured warm-up; the clock runs from before send() to the last
byte of the answer. Every answer is classified: ``ok`` (HTTP 200, a result carrying the echoed
text and the call's id) or an error (the JSON-RPC error code, ``http-<status>``, ``result`` for a
result without the text, ``conn`` for a dropped connection, after which a new one is opened).
With ``--expect circuit`` the expected answer is JSON-RPC error -32004 for the call's id; anything
else counts as unexpected. With ``--gateway-pid``, the gateway's time on CPU over the measured
calls (/proc/<pid>/schedstat) per call. Prints one JSON object: totals over the rounds
(``calls, ok, errors, unexpected, codes``), the median of the rounds' ``p50_us, p99_us, rps``,
``cpu_us_per_call`` and each round's numbers (``rounds``).

``open``: kills --kill-pid with SIGKILL (the clock starts there), then calls the tool back to back
and reads the service (GET with X-API-Key) after every call, until the service is ``down`` with
its circuit ``open`` and a call was answered -32004, or --timeout seconds pass. Prints one JSON
object: the codes of the calls before the first -32004, ms from the kill to the first call's
answer, to ``down`` (the health report's ``since``, wall clock with ms, and as first seen), to the
first -32004, and the last report. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import sys
import time
from datetime import datetime
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_latency import Conn, pct, schedstat  # noqa: E402

CIRCUIT_OPEN = -32004


class Caller:
    """Sequential tools/call of one tool over a Conn; reconnects after a dropped connection."""

    def __init__(self, url: str, tool: str, text: str):
        self.url = url
        self.tool = tool
        self.text_json = json.dumps(text)
        self.expect = ('"text":' + self.text_json).encode()
        self.pre = b'{"jsonrpc":"2.0","id":'
        self.post = (',"method":"tools/call","params":{"name":' + json.dumps(tool)
                     + ',"arguments":{"text":' + self.text_json + '}}}').encode()
        self.next_id = 1
        self.conn: Conn | None = None

    def connect(self) -> None:
        self.conn = Conn(self.url)
        self.conn.handshake()

    def call(self) -> tuple[int, str]:
        """One call: (latency ns, outcome), outcome "ok" or an error code as text."""
        if self.conn is None:
            self.connect()
        rid = self.next_id
        self.next_id += 1
        body = self.pre + str(rid).encode() + self.post
        t0 = time.perf_counter_ns()
        try:
            self.conn.send(body)
            status, headers, rbody = self.conn.recv_response()
        except (ConnectionError, OSError):
            lat = time.perf_counter_ns() - t0
            try:
                self.conn.sock.close()
            except OSError:
                pass
            self.conn = None
            return lat, "conn"
        lat = time.perf_counter_ns() - t0
        if status != 200:
            return lat, f"http-{status}"
        if headers.get("content-type", "").startswith("text/event-stream"):
            data = b""
            for line in rbody.split(b"\n"):
                if line.startswith(b"data:"):
                    data = line[5:].strip()
            rbody = data
        try:
            msg = json.loads(rbody)
        except ValueError:
            return lat, "not-json"
        if msg.get("id") != rid:
            return lat, "wrong-id"
        if "error" in msg:
            return lat, str(msg["error"].get("code"))
        if self.expect in rbody and not msg.get("result", {}).get("isError"):
            return lat, "ok"
        return lat, "result"


def cmd_calls(a: argparse.Namespace) -> int:
    caller = Caller(a.url, a.tool, a.text)
    caller.connect()
    for _ in range(a.warmup):
        caller.call()
    expected = "ok" if a.expect == "ok" else str(CIRCUIT_OPEN)
    codes: dict[str, int] = {}
    rounds = []
    g0, _ = schedstat(a.gateway_pid)
    for _ in range(a.rounds):
        lat = [0] * a.n
        t0 = time.perf_counter()
        for i in range(a.n):
            lat[i], outcome = caller.call()
            codes[outcome] = codes.get(outcome, 0) + 1
        seconds = time.perf_counter() - t0
        lat.sort()
        rounds.append({"p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "mean_us": sum(lat) / a.n / 1000.0,
                       "max_us": lat[-1] / 1000.0, "rps": a.n / seconds})
    g1, _ = schedstat(a.gateway_pid)
    calls = a.n * a.rounds
    out = {
        "tool": a.tool, "calls": calls, "ok": codes.get("ok", 0), "errors": calls - codes.get("ok", 0),
        "unexpected": calls - codes.get(expected, 0), "codes": codes,
        "p50_us": statistics.median(r["p50_us"] for r in rounds),
        "p99_us": statistics.median(r["p99_us"] for r in rounds),
        "rps": statistics.median(r["rps"] for r in rounds),
        "cpu_us_per_call": (g1 - g0) * 1e6 / calls if a.gateway_pid else None,
        "rounds": rounds,
    }
    print(json.dumps(out))
    return 0


def since_epoch(stamp: str | None) -> float | None:
    """`2026-12-02T19:39:02.123Z` -> seconds since the epoch."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def cmd_open(a: argparse.Namespace) -> int:
    su = urlsplit(a.service_url)
    admin = http.client.HTTPConnection(su.hostname, su.port or 80, timeout=5)

    def report() -> dict:
        admin.request("GET", su.path, headers={"X-API-Key": a.api_key})
        r = admin.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {su.path}: HTTP {r.status}: {body[:300]!r}")
        return json.loads(body).get("health", {})

    caller = Caller(a.url, a.tool, a.text)
    caller.connect()
    before = report()
    if before.get("state") != "healthy" or before.get("circuit") != "closed":
        raise RuntimeError(f"the service is not healthy before the kill: {before}")

    killed_wall = time.time()
    killed = time.perf_counter()
    os.kill(a.kill_pid, signal.SIGKILL)

    def ms_since_kill() -> float:
        return (time.perf_counter() - killed) * 1000.0

    codes: dict[str, int] = {}
    lat_ms: list[float] = []
    first_answer_ms = down_seen_ms = open_seen_ms = first_reject_ms = None
    health = before
    calls = 0
    while ms_since_kill() < a.timeout * 1000.0:
        lat, outcome = caller.call()
        calls += 1
        if first_answer_ms is None:
            first_answer_ms = ms_since_kill()
        if outcome == str(CIRCUIT_OPEN):
            if first_reject_ms is None:
                first_reject_ms = ms_since_kill()
        else:
            codes[outcome] = codes.get(outcome, 0) + 1
            lat_ms.append(lat / 1e6)
        health = report()
        if health.get("state") == "down" and down_seen_ms is None:
            down_seen_ms = ms_since_kill()
        if health.get("circuit") == "open" and open_seen_ms is None:
            open_seen_ms = ms_since_kill()
        if down_seen_ms is not None and open_seen_ms is not None and first_reject_ms is not None:
            break
        if a.pace_ms:
            time.sleep(a.pace_ms / 1000.0)
    down_since = since_epoch(health.get("since")) if health.get("state") == "down" else None
    out = {
        "tool": a.tool, "calls": calls, "failed_before_open": sum(codes.values()), "codes": codes,
        "failed_call_ms": [round(x, 3) for x in lat_ms],
        "first_answer_ms": first_answer_ms,
        "down_ms": (down_since - killed_wall) * 1000.0 if down_since is not None else None,
        "down_seen_ms": down_seen_ms, "open_seen_ms": open_seen_ms, "first_reject_ms": first_reject_ms,
        "health": health,
        "done": down_seen_ms is not None and open_seen_ms is not None and first_reject_ms is not None,
    }
    print(json.dumps(out))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("calls", help="N sequential calls: latency and outcomes")
    c.add_argument("--url", required=True, help="the gateway's MCP URL")
    c.add_argument("--tool", required=True)
    c.add_argument("-n", type=int, default=2000, help="calls per round")
    c.add_argument("--rounds", type=int, default=1)
    c.add_argument("--warmup", type=int, default=200)
    c.add_argument("--expect", choices=("ok", "circuit"), default="ok")
    c.add_argument("--text", default="hello, gateway")
    c.add_argument("--gateway-pid", type=int)
    o = sub.add_parser("open", help="kill a downstream, call it until its circuit is open")
    o.add_argument("--url", required=True, help="the gateway's MCP URL")
    o.add_argument("--tool", required=True)
    o.add_argument("--service-url", required=True, help="the gateway's GET /services/<name> URL")
    o.add_argument("--api-key", required=True)
    o.add_argument("--kill-pid", type=int, required=True)
    o.add_argument("--timeout", type=float, default=30.0)
    o.add_argument("--pace-ms", type=float, default=0.0, help="pause between calls")
    o.add_argument("--text", default="hello, gateway")
    a = ap.parse_args()
    return cmd_calls(a) if a.cmd == "calls" else cmd_open(a)


if __name__ == "__main__":
    sys.exit(main())
