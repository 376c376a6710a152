"""End-to-end tests of downstream health and circuit breaking on a replica, on both registry
backends: the real binary, the official Python SDK's servers as downstreams, raw HTTP clients.

* a registered downstream is `healthy` (GET /services, GET /services/:name), with its circuit closed;
* killed, it is `down` within two check intervals (HEALTH_CHECK_INTERVAL=0.5 here), with the last
  error, and `/health` and `/metrics` count it; calls to it then fail at once with -32004 naming the
  service (the circuit is open), without reaching anything;
* another service's calls meanwhile succeed, every one;
* restarted on the same port, it is `healthy` again and its calls succeed, without any admin action.
"""

from __future__ import annotations

import time

import httpx
import pytest

from admin_fixtures import (  # noqa: F401  (fixtures are used by name)
    Admin, Downstream, backend, describe, start_downstream, storage, unique_name, wait_storage_ready,
)
from mcp_fixtures import final_message, modern_body, modern_headers

INTERVAL = 0.5
GATEWAY_ENV = {"HEALTH_CHECK_INTERVAL": str(INTERVAL), "CIRCUIT_FAILURE_THRESHOLD": "2", "CIRCUIT_COOL_DOWN": "0.5",
               "DOWNSTREAM_CONNECT_TIMEOUT": "1", "DOWNSTREAM_TIMEOUT": "5", "TOOL_CALL_TIMEOUT": "5"}

pytestmark = pytest.mark.deadline(90)


def call(url: str, tool: str, rid: int, text: str = "hi") -> tuple[dict, float]:
    started = time.monotonic()
    r = httpx.post(url + "/mcp", json=modern_body(rid, "tools/call", {"name": tool, "arguments": {"text": text}}),
                   headers=modern_headers("tools/call", tool), timeout=10)
    elapsed = time.monotonic() - started
    assert r.status_code == 200, describe(r)
    return final_message(r, rid), elapsed


def health_of(admin: Admin, name: str) -> dict:
    r = admin.service(name)
    assert r.status_code == 200, describe(r)
    return r.json()["health"]


UNAVAILABLE = "mcp-gateway/unavailable"


def modern_tools_list(url: str) -> tuple[list[str], dict]:
    """Every tool name a 2026-07-28 tools/list gives (all pages), and the first page's _meta."""
    names, cursor, meta = [], None, None
    for rid in range(1, 100):
        r = httpx.post(url + "/mcp", json=modern_body(rid, "tools/list", {"cursor": cursor} if cursor else {}),
                       headers=modern_headers("tools/list"), timeout=10)
        assert r.status_code == 200, describe(r)
        result = final_message(r, rid)["result"]
        names += [t["name"] for t in result["tools"]]
        meta = meta if meta is not None else result.get("_meta", {})
        cursor = result.get("nextCursor")
        if not cursor:
            return names, meta
    raise AssertionError("tools/list did not end")


def poll(fn, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def test_down_fail_fast_isolation_and_recovery(start_gateway, storage, start_downstream):
    gw = start_gateway(**storage.gateway_env, **GATEWAY_ENV)
    wait_storage_ready(gw.url, redis=storage.backend.has_redis)
    admin = Admin(gw.url)
    flaky, steady = start_downstream(), start_downstream()
    a, b = unique_name("flaky"), unique_name("steady")
    for name, d in ((a, flaky), (b, steady)):
        r = admin.register(name, d.url)
        assert r.status_code == 201, describe(r)

    msg, _ = call(gw.url, f"{a}__echo", 1)
    assert "result" in msg, msg
    h = health_of(admin, a)
    assert h["state"] == "healthy" and h["circuit"] == "closed", h
    listed = {s["name"]: s["health"]["state"] for s in admin.services().json()["services"]}
    assert listed[a] == "healthy" and listed[b] == "healthy", listed

    port = flaky.port
    flaky.stop()
    killed = time.monotonic()
    down = poll(lambda: health_of(admin, a)["state"] == "down", 2 * INTERVAL * 1.2 + 1.0)
    h = health_of(admin, a)
    assert down, f"not down {time.monotonic() - killed:.2f}s after the kill: {h}"
    assert h.get("lastError") and "127.0.0.1" not in h["lastError"], h
    # (on the shared PostgreSQL, other tests' services are in the index too)
    report = httpx.get(gw.url + "/health").json()
    assert report["downstreams"]["down"] >= 1 and report["downstreams"]["healthy"] >= 1, report
    assert sum(report["downstreams"].values()) == report["services"], report
    metrics = httpx.get(gw.url + "/metrics").text
    down = [line for line in metrics.splitlines() if line.startswith('mcp_gateway_downstreams{state="down"}')]
    assert down and float(down[0].split()[-1]) == report["downstreams"]["down"], (down, report)

    # keep (the default): its tools stay listed, and the list says its service is down.
    listed_names, meta = modern_tools_list(gw.url)
    assert f"{a}__echo" in listed_names and f"{b}__echo" in listed_names
    assert {"service": a, "state": "down", "listed": True} in meta.get(UNAVAILABLE, []), meta
    assert all(e["service"] != b for e in meta.get(UNAVAILABLE, [])), meta
    assert "io.modelcontextprotocol/serverInfo" in meta, meta

    # The circuit is open (two failed checks): calls fail at once, naming the service.
    assert poll(lambda: health_of(admin, a)["circuit"] in ("open", "half-open"), 3), health_of(admin, a)
    msg, elapsed = call(gw.url, f"{a}__echo", 2)
    error = msg.get("error") or {}
    if error.get("code") != -32004:  # a half-open probe may have been let through; the next is refused
        msg, elapsed = call(gw.url, f"{a}__echo", 3)
        error = msg.get("error") or {}
    assert error.get("code") == -32004, msg
    assert error["data"]["service"] == a and error["data"]["retryAfterMs"] >= 0, msg
    assert elapsed < 0.5, f"an open circuit took {elapsed:.3f}s to answer"

    # The other service is not affected.
    for i in range(20):
        msg, _ = call(gw.url, f"{b}__echo", 100 + i, text=f"x{i}")
        assert msg.get("result", {}).get("content", [{}])[0].get("text") == f"x{i}", msg

    # Back on the same port: healthy again, without an admin call.
    again = Downstream("--port", str(port))
    try:
        assert poll(lambda: health_of(admin, a)["state"] == "healthy", 10), health_of(admin, a)
        msg = {}
        for i in range(20):
            msg, _ = call(gw.url, f"{a}__echo", 200 + i)
            if "result" in msg:
                break
            time.sleep(0.2)
        assert "result" in msg, msg
        assert health_of(admin, a)["circuit"] == "closed"
    finally:
        again.stop()
        admin.close()


def test_hide_policy_leaves_a_down_service_out_and_says_so(start_gateway, storage, start_downstream):
    """HEALTH_DOWN_POLICY=hide: a service that goes down leaves tools/list (both eras), with a
    list_changed to listeners, and every list names it in _meta as down and not listed; its tools
    still resolve for calls (which fail fast); when it comes back, so do its tools, with another
    list_changed."""
    from test_replicas import Listener, initialize, mcp_headers, rpc_result

    gw = start_gateway(**storage.gateway_env, **GATEWAY_ENV, HEALTH_DOWN_POLICY="hide")
    wait_storage_ready(gw.url, redis=storage.backend.has_redis)
    admin = Admin(gw.url)
    flaky, steady = start_downstream(), start_downstream()
    a, b = unique_name("hidden"), unique_name("shown")
    for name, d in ((a, flaky), (b, steady)):
        assert admin.register(name, d.url).status_code == 201
    sid = initialize(gw.url)
    listener = Listener(gw.url, sid)
    try:
        listener.wait_open()
        names, meta = modern_tools_list(gw.url)
        assert f"{a}__echo" in names and f"{b}__echo" in names
        assert all(e["service"] not in (a, b) for e in meta.get(UNAVAILABLE, [])), meta

        port = flaky.port
        flaky.stop()
        assert poll(lambda: health_of(admin, a)["state"] == "down", 2 * INTERVAL * 1.2 + 1.0), health_of(admin, a)
        assert listener.wait_method("notifications/tools/list_changed", 5), "no list_changed when the service was hidden"
        names, meta = modern_tools_list(gw.url)
        assert not any(n.startswith(f"{a}__") for n in names), names
        assert f"{b}__echo" in names
        assert {"service": a, "state": "down", "listed": False} in meta[UNAVAILABLE], meta
        # Every list says it, not only tools/list.
        for rid, method in ((20, "resources/list"), (21, "prompts/list"), (22, "resources/templates/list")):
            r = httpx.post(gw.url + "/mcp", json=modern_body(rid, method, {}), headers=modern_headers(method), timeout=10)
            assert {"service": a, "state": "down", "listed": False} in final_message(r, rid)["result"]["_meta"][UNAVAILABLE], method
        # The handshake era says the same.
        r = httpx.post(gw.url + "/mcp", headers=mcp_headers(sid), json={"jsonrpc": "2.0", "id": 5, "method": "tools/list"}, timeout=10)
        result = rpc_result(r)["result"]
        assert not any(t["name"].startswith(f"{a}__") for t in result["tools"])
        assert {"service": a, "state": "down", "listed": False} in result["_meta"][UNAVAILABLE], result.get("_meta")
        # A hidden tool still resolves: the call fails fast with a typed error, not "unknown tool".
        msg, elapsed = call(gw.url, f"{a}__echo", 7)
        assert msg.get("error", {}).get("code") in (-32004, -32001), msg
        assert "Unknown tool" not in msg["error"]["message"]

        listener.drain()
        again = Downstream("--port", str(port))
        try:
            assert poll(lambda: health_of(admin, a)["state"] == "healthy", 10), health_of(admin, a)
            assert listener.wait_method("notifications/tools/list_changed", 5), "no list_changed when the service came back"
            names, meta = modern_tools_list(gw.url)
            assert f"{a}__echo" in names
            assert all(e["service"] != a for e in meta.get(UNAVAILABLE, [])), meta
        finally:
            again.stop()
    finally:
        listener.close()
        admin.close()


@pytest.mark.backends("postgres")
def test_transitions_are_published_to_the_other_replicas(start_gateway, storage, start_downstream):
    """Each replica announces its health transitions on the replica bus (mcp:health:events): GET
    /services/:name on one replica shows the other replicas' latest views beside its own."""
    first = start_gateway(**storage.gateway_env, **GATEWAY_ENV)
    second = start_gateway(**storage.gateway_env, **GATEWAY_ENV)
    for g in (first, second):
        wait_storage_ready(g.url, redis=True)
    admins = [Admin(first.url), Admin(second.url)]
    d = start_downstream()
    name = unique_name("bus")
    try:
        assert admins[0].register(name, d.url).status_code == 201
        assert poll(lambda: admins[1].service(name).status_code == 200, 5)
        d.stop()
        for a in admins:
            assert poll(lambda: health_of(a, name)["state"] == "down", 2 * INTERVAL * 1.2 + 1.0), health_of(a, name)

        def peer_says_down(a: Admin) -> bool:
            return any(v["state"] == "down" for v in health_of(a, name).get("replicas", []))
        for a in admins:
            assert poll(lambda: peer_says_down(a), 5), health_of(a, name)
        views = health_of(admins[0], name)["replicas"]
        assert len({v["replica"] for v in views}) == len(views) and all(v.get("since") for v in views), views
    finally:
        for a in admins:
            a.close()
