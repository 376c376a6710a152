#!/usr/bin/env python3
"""The measuring half of bench/registry.sh (run it through that script): what the registry's size
costs one gateway — its full reload, a delta, and its resident memory when idle — at several sizes.

    registry.py --gateway-bin BIN --sizes 100,1000,10000,50000,100000 [--tools-per-service 20]
                [--reloads 5] [--deltas 5] [--stores sqlite,postgres] [--pg-env DIR/env]
                [--server-cpu 0] [--client-cpu 1] [--work DIR]

For each store and each size N (N tools = N / tools-per-service services of ~300 bytes of JSON per
tool, the definitions bench/replicas.py inserts), on a registry holding exactly those services:
  1. the rows are written straight into the store (SQLite: a new database file, migrated by
     `mcp-gateway migrate`, filled with Python's sqlite3; PostgreSQL: the tables emptied, then
     bench/replicas.py's bulk INSERT), nothing published;
  2. a gateway starts on it (SERVER_CPU, LOG_LEVEL=debug, health checks and downstream watching off:
     the services point at a closed port) and makes its first full reload: the log line
     `index reloaded ... ms= fetch_ms= build_ms=`;
  3. idle: `--settle` seconds later its VmRSS (and VmHWM, the peak) from /proc/<pid>/status;
  4. `--deltas` register + delete pairs of one more service (bench/echo_mcp.py) through the admin
     API: each `index delta applied ... ms=` (the change patched into the snapshot of that size, on
     the gateway that made it);
  5. `--reloads` full reloads: the stored version is bumped behind the gateway's back and its fence
     (VERSION_CHECK_INTERVAL=0.1) reloads; each reload's log line, then VmRSS again. The gateway
     keeps its last 8 snapshots (for tools/list cursors), so with 8 reloads the memory is that of 9;
  6. `--deltas` pairs again: now each delta also lets go of a retained full snapshot;
  7. /metrics: mcp_gateway_index_reload_duration_seconds (count and sum) against the log's count.
An empty registry (0 tools) is measured the same way first, as the baseline of the memory.

Prints one table per store; RESULTS_DIR/registry.json gets the same (bench/results.py): table
`sizes` (a row a store and size), `reloads` and `deltas` (every measurement).
Standard library only. Exit status 0 when every size was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replicas import (BULK_SQL, Admin, BenchError, Proc, free_port, log_lines_since, proc_status,  # noqa: E402
                      psql, read_env, size, wait_log)
from results import save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "bench-key-123"
DELTA_SERVICE = "bench-delta"


def kb(pid: int, key: str) -> int:
    return int(proc_status(pid)[key].split()[0])


def tool_json(t: int, service: str) -> dict:
    """The definition bench/replicas.py's BULK_SQL builds (jsonb_build_object), for SQLite."""
    return {"name": f"tool_{t:02d}",
            "description": f"Tool {t} of {service}: returns the records that match the text.",
            "inputSchema": {"type": "object",
                            "properties": {"text": {"type": "string", "description": "the text to look up"},
                                           "limit": {"type": "integer", "description": "at most this many"}},
                            "required": ["text"]}}


class Store:
    """Where the registry lives: `prepare` fills it with exactly n_services, `bump` raises its version."""

    name = ""

    def gateway_env(self) -> dict:
        raise NotImplementedError

    def prepare(self, n_services: int, tools: int) -> None:
        raise NotImplementedError

    def bump(self) -> int:
        raise NotImplementedError

    def migrate(self, gateway_bin: str, cwd: Path) -> None:
        env = {**base_env(), **self.gateway_env(), "LOG_LEVEL": "warn"}
        p = subprocess.run([gateway_bin, "migrate"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise BenchError(f"mcp-gateway migrate ({self.name}) failed: {p.stdout}{p.stderr}")


class SQLiteStore(Store):
    name = "sqlite"

    def __init__(self, work: Path):
        self.work = work
        self.path: Path | None = None
        self.gateway_bin = ""

    def gateway_env(self) -> dict:
        return {"DATABASE_URL": f"sqlite:{self.path}"}

    def prepare(self, n_services: int, tools: int) -> None:
        # a new file per size: the gateway's database is what it would be after those registers
        self.path = self.work / f"registry-{n_services}x{tools}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.migrate(self.gateway_bin, self.work)
        db = sqlite3.connect(self.path)
        try:
            with db:
                for i in range(1, n_services + 1):
                    name = f"bulk-{i:05d}"
                    cur = db.execute("INSERT INTO services (name, url) VALUES (?, ?)", (name, f"http://127.0.0.1:9/bulk-{i}/mcp"))
                    definitions = json.dumps([tool_json(t, name) for t in range(1, tools + 1)], separators=(",", ":"))
                    db.execute("INSERT INTO service_tools (service_id, tools) VALUES (?, ?)", (cur.lastrowid, definitions))
                db.execute("UPDATE registry_version SET version = version + 1 WHERE id = 1")
        finally:
            db.close()

    def bump(self) -> int:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                db.execute("UPDATE registry_version SET version = version + 1, "
                           "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = 1")
            return db.execute("SELECT version FROM registry_version WHERE id = 1").fetchone()[0]
        finally:
            db.close()


class PostgresStore(Store):
    name = "postgres"

    def __init__(self, env_file: Path, work: Path):
        self.env = read_env(env_file)
        self.work = work
        self.gateway_bin = ""
        self.migrated = False

    def gateway_env(self) -> dict:
        return {k: self.env[k] for k in ("DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD", "DB_DATABASE")}

    def prepare(self, n_services: int, tools: int) -> None:
        if not self.migrated:
            self.migrate(self.gateway_bin, self.work)
            self.migrated = True
        psql(self.env, "TRUNCATE services, service_tools, service_changes RESTART IDENTITY CASCADE")
        if n_services:
            psql(self.env, BULK_SQL.format(services=int(n_services), tools=int(tools)))
        else:
            psql(self.env, "UPDATE registry_version SET version = version + 1, updated_at = now() WHERE id = 1")
        psql(self.env, "ANALYZE services, service_tools")

    def bump(self) -> int:
        return int(psql(self.env, "UPDATE registry_version SET version = version + 1, updated_at = now() "
                                  "WHERE id = 1 RETURNING version").splitlines()[0])


def base_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "DATABASE_URL", "SQLITE_PATH", "REDIS_URL", "PG"))}
    env.update({"HOST": "127.0.0.1", "API_KEY": API_KEY, "LOG_LEVEL": "debug",
                # the bulk services point at a closed port: no health checks, no notification streams
                "HEALTH_CHECK_INTERVAL": "86400", "WATCH_DOWNSTREAMS": "false",
                "VERSION_CHECK_INTERVAL": "0.1"})
    return env


def start_echo(python: str, cpu: int, work: Path) -> tuple[Proc, str]:
    port = free_port()
    out = work / "echo.out"
    with open(out, "wb") as f:
        p = Proc(["taskset", "-c", str(cpu), python, str(ROOT / "bench" / "echo_mcp.py"), "--port", str(port)],
                 stdout=f, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while b"READY" not in out.read_bytes():
        if p.p.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"bench/echo_mcp.py did not start: {out.read_text()}")
        time.sleep(0.05)
    return p, f"http://127.0.0.1:{port}/mcp"


def metrics_reloads(base: str) -> tuple[int, float]:
    """(count, sum in s) of mcp_gateway_index_reload_duration_seconds."""
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    count, total = 0, 0.0
    for line in text.splitlines():
        if line.startswith("mcp_gateway_index_reload_duration_seconds_count"):
            count = int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("mcp_gateway_index_reload_duration_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
    return count, total


def delta_pairs(admin: Admin, log: Path, echo_url: str, pairs: int, store: str, n_tools: int, when: str) -> list[dict]:
    """`pairs` register + delete of one more service; each change's `index delta applied ... ms=`."""
    out = []
    for _ in range(pairs):
        for action in ("register", "delete"):
            offset = size(log)
            if action == "register":
                admin.register(DELTA_SERVICE, echo_url)
            else:
                admin.delete(DELTA_SERVICE)
            line = wait_log(log, offset, "index delta applied", lambda f: f.get("service") == DELTA_SERVICE,
                            timeout=30, what=f"{store}, {n_tools} tools: delta ({action})")
            out.append({"store": store, "tools": n_tools, "when": when, "action": action, "ms": float(line["ms"])})
    return out


def measure(store: Store, args, n_tools: int, echo_url: str, work: Path) -> tuple[dict, list[dict], list[dict]]:
    per = args.tools_per_service
    n_services = n_tools // per
    t0 = time.monotonic()
    store.prepare(n_services, per)
    insert_s = time.monotonic() - t0
    port = free_port()
    log = work / f"gateway-{store.name}-{n_tools}.log"
    env = {**base_env(), **store.gateway_env(), "PORT": str(port)}
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        started = time.monotonic()
        gw = Proc(["taskset", "-c", str(args.server_cpu), args.gateway_bin, "serve"], env=env,
                  stdout=out, stderr=subprocess.STDOUT)
    reloads, deltas = [], []
    try:
        first = wait_log(log, 0, "index reloaded", lambda f: int(f.get("tools", -1)) == n_tools, timeout=120,
                         what=f"{store.name}, {n_tools} tools: the first reload")
        ready_s = time.monotonic() - started
        pid = gw.p.pid
        time.sleep(args.settle)
        rss_idle, hwm_first = kb(pid, "VmRSS"), kb(pid, "VmHWM")
        admin = Admin(base, API_KEY)
        deltas += delta_pairs(admin, log, echo_url, args.deltas, store.name, n_tools, "first")
        for i in range(args.reloads):
            offset = size(log)
            version = store.bump()
            line = wait_log(log, offset, "index reloaded", lambda f: int(f.get("version", 0)) >= version, timeout=60,
                            what=f"{store.name}, {n_tools} tools: reload {i + 1}")
            reloads.append({"store": store.name, "tools": n_tools, "reload": i + 1, "ms": float(line["ms"]),
                            "fetch_ms": float(line["fetch_ms"]), "build_ms": float(line["build_ms"])})
            time.sleep(0.2)
        time.sleep(args.settle)
        rss_after, hwm = kb(pid, "VmRSS"), kb(pid, "VmHWM")
        deltas += delta_pairs(admin, log, echo_url, args.deltas, store.name, n_tools, "after_reloads")
        admin.conn.close()
        m_count, m_sum = metrics_reloads(base)
        logged = len(log_lines_since(log, 0, "index reloaded"))
    finally:
        gw.stop()
    ms = [r["ms"] for r in reloads]
    dms = [d["ms"] for d in deltas if d["when"] == "first"]
    dms_after = [d["ms"] for d in deltas if d["when"] == "after_reloads"]

    def med(values: list[float]) -> float | None:
        return round(statistics.median(values), 3) if values else None

    row = {"store": store.name, "tools": n_tools, "services": n_services, "insert_s": round(insert_s, 2),
           "ready_s": round(ready_s, 3),
           "first_reload_ms": float(first["ms"]), "first_fetch_ms": float(first["fetch_ms"]),
           "first_build_ms": float(first["build_ms"]),
           "reload_ms_median": med(ms), "reload_ms_min": min(ms) if ms else None, "reload_ms_max": max(ms) if ms else None,
           "fetch_ms_median": med([r["fetch_ms"] for r in reloads]),
           "build_ms_median": med([r["build_ms"] for r in reloads]),
           "delta_ms_median": med(dms), "delta_ms_min": min(dms) if dms else None, "delta_ms_max": max(dms) if dms else None,
           "delta_after_reloads_ms_median": med(dms_after),
           "delta_after_reloads_ms_max": max(dms_after) if dms_after else None,
           "rss_idle_kb": rss_idle, "rss_after_reloads_kb": rss_after, "hwm_first_kb": hwm_first, "hwm_kb": hwm,
           "metrics_reload_count": m_count,
           "metrics_reload_mean_ms": round(m_sum / m_count * 1000, 3) if m_count else None,
           "logged_reloads": logged}
    return row, reloads, deltas


def fmt(v, spec: str) -> str:
    """v formatted with spec (`9.1f`), or `-` right-aligned to the spec's width."""
    width = int(spec.split(".")[0] or 0)
    return "-".rjust(width) if v is None else format(v, spec)


def print_table(store: str, rows: list[dict]) -> None:
    head = (f"{'tools':>7} {'services':>8} {'1st reload':>10} {'reload p50':>10} {'min-max':>13} {'fetch p50':>9} "
            f"{'build p50':>9} {'delta p50':>9} {'delta max':>9} {'after rel.':>10} {'idle RSS':>8} "
            f"{'RSS after':>9} {'peak':>6}")
    print(f"{store}: full reload and delta in ms (the gateway's log), memory in MB (VmRSS; peak = VmHWM)")
    print(head)
    print("-" * len(head))
    for r in rows:
        mm = "-" if r["reload_ms_min"] is None else f"{r['reload_ms_min']:.1f}-{r['reload_ms_max']:.1f}"
        print(f"{r['tools']:>7} {r['services']:>8} {r['first_reload_ms']:>10.1f} {fmt(r['reload_ms_median'], '10.1f')} "
              f"{mm:>13} {fmt(r['fetch_ms_median'], '9.1f')} {fmt(r['build_ms_median'], '9.1f')} "
              f"{fmt(r['delta_ms_median'], '9.2f')} {fmt(r['delta_ms_max'], '9.2f')} "
              f"{fmt(r['delta_after_reloads_ms_median'], '10.2f')} {r['rss_idle_kb'] / 1024:>8.1f} "
              f"{r['rss_after_reloads_kb'] / 1024:>9.1f} {r['hwm_kb'] / 1024:>6.1f}")
    print("(1st reload: the gateway's first, at start; reload p50, min-max: of the reloads after it; delta: the local\n"
          " delta of a register or delete right after the first reload, after rel.: the same after the reloads; idle\n"
          " RSS: after the first reload; RSS after: after the reloads (the gateway keeps its last 8 snapshots))")
    base = next((r for r in rows if r["tools"] == 0), None)
    top = max(rows, key=lambda r: r["tools"])
    if base and top["tools"]:
        per_tool = (top["rss_idle_kb"] - base["rss_idle_kb"]) * 1024 / top["tools"]
        print(f"idle RSS above the empty registry at {top['tools']} tools: {per_tool:.0f} bytes per tool")
    for r in rows:
        if r["metrics_reload_count"] != r["logged_reloads"]:
            print(f"note: {r['tools']} tools: /metrics counted {r['metrics_reload_count']} reloads, the log {r['logged_reloads']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway-bin", required=True)
    ap.add_argument("--sizes", default="100,1000,10000,50000,100000", help="tool counts, comma-separated")
    ap.add_argument("--tools-per-service", type=int, default=20)
    ap.add_argument("--reloads", type=int, default=8, help="full reloads per size after the first")
    ap.add_argument("--deltas", type=int, default=5, help="register + delete pairs per size")
    ap.add_argument("--stores", default="sqlite", help="sqlite and/or postgres, comma-separated")
    ap.add_argument("--pg-env", type=Path, help="scripts/services.sh's DIR/env (for postgres)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds before reading the idle RSS")
    ap.add_argument("--server-cpu", default="0", help="core(s) of the gateway, as taskset -c takes them (0, or 0,1)")
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--echo-python", default=sys.executable)
    ap.add_argument("--work", type=Path, required=True, help="a folder for databases and logs")
    args = ap.parse_args()
    signal_exit()

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    for n in sizes:
        if n <= 0 or n % args.tools_per_service:
            print(f"bench/registry.py: size {n} is not a positive multiple of --tools-per-service "
                  f"{args.tools_per_service}", file=sys.stderr)
            return 2
    sizes = [0] + sizes
    stores: list[Store] = []
    for name in [s.strip() for s in args.stores.split(",") if s.strip()]:
        if name == "sqlite":
            stores.append(SQLiteStore(args.work))
        elif name == "postgres":
            if not args.pg_env:
                print("bench/registry.py: postgres needs --pg-env", file=sys.stderr)
                return 2
            stores.append(PostgresStore(args.pg_env, args.work))
        else:
            print(f"bench/registry.py: unknown store {name!r}", file=sys.stderr)
            return 2
    for s in stores:
        s.gateway_bin = args.gateway_bin

    print(f"bench/registry.sh — {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {os.cpu_count()} cpus, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"gateway: {args.gateway_bin} on cpu {args.server_cpu}; {args.tools_per_service} tools per service; "
          f"{args.reloads} reloads and {args.deltas} register + delete per size")
    echo, echo_url = start_echo(args.echo_python, args.client_cpu, args.work)
    rows, reloads, deltas = [], [], []
    try:
        for store in stores:
            mine = []
            for n in sizes:
                print(f"[bench] {store.name}: {n} tools ...", file=sys.stderr, flush=True)
                row, r, d = measure(store, args, n, echo_url, args.work)
                mine.append(row)
                reloads += r
                deltas += d
                print(f"[bench] {store.name}: {n} tools: first reload {row['first_reload_ms']} ms, reload p50 "
                      f"{row['reload_ms_median']} ms, delta p50 {row['delta_ms_median']} ms, idle RSS "
                      f"{row['rss_idle_kb'] / 1024:.1f} MB", file=sys.stderr, flush=True)
            rows += mine
            print()
            print_table(store.name, mine)
    except BenchError as e:
        print(f"bench/registry.py: {e}", file=sys.stderr)
        return 1
    finally:
        echo.stop()
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    save("registry", {"sizes": rows, "reloads": reloads, "deltas": deltas},
         params={"sizes": sizes, "tools_per_service": args.tools_per_service, "reloads": args.reloads,
                 "deltas": args.deltas, "stores": [s.name for s in stores], "settle_s": args.settle,
                 "server_cpu": args.server_cpu, "client_cpu": args.client_cpu},
         gateway_bin=args.gateway_bin)
    return 0


def signal_exit() -> None:
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


if __name__ == "__main__":
    sys.exit(main())
