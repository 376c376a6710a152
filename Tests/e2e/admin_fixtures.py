"""Helpers and fixtures for the admin-API end-to-end tests (Tests/e2e/test_admin.py).

* ``Downstream``      one ``servers/downstream.py`` process (``--port 0``), ``.url`` is its MCP endpoint.
* ``Admin``           a small httpx client for the admin routes (sends ``X-API-Key``).
* ``Psql`` / ``Sqlite`` read the registry tables through the ``psql`` / ``sqlite3`` command-line tools (no
                      Python driver needed), with the same registry queries (``RegistryDB``) on both.
* ``Backend`` / ``Storage`` which registry a gateway uses: ``postgres`` (the suite's PostgreSQL, with Redis)
                      or ``sqlite`` (``DATABASE_URL=sqlite:<file>``, no Redis: in-process invalidation).
* ``Resp``            a tiny raw-socket Redis client (commands and SUBSCRIBE), every read bounded.
* ``PrivateServices`` a private PostgreSQL + Redis from ``scripts/services.sh`` in its own /tmp folder,
                      for tests that stop one of them; always stopped and removed at the end.
* ``PlainHTTPServer`` an HTTP server that is not MCP (answers every request with a small HTML page).

Fixtures (imported into the test module): ``start_downstream`` (factory, per test),
``json_downstream`` / ``sse_downstream`` (one per module, basic tool set, never mutated),
``storage_env`` (the suite's PostgreSQL/Redis, from the environment scripts/test.sh exports),
``backend`` (module scope, parametrized by conftest's ``pytest_generate_tests``: ``postgres`` / ``sqlite``),
``storage`` (per test: the backend's gateway settings and a ``db`` reader; a fresh SQLite file per test),
``outage_services`` (one private PostgreSQL + Redis per module), ``plain_http_server``.
"""

from __future__ import annotations

import ctypes
import http.server
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOWNSTREAM = HERE / "servers" / "downstream.py"
SERVICES_SH = ROOT / "scripts" / "services.sh"
API_KEY = "test-key"  # what conftest.gateway_env gives every gateway

STORAGE_VARS = ("DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD", "DB_DATABASE", "REDIS_URL")


def unique_name(prefix: str) -> str:
    """A fresh service name (valid: lower-case, digits, dashes, <= 32 chars)."""
    prefix = prefix[:22].strip("-")
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _pdeathsig():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------------
# downstream MCP servers

class Downstream:
    """Tests/e2e/servers/downstream.py in a process of its own. With `tls=(cert, key, ca)` it serves
    https with that certificate and key; the helpers below then trust `ca`."""

    def __init__(self, *args: str, mode: str = "json", workdir: Path | None = None,
                 tls: tuple[str, str, str] | None = None, host: str = "127.0.0.1"):
        self.mode = mode
        self.args = ["--port", "0", "--mode", mode, *args]
        if tls is not None:
            self.args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        self.verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(tls[2])) if tls is not None else True
        fd, self.stderr_path = tempfile.mkstemp(prefix="downstream-", suffix=".log",
                                                dir=str(workdir) if workdir else None)
        self._err = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen([sys.executable, str(DOWNSTREAM), *self.args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._err, preexec_fn=_pdeathsig)
        self.port = self._wait_ready(20.0)
        self.base = f"{'https' if tls is not None else 'http'}://{host}:{self.port}"
        self.url = self.base + "/mcp"

    def _wait_ready(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
                for line in buf.splitlines():
                    if line.startswith(b"READY "):
                        return int(line.split()[1])
            if self.proc.poll() is not None:
                break
        self.stop()
        pytest.fail(f"downstream {' '.join(self.args)} did not print READY within {timeout} s "
                    f"(exit={self.proc.returncode}, stdout={buf!r})\n{self.log_text()[-3000:]}", pytrace=False)

    def log_text(self) -> str:
        try:
            self._err.flush()
        except ValueError:
            pass
        return Path(self.stderr_path).read_text(errors="replace")

    def set_tool_set(self, name: str) -> list[str]:
        r = httpx.post(f"{self.base}/_tool-set/{name}", timeout=5, verify=self.verify)
        assert r.status_code == 200, f"downstream refused tool set {name}: {r.status_code} {r.text}"
        return r.json()["tools"]

    def resource_updated(self, uri: str) -> None:
        """Makes the downstream announce an update of `uri` (to subscriptions/listen streams)."""
        r = httpx.post(f"{self.base}/_resource-updated", params={"uri": uri}, timeout=10, verify=self.verify)
        r.raise_for_status()

    def stats(self) -> dict:
        return httpx.get(f"{self.base}/_stats", timeout=5, verify=self.verify).json()

    def reset_stats(self) -> None:
        httpx.post(f"{self.base}/_stats/reset", timeout=5, verify=self.verify).raise_for_status()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        if not self._err.closed:
            self._err.close()


@pytest.fixture
def start_downstream(tmp_path):
    """Factory: start_downstream(*extra_args, mode="json") -> Downstream; all stopped after the test."""
    started: list[Downstream] = []

    def start(*args: str, mode: str = "json") -> Downstream:
        d = Downstream(*args, mode=mode, workdir=tmp_path)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


@pytest.fixture(scope="module")
def json_downstream(tmp_path_factory):
    """Stateless JSON downstream, basic tool set. Shared by the module: tests must not change it."""
    d = Downstream(mode="json", workdir=tmp_path_factory.mktemp("json-downstream"))
    yield d
    d.stop()


@pytest.fixture(scope="module")
def sse_downstream(tmp_path_factory):
    """Stateful SSE downstream, basic tool set. Shared by the module: tests must not change it."""
    d = Downstream(mode="sse", workdir=tmp_path_factory.mktemp("sse-downstream"))
    yield d
    d.stop()


# ---------------------------------------------------------------------------------------------------
# a server that speaks HTTP but not MCP

class _PlainHandler(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = b"<html><body>hello, I am not an MCP server</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):  # quiet
        pass


class PlainHTTPServer:
    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PlainHandler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def plain_http_server():
    s = PlainHTTPServer()
    yield s
    s.stop()


# ---------------------------------------------------------------------------------------------------
# the admin API

class Admin:
    def __init__(self, base_url: str, key: str | None = API_KEY, timeout: float = 20.0):
        self.base = base_url
        self.key = key
        self.client = httpx.Client(base_url=base_url, timeout=timeout)

    def _headers(self, extra: dict | None = None, key: str | None = "__default__") -> dict:
        h = {}
        k = self.key if key == "__default__" else key
        if k is not None:
            h["X-API-Key"] = k
        h.update(extra or {})
        return h

    def request(self, method: str, path: str, *, json_body=None, content: bytes | str | None = None,
                headers: dict | None = None, key: str | None = "__default__") -> httpx.Response:
        extra = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body)
            extra.setdefault("Content-Type", "application/json")
        return self.client.request(method, path, content=content, headers=self._headers(extra, key))

    def register(self, name: str, url: str, **kw) -> httpx.Response:
        return self.request("POST", "/register", json_body={"name": name, "url": url}, **kw)

    def update(self, name: str, url: str | None = None, **kw) -> httpx.Response:
        body = None if url is None else {"url": url}
        return self.request("PUT", f"/update/{name}", json_body=body, **kw)

    def delete(self, name: str, **kw) -> httpx.Response:
        return self.request("DELETE", f"/delete/{name}", **kw)

    def services(self, **kw) -> httpx.Response:
        return self.request("GET", "/services", **kw)

    def service(self, name: str, **kw) -> httpx.Response:
        return self.request("GET", f"/services/{name}", **kw)

    def health(self) -> dict:
        r = self.client.get("/health")
        assert r.status_code == 200, f"GET /health -> {r.status_code} {r.text}"
        return r.json()

    def close(self):
        self.client.close()


def wait_storage_ready(url: str, timeout: float = 15.0, redis: bool = True) -> dict:
    """Polls GET /health until storage is "up" (migrations applied, index loaded) and, with `redis`,
    Redis is "up": the gateway answers /health before then, and admin routes answer 503 meanwhile."""
    deadline = time.monotonic() + timeout
    h = None
    while time.monotonic() < deadline:
        try:
            h = httpx.get(url + "/health", timeout=2).json()
            if h.get("storage", {}).get("state") == "up" and (not redis or h.get("redis", {}).get("state") == "up"):
                return h
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.05)
    pytest.fail(f"gateway {url}: storage/Redis not up within {timeout} s: last /health {h}", pytrace=False)


def describe(r: httpx.Response) -> str:
    req = r.request
    body = req.content[:300] if req.content else b""
    return (f"{req.method} {req.url.path} (body {body!r}, content-type {req.headers.get('content-type')!r}) -> "
            f"{r.status_code} {r.headers.get('content-type')!r} {r.text[:500]!r}")


def error_problem(r: httpx.Response, status: int, code: str) -> str | None:
    """None when `r` is the documented error (status, JSON {"error":{"code","message"}}), else why not."""
    if r.status_code != status:
        return f"expected {status} {code}: {describe(r)}"
    ctype = (r.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return f"error is not application/json: {describe(r)}"
    try:
        body = r.json()
    except ValueError:
        return f"error body is not JSON: {describe(r)}"
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or err.get("code") != code:
        return f"expected error code {code!r}: {describe(r)}"
    if not isinstance(err.get("message"), str) or not err["message"].strip():
        return f"error has no message: {describe(r)}"
    return None


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    problem = error_problem(r, status, code)
    assert problem is None, problem


# ---------------------------------------------------------------------------------------------------
# the registry tables, through psql or the sqlite3 CLI

class RegistryDB:
    """Read access to the registry tables (services, service_tools, registry_version) of one backend.
    Subclasses give `rows` and the few queries whose SQL differs (PostgreSQL: tools is jsonb[];
    SQLite: tools is a JSON array in a TEXT column)."""

    kind = "?"

    def rows(self, sql: str, timeout: float = 10.0) -> list[list[str]]:
        raise NotImplementedError

    def value(self, sql: str) -> str | None:
        r = self.rows(sql)
        return r[0][0] if r else None

    @staticmethod
    def lit(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    @staticmethod
    def _flag(v: str) -> bool:
        """A boolean column as the CLI prints it: psql t/f, sqlite3 1/0."""
        if v in ("t", "1"):
            return True
        if v in ("f", "0"):
            return False
        raise AssertionError(f"not a boolean: {v!r}")

    # registry-specific queries
    def service_rows(self, name: str) -> list[dict]:
        """Every services row with that name (live and deleted), oldest first."""
        rows = self.rows(
            "SELECT id, url, deleted_at IS NOT NULL, created_at, updated_at FROM services "
            f"WHERE name = {self.lit(name)} ORDER BY id")
        return [{"id": int(r[0]), "url": r[1], "deleted": self._flag(r[2]), "created_at": r[3], "updated_at": r[4]}
                for r in rows]

    TOOL_ROWS_SQL = ""  # id, deleted, number of tools, JSON array of their names in order; {sid} = service id

    def tool_rows(self, service_id: int) -> list[dict]:
        """Every service_tools row of a service: id, deleted, number of tools, their names in order."""
        rows = self.rows(self.TOOL_ROWS_SQL.format(sid=int(service_id)))
        return [{"id": int(r[0]), "deleted": self._flag(r[1]), "count": int(r[2]), "names": json.loads(r[3])}
                for r in rows]

    STORED_TOOLS_SQL = ""  # the live tools of the live service {name}, as one JSON array text

    def stored_tools_json(self, name: str) -> str | None:
        """The stored tool definitions of the live service `name` as JSON text (None: no such row)."""
        return self.value(self.STORED_TOOLS_SQL.format(name=self.lit(name)))

    def version(self) -> int:
        return int(self.value("SELECT version FROM registry_version WHERE id = 1"))


class Psql(RegistryDB):
    kind = "postgres"
    TOOL_ROWS_SQL = (
        "SELECT t.id, t.deleted_at IS NOT NULL, COALESCE(array_length(t.tools, 1), 0), "
        "COALESCE((SELECT json_agg(x->>'name' ORDER BY i) FROM unnest(t.tools) WITH ORDINALITY u(x, i)), '[]') "
        "FROM service_tools t WHERE t.service_id = {sid} ORDER BY t.id")
    STORED_TOOLS_SQL = (
        "SELECT array_to_json(t.tools)::text FROM service_tools t JOIN services s ON s.id = t.service_id "
        "WHERE s.name = {name} AND s.deleted_at IS NULL AND t.deleted_at IS NULL")

    def __init__(self, env: dict[str, str]):
        self.env = env
        pg_bin = env.get("PG_BIN") or "/usr/lib/postgresql/15/bin"
        cand = Path(pg_bin) / "psql"
        self.psql = str(cand) if cand.exists() else (shutil.which("psql") or "/usr/bin/psql")

    def rows(self, sql: str, timeout: float = 10.0) -> list[list[str]]:
        penv = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        penv.update({"PGPASSWORD": self.env["DB_PASSWORD"], "PGCONNECT_TIMEOUT": "5"})
        cmd = [self.psql, "-X", "-q", "-At", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
               "-h", self.env["DB_HOST"], "-p", str(self.env["DB_PORT"]),
               "-U", self.env["DB_USERNAME"], "-d", self.env["DB_DATABASE"], "-c", sql]
        p = subprocess.run(cmd, capture_output=True, text=True, env=penv, timeout=timeout)
        if p.returncode != 0:
            pytest.fail(f"psql failed ({p.returncode}) for {sql!r}: {p.stderr}", pytrace=False)
        out = p.stdout.rstrip("\n")
        return [line.split("\x1f") for line in out.split("\n")] if out else []


class Sqlite(RegistryDB):
    """The gateway's SQLite file, read with the sqlite3 CLI (Debian package sqlite3) while the gateway
    has it open (WAL: readers do not block the writer). Opened with mode=rw, so a missing file is an
    error instead of a new empty database."""

    kind = "sqlite"
    TOOL_ROWS_SQL = (
        "SELECT t.id, t.deleted_at IS NOT NULL, COALESCE(json_array_length(t.tools), 0), "
        "COALESCE((SELECT json_group_array(json_extract(e.value, '$.name')) FROM json_each(t.tools) e), '[]') "
        "FROM service_tools t WHERE t.service_id = {sid} ORDER BY t.id")
    STORED_TOOLS_SQL = (
        "SELECT t.tools FROM service_tools t JOIN services s ON s.id = t.service_id "
        "WHERE s.name = {name} AND s.deleted_at IS NULL AND t.deleted_at IS NULL")

    def __init__(self, path: Path):
        self.path = Path(path)
        self.sqlite3 = shutil.which("sqlite3") or "/usr/bin/sqlite3"

    def rows(self, sql: str, timeout: float = 10.0) -> list[list[str]]:
        if not Path(self.sqlite3).exists():
            pytest.fail("the sqlite3 command-line tool is missing (Debian package sqlite3: scripts/deps.sh)",
                        pytrace=False)
        if not self.path.exists():
            pytest.fail(f"no SQLite database at {self.path}: the gateway did not create it", pytrace=False)
        cmd = [self.sqlite3, "-batch", "-bail", "-noheader", "-list", "-separator", "\x1f", "-nullvalue", "",
               "-cmd", ".timeout 5000", f"file:{self.path}?mode=rw", sql]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0 or p.stderr.strip():
            pytest.fail(f"sqlite3 failed ({p.returncode}) for {sql!r} on {self.path}: {p.stderr}", pytrace=False)
        out = p.stdout.rstrip("\n")
        return [line.split("\x1f") for line in out.split("\n")] if out else []

    def journal_mode(self) -> str | None:
        return self.value("PRAGMA journal_mode")


# ---------------------------------------------------------------------------------------------------
# Redis over a raw socket (RESP2)

class RespError(Exception):
    pass


class Resp:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    @classmethod
    def from_url(cls, url: str, timeout: float = 5.0) -> "Resp":
        u = urlparse(url)
        return cls(u.port or 6379, u.hostname or "127.0.0.1", timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, *args) -> None:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("redis read timed out")
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self, deadline: float) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self, timeout: float = 5.0):
        return self._read(time.monotonic() + timeout)

    def _read(self, deadline: float):
        line = self._line(deadline)
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill(deadline)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(deadline) for _ in range(n)]
        raise RespError(f"unexpected RESP line {line!r}")

    def command(self, *args, timeout: float = 5.0):
        self.send(*args)
        return self.read(timeout)

    def subscribe(self, channel: str) -> None:
        reply = self.command("SUBSCRIBE", channel)
        assert reply[0] == "subscribe" and reply[1] == channel, reply

    def next_message(self, timeout: float):
        """The next published message's data on a subscribed connection, or None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                m = self._read(deadline)
            except (TimeoutError, socket.timeout):
                return None
            if isinstance(m, list) and m and m[0] == "message":
                return m[2]


def redis_get(url: str, key: str):
    c = Resp.from_url(url, timeout=2.0)
    try:
        return c.command("GET", key, timeout=2.0)
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------------
# storage

def read_env_file(path: Path) -> dict[str, str]:
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


@pytest.fixture(scope="session")
def storage_env() -> dict[str, str]:
    """The suite's PostgreSQL + Redis (scripts/test.sh exports them)."""
    return _suite_storage_env()


def _suite_storage_env() -> dict[str, str]:
    missing = [v for v in STORAGE_VARS if not os.environ.get(v)]
    if missing:
        pytest.fail(f"the PostgreSQL runs of the admin and /mcp tests need {', '.join(missing)}: run them "
                    f"through scripts/test.sh, or `scripts/services.sh start DIR && . DIR/env` (the [sqlite] "
                    f"runs need neither: -k sqlite)", pytrace=False)
    keys = STORAGE_VARS + ("PG_BIN", "SERVICES_DIR", "REDIS_PORT", "PG_PORT")
    return {k: os.environ[k] for k in keys if os.environ.get(k)}


class Backend:
    """A registry backend the admin and /mcp suites run against (the `backend` fixture's value).

    postgres: the suite's PostgreSQL and Redis (`start_gateway(with_storage=True)`); mutations answer
              "redis": "published" and /health shows Redis "up".
    sqlite:   an embedded SQLite file (DATABASE_URL=sqlite:<file>) and no REDIS_URL (in-process
              invalidation); mutations answer "redis": "disabled" and /health shows Redis "disabled".
    """

    def __init__(self, name: str):
        assert name in ("postgres", "sqlite"), name
        self.name = name
        self.has_redis = name == "postgres"
        self.redis_result = "published" if self.has_redis else "disabled"  # the "redis" field of a mutation
        self.redis_state = "up" if self.has_redis else "disabled"          # /health redis.state

    def __repr__(self) -> str:
        return f"Backend({self.name})"

    @property
    def pg_env(self) -> dict[str, str]:
        return _suite_storage_env()

    def storage(self, sqlite_path: Path) -> "Storage":
        """Where a gateway keeps its registry: the suite's PostgreSQL, or the SQLite file `sqlite_path`
        (one gateway process per file at a time: the gateway's own rule)."""
        if self.name == "postgres":
            env = self.pg_env
            return Storage(self, {"with_storage": True}, Psql(env), redis_url=env["REDIS_URL"])
        return Storage(self, {"DATABASE_URL": f"sqlite:{sqlite_path}"}, Sqlite(sqlite_path), sqlite_path=sqlite_path)


class Storage:
    """One registry: `gateway_env` are the keyword arguments for start_gateway / GatewayFactory, `db`
    reads its tables."""

    def __init__(self, backend: Backend, gateway_env: dict, db: RegistryDB, redis_url: str | None = None,
                 sqlite_path: Path | None = None):
        self.backend, self.gateway_env, self.db = backend, gateway_env, db
        self.redis_url, self.sqlite_path = redis_url, sqlite_path


@pytest.fixture(scope="module")
def backend(request) -> Backend:
    """"postgres" or "sqlite": conftest.pytest_generate_tests parametrizes every test that uses this."""
    return Backend(request.param)


@pytest.fixture
def storage(backend, tmp_path) -> Storage:
    """The test's registry: the suite's PostgreSQL (shared), or a fresh SQLite file of its own."""
    return backend.storage(tmp_path / "registry.db")


class PrivateServices:
    """PostgreSQL + Redis of its own (scripts/services.sh start in a fresh /tmp folder)."""

    def __init__(self):
        # /tmp explicitly: the postgres user must be able to reach the folder.
        self.dir = Path(tempfile.mkdtemp(prefix="mcp-admin-services.", dir="/tmp"))
        self._run("start", timeout=120)
        self.env = read_env_file(self.dir / "env")

    def _run(self, action: str, timeout: float = 90) -> None:
        p = subprocess.run(["bash", str(SERVICES_SH), action, str(self.dir)], capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            pytest.fail(f"scripts/services.sh {action} {self.dir} failed ({p.returncode}): {p.stderr}{p.stdout}",
                        pytrace=False)

    def gateway_env(self) -> dict[str, str]:
        return {k: self.env[k] for k in STORAGE_VARS}

    def pg_stop(self):
        self._run("pg-stop")

    def pg_start(self):
        self._run("pg-start")

    def redis_pid(self) -> int | None:
        try:
            return int((self.dir / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def redis_stop(self):
        # services.sh signals whatever pid redis.pid names; with pid_max 32768 and many processes, a
        # stale pid could name another process (e.g. the gateway under test). Refuse rather than kill it.
        pid = self.redis_pid()
        if pid is not None:
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                comm = None
            if comm is not None and not comm.startswith("redis-server"):
                pytest.fail(f"{self.dir}/redis.pid names pid {pid}, which is {comm!r}, not redis-server: "
                            f"not stopping it", pytrace=False)
        self._run("redis-stop")

    def redis_start(self):
        self._run("redis-start")

    def ensure_running(self):
        """Both PostgreSQL and Redis running again (same ports, same data); for finally blocks."""
        self._run("start", timeout=120)

    def destroy(self):
        try:
            subprocess.run(["bash", str(SERVICES_SH), "stop", str(self.dir)], capture_output=True, timeout=120)
        finally:
            if os.environ.get("KEEP_SERVICES_DIR") != "1":
                shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def outage_services():
    """A private PostgreSQL + Redis for the tests that stop one of them (shared by those tests: each
    starts its own gateway and restarts whatever it stopped in a finally). Stopped and removed at the
    end of the module, even after a failure or a half-finished start."""
    made: list[PrivateServices] = []
    s = PrivateServices.__new__(PrivateServices)
    made.append(s)
    try:
        PrivateServices.__init__(s)
        yield s
    finally:
        for x in made:
            if hasattr(x, "dir"):
                x.destroy()
