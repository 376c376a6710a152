"""Helpers and fixtures for the MCP-endpoint end-to-end tests (Tests/e2e/test_mcp.py).

* raw wire helpers (httpx): ``legacy_headers`` / ``modern_headers`` / ``modern_body``,
  ``parse_messages`` (a JSON body or an SSE stream -> JSON-RPC messages), ``final_message``,
  ``LegacySession`` (initialize + notifications/initialized, then requests with the session id),
  ``read_sse_until`` (reads a streaming SSE response until a predicate matches, bounded in time).
* SDK helpers: ``run`` (anyio.run), ``poll`` (a condition until it holds, bounded in time), ``tool_dump`` (a Tool / CallToolResult as a wire-shaped dict).
* module fixtures, once per ``backend`` (``postgres``: the suite's PostgreSQL + Redis; ``sqlite``: a SQLite
  file of the fixture's own, no Redis): ``mcp_gateway`` (one gateway), ``federation``
  (the json and sse downstreams registered on it under fresh names, deleted at the end),
  ``paged_gateway`` (TOOLS_PAGE_SIZE=3, with a ``--tools 10`` downstream registered), ``spare_downstream``
  (a json downstream the list_changed tests register under fresh names).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import anyio
import httpx
import pytest

from admin_fixtures import Admin, Backend, Downstream, describe, unique_name
from conftest import GatewayFactory

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
HANDSHAKE_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")
PV_KEY = "io.modelcontextprotocol/protocolVersion"
CAPS_KEY = "io.modelcontextprotocol/clientCapabilities"
ACCEPT_BOTH = "application/json, text/event-stream"
BASIC_TOOLS = ["echo", "add", "fail", "slow", "progress", "whoami"]
MODES = {"auto": MODERN, "legacy": LEGACY}

# every gateway of the module: short downstream timeouts so failures surface quickly
GATEWAY_ENV = {"DOWNSTREAM_CONNECT_TIMEOUT": "2", "DOWNSTREAM_TIMEOUT": "10", "DB_CONNECT_TIMEOUT": "2"}


# ---------------------------------------------------------------------------------------------------
# wire helpers

def legacy_headers(session_id: str | None = None, version: str | None = LEGACY, **extra: str) -> dict[str, str]:
    h = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"}
    if session_id is not None:
        h["Mcp-Session-Id"] = session_id
    if version is not None:
        h["MCP-Protocol-Version"] = version
    h.update(extra)
    return h


def modern_meta(version: str = MODERN) -> dict[str, Any]:
    return {PV_KEY: version, CAPS_KEY: {}}


def modern_body(rid: Any, method: str, params: dict | None = None, version: str = MODERN) -> dict[str, Any]:
    p = dict(params or {})
    p["_meta"] = {**modern_meta(version), **p.get("_meta", {})}
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": p}


def modern_headers(method: str, name: str | None = None, version: str = MODERN, **extra: str) -> dict[str, str]:
    h = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json", "MCP-Protocol-Version": version,
         "Mcp-Method": method}
    if name is not None:
        h["Mcp-Name"] = name
    h.update(extra)
    return h


def parse_sse(text: str) -> list[dict]:
    """The `data` payloads of an SSE body (events with empty data, and comments, are skipped)."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [ln[5:].lstrip(" ") if ln.startswith("data:") else None for ln in block.split("\n")]
        payload = "\n".join(d for d in data if d is not None)
        if payload.strip():
            out.append(json.loads(payload))
    return out


def parse_messages(r: httpx.Response) -> list[dict]:
    ctype = (r.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype == "text/event-stream":
        return parse_sse(r.text)
    if ctype == "application/json":
        body = r.json()
        return body if isinstance(body, list) else [body]
    raise AssertionError(f"response is neither JSON nor SSE: {describe(r)}")


def final_message(r: httpx.Response, rid: Any) -> dict:
    """The response (result or error) to request `rid` in a JSON or SSE answer."""
    msgs = [m for m in parse_messages(r) if isinstance(m, dict) and ("result" in m or "error" in m)]
    assert msgs, f"no JSON-RPC response in {describe(r)}"
    assert msgs[-1].get("id") == rid and type(msgs[-1].get("id")) is type(rid), \
        f"response id {msgs[-1].get('id')!r} is not the request id {rid!r}: {describe(r)}"
    return msgs[-1]


class LegacySession:
    """A handshake-era session over raw httpx (sync)."""

    def __init__(self, url: str, client: httpx.Client | None = None, version: str = LEGACY):
        self.url = url
        self.version = version
        self._own_client = client is None
        self.client = client or httpx.Client(timeout=20)
        self.session_id: str | None = None
        self.init_response: httpx.Response | None = None

    def open(self) -> "LegacySession":
        body = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": self.version, "capabilities": {},
                           "clientInfo": {"name": "e2e-raw", "version": "1"}}}
        r = self.client.post(self.url, json=body, headers=legacy_headers(version=None))
        self.init_response = r
        assert r.status_code == 200, f"initialize: {describe(r)}"
        self.session_id = r.headers.get("mcp-session-id")
        assert self.session_id, f"initialize answered without Mcp-Session-Id: {describe(r)}"
        m = final_message(r, 0)
        assert m.get("result", {}).get("protocolVersion") == self.version, f"initialize: {m}"
        r = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert r.status_code == 202, f"notifications/initialized: {describe(r)}"
        return self

    def headers(self, **extra: str) -> dict[str, str]:
        return legacy_headers(self.session_id, self.version, **extra)

    def post(self, body: Any, headers: dict | None = None, **kw) -> httpx.Response:
        h = self.headers()
        h.update(headers or {})
        content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client.post(self.url, content=content, headers=h, **kw)

    def request(self, rid: Any, method: str, params: dict | None = None) -> tuple[httpx.Response, dict]:
        body = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            body["params"] = params
        r = self.post(body)
        assert r.status_code == 200, f"{method}: {describe(r)}"
        return r, final_message(r, rid)

    def delete(self) -> httpx.Response:
        return self.client.delete(self.url, headers=self.headers())

    def close(self) -> None:
        try:
            if self.session_id:
                self.delete()
        except httpx.HTTPError:
            pass
        if self._own_client:
            self.client.close()


def read_sse_until(resp: httpx.Response, pred: Callable[[dict], bool], timeout: float) -> tuple[dict | None, list]:
    """Reads SSE events from a streaming response until pred(message) holds; (match or None, all seen)."""
    seen: list = []
    deadline = time.monotonic() + timeout
    data: list[str] = []
    try:
        for line in resp.iter_lines():
            if line == "":
                payload = "\n".join(data)
                data = []
                if payload.strip():
                    msg = json.loads(payload)
                    seen.append(msg)
                    if pred(msg):
                        return msg, seen
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
            if time.monotonic() > deadline:
                break
    except httpx.ReadTimeout:
        pass
    return None, seen


# ---------------------------------------------------------------------------------------------------
# SDK helpers

async def next_event(sub: Any, kind: type, seconds: float) -> Any:
    """The next event of `kind` on an SDK subscription (Client.listen), or None after `seconds`."""
    with anyio.move_on_after(seconds):
        async for ev in sub:
            if isinstance(ev, kind):
                return ev
    return None


def poll(fn: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """fn() until truthy or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def run(fn: Callable, *args: Any) -> Any:
    return anyio.run(fn, *args)


def tool_dump(model: Any) -> dict:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


# ---------------------------------------------------------------------------------------------------
# module fixtures

@dataclass
class Federation:
    gw: Any
    admin: Admin
    json_ds: Downstream
    sse_ds: Downstream
    json_name: str
    sse_name: str
    direct_tools: dict[str, dict[str, dict]] = field(default_factory=dict)  # service -> tool -> definition

    @property
    def url(self) -> str:
        return self.gw.url + "/mcp"

    def ds(self, which: str) -> Downstream:
        return self.json_ds if which == "json" else self.sse_ds

    def svc(self, which: str) -> str:
        return self.json_name if which == "json" else self.sse_name

    def tool(self, which: str, tool: str) -> str:
        return f"{self.svc(which)}__{tool}"


def _check_backend(gw, backend: Backend) -> None:
    """The gateway really runs on the backend the test id names."""
    h = httpx.get(gw.url + "/health", timeout=5).json()
    assert h.get("storage", {}).get("kind") == backend.name and h["storage"].get("state") == "up", \
        f"gateway for the {backend.name} run reports storage {h.get('storage')}\n{gw.log_tail()}"


def _teardown(factory: GatewayFactory) -> None:
    problems = factory.teardown(failed=False)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def mcp_gateway(gateway_bin, tmp_path_factory, backend: Backend):
    """One gateway for the whole module (per backend): the suite's PostgreSQL + Redis, or a SQLite file."""
    tmp = tmp_path_factory.mktemp(f"mcp-gateway-{backend.name}")
    storage = backend.storage(tmp / "registry.db")
    factory = GatewayFactory(gateway_bin, tmp)
    try:
        gw = factory(**storage.gateway_env, **GATEWAY_ENV)
        _check_backend(gw, backend)
        yield gw
    finally:
        _teardown(factory)


async def _direct_listing(url: str) -> dict[str, dict]:
    from mcp import Client
    async with Client(url, mode="legacy", cache=None) as c:
        return {t.name: tool_dump(t) for t in (await c.list_tools()).tools}


@pytest.fixture(scope="module")
def federation(mcp_gateway, json_downstream, sse_downstream):
    admin = Admin(mcp_gateway.url)
    jn, sn = unique_name("mcpj"), unique_name("mcps")
    for name, ds in ((jn, json_downstream), (sn, sse_downstream)):
        r = admin.register(name, ds.url)
        assert r.status_code == 201, f"register {name}: {describe(r)}\n{mcp_gateway.log_tail()}"
    fed = Federation(mcp_gateway, admin, json_downstream, sse_downstream, jn, sn)
    fed.direct_tools = {jn: run(_direct_listing, json_downstream.url), sn: run(_direct_listing, sse_downstream.url)}
    yield fed
    for name in (jn, sn):
        try:
            admin.delete(name)
        except httpx.HTTPError:
            pass
    admin.close()


@dataclass
class Paged:
    gw: Any
    admin: Admin
    ds: Downstream
    name: str

    @property
    def url(self) -> str:
        return self.gw.url + "/mcp"


@pytest.fixture(scope="module")
def paged_gateway(gateway_bin, tmp_path_factory, backend: Backend):
    """A gateway with TOOLS_PAGE_SIZE=3 and a downstream with 16 tools (basic + t0..t9) registered."""
    tmp = tmp_path_factory.mktemp(f"paged-{backend.name}")
    storage = backend.storage(tmp / "registry.db")
    ds = Downstream("--tools", "10", mode="json", workdir=tmp)
    factory = GatewayFactory(gateway_bin, tmp)
    try:
        gw = factory(**storage.gateway_env, TOOLS_PAGE_SIZE="3", **GATEWAY_ENV)
        _check_backend(gw, backend)
        admin = Admin(gw.url)
        name = unique_name("mcppg")
        r = admin.register(name, ds.url)
        assert r.status_code == 201, f"register {name}: {describe(r)}\n{gw.log_tail()}"
        yield Paged(gw, admin, ds, name)
        try:
            admin.delete(name)
        except httpx.HTTPError:
            pass
        admin.close()
    finally:
        _teardown(factory)
        ds.stop()


@pytest.fixture(scope="module")
def spare_downstream(tmp_path_factory):
    d = Downstream(mode="json", workdir=tmp_path_factory.mktemp("spare-downstream"))
    yield d
    d.stop()


@pytest.fixture(autouse=True)
def _gateway_logs_on_failure(request):
    """On a failed test, print the tail of the module gateways' logs (captured into the report)."""
    yield
    rep = getattr(request.node, "rep_call", None)
    if not (rep and rep.failed):
        return
    for fx in ("mcp_gateway", "paged_gateway"):
        if fx in request.fixturenames:
            obj = request.getfixturevalue(fx)
            gw = getattr(obj, "gw", obj)
            print(gw.log_tail(80), file=sys.stderr)
