"""End-to-end tests of the MCP endpoint (`/mcp`) against the real binary, on both registry backends:
every test runs twice, `test_x[...-postgres]` (PostgreSQL + Redis) and `test_x[...-sqlite]` (an embedded
SQLite file, no REDIS_URL: in-process invalidation); the module gateways are set up once per backend.

One gateway and two downstream servers (a stateless JSON one and a stateful SSE one, see
servers/downstream.py) are shared by the module; tests that need special settings (page size, call
timeout, allowed origins) start gateways of their own. The official MCP Python SDK client is used in
both of its connection modes: ``Client(url)`` ("auto": probes ``server/discover`` and must end up on
2026-07-28) and ``Client(url, mode="legacy")`` (the initialize handshake, 2025-11-25). The negotiated
version is read from ``Client.protocol_version`` (``ClientSession.protocol_version``, set by
``initialize`` / ``server/discover`` -> ``adopt`` during ``__aenter__``). The HTTP-level contract (status
codes, error codes, sessions, Origin, headers) is checked with raw httpx requests.

The suite's PostgreSQL/Redis are shared with other modules: service names are fresh, and listings
are checked for inclusion, never for equality with a fixed set.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import time
import uuid

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.subscriptions import ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types import ToolListChangedNotification

from admin_fixtures import (  # noqa: F401  (fixtures are used by name)
    Admin,
    backend,
    describe,
    json_downstream,
    sse_downstream,
    start_downstream,
    storage,
    unique_name,
)
from mcp_fixtures import (  # noqa: F401  (fixtures are used by name)
    ACCEPT_BOTH,
    BASIC_TOOLS,
    GATEWAY_ENV,
    LEGACY,
    MODERN,
    MODES,
    PV_KEY,
    CAPS_KEY,
    LegacySession,
    _gateway_logs_on_failure,
    federation,
    final_message,
    legacy_headers,
    mcp_gateway,
    modern_body,
    next_event,
    modern_headers,
    paged_gateway,
    poll,
    read_sse_until,
    run,
    spare_downstream,
    tool_dump,
)

BOTH_MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])
BOTH_DS = pytest.mark.parametrize("which", ["json", "sse"])


def client(url: str, mode: str, **kw) -> Client:
    return Client(url, mode=mode, cache=None, **kw)


async def list_all(c: Client, cap: int = 100) -> tuple[list, list[int]]:
    """Every tool following nextCursor; (tools, size of each page)."""
    tools, sizes, cursor = [], [], None
    for _ in range(cap):
        page = await c.list_tools(cursor=cursor)
        tools += page.tools
        sizes.append(len(page.tools))
        cursor = page.next_cursor
        if cursor is None:
            return tools, sizes
    raise AssertionError(f"tools/list did not end within {cap} pages")


# ---------------------------------------------------------------------------------------------------
# SDK client, both modes

@BOTH_MODES
def test_sdk_negotiates_expected_version(federation, mode):
    async def go():
        async with client(federation.url, mode) as c:
            return c.protocol_version, c.server_info, c.session.discover_result, c.session.initialize_result

    version, info, discovered, initialized = run(go)
    assert version == MODES[mode], f"Client(mode={mode!r}) negotiated {version!r}, expected {MODES[mode]!r}"
    assert info is not None and info.name, f"server info missing: {info!r}"
    if mode == "auto":  # server/discover answered: no fallback to initialize
        assert discovered is not None and initialized is None, (discovered, initialized)
        assert MODERN in discovered.supported_versions, discovered
    else:
        assert initialized is not None and discovered is None, (discovered, initialized)


@BOTH_MODES
def test_list_tools_federated_definitions_carried(federation, mode):
    async def go():
        async with client(federation.url, mode) as c:
            return c.protocol_version, (await list_all(c))[0]

    version, tools = run(go)
    assert version == MODES[mode]
    by_name = {t.name: tool_dump(t) for t in tools}
    assert len(by_name) == len(tools), f"duplicate tool names in the listing: {[t.name for t in tools]}"
    for svc, direct in federation.direct_tools.items():
        assert sorted(direct) == sorted(BASIC_TOOLS), direct.keys()
        for tool, definition in direct.items():
            fed = f"{svc}__{tool}"
            assert fed in by_name, f"{fed} missing from tools/list ({mode}): {sorted(by_name)}"
            got = {k: v for k, v in by_name[fed].items() if k != "name"}
            want = {k: v for k, v in definition.items() if k != "name"}
            assert got == want, f"{fed}: definition not carried through unchanged ({mode})\n got {got}\nwant {want}"
        # the fields the brief names explicitly
        add = by_name[f"{svc}__add"]
        assert add.get("description") and add.get("inputSchema", {}).get("type") == "object"
        assert add.get("outputSchema", {}).get("properties", {}).get("result"), add
        assert "outputSchema" not in by_name[f"{svc}__echo"], by_name[f"{svc}__echo"]


@BOTH_MODES
@BOTH_DS
def test_call_echo_on_each_downstream(federation, mode, which):
    text = f"héllo {which} {mode} ✓"

    async def go():
        async with client(federation.url, mode) as c:
            return await c.call_tool(federation.tool(which, "echo"), {"text": text})

    r = run(go)
    assert not r.is_error, r
    assert [(b.type, b.text) for b in r.content] == [("text", text)], r
    stats = federation.ds(which).stats()
    assert stats["last_call_params"]["name"] == "echo" and stats["last_call_arguments"] == {"text": text}, stats


@BOTH_MODES
@BOTH_DS
def test_structured_output_passthrough(federation, mode, which):
    async def go():
        async with client(federation.url, mode) as c:
            via_gw = await c.call_tool(federation.tool(which, "add"), {"a": 20, "b": 22})
        async with Client(federation.ds(which).url, mode="legacy", cache=None) as d:
            direct = await d.call_tool("add", {"a": 20, "b": 22})
        return via_gw, direct

    via_gw, direct = run(go)
    assert via_gw.structured_content == {"result": 42}, tool_dump(via_gw)
    assert not via_gw.is_error
    got = {k: v for k, v in tool_dump(via_gw).items() if k in ("content", "structuredContent", "isError")}
    want = {k: v for k, v in tool_dump(direct).items() if k in ("content", "structuredContent", "isError")}
    assert got == want, f"result not passed through unchanged:\n got {got}\nwant {want}"


@BOTH_MODES
@BOTH_DS
def test_is_error_passthrough(federation, mode, which):
    async def go():
        async with client(federation.url, mode) as c:
            return await c.call_tool(federation.tool(which, "fail"), {"message": "kaboom-" + which})

    r = run(go)
    assert r.is_error is True, tool_dump(r)
    assert r.content and "kaboom-" + which in r.content[0].text, tool_dump(r)


@BOTH_MODES
@BOTH_DS
def test_progress_callback(federation, mode, which):
    seen: list = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async def go():
        async with client(federation.url, mode) as c:
            return await c.call_tool(federation.tool(which, "progress"), {"steps": 4, "delay": 0.02},
                                     progress_callback=on_progress)

    r = run(go)
    assert not r.is_error and r.content[0].text == "done", tool_dump(r)
    if which == "sse":
        assert seen == [(float(i), 4.0, f"step {i}/4") for i in range(1, 5)], \
            f"progress notifications from the SSE downstream not relayed ({mode}): {seen}"
    else:
        # a stateless JSON-response downstream cannot send progress at all; nothing may be invented
        assert all(t == 4.0 for _, t, _ in seen), seen


@BOTH_MODES
@BOTH_DS
def test_slow_call_cancelled_by_client(federation, mode, which):
    ds = federation.ds(which)
    before = ds.stats()

    async def go():
        async with client(federation.url, mode) as c:
            t0 = time.monotonic()
            with anyio.move_on_after(0.7) as scope:
                await c.call_tool(federation.tool(which, "slow"), {"seconds": 20})
            elapsed = time.monotonic() - t0
            # the gateway keeps serving this client after the cancellation
            echo = await c.call_tool(federation.tool(which, "echo"), {"text": "after-cancel"})
            return scope.cancelled_caught, elapsed, echo

    cancelled, elapsed, echo = run(go)
    assert cancelled and elapsed < 5, (cancelled, elapsed)
    assert echo.content[0].text == "after-cancel", tool_dump(echo)

    def started():
        return ds.stats()["slow"]["started"] > before["slow"]["started"]

    assert poll(started, 5), f"slow call never reached the {which} downstream: {ds.stats()}"
    if which == "sse":
        # the stateful downstream can act on notifications/cancelled: the sleep must end cancelled
        def cancelled_downstream():
            s = ds.stats()
            return s if s["slow"]["cancelled"] > before["slow"]["cancelled"] else None

        s = poll(cancelled_downstream, 8)
        assert s, f"client cancelled ({mode}) but the sse downstream's slow tool was not cancelled: {ds.stats()}"
    else:
        # a stateless downstream cannot correlate a later notification with the request; the gateway must
        # still tell it (notifications/cancelled), i.e. forward the cancellation
        def notified():
            s = ds.stats()
            return s["methods"].get("notifications/cancelled", 0) > before["methods"].get("notifications/cancelled", 0)

        assert poll(notified, 8), f"no notifications/cancelled reached the json downstream ({mode}): {ds.stats()}"


@BOTH_MODES
def test_unknown_tool_is_invalid_params(federation, mode):
    async def go(name):
        async with client(federation.url, mode) as c:
            try:
                r = await c.call_tool(name, {})
            except MCPError as e:
                return e
            return r

    for name in ("nosuchservice__echo", federation.tool("json", "no_such_tool"), "plainname"):
        e = run(go, name)
        assert isinstance(e, MCPError), f"{name}: expected a JSON-RPC error, got a result {tool_dump(e)}"
        assert e.code == -32602, f"{name}: code {e.code} ({e.message})"


# ---------------------------------------------------------------------------------------------------
# pagination (TOOLS_PAGE_SIZE=3)

@BOTH_MODES
def test_pagination_sdk_cursor_loop(paged_gateway, mode):
    # the loop guard follows the registry's size: on postgres it holds every module's services
    total = httpx.get(paged_gateway.gw.url + "/health", timeout=5).json()["tools"]
    cap = math.ceil(total / 3) + 2

    async def go():
        async with client(paged_gateway.url, mode) as c:
            return c.protocol_version, await list_all(c, cap)

    version, (tools, sizes) = run(go)
    assert version == MODES[mode]
    names = [t.name for t in tools]
    assert len(names) == len(set(names)), f"a tool appears on two pages: {names}"
    want = {f"{paged_gateway.name}__{t}" for t in BASIC_TOOLS + [f"t{i}" for i in range(10)]}
    assert want <= set(names), f"missing after paging: {sorted(want - set(names))}"
    assert all(s <= 3 for s in sizes), f"page sizes {sizes} exceed TOOLS_PAGE_SIZE=3"
    assert len(sizes) >= math.ceil(len(names) / 3), f"{len(names)} tools in {len(sizes)} pages: {sizes}"
    # generated tools keep their definitions
    t7 = next(t for t in tools if t.name == f"{paged_gateway.name}__t7")
    assert t7.description and t7.description.startswith("Generated tool number 7."), tool_dump(t7)


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_pagination_raw_next_cursor(paged_gateway, era):
    with httpx.Client(timeout=10) as h:
        if era == "legacy":
            s = LegacySession(paged_gateway.url, h).open()

            def page(rid, cursor):
                _, m = s.request(rid, "tools/list", {"cursor": cursor} if cursor is not None else None)
                return m
        else:
            def page(rid, cursor):
                params = {"cursor": cursor} if cursor is not None else {}
                r = h.post(paged_gateway.url, json=modern_body(rid, "tools/list", params),
                           headers=modern_headers("tools/list"))
                assert r.status_code == 200, describe(r)
                return final_message(r, rid)

        first = page(1, None)
        res = first.get("result")
        assert res is not None, first
        assert len(res["tools"]) == 3, f"first page has {len(res['tools'])} tools, TOOLS_PAGE_SIZE=3: {res}"
        assert isinstance(res.get("nextCursor"), str), f"no nextCursor on a first page of many: {res}"
        if era == "modern":
            assert isinstance(res.get("ttlMs"), int) and res.get("cacheScope") and res.get("resultType"), res
        second = page(2, res["nextCursor"])["result"]
        assert not {t["name"] for t in second["tools"]} & {t["name"] for t in res["tools"]}, (res, second)
        # a cursor the gateway never issued
        bad = page(3, "not-a-cursor-%%%")
        assert bad.get("error", {}).get("code") == -32602, f"garbage cursor: {bad}"
        if era == "legacy":
            s.close()


@BOTH_MODES
def test_garbage_cursor_sdk(federation, mode):
    async def go():
        async with client(federation.url, mode) as c:
            try:
                await c.list_tools(cursor="garbage!!")
            except MCPError as e:
                return e
            return None

    e = run(go)
    assert isinstance(e, MCPError) and e.code == -32602, f"garbage cursor answered {e!r}"


# ---------------------------------------------------------------------------------------------------
# raw HTTP contract, handshake era

def test_session_lifecycle_delete_then_404(federation):
    with httpx.Client(timeout=10) as h:
        s = LegacySession(federation.url, h).open()
        _, m = s.request(1, "tools/list")
        assert "result" in m, m
        r = s.delete()
        assert r.status_code == 204, f"DELETE /mcp: {describe(r)}"
        r = s.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert r.status_code == 404, f"POST after DELETE: {describe(r)}"
        r = h.get(federation.url, headers=s.headers(Accept="text/event-stream"))
        assert r.status_code == 404, f"GET after DELETE: {describe(r)}"
        r = s.delete()
        assert r.status_code == 404, f"second DELETE: {describe(r)}"


def test_initialize_returns_session_and_version_negotiation(federation):
    with httpx.Client(timeout=10) as h:
        for v in ("2025-03-26", "2025-06-18", "2025-11-25"):
            s = LegacySession(federation.url, h, version=v).open()
            sid = s.session_id
            assert all(0x21 <= ord(ch) <= 0x7E for ch in sid), f"session id not visible ASCII: {sid!r}"
            _, m = s.request(1, "tools/list")
            assert "result" in m, m
            s.close()
        # a version the gateway does not know: it answers with one it does
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2024-01-01", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}}
        r = h.post(federation.url, json=body, headers=legacy_headers(version=None))
        assert r.status_code == 200, describe(r)
        assert final_message(r, 1)["result"]["protocolVersion"] in ("2025-03-26", "2025-06-18", "2025-11-25"), r.text


def test_missing_protocol_version_header_assumes_2025_03_26(federation):
    with httpx.Client(timeout=10) as h:
        s = LegacySession(federation.url, h, version="2025-03-26").open()
        r = h.post(federation.url, json={"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
                   headers=legacy_headers(s.session_id, version=None))
        assert r.status_code == 200 and "result" in final_message(r, 5), describe(r)
        s.close()


@pytest.fixture
def session(federation):
    with httpx.Client(timeout=10) as h:
        s = LegacySession(federation.url, h).open()
        yield s
        s.close()


def test_accept_must_list_both_406(session):
    for accept in ("application/json", "text/event-stream", "text/html"):
        r = session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"Accept": accept})
        assert r.status_code == 406, f"Accept: {accept!r}: {describe(r)}"
    r = session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"Accept": ACCEPT_BOTH})
    assert r.status_code == 200, describe(r)


def test_batch_is_400(session):
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
    r = session.post(batch)
    assert r.status_code == 400, describe(r)
    body = r.json()
    assert isinstance(body, dict) and "error" in body, describe(r)


@pytest.mark.parametrize("raw", [b"{not json", b'{"jsonrpc":"2.0","id":1,"method":', b"\xff\xfe"])
def test_invalid_json_is_400_parse_error_id_null(session, raw):
    r = session.post(raw)
    assert r.status_code == 400, describe(r)
    body = r.json()
    assert body.get("error", {}).get("code") == -32700, describe(r)
    assert "id" in body and body["id"] is None, f"parse error must carry \"id\": null: {describe(r)}"


def test_notifications_and_responses_are_202(session):
    for msg in ({"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 12345}},
                {"jsonrpc": "2.0", "id": "srv-1", "result": {}},
                {"jsonrpc": "2.0", "id": "srv-2", "error": {"code": -32601, "message": "nope"}}):
        r = session.post(msg)
        assert r.status_code == 202, f"{msg}: {describe(r)}"
        assert r.content == b"", f"202 must have an empty body: {describe(r)}"


def test_missing_session_id_is_400(session):
    r = session.client.post(session.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                            headers=legacy_headers(None))
    assert r.status_code == 400, describe(r)


@pytest.mark.parametrize("sid", ["forged-session-id", "AAAA" * 20, None])
def test_unknown_or_forged_session_is_404(session, sid):
    if sid is None:  # a real id with one character changed (the signature must not verify)
        real = session.session_id
        i = len(real) // 2
        sid = real[:i] + ("A" if real[i] != "A" else "B") + real[i + 1:]
    r = session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"Mcp-Session-Id": sid})
    assert r.status_code == 404, f"session {sid!r}: {describe(r)}"


def test_unsupported_protocol_version_header_is_400(session):
    for v in ("1999-01-01", "2024-11-05", "banana"):
        r = session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"MCP-Protocol-Version": v})
        assert r.status_code == 400, f"MCP-Protocol-Version: {v}: {describe(r)}"


def test_origin_not_allowed_is_403(federation, session):
    evil = {"Origin": "https://evil.example"}
    r = session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=evil)
    assert r.status_code == 403, f"POST with Origin evil: {describe(r)}"
    r = session.client.get(session.url, headers=session.headers(Accept="text/event-stream", **evil))
    assert r.status_code == 403, f"GET with Origin evil: {describe(r)}"
    # initialize and the modern era are guarded as well
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}}
    r = session.client.post(session.url, json=body, headers=legacy_headers(version=None, **evil))
    assert r.status_code == 403, f"initialize with Origin evil: {describe(r)}"
    r = session.client.post(session.url, json=modern_body(1, "tools/list"), headers=modern_headers("tools/list", **evil))
    assert r.status_code == 403, f"2026 tools/list with Origin evil: {describe(r)}"
    # loopback origins and no Origin at all are allowed
    for origin in ("http://localhost:5173", "http://127.0.0.1:8080", "http://[::1]:3000"):
        r = session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"Origin": origin})
        assert r.status_code == 200, f"Origin {origin}: {describe(r)}"


def test_allowed_origins_env(start_gateway, storage):
    gw = start_gateway(**storage.gateway_env, ALLOWED_ORIGINS="https://app.example.com,https://other.example",
                       **GATEWAY_ENV)
    url = gw.url + "/mcp"
    with httpx.Client(timeout=10) as h:
        for origin, status in (("https://app.example.com", 200), ("https://other.example", 200),
                               ("https://evil.example", 403), ("https://app.example.com.evil.example", 403),
                               ("http://localhost:9999", 200)):
            r = h.post(url, json=modern_body(1, "tools/list"), headers=modern_headers("tools/list", Origin=origin))
            assert r.status_code == status, f"ALLOWED_ORIGINS, Origin {origin}: {describe(r)}"


# ---------------------------------------------------------------------------------------------------
# raw HTTP contract, 2026-07-28

def test_modern_result_fields(federation):
    with httpx.Client(timeout=10) as h:
        r = h.post(federation.url, json=modern_body(1, "server/discover"), headers=modern_headers("server/discover"))
        assert r.status_code == 200, describe(r)
        res = final_message(r, 1)["result"]
        assert MODERN in res.get("supportedVersions", []), res
        assert res.get("resultType") == "complete", res

        r = h.post(federation.url, json=modern_body(2, "tools/list"), headers=modern_headers("tools/list"))
        assert r.status_code == 200, describe(r)
        assert "mcp-session-id" not in r.headers, f"no sessions in 2026-07-28: {r.headers}"
        res = final_message(r, 2)["result"]
        assert isinstance(res.get("ttlMs"), int) and res["ttlMs"] >= 0, res.keys()
        assert res.get("cacheScope") in ("public", "private"), res.get("cacheScope")
        assert res.get("resultType") == "complete", res.get("resultType")
        names = [t["name"] for t in res["tools"]]
        assert federation.tool("json", "echo") in names and federation.tool("sse", "echo") in names

        for which in ("json", "sse"):
            name = federation.tool(which, "add")
            r = h.post(federation.url, json=modern_body(3, "tools/call", {"name": name, "arguments": {"a": 1, "b": 2}}),
                       headers=modern_headers("tools/call", name))
            assert r.status_code == 200, describe(r)
            res = final_message(r, 3)["result"]
            assert res.get("resultType") == "complete", f"{which}: {res}"
            assert res.get("structuredContent") == {"result": 3}, res


def test_modern_request_without_envelope_is_400_32602(federation):
    """A 2026-07-28 request whose params._meta lacks clientCapabilities or protocolVersion (or has no _meta)
    is invalid params, checked before the headers (which are wrong here too)."""
    echo = federation.tool("json", "echo")
    problems = []
    with httpx.Client(timeout=10) as h:
        for label, drop in (("no clientCapabilities", "io.modelcontextprotocol/clientCapabilities"),
                            ("no protocolVersion", "io.modelcontextprotocol/protocolVersion"), ("no _meta", None)):
            body = modern_body(1, "tools/call", {"name": echo, "arguments": {"text": "x"}})
            if drop:
                del body["params"]["_meta"][drop]
            else:
                del body["params"]["_meta"]
            r = h.post(federation.url, json=body, headers=modern_headers("tools/list", "other"))
            m = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            if r.status_code != 400 or m.get("error", {}).get("code") != -32602 or m.get("id") != 1:
                problems.append(f"{label}: expected 400 with -32602 and id 1; got {describe(r)}")
    assert not problems, "\n".join(problems)


def test_modern_mcp_name_may_be_base64_encoded(federation):
    """`Mcp-Name: =?base64?…?=` is decoded before it is compared; a malformed or non-canonical encoding
    never matches."""
    import base64
    echo = federation.tool("json", "echo")
    encoded = "=?base64?" + base64.b64encode(echo.encode()).decode() + "?="
    call = modern_body(1, "tools/call", {"name": echo, "arguments": {"text": "b64"}})
    with httpx.Client(timeout=10) as h:
        r = h.post(federation.url, json=call, headers=modern_headers("tools/call", encoded))
        assert r.status_code == 200, describe(r)
        assert final_message(r, 1)["result"]["content"][0]["text"] == "b64", describe(r)
        canonical = base64.b64encode(echo.encode()).decode()
        for bad in ("=?base64?" + canonical.rstrip("=") + "?=", "=?base64?not*base64?=",
                    "=?base64?" + base64.b64encode(b"other__tool").decode() + "?="):
            r = h.post(federation.url, json=call, headers=modern_headers("tools/call", bad))
            assert r.status_code == 400 and r.json()["error"]["code"] == -32020, f"{bad}: {describe(r)}"


def test_modern_results_carry_server_info(federation):
    """Every 2026-07-28 result carries _meta["io.modelcontextprotocol/serverInfo"]: discover, tools/list,
    and relayed tools/call results (from JSON and SSE downstreams alike)."""
    key = "io.modelcontextprotocol/serverInfo"
    with httpx.Client(timeout=10) as h:
        results = {}
        r = h.post(federation.url, json=modern_body(1, "server/discover"), headers=modern_headers("server/discover"))
        results["server/discover"] = final_message(r, 1)["result"]
        r = h.post(federation.url, json=modern_body(2, "tools/list"), headers=modern_headers("tools/list"))
        results["tools/list"] = final_message(r, 2)["result"]
        for which in ("json", "sse"):
            name = federation.tool(which, "echo")
            r = h.post(federation.url, json=modern_body(3, "tools/call", {"name": name, "arguments": {"text": "i"}}),
                       headers=modern_headers("tools/call", name))
            results[f"tools/call ({which})"] = final_message(r, 3)["result"]
    for label, res in results.items():
        info = (res.get("_meta") or {}).get(key)
        assert isinstance(info, dict) and info.get("name") == "mcp-gateway" and info.get("version"), f"{label}: {res}"


def test_modern_header_mismatch_is_400_32020(federation):
    """Mcp-Method / Mcp-Name / MCP-Protocol-Version must match the body; an absent header does not match
    (the reference SDK server answers an absent Mcp-Method or Mcp-Name with 400 -32020 too)."""
    echo, add = federation.tool("json", "echo"), federation.tool("json", "add")
    call = modern_body(1, "tools/call", {"name": echo, "arguments": {"text": "x"}})
    no = lambda h, k: {a: b for a, b in h.items() if a != k}  # noqa: E731
    cases = {
        "Mcp-Method names another method": (modern_body(1, "tools/list"), modern_headers("tools/call")),
        "Mcp-Name names another tool": (call, modern_headers("tools/call", add)),
        "_meta protocolVersion differs from the MCP-Protocol-Version header": (
            modern_body(1, "tools/list", version="2025-11-25"), modern_headers("tools/list")),
        "Mcp-Method absent": (modern_body(1, "tools/list"), no(modern_headers("x"), "Mcp-Method")),
        "Mcp-Name absent on tools/call": (call, modern_headers("tools/call")),
    }
    problems = []
    with httpx.Client(timeout=10) as h:
        for label, (body, headers) in cases.items():
            r = h.post(federation.url, json=body, headers=headers)
            try:
                m = r.json()
            except ValueError:
                m = {}
            if r.status_code != 400 or m.get("error", {}).get("code") != -32020 or m.get("id") != 1:
                problems.append(f"{label}: expected 400 with -32020 and id 1; got {describe(r)}")
    assert not problems, "\n".join(problems)


def test_modern_unsupported_version_is_400_32022(federation):
    with httpx.Client(timeout=10) as h:
        r = h.post(federation.url, json=modern_body(1, "tools/list", version="2099-01-01"),
                   headers=modern_headers("tools/list", version="2099-01-01"))
        assert r.status_code == 400, describe(r)
        err = r.json().get("error", {})
        assert err.get("code") == -32022, describe(r)
        supported = (err.get("data") or {}).get("supported")
        assert isinstance(supported, list) and MODERN in supported, f"data.supported: {describe(r)}"


def test_modern_unknown_method_is_404_32601(federation):
    with httpx.Client(timeout=10) as h:
        for method in ("foo/bar", "initialize2", "ping"):
            r = h.post(federation.url, json=modern_body(1, method), headers=modern_headers(method))
            assert r.status_code == 404, f"{method}: {describe(r)}"
            assert r.json().get("error", {}).get("code") == -32601, f"{method}: {describe(r)}"


def test_modern_get_and_delete_are_405(federation):
    with httpx.Client(timeout=10) as h:
        r = h.get(federation.url, headers={"Accept": "text/event-stream", "MCP-Protocol-Version": MODERN})
        assert r.status_code == 405, f"GET: {describe(r)}"
        r = h.delete(federation.url, headers={"MCP-Protocol-Version": MODERN})
        assert r.status_code == 405, f"DELETE: {describe(r)}"


# ---------------------------------------------------------------------------------------------------
# two clients, same request id, concurrently

@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_same_request_id_concurrent_clients_never_mixed(federation, era):
    rounds = 25
    rid = 7

    async def go():
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as h:
            sessions = [None, None]
            if era == "legacy":
                for i in range(2):
                    s = LegacySession(federation.url, httpx.Client(timeout=10)).open()
                    sessions[i] = s.session_id
                    s.client.close()

            async def one(ci: int, rnd: int, which: str):
                text = f"client{ci}-{which}-round{rnd}-{uuid.uuid4().hex[:8]}"
                name = federation.tool(which, "echo")
                if era == "legacy":
                    body = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                            "params": {"name": name, "arguments": {"text": text}}}
                    headers = legacy_headers(sessions[ci])
                else:
                    body = modern_body(rid, "tools/call", {"name": name, "arguments": {"text": text}})
                    headers = modern_headers("tools/call", name)
                r = await h.post(federation.url, json=body, headers=headers)
                await r.aread()
                if r.status_code != 200:
                    return f"{text}: {describe(r)}"
                m = final_message(r, rid)
                got = (m.get("result") or {}).get("content", [{}])[0].get("text")
                if got != text:
                    return f"client {ci} sent {text!r} (id {rid}) and received {got!r}: {m}"
                return None

            jobs = [one(ci, rnd, which) for rnd in range(rounds) for ci in (0, 1) for which in ("json", "sse")]
            out = await asyncio.gather(*jobs)
            if era == "legacy":
                for sid in sessions:
                    await h.delete(federation.url, headers=legacy_headers(sid))
            return [o for o in out if o]

    problems = asyncio.run(go())
    assert not problems, f"{len(problems)} of {rounds * 4} calls got a wrong answer:\n" + "\n".join(problems[:10])


# ---------------------------------------------------------------------------------------------------
# tools/call read from its bytes

@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_call_from_bytes_and_from_tree_agree(federation, era):
    """A plain tools/call is relayed from its bytes (never parsed into a tree); one written with
    escaped keys or ids takes the parsed path. Both must give the same answer, with the caller's id
    back, and the downstream must see the same params (its own tool name, the gateway's progress
    token, none of the protocol's _meta keys, the arguments and the caller's other _meta intact)."""
    name = federation.tool("json", "echo")
    text = r'h\u00e9llo \"q\" \ud83d\ude00 ✓'
    decoded = json.loads(f'"{text}"')
    if era == "legacy":
        s = LegacySession(federation.url, httpx.Client(timeout=10)).open()
        headers, meta = s.headers(), ""
    else:
        s = None
        headers = modern_headers("tools/call", name)
        meta = f'"{PV_KEY}":"{MODERN}","{CAPS_KEY}":{{}},'
    variants = {
        "bytes": ('{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":{"text":"%s"},'
                  '"_meta":{%s"progressToken":"tok","keep":[1, 2.50, {"x": null}]}}}'),
        "bytes, spaced and reordered": (' { "params" : { "_meta" : { %s "keep" : [1, 2.50, {"x": null}], "progressToken" : "tok" }, '
                                        '"arguments" : { "text" : "%s" }, "name" : "%s" }, "method" : "tools/call", "id" : %s, "jsonrpc" : "2.0" } '),
        "tree (an escaped key)": ('{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"na\\u006de":"%s","arguments":{"text":"%s"},'
                                  '"_meta":{%s"progressToken":"tok","keep":[1, 2.50, {"x": null}]}}}'),
    }
    seen = {}
    try:
        with httpx.Client(timeout=20) as h:
            for label, template in variants.items():
                for rid in (41, '"r-41"'):
                    if label.startswith("bytes, spaced"):
                        body = template % (meta, text, name, rid)
                    else:
                        body = template % (rid, name, text, meta)
                    # JSON only: a call with a progress token would otherwise be answered on a stream.
                    r = h.post(federation.url, content=body.encode(), headers={**headers, "Accept": ACCEPT_BOTH})
                    assert r.status_code == 200, f"{label}: {describe(r)}"
                    expected_id = json.loads(str(rid))
                    m = final_message(r, expected_id)
                    assert m["result"]["content"][0]["text"] == decoded, f"{label}: {m}"
                    params = federation.ds("json").stats()["last_call_params"]
                    token = params["_meta"].pop("progressToken")
                    assert token.startswith("gw-") and token != "tok", f"{label}: {params}"
                    assert params == {"name": "echo", "arguments": {"text": decoded},
                                      "_meta": {"keep": [1, 2.5, {"x": None}]}}, f"{label}: {params}"
                    seen[(label, rid)] = params
            # Arguments that are not JSON are the caller's parse error, not the downstream's.
            before = federation.ds("json").stats()["tool_calls"].get("echo", 0)
            bad = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"%s","_meta":{%s"a":1},"arguments":{"text":tru}}}'
            r = h.post(federation.url, content=(bad % (name, meta)).encode(), headers=headers)
            assert r.status_code == 400 and r.json()["error"]["code"] == -32700, describe(r)
            assert federation.ds("json").stats()["tool_calls"].get("echo", 0) == before
    finally:
        if s:
            s.close()
    assert len(seen) == 6


# ---------------------------------------------------------------------------------------------------
# list_changed

def test_list_changed_on_get_stream_raw(federation, spare_downstream):
    name = unique_name("mcplc")
    with httpx.Client(timeout=httpx.Timeout(10, read=2)) as h:
        s = LegacySession(federation.url, h).open()
        try:
            with h.stream("GET", federation.url, headers=s.headers(Accept="text/event-stream")) as stream:
                assert stream.status_code == 200, f"GET /mcp: {stream.status_code} {stream.headers}"
                ctype = stream.headers.get("content-type", "")
                assert ctype.startswith("text/event-stream"), ctype
                r = federation.admin.register(name, spare_downstream.url)
                assert r.status_code == 201, describe(r)
                msg, seen = read_sse_until(
                    stream, lambda m: m.get("method") == "notifications/tools/list_changed", timeout=8)
                assert msg is not None, f"no notifications/tools/list_changed on the GET stream within 8 s; saw {seen}"
                assert "id" not in msg, msg
            _, m = s.request(1, "tools/list")
            assert f"{name}__echo" in [t["name"] for t in m["result"]["tools"]], "new service's tools not listed"
        finally:
            federation.admin.delete(name)
            s.close()


def test_list_changed_legacy_sdk_message_handler(federation, spare_downstream):
    name = unique_name("mcplc")

    async def go():
        changed = anyio.Event()

        async def handler(message):
            if isinstance(message, ToolListChangedNotification) or \
                    getattr(getattr(message, "root", None), "method", None) == "notifications/tools/list_changed":
                changed.set()

        async with client(federation.url, "legacy", message_handler=handler) as c:
            assert c.protocol_version == LEGACY
            await anyio.sleep(1.0)  # the SDK opens its GET stream after notifications/initialized (no signal when ready)
            r = await anyio.to_thread.run_sync(federation.admin.register, name, spare_downstream.url)
            assert r.status_code == 201, describe(r)
            with anyio.move_on_after(8):
                await changed.wait()
            if not changed.is_set():
                return False, []
            tools, _ = await list_all(c)
            return True, [t.name for t in tools]

    try:
        ok, names = run(go)
        assert ok, "legacy SDK client (GET stream) received no notifications/tools/list_changed within 8 s"
        assert f"{name}__echo" in names
    finally:
        federation.admin.delete(name)


def test_list_changed_via_subscriptions_listen(federation, spare_downstream):
    name = unique_name("mcplc")

    async def go():
        async with client(federation.url, "auto") as c:
            assert c.protocol_version == MODERN
            async with c.listen(tools_list_changed=True) as sub:
                r = await anyio.to_thread.run_sync(federation.admin.register, name, spare_downstream.url)
                assert r.status_code == 201, describe(r)
                event = await next_event(sub, ToolsListChanged, 8)
            if event is None:
                return False, []
            tools, _ = await list_all(c)
            return True, [t.name for t in tools]

    try:
        ok, names = run(go)
        assert ok, "subscriptions/listen delivered no tools list-changed event within 8 s of a register"
        assert f"{name}__echo" in names
    finally:
        federation.admin.delete(name)


# ---------------------------------------------------------------------------------------------------
# downstream failures

@BOTH_MODES
def test_downstream_killed_error_names_service(federation, start_downstream, mode):
    ds = start_downstream(mode="sse")
    name = unique_name("mcpdead")
    r = federation.admin.register(name, ds.url)
    assert r.status_code == 201, describe(r)
    try:
        async def warm():  # a pooled session to it exists before it dies
            async with client(federation.url, mode) as c:
                return await c.call_tool(f"{name}__echo", {"text": "alive"})

        assert run(warm).content[0].text == "alive"
        ds.proc.send_signal(signal.SIGKILL)
        ds.proc.wait(5)

        async def go():
            async with client(federation.url, mode) as c:
                t0 = time.monotonic()
                try:
                    with anyio.fail_after(10):
                        r = await c.call_tool(f"{name}__echo", {"text": "dead?"})
                except MCPError as e:
                    return e, time.monotonic() - t0
                return r, time.monotonic() - t0

        e, elapsed = run(go)
        assert isinstance(e, MCPError), f"call to a killed downstream returned a result: {tool_dump(e)}"
        assert name in e.message, f"error does not name the service {name!r}: {e.code} {e.message!r}"
        assert -32019 <= e.code <= -32000, f"error code {e.code} not an implementation-defined -32000..-32019 code"
        assert elapsed < 3, f"error took {elapsed:.1f} s"
        assert federation.gw.alive()
    finally:
        federation.admin.delete(name)


def test_tool_call_timeout(start_gateway, storage, sse_downstream):
    gw = start_gateway(**storage.gateway_env, TOOL_CALL_TIMEOUT="1", **GATEWAY_ENV)
    admin = Admin(gw.url)
    name = unique_name("mcpto")
    r = admin.register(name, sse_downstream.url)
    assert r.status_code == 201, describe(r)
    before = sse_downstream.stats()["slow"]
    try:
        async def go():
            async with client(gw.url + "/mcp", "legacy") as c:
                t0 = time.monotonic()
                try:
                    with anyio.fail_after(10):
                        r = await c.call_tool(f"{name}__slow", {"seconds": 8})
                except MCPError as e:
                    return e, time.monotonic() - t0
                return r, time.monotonic() - t0

        e, elapsed = run(go)
        assert isinstance(e, MCPError), f"slow(8) with TOOL_CALL_TIMEOUT=1 returned {tool_dump(e)} after {elapsed:.1f} s"
        assert elapsed < 3, f"timeout error after {elapsed:.1f} s (TOOL_CALL_TIMEOUT=1)"
        assert -32019 <= e.code <= -32000, f"{e.code} {e.message}"

        def cancelled():
            return sse_downstream.stats()["slow"]["cancelled"] > before["cancelled"]

        assert poll(cancelled, 5), f"downstream slow tool not cancelled after the gateway's timeout: {sse_downstream.stats()}"
    finally:
        admin.delete(name)
        admin.close()
