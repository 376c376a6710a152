#!/usr/bin/env python3
"""Does the embedded SQLite store stall the loop? tools/call latency with and without registers.

    python3 bench/embedded.py --gateway http://127.0.0.1:P --key KEY --echo-url http://127.0.0.1:E/mcp
                              [-n 4000] [--rounds 3]

Phase "quiet": n sequential tools/call of echo__echo on one keep-alive connection. Phase "writes":
the same while another thread registers, updates and deletes services through the admin API as
fast as it can (each mutation is a SQLite transaction on the gateway's loop, plus a tools fetch
from the echo server). Rounds alternate; the table gives p50, p99, p99.9 and max of each phase,
the number of mutations made during the write phases, and the worst added latency. The same
numbers go to RESULTS_DIR/embedded.json (default bench/results/; bench/results.py describes it).
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mcp_latency import Conn, pct, run_calls  # noqa: E402
from results import save  # noqa: E402


def writer(base: str, key: str, echo_url: str, stop, counter) -> None:
    u = urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    i = 0
    while not stop.is_set():
        name = f"w{i % 50}"
        for method, path, body in (("POST", "/register", {"name": name, "url": echo_url}),
                                   ("PUT", f"/update/{name}", None),
                                   ("DELETE", f"/delete/{name}", None)):
            c.request(method, path, body=json.dumps(body) if body else None, headers=headers)
            r = c.getresponse()
            r.read()
            if r.status >= 300:
                raise SystemExit(f"{method} {path}: HTTP {r.status}")
            with counter.get_lock():
                counter.value += 1
        i += 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--echo-url", required=True)
    ap.add_argument("-n", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()

    conn = Conn(a.gateway + "/mcp")
    conn.handshake()
    run_calls(conn, "echo__echo", "warm", 500, 1)
    next_id = 1000
    quiet: list[int] = []
    busy: list[int] = []
    mutations = 0
    for _ in range(a.rounds):
        quiet += run_calls(conn, "echo__echo", "hello", a.n, next_id)
        next_id += a.n
        # The writer is another process, so it does not share this one's interpreter lock.
        stop = multiprocessing.Event()
        counter = multiprocessing.Value("i", 0)
        t = multiprocessing.Process(target=writer, args=(a.gateway, a.key, a.echo_url, stop, counter), daemon=True)
        t.start()
        busy += run_calls(conn, "echo__echo", "hello", a.n, next_id)
        next_id += a.n
        stop.set()
        t.join(30)
        mutations += counter.value
    quiet.sort()
    busy.sort()
    print(f"{'phase':<8} {'calls':>7} {'p50 µs':>9} {'p99 µs':>9} {'p99.9 µs':>9} {'max µs':>9}")
    phases = []
    for name, lat in (("quiet", quiet), ("writes", busy)):
        print(f"{name:<8} {len(lat):>7} {pct(lat, 50):>9.1f} {pct(lat, 99):>9.1f} {pct(lat, 99.9):>9.1f} {lat[-1] / 1000:>9.1f}")
        phases.append({"phase": name, "calls": len(lat), "p50_us": round(pct(lat, 50), 1), "p99_us": round(pct(lat, 99), 1),
                       "p999_us": round(pct(lat, 99.9), 1), "max_us": round(lat[-1] / 1000, 1)})
    print(f"\nmutations during the write phases: {mutations} (register + update + delete, each a SQLite transaction)")
    print(f"added by concurrent writes: p99 {pct(busy, 99) - pct(quiet, 99):+.1f} µs, "
          f"p99.9 {pct(busy, 99.9) - pct(quiet, 99.9):+.1f} µs, max {(busy[-1] - quiet[-1]) / 1000:+.1f} µs")
    # How long each SQLite call took on the store's worker thread (the loop is free meanwhile).
    text = urllib.request.urlopen(a.gateway + "/metrics", timeout=5).read().decode()
    buckets, count, total, longest = [], 0, 0.0, 0.0
    for line in text.splitlines():
        if line.startswith("mcp_gateway_sqlite_call_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), int(line.rsplit(" ", 1)[1])))
        elif line.startswith("mcp_gateway_sqlite_call_seconds_count"):
            count = int(line.rsplit(" ", 1)[1])
        elif line.startswith("mcp_gateway_sqlite_call_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("mcp_gateway_sqlite_call_max_seconds"):
            longest = float(line.rsplit(" ", 1)[1])
    p99 = next((le for le, c in buckets if count and c >= 0.99 * count), float("nan"))
    print(f"SQLite calls (worker thread): {count}, mean {total / max(count, 1) * 1e6:.1f} µs, "
          f"p99 <= {p99 * 1e6:.0f} µs (histogram bucket), longest {longest * 1e6:.0f} µs")
    summary = {"mutations": mutations,
               "added_p99_us": round(pct(busy, 99) - pct(quiet, 99), 1),
               "added_p999_us": round(pct(busy, 99.9) - pct(quiet, 99.9), 1),
               "added_max_us": round((busy[-1] - quiet[-1]) / 1000, 1),
               "sqlite_calls": count, "sqlite_mean_us": round(total / max(count, 1) * 1e6, 1),
               "sqlite_p99_bucket_us": None if math.isnan(p99) else round(p99 * 1e6),
               "sqlite_longest_us": round(longest * 1e6)}
    save("embedded", {"phases": phases, "summary": [summary]}, params={"n": a.n, "rounds": a.rounds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
