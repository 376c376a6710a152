"""Fixtures for the end-to-end suite: start the real `mcp-gateway` binary on a free port and talk to it.

    def test_x(start_gateway):
        gw = start_gateway(MAX_BODY_BYTES="1000")          # env overrides; None drops a variable
        gw.url, gw.port, gw.proc, gw.log_text()

    def test_y(gateway):                                    # one shared default gateway per module
        ...

    def test_z(start_gateway):
        gw = start_gateway(with_storage=True)               # PostgreSQL + Redis from scripts/services.sh

    def test_w(backend):                                    # runs twice: test_w[postgres], test_w[sqlite]
        ...                                                 # (the `backend` fixture: admin_fixtures.py)

    @pytest.mark.backends("postgres")                       # only test_v[postgres]
    def test_v(backend):
        ...

Environment: GATEWAY_BIN (default .build/debug/mcp-gateway); for with_storage=True, the variables that
`scripts/services.sh start DIR` writes to DIR/env (DB_*, REDIS_URL, SERVICES_DIR, ...).
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rawhttp import RawConn  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# Variables that must never leak from the developer's/CI environment into a gateway under test.
SCRUBBED = {
    "PORT", "HOST", "API_KEY", "NODE_ENV", "APP_ENV", "SESSION_SECRET", "LOG_LEVEL",
    "DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD", "DB_DATABASE", "DATABASE_URL", "REDIS_URL",
    "GATEWAY_TEST_ROUTES", "MAX_HEADER_BYTES", "MAX_BODY_BYTES", "REQUEST_TIMEOUT", "IDLE_TIMEOUT",
    "MAX_CONNECTIONS", "SHUTDOWN_TIMEOUT", "SQLITE_PATH",
}
STORAGE_VARS = ("DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD", "DB_DATABASE", "REDIS_URL")

CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGILL, signal.SIGBUS, signal.SIGTRAP, signal.SIGFPE}

DEFAULT_TEST_TIMEOUT = 90  # seconds; any single test that runs longer fails instead of hanging CI

# The registry backends a test that uses the `backend` fixture runs against (one run each).
BACKENDS = ("postgres", "sqlite")


# ---------------------------------------------------------------------------------------------------
# pytest plumbing

def pytest_configure(config):
    config.addinivalue_line("markers", "deadline(seconds): fail the test if it runs longer (default 90 s)")
    config.addinivalue_line("markers", "backends(*names): run only against these registry backends "
                                       "(default: all of BACKENDS)")


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc):
    """Every test that uses the `backend` fixture runs once per backend (module scope, so the module
    fixtures built on it are set up once per backend); the backend is the last part of the test id."""
    if "backend" not in metafunc.fixturenames:
        return
    m = metafunc.definition.get_closest_marker("backends")
    names = list(m.args) if m else list(BACKENDS)
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: backends{tuple(names)}: known are {BACKENDS}")
    metafunc.parametrize("backend", names, indirect=True, scope="module")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class TestDeadline(Exception):
    pass


@pytest.fixture(autouse=True)
def _deadline(request):
    """SIGALRM-based per-test time limit, so a socket or process wait can never hang the suite."""
    m = request.node.get_closest_marker("deadline")
    seconds = m.args[0] if m else DEFAULT_TEST_TIMEOUT

    def on_alarm(signum, frame):
        raise TestDeadline(f"test exceeded its {seconds} s deadline")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------------------------------
# ports

_used_ports: set[int] = set()


def _reserved_ports() -> set[int]:
    out = set()
    for v in ("PG_PORT", "REDIS_PORT", "DB_PORT"):
        if os.environ.get(v, "").isdigit():
            out.add(int(os.environ[v]))
    return out


def free_port() -> int:
    """A free TCP port on 127.0.0.1 in 30000-32767: below the ephemeral range (32768-60999), so no
    outgoing connection can take it, and above the 20000-30000 range scripts/services.sh uses, so a
    stopped PostgreSQL/Redis can always get its port back. Never hands out the same port twice."""
    reserved = _reserved_ports()
    for _ in range(500):
        p = random.randint(30000, 32767)
        if p in _used_ports or p in reserved:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        _used_ports.add(p)
        return p
    raise RuntimeError("no free port in 30000-32767")


# ---------------------------------------------------------------------------------------------------
# the gateway process

def _preexec(nofile: int | None):
    def fn():
        try:  # die with the test runner, even if it is SIGKILLed
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
        if nofile is not None:
            import resource
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))
    return fn


def gateway_env(port: int | None, overrides: dict, with_storage: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("PG")}
    base = {"HOST": "127.0.0.1", "API_KEY": "test-key", "GATEWAY_TEST_ROUTES": "1", "LOG_LEVEL": "debug"}
    if port is not None:
        base["PORT"] = str(port)
    env.update(base)
    if with_storage:
        missing = [v for v in STORAGE_VARS if not os.environ.get(v)]
        if missing:
            pytest.fail(f"with_storage=True needs {', '.join(missing)} in the environment: run the suite "
                        f"through scripts/test.sh, or `scripts/services.sh start DIR && . DIR/env`")
        env.update({v: os.environ[v] for v in STORAGE_VARS})
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


class Gateway:
    """One running `mcp-gateway serve`."""

    def __init__(self, binary: Path, workdir: Path, env: dict[str, str], port: int,
                 args=("serve",), nofile: int | None = None):
        self.binary, self.workdir, self.env, self.port = binary, workdir, env, port
        self.args = list(args)
        self.host = env.get("HOST", "127.0.0.1")
        self.url = f"http://{self.host}:{port}"
        self.stdout_path = workdir / "stdout.log"
        self.stderr_path = workdir / "stderr.log"
        self.signalled = False  # True once the test or the teardown sent a signal
        self.reported = False   # True once a failure about this process was raised
        workdir.mkdir(parents=True, exist_ok=True)
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), *self.args], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=self._out, stderr=self._err, preexec_fn=_preexec(nofile),
        )
        self.pid = self.proc.pid

    # logs
    def stdout_text(self) -> str:
        if not self._out.closed:  # stop() closes it; the log stays readable
            self._out.flush()
        return self.stdout_path.read_text(errors="replace")

    def stderr_text(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    def log_text(self) -> str:
        return self.stdout_text() + self.stderr_text()

    def log_tail(self, n: int = 60) -> str:
        out = self.stdout_text().splitlines()[-n:]
        err = self.stderr_text().splitlines()[-n:]
        return (f"--- gateway :{self.port} pid {self.pid} exit={self.proc.poll()} ---\n"
                f"--- stdout (last {n} lines) ---\n" + "\n".join(out) +
                f"\n--- stderr (last {n} lines) ---\n" + "\n".join(err) + "\n")

    # readiness
    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.reported = True
                pytest.fail(f"gateway exited with code {self.proc.returncode} before answering /health\n"
                            + self.log_tail(), pytrace=False)
            try:
                with RawConn(self.port, host=self.host, timeout=1.0) as c:
                    resp = c.request("GET", "/health", headers={"Connection": "close"})
                # Ready once storage has finished starting (migrations applied, index loaded).
                body = getattr(resp, "body", b"") or b""
                try:
                    state = json.loads(body).get("storage", {}).get("state")
                except ValueError:
                    state = None
                if state != "starting":
                    return
            except (OSError, AssertionError) as e:
                last_err = e
            time.sleep(0.05)
        self.reported = True
        pytest.fail(f"gateway did not answer GET /health within {timeout} s (last error: {last_err!r})\n"
                    + self.log_tail(), pytrace=False)

    # process state
    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM) -> None:
        self.signalled = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()
        self._err.close()
        return self.proc.returncode

    def _proc_status(self) -> dict[str, str]:
        out = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
        return out

    def rss_kb(self) -> int:
        return int(self._proc_status()["VmRSS"].split()[0])

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def thread_count(self) -> int:
        return int(self._proc_status()["Threads"])


class GatewayFactory:
    def __init__(self, binary: Path, basedir: Path):
        self.binary, self.basedir = binary, basedir
        self.gateways: list[Gateway] = []

    def __call__(self, with_storage: bool = False, wait: bool = True, args=("serve",),
                 port: int | None = None, nofile: int | None = None, **env) -> Gateway:
        port = port or free_port()
        workdir = self.basedir / f"gateway-{len(self.gateways)}-{port}"
        gw = Gateway(self.binary, workdir, gateway_env(port, env, with_storage), port, args, nofile)
        self.gateways.append(gw)
        if wait:
            gw.wait_ready()
        return gw

    def teardown(self, failed: bool) -> list[str]:
        problems = []
        for gw in self.gateways:
            if gw.proc.poll() is not None and not gw.signalled and not gw.reported and gw.proc.returncode != 0:
                problems.append(f"gateway on port {gw.port} died during the test "
                                f"(exit code {gw.proc.returncode})\n" + gw.log_tail())
            elif failed:
                print(gw.log_tail(), file=sys.stderr)
            rc = gw.stop(10.0)
            if rc is not None and -rc in CRASH_SIGNALS:
                # a crash while shutting down (a Swift trap is SIGILL/SIGTRAP)
                problems.append(f"gateway on port {gw.port} crashed with signal {-rc} on SIGTERM\n"
                                + gw.log_tail())
        return problems


# ---------------------------------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="session")
def gateway_bin() -> Path:
    p = Path(os.environ.get("GATEWAY_BIN", ROOT / ".build/debug/mcp-gateway"))
    if not p.is_absolute():
        p = ROOT / p
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"gateway binary not found or not executable: {p} (build it with `swift build`, "
                    f"or set GATEWAY_BIN)", pytrace=False)
    return p


@pytest.fixture
def start_gateway(gateway_bin, tmp_path, request):
    """Factory: start_gateway(with_storage=False, wait=True, nofile=None, **env) -> Gateway."""
    factory = GatewayFactory(gateway_bin, tmp_path)
    yield factory
    rep = getattr(request.node, "rep_call", None)
    problems = factory.teardown(failed=bool(rep and rep.failed))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def gateway(gateway_bin, tmp_path_factory):
    """One default-configured gateway shared by the tests of a module (no storage, test routes on)."""
    factory = GatewayFactory(gateway_bin, tmp_path_factory.mktemp("shared-gateway"))
    gw = factory()
    yield gw
    problems = factory.teardown(failed=False)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def run_gateway(gateway_bin, tmp_path):
    """Runs the binary to completion: run_gateway(*args, timeout=10, **env) -> CompletedProcess (text).
    The environment is the same as start_gateway's (PORT is a free port unless overridden)."""
    counter = [0]

    def run(*args, timeout: float = 10.0, with_storage: bool = False, **env):
        counter[0] += 1
        workdir = tmp_path / f"run-{counter[0]}"
        workdir.mkdir()
        full_env = gateway_env(free_port(), env, with_storage)
        try:
            return subprocess.run([str(gateway_bin), *args], cwd=workdir, env=full_env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, preexec_fn=_preexec(None))
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"`mcp-gateway {' '.join(args)}` did not exit within {timeout} s "
                        f"(stdout={e.stdout!r}, stderr={e.stderr!r})", pytrace=False)

    return run


@pytest.fixture(scope="session")
def services_dir() -> Path | None:
    """The folder scripts/services.sh set up (None when the suite runs without services)."""
    d = os.environ.get("SERVICES_DIR")
    return Path(d) if d else None


class Services:
    """Stops and restarts the private PostgreSQL / Redis of scripts/services.sh (same ports, same data)."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.script = ROOT / "scripts" / "services.sh"

    def _run(self, action: str) -> None:
        p = subprocess.run([str(self.script), action, str(self.dir)], capture_output=True, text=True, timeout=90)
        if p.returncode != 0:
            pytest.fail(f"scripts/services.sh {action} failed: {p.stderr}", pytrace=False)

    def pg_stop(self):
        self._run("pg-stop")

    def pg_start(self):
        self._run("pg-start")

    def redis_stop(self):
        self._run("redis-stop")

    def redis_start(self):
        self._run("redis-start")


@pytest.fixture
def services(services_dir):
    """Control of PostgreSQL/Redis for outage tests. Whatever a test stops is started again afterwards."""
    if services_dir is None:
        pytest.fail("this test needs PostgreSQL and Redis: run it through scripts/test.sh "
                    "(or `scripts/services.sh start DIR && . DIR/env`)", pytrace=False)
    s = Services(services_dir)
    yield s
    s.pg_start()
    s.redis_start()
