"""End-to-end tests of scale-out: three gateway replicas on one PostgreSQL + one Redis behind an nginx
round-robin load balancer, all started by ``scripts/cluster.sh up`` in a private folder (its own
PostgreSQL and Redis, so stopping Redis here cannot disturb any other module).

What is checked:
* a register on replica A reaches B and C (their /health registryVersion, then tools/list on each);
* a handshake session opened through the load balancer is accepted by every replica directly;
* DELETE /mcp on one replica ends the session on the others (Redis ``mcp:sessions:revoked``);
* a GET /mcp listener on each replica hears ``notifications/tools/list_changed`` for a register made
  on another replica;
* the Redis subscriber connections killed → changes still reach every replica (fence / resubscribe);
* Redis restarted empty → ``mcp:registry:version`` is rewritten from PostgreSQL, and a register made
  while Redis was down (201, ``"redis":"pending"``) reaches every replica;
* Redis stopped → tools/list keeps answering on every replica.

The Redis outage tests run last (module order). Everything is stopped by ``scripts/cluster.sh down``.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from admin_fixtures import Admin, Downstream, Psql, describe, read_env_file, unique_name
from conftest import SCRUBBED

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SH = ROOT / "scripts" / "cluster.sh"
SERVICES_SH = ROOT / "scripts" / "services.sh"
VERSION_KEY = "mcp:registry:version"
PROTOCOL = "2025-06-18"
ACCEPT_BOTH = "application/json, text/event-stream"
PROPAGATION_TIMEOUT = 5.0  # seconds: a delta is immediate; the fence runs every 0.5 s

pytestmark = pytest.mark.deadline(60)


# ---------------------------------------------------------------------------------------------------
# the cluster

class Cluster:
    def __init__(self, directory: Path, env: dict[str, str]):
        self.dir = directory
        self.env = env
        self.lb = env["LB_URL"]
        self.replicas = env["REPLICA_URLS"].split()
        self.pids = [int(p) for p in env["REPLICA_PIDS"].split()]
        self.api_key = env["API_KEY"]
        self.redis_port = int(env["REDIS_PORT"])
        self.services_dir = env["SERVICES_DIR"]
        self.psql = Psql(env)

    def admin(self, i: int) -> Admin:
        return Admin(self.replicas[i], key=self.api_key)

    def log(self, i: int) -> str:
        try:
            return (self.dir / f"replica-{i + 1}.log").read_text(errors="replace")
        except OSError as e:
            return f"<no log: {e}>"

    def log_size(self, i: int) -> int:
        return (self.dir / f"replica-{i + 1}.log").stat().st_size

    def log_since(self, i: int, offset: int) -> list[str]:
        with open(self.dir / f"replica-{i + 1}.log", "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()

    def logs_tail(self, n: int = 40) -> str:
        out = []
        for i, url in enumerate(self.replicas):
            lines = self.log(i).splitlines()[-n:]
            out.append(f"--- replica {i + 1} {url} (pid {self.pids[i]}) last {n} log lines ---\n" + "\n".join(lines))
        return "\n".join(out)

    def redis_cli(self, *args: str) -> str:
        p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.redis_port), *args],
                           capture_output=True, text=True, timeout=10)
        return p.stdout.strip() if p.returncode == 0 else f"<redis-cli failed {p.returncode}: {p.stderr.strip()}>"

    def services(self, action: str) -> None:
        p = subprocess.run(["bash", str(SERVICES_SH), action, self.services_dir], capture_output=True, text=True,
                           timeout=90)
        if p.returncode != 0:
            pytest.fail(f"scripts/services.sh {action} failed: {p.stderr}{p.stdout}", pytrace=False)


def _cluster_env(gateway_bin: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in SCRUBBED and k not in ("LB_PORT", "REPLICAS", "GATEWAY_BIN", "LOG_FORMAT") and not k.startswith("PG")}
    env.update({"REPLICAS": "3", "VERSION_CHECK_INTERVAL": "0.5", "LOG_LEVEL": "debug",
                "GATEWAY_BIN": str(gateway_bin), "DOWNSTREAM_TIMEOUT": "5", "DOWNSTREAM_CONNECT_TIMEOUT": "2",
                "DB_CONNECT_TIMEOUT": "1"})
    return env


def _running(pid: int) -> bool:
    """Alive and not a zombie (the replicas' parent is PID 1, which may reap them late)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture(scope="module")
def cluster(gateway_bin, tmp_path_factory):
    directory = tmp_path_factory.mktemp("cluster")
    env = _cluster_env(gateway_bin)

    def down() -> str:
        p = subprocess.run(["bash", str(CLUSTER_SH), "down", str(directory)], capture_output=True, text=True,
                           env=env, timeout=120)
        return p.stderr + p.stdout

    try:
        p = subprocess.run(["bash", str(CLUSTER_SH), "up", str(directory)], capture_output=True, text=True,
                           env=env, timeout=180)
    except subprocess.TimeoutExpired as e:
        down()
        pytest.fail(f"scripts/cluster.sh up did not finish within 180 s: {e.stderr!r}", pytrace=False)
    if p.returncode != 0:
        logs = "".join(f"\n--- {f.name} ---\n" + f.read_text(errors="replace")[-3000:]
                       for f in sorted(directory.glob("replica-*.log")))
        down()
        pytest.fail(f"scripts/cluster.sh up failed ({p.returncode}):\n{p.stderr}{p.stdout}{logs}", pytrace=False)
    c = Cluster(directory, read_env_file(directory / "cluster.env"))
    assert len(c.replicas) == 3, c.env
    yield c
    dead = [i for i, pid in enumerate(c.pids) if not _running(pid)]
    if dead:
        print(c.logs_tail(80))
    out = down()
    if dead:
        pytest.fail(f"replica(s) {[i + 1 for i in dead]} died during the module\n{c.logs_tail(80)}\n{out}",
                    pytrace=False)


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    d = Downstream(mode="json", workdir=tmp_path_factory.mktemp("replicas-downstream"))
    yield d
    d.stop()


# ---------------------------------------------------------------------------------------------------
# MCP helpers (handshake era)

def mcp_headers(session: str | None = None, **extra: str) -> dict[str, str]:
    h = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json", "MCP-Protocol-Version": PROTOCOL}
    if session:
        h["Mcp-Session-Id"] = session
    h.update(extra)
    return h


def rpc_result(r: httpx.Response) -> dict:
    """The JSON-RPC response in a JSON or SSE body."""
    ctype = (r.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype == "text/event-stream":
        for block in r.text.split("\n\n"):
            data = "\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
            if data:
                msg = json.loads(data)
                if "id" in msg and ("result" in msg or "error" in msg):
                    return msg
        raise AssertionError(f"no JSON-RPC response in the SSE body: {describe(r)}")
    return r.json()


def initialize(url: str) -> str:
    """initialize + notifications/initialized on `url`; returns the Mcp-Session-Id."""
    with httpx.Client(timeout=10) as h:
        r = h.post(url + "/mcp", headers=mcp_headers(), json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "test-replicas", "version": "1"}}})
        assert r.status_code == 200, f"initialize on {url}: {describe(r)}"
        sid = r.headers.get("mcp-session-id")
        assert sid, f"initialize on {url} answered without Mcp-Session-Id: {describe(r)}"
        assert rpc_result(r)["result"]["protocolVersion"] == PROTOCOL
        n = h.post(url + "/mcp", headers=mcp_headers(sid), json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert n.status_code == 202, f"notifications/initialized on {url}: {describe(n)}"
        return sid


def tools_list(url: str, session: str, client: httpx.Client | None = None) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    if client is not None:
        return client.post(url + "/mcp", headers=mcp_headers(session), json=body)
    with httpx.Client(timeout=10) as h:
        return h.post(url + "/mcp", headers=mcp_headers(session), json=body)


def tool_names(url: str, session: str) -> list[str]:
    """Every federated tool name on `url` (all pages)."""
    names: list[str] = []
    cursor = None
    with httpx.Client(timeout=10) as h:
        for _ in range(100):
            body = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
            if cursor:
                body["params"] = {"cursor": cursor}
            r = h.post(url + "/mcp", headers=mcp_headers(session), json=body)
            assert r.status_code == 200, f"tools/list on {url}: {describe(r)}"
            msg = rpc_result(r)
            assert "result" in msg, f"tools/list on {url}: {describe(r)}"
            names += [t["name"] for t in msg["result"]["tools"]]
            cursor = msg["result"].get("nextCursor")
            if not cursor:
                return names
    raise AssertionError(f"tools/list on {url} did not end within 100 pages")


def health(url: str) -> dict:
    r = httpx.get(url + "/health", timeout=5)
    assert r.status_code == 200, f"GET /health on {url}: {describe(r)}"
    return r.json()


def wait_for(what: str, fn, timeout: float = PROPAGATION_TIMEOUT, interval: float = 0.05, cluster=None):
    """Polls fn() until it returns a truthy value (returned); fails with the last value and logs."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except (httpx.HTTPError, AssertionError, ValueError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout} s (last: {last!r})" + ("\n" + cluster.logs_tail() if cluster else ""),
                pytrace=False)


class _Miss(Exception):
    """A falsy-for-wait_for value that says what was seen."""


def wait_version(cluster: Cluster, indexes, version: int, timeout: float = PROPAGATION_TIMEOUT) -> None:
    for i in indexes:
        url = cluster.replicas[i]

        def at_version():
            h = health(url)
            if h["registryVersion"] == version:
                return True
            return _Miss(f"registryVersion={h.get('registryVersion')} storedVersion={h.get('storedVersion')} "
                         f"redis={h.get('redis')} services={h.get('services')}")

        wait_for(f"replica {i + 1} ({url}) /health registryVersion == {version}", at_version, timeout=timeout,
                 cluster=cluster)


def register(cluster: Cluster, i: int, name: str, url: str, expect_redis: str | None = "published") -> int:
    a = cluster.admin(i)
    try:
        r = a.register(name, url)
    finally:
        a.close()
    assert r.status_code == 201, f"register {name} on replica {i + 1}: {describe(r)}"
    body = r.json()
    assert isinstance(body.get("version"), int), f"register answered without a version: {body}"
    if expect_redis is not None:
        assert body.get("redis") == expect_redis, f"register {name} on replica {i + 1}: redis={body.get('redis')!r} " \
                                                  f"(expected {expect_redis!r}): {body}"
    return body["version"]


def assert_tool_everywhere(cluster: Cluster, indexes, tool: str, session: str | None = None) -> None:
    for i in indexes:
        url = cluster.replicas[i]
        sid = session or initialize(url)
        names = tool_names(url, sid)
        assert tool in names, f"replica {i + 1} ({url}) tools/list lacks {tool}: {sorted(names)[:40]}"


# ---------------------------------------------------------------------------------------------------
# SSE listener (GET /mcp)

class Listener:
    """A GET /mcp stream on one replica (raw httpx stream); JSON-RPC messages land in .messages."""

    def __init__(self, url: str, session: str):
        self.url = url
        self.session = session
        self.messages: queue.Queue = queue.Queue()
        self.opened = threading.Event()
        self.status: int | None = None
        self.error: BaseException | None = None
        self.client = httpx.Client(timeout=httpx.Timeout(10.0, read=60.0))
        self._response = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        headers = {"Accept": "text/event-stream", "MCP-Protocol-Version": PROTOCOL, "Mcp-Session-Id": self.session}
        try:
            with self.client.stream("GET", self.url + "/mcp", headers=headers) as r:
                self._response = r
                self.status = r.status_code
                self.opened.set()
                if r.status_code != 200:
                    return
                data: list[str] = []
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    elif line == "" and data:
                        try:
                            self.messages.put(json.loads("\n".join(data)))
                        except ValueError:
                            self.messages.put({"unparsed": "\n".join(data)})
                        data = []
        except BaseException as e:  # closed from the main thread, or a real error
            self.error = e
        finally:
            self.opened.set()

    def wait_open(self, timeout: float = 5.0) -> None:
        assert self.opened.wait(timeout), f"GET /mcp on {self.url}: no response head within {timeout} s"
        assert self.status == 200, f"GET /mcp on {self.url}: status {self.status} ({self.error!r})"

    def drain(self) -> list:
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def wait_method(self, method: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                m = self.messages.get(timeout=left)
            except queue.Empty:
                return None
            if isinstance(m, dict) and m.get("method") == method:
                return m

    def close(self):
        # Ending the session ends its stream on the replica (and unblocks the reader thread); closing the
        # httpx response from this thread would not interrupt a blocked read.
        try:
            httpx.delete(self.url + "/mcp", headers=mcp_headers(self.session), timeout=5)
        except httpx.HTTPError:
            pass
        self.thread.join(3)
        for closer in (getattr(self._response, "close", None), self.client.close):
            try:
                if closer:
                    closer()
            except Exception:
                pass


# ---------------------------------------------------------------------------------------------------
# tests (in this order: the Redis outages come last)

def test_register_on_a_reaches_b_and_c(cluster, downstream):
    name = unique_name("rep-basic")
    version = register(cluster, 0, name, downstream.url)
    wait_version(cluster, [1, 2], version)
    wait_version(cluster, [0], version)  # (read-your-writes on A right at the 201 is test_admin.py's business)
    assert_tool_everywhere(cluster, [0, 1, 2], f"{name}__echo")
    for i in range(3):
        h = health(cluster.replicas[i])
        assert h["storedVersion"] >= version, f"replica {i + 1}: {h}"
        assert h["redis"]["state"] == "up" and h["storage"]["state"] == "up", f"replica {i + 1}: {h}"


def test_a_change_is_a_delta_on_every_replica(cluster, downstream):
    """DESIGN.md: a replica whose snapshot holds the event's `previous` version applies the change as a
    delta (one service's row), not a full reload; the replica that made the change too (it hears of it
    twice: locally and through Redis)."""
    # settle: nothing pending from earlier tests
    time.sleep(0.6)
    offsets = [cluster.log_size(i) for i in range(3)]
    name = unique_name("rep-delta")
    version = register(cluster, 0, name, downstream.url)
    wait_version(cluster, [0, 1, 2], version)
    time.sleep(0.6)  # longer than VERSION_CHECK_INTERVAL: a redundant reload would have happened by now
    problems = []
    for i in range(3):
        lines = cluster.log_since(i, offsets[i])
        deltas = [ln for ln in lines if "index delta applied" in ln and f"service={name}" in ln]
        reloads = [ln for ln in lines if "index reloaded" in ln]
        # A (i == 0) reached the version (wait_version) and may patch its own change in without the debug
        # line; B and C hear of it through Redis and log `index delta applied` (bench/replicas.sh reads it).
        if reloads or (i > 0 and not deltas):
            problems.append(f"replica {i + 1}{' (A, made the change)' if i == 0 else ''}: "
                            f"{len(deltas)} 'index delta applied service={name}' line(s), {len(reloads)} full "
                            f"reload(s); its index lines:\n    " +
                            "\n    ".join(ln for ln in lines if "index" in ln))
    assert not problems, (f"register {name} (version {version}) on replica 1 was not applied as one delta "
                          f"everywhere:\n" + "\n".join(problems))


def test_lb_session_works_on_every_replica(cluster, downstream):
    sid = initialize(cluster.lb)
    for i, url in enumerate(cluster.replicas):
        r = tools_list(url, sid)
        assert r.status_code == 200, f"session from the LB on replica {i + 1} ({url}): {describe(r)}"
        assert "result" in rpc_result(r), describe(r)
    # and through the load balancer, several times (round robin over all replicas)
    with httpx.Client(timeout=10) as h:
        for _ in range(6):
            r = tools_list(cluster.lb, sid, client=h)
            assert r.status_code == 200, f"tools/list through the LB: {describe(r)}"


def test_delete_session_on_one_replica_ends_it_everywhere(cluster):
    sid = initialize(cluster.lb)
    for i, url in enumerate(cluster.replicas):
        r = tools_list(url, sid)
        assert r.status_code == 200, f"replica {i + 1} before DELETE: {describe(r)}"
    r = httpx.delete(cluster.replicas[1] + "/mcp", headers=mcp_headers(sid), timeout=10)
    assert r.status_code in (200, 202, 204), f"DELETE /mcp on replica 2: {describe(r)}"
    r = tools_list(cluster.replicas[1], sid)
    assert r.status_code == 404, f"replica 2 still accepts the session it ended: {describe(r)}"
    for i in (0, 2):
        url = cluster.replicas[i]
        wait_for(f"replica {i + 1} ({url}) answers 404 for the session ended on replica 2",
                 lambda: tools_list(url, sid).status_code == 404, timeout=3.0, cluster=cluster)
    # a fresh initialize through the LB still works
    assert tools_list(cluster.lb, initialize(cluster.lb)).status_code == 200


def test_cancel_sent_to_another_replica_reaches_the_downstream(cluster, tmp_path_factory):
    """No sticky sessions: a handshake-era notifications/cancelled that lands on replica B still
    stops the call running on replica A (A hears of it through Redis) and reaches the downstream."""
    sse = Downstream(mode="sse", workdir=tmp_path_factory.mktemp("replicas-cancel"))
    try:
        name = unique_name("cancel")
        version = register(cluster, 0, name, sse.url)
        wait_version(cluster, range(len(cluster.replicas)), version)
        a, b = cluster.replicas[0], cluster.replicas[1]
        sid = initialize(a)

        def stats():
            return httpx.get(sse.base + "/_stats", timeout=5).json()["slow"]

        before = stats()
        call = {"jsonrpc": "2.0", "id": 77, "method": "tools/call",
                "params": {"name": f"{name}__slow", "arguments": {"seconds": 20}}}

        def run_call():
            try:
                httpx.post(a + "/mcp", headers=mcp_headers(sid), json=call, timeout=25)
            except httpx.HTTPError:
                pass  # a cancelled request gets no answer; the client gives up

        t = threading.Thread(target=run_call, daemon=True)
        t.start()
        wait_for("the slow call started on the downstream", lambda: stats()["started"] > before["started"],
                 timeout=5.0, cluster=cluster)
        r = httpx.post(b + "/mcp", headers=mcp_headers(sid), timeout=10, json={
            "jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 77, "reason": "test"}})
        assert r.status_code == 202, f"notifications/cancelled on replica 2: {describe(r)}"
        wait_for("the downstream saw the slow call cancelled", lambda: stats()["cancelled"] > before["cancelled"],
                 timeout=5.0, cluster=cluster)
        assert stats()["completed"] == before["completed"], "the cancelled call ran to completion"
    finally:
        sse.stop()


def test_listeners_on_every_replica_hear_changes_from_another(cluster, downstream):
    listeners = []
    try:
        for url in cluster.replicas:
            listeners.append(Listener(url, initialize(cluster.lb)))
        for ls in listeners:
            ls.wait_open()
        for i, url in enumerate(cluster.replicas):
            wait_for(f"replica {i + 1} /health listeners >= 1", lambda: health(url)["listeners"] >= 1,
                     cluster=cluster)
        for registrar, hearers in ((0, (1, 2)), (1, (0, 2))):
            for ls in listeners:
                ls.drain()
            name = unique_name(f"rep-listen{registrar}")
            version = register(cluster, registrar, name, downstream.url)
            for i in hearers:
                m = listeners[i].wait_method("notifications/tools/list_changed", PROPAGATION_TIMEOUT)
                assert m is not None, (
                    f"the GET /mcp listener on replica {i + 1} got no notifications/tools/list_changed within "
                    f"{PROPAGATION_TIMEOUT} s after a register on replica {registrar + 1} (version {version}); "
                    f"stream error={listeners[i].error!r}, replica health={health(cluster.replicas[i])}\n"
                    + cluster.logs_tail())
                assert m.get("jsonrpc") == "2.0" and "id" not in m, m
    finally:
        for ls in listeners:
            ls.close()


def test_pubsub_connection_killed_changes_still_arrive(cluster, downstream):
    killed = cluster.redis_cli("CLIENT", "KILL", "TYPE", "pubsub")
    assert killed.isdigit() and int(killed) >= 3, f"CLIENT KILL TYPE pubsub -> {killed!r} (one subscriber per replica)"
    name = unique_name("rep-killed")
    started = time.monotonic()
    version = register(cluster, 0, name, downstream.url)
    wait_version(cluster, [1, 2], version, timeout=5.0)
    elapsed = time.monotonic() - started
    assert_tool_everywhere(cluster, [1, 2], f"{name}__echo")
    # and the subscribers came back (the next change is a delta again)
    wait_for("3 pub/sub subscribers again", lambda: _numsub(cluster) >= 3, timeout=10.0, cluster=cluster)
    print(f"change reached B and C {elapsed * 1000:.0f} ms after the pub/sub connections were killed")


def _numsub(cluster: Cluster) -> int:
    out = cluster.redis_cli("PUBSUB", "NUMSUB", "mcp:registry:events").split()
    return int(out[1]) if len(out) == 2 and out[1].isdigit() else 0


def test_redis_restarted_empty_key_rewritten_and_pending_change_arrives(cluster, downstream):
    before = cluster.redis_cli("GET", VERSION_KEY)
    assert before.isdigit(), f"GET {VERSION_KEY} before the restart: {before!r}"
    cluster.services("redis-stop")
    try:
        for i, url in enumerate(cluster.replicas):
            wait_for(f"replica {i + 1} reports redis down", lambda: health(url)["redis"]["state"] != "up",
                     timeout=5.0, cluster=cluster)
        name = unique_name("rep-pending")
        version = register(cluster, 0, name, downstream.url, expect_redis="pending")
        assert version == cluster.psql.version(), "the stored version is not the one register returned"
    finally:
        cluster.services("redis-start")
    wait_for(f"Redis key {VERSION_KEY} rewritten to the stored version {version}",
             lambda: cluster.redis_cli("GET", VERSION_KEY) == str(version), timeout=PROPAGATION_TIMEOUT,
             cluster=cluster)
    wait_version(cluster, [0, 1, 2], version)
    assert_tool_everywhere(cluster, [0, 1, 2], f"{name}__echo")
    for i, url in enumerate(cluster.replicas):
        wait_for(f"replica {i + 1} reports redis up again", lambda: health(url)["redis"]["state"] == "up",
                 timeout=10.0, cluster=cluster)


def test_redis_stopped_tools_list_keeps_answering(cluster):
    sessions = [initialize(url) for url in cluster.replicas]
    cluster.services("redis-stop")
    try:
        for i, url in enumerate(cluster.replicas):
            wait_for(f"replica {i + 1} reports redis down", lambda: health(url)["redis"]["state"] != "up",
                     timeout=5.0, cluster=cluster)
        deadline = time.monotonic() + 1.5
        rounds = 0
        while time.monotonic() < deadline or rounds < 3:
            rounds += 1
            for i, url in enumerate(cluster.replicas):
                r = tools_list(url, sessions[i])
                assert r.status_code == 200, f"tools/list on replica {i + 1} with Redis down: {describe(r)}"
                assert rpc_result(r)["result"]["tools"], f"replica {i + 1} lost its tools with Redis down"
            time.sleep(0.1)
        # a new session too (signed, no store needed)
        sid = initialize(cluster.lb)
        for i, url in enumerate(cluster.replicas):
            r = tools_list(url, sid)
            assert r.status_code == 200, f"new session on replica {i + 1} with Redis down: {describe(r)}"
    finally:
        cluster.services("redis-start")
