"""End-to-end tests of resources, resource templates, prompts and completions through the gateway,
on both registry backends, with the official Python SDK's ``Client`` in both modes (auto, which ends
on 2026-07-28, and legacy, 2025-11-25) against two SDK ``MCPServer`` downstreams that expose the
same resource URI, a template, a prompt with arguments and completions:

* lists: every downstream's resources, templates and prompts appear once, with federated URIs
  (``<scheme>://<service>/<authority><path>``) and names (``<service>__<prompt>``);
* reads: the two same-URI resources are both listed and each reads its own content; a URI expanded
  from a federated template reads the owner's expansion; contents carry the federated URI;
* prompts/get and completion/complete route to the owner with the original name or URI;
* unknown names and URIs are refused with the era's error; nothing reaches a downstream.
"""

from __future__ import annotations

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference

from admin_fixtures import Admin, Downstream, backend, describe, storage, unique_name  # noqa: F401
from mcp_fixtures import (  # noqa: F401  (fixtures are used by name)
    MODES,
    _gateway_logs_on_failure,
    next_event,
    final_message,
    legacy_headers,
    mcp_gateway,
    modern_body,
    modern_headers,
    run,
)
from mcp import Client

BOTH_MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])


class Catalogs:
    def __init__(self, gw, admin: Admin, names: list[str], downstreams: list[Downstream]):
        self.gw, self.admin, self.names, self.downstreams = gw, admin, names, downstreams

    @property
    def url(self) -> str:
        return self.gw.url + "/mcp"


@pytest.fixture(scope="module")
def catalogs(mcp_gateway, tmp_path_factory):
    admin = Admin(mcp_gateway.url)
    downstreams = [Downstream("--catalog", label, mode=mode, workdir=tmp_path_factory.mktemp(f"catalog-{label}"))
                   for label, mode in (("left", "json"), ("right", "sse"))]
    names = [unique_name("cat"), unique_name("cat")]
    for name, d in zip(names, downstreams):
        r = admin.register(name, d.url)
        assert r.status_code == 201, f"register {name}: {describe(r)}"
    yield Catalogs(mcp_gateway, admin, names, downstreams)
    for name in names:
        try:
            admin.delete(name)
        except httpx.HTTPError:
            pass
    for d in downstreams:
        d.stop()
    admin.close()


def dump(model) -> dict:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def test_admin_view_shows_what_was_fetched(catalogs):
    body = catalogs.admin.service(catalogs.names[0]).json()
    assert [r["uri"] for r in body["resources"]] == ["config://app"], body["resources"]
    assert [t["uriTemplate"] for t in body["resourceTemplates"]] == ["file:///notes/{day}"], body["resourceTemplates"]
    assert [p["name"] for p in body["prompts"]] == ["greet"], body["prompts"]
    assert {a["name"] for a in body["prompts"][0]["arguments"]} == {"person", "style"}
    assert (body["resourceCount"], body["resourceTemplateCount"], body["promptCount"]) == (1, 1, 1), body
    listed = {s["name"]: s for s in catalogs.admin.services().json()["services"]}[catalogs.names[0]]
    assert (listed["resourceCount"], listed["resourceTemplateCount"], listed["promptCount"]) == (1, 1, 1), listed


@BOTH_MODES
def test_lists_federate_every_downstreams_catalog(catalogs, mode):
    left, right = catalogs.names

    async def go():
        async with Client(catalogs.url, mode=mode, cache=None) as c:
            assert c.protocol_version == MODES[mode]
            return ((await c.list_resources()).resources, (await c.list_resource_templates()).resource_templates,
                    (await c.list_prompts()).prompts)

    resources, templates, prompts = run(go)
    uris = {r.uri for r in resources}
    assert {f"config://{left}/app", f"config://{right}/app"} <= uris, uris
    assert len([u for u in uris if u.endswith("/app") and u.startswith("config://")]) >= 2
    mine = [r for r in resources if r.uri in (f"config://{left}/app", f"config://{right}/app")]
    assert all(r.name == "app-config" and r.mime_type == "text/plain" for r in mine), [dump(r) for r in mine]
    tmpl = {t.uri_template for t in templates}
    assert {f"file://{left}//notes/{{day}}", f"file://{right}//notes/{{day}}"} <= tmpl, tmpl
    pnames = {p.name for p in prompts}
    assert {f"{left}__greet", f"{right}__greet"} <= pnames, pnames


@BOTH_MODES
def test_same_uri_reads_its_own_content_and_templates_route(catalogs, mode):
    left, right = catalogs.names

    async def go():
        async with Client(catalogs.url, mode=mode, cache=None) as c:
            a = await c.read_resource(f"config://{left}/app")
            b = await c.read_resource(f"config://{right}/app")
            n = await c.read_resource(f"file://{right}//notes/friday")
            return a, b, n

    a, b, n = run(go)
    assert a.contents[0].text == "config of left" and str(a.contents[0].uri) == f"config://{left}/app", dump(a)
    if mode == "auto":  # 2026-07-28: the cache fields the revision defines
        assert a.ttl_ms == 0 and a.cache_scope == "private", dump(a)
    assert b.contents[0].text == "config of right" and str(b.contents[0].uri) == f"config://{right}/app", dump(b)
    assert n.contents[0].text == "notes for friday from right", dump(n)
    assert str(n.contents[0].uri) == f"file://{right}//notes/friday", dump(n)


@BOTH_MODES
def test_prompts_and_completions_route_to_the_owner(catalogs, mode):
    left, right = catalogs.names

    async def go():
        async with Client(catalogs.url, mode=mode, cache=None) as c:
            g = await c.get_prompt(f"{left}__greet", {"person": "ada", "style": "warm"})
            p = await c.complete(PromptReference(type="ref/prompt", name=f"{right}__greet"), {"name": "person", "value": "al"})
            t = await c.complete(ResourceTemplateReference(type="ref/resource", uri=f"file://{left}//notes/{{day}}"),
                                 {"name": "day", "value": "mo"})
            return g, p, t

    g, p, t = run(go)
    assert g.messages[0].content.text == "left greets ada (warm)", dump(g)
    assert p.completion.values == ["alice", "albert", "from-right"], dump(p)
    assert t.completion.values == ["monday", "from-left"], dump(t)


@BOTH_MODES
def test_unknown_names_and_uris_are_refused(catalogs, mode):
    left = catalogs.names[0]

    async def go():
        out = []
        async with Client(catalogs.url, mode=mode, cache=None) as c:
            for call in (lambda: c.read_resource("config://nosuchservice/app"), lambda: c.read_resource("config://app"),
                         lambda: c.get_prompt(f"{left}__nope"), lambda: c.get_prompt("nothing")):
                try:
                    await call()
                    out.append(None)
                except MCPError as e:
                    out.append(e.error.code)
        return out

    codes = run(go)
    not_found = -32002 if mode == "auto" else -32602
    assert codes == [not_found, not_found, -32602, -32602], codes


def test_capabilities_announce_resources_prompts_and_completions(catalogs):
    r = httpx.post(catalogs.url, json=modern_body(1, "server/discover"), headers=modern_headers("server/discover"), timeout=10)
    caps = final_message(r, 1)["result"]["capabilities"]
    assert set(caps) >= {"tools", "resources", "prompts", "completions"}, caps


def test_list_changed_per_list_when_a_catalog_arrives(catalogs, tmp_path_factory):
    """subscriptions/listen with resources and prompts: registering a downstream with a catalog
    sends resources/list_changed and prompts/list_changed; one with tools only sends neither."""
    from mcp.client.subscriptions import PromptsListChanged, ResourcesListChanged, ToolsListChanged
    import anyio

    extra = Downstream("--catalog", "late", workdir=tmp_path_factory.mktemp("catalog-late"))
    plain = Downstream(workdir=tmp_path_factory.mktemp("catalog-plain"))
    with_catalog, tools_only = unique_name("catl"), unique_name("catp")

    async def collect(sub, seconds: float) -> set[str]:
        kinds: set[str] = set()
        with anyio.move_on_after(seconds):
            async for ev in sub:
                kinds.add(type(ev).__name__)
                if {"ResourcesListChanged", "PromptsListChanged"} <= kinds:
                    break
        return kinds

    async def go():
        async with Client(catalogs.url, cache=None) as c:
            async with c.listen(resources_list_changed=True, prompts_list_changed=True) as sub:
                r = await anyio.to_thread.run_sync(catalogs.admin.register, tools_only, plain.url)
                assert r.status_code == 201, describe(r)
                quiet = await collect(sub, 1.5)
                r = await anyio.to_thread.run_sync(catalogs.admin.register, with_catalog, extra.url)
                assert r.status_code == 201, describe(r)
                loud = await collect(sub, 8)
            return quiet, loud, {r.uri for r in (await c.list_resources()).resources}

    try:
        quiet, loud, uris = run(go)
        assert "ResourcesListChanged" not in quiet and "PromptsListChanged" not in quiet, quiet
        assert {"ResourcesListChanged", "PromptsListChanged"} <= loud, loud
        assert f"config://{with_catalog}/app" in uris
        _ = (ToolsListChanged, ResourcesListChanged, PromptsListChanged)
    finally:
        for name in (with_catalog, tools_only):
            catalogs.admin.delete(name)
        extra.stop()
        plain.stop()


@pytest.mark.backends("postgres")
def test_a_downstreams_list_changed_reaches_clients_of_another_replica(start_gateway, storage, tmp_path_factory):
    """A downstream that adds a tool at run time and says so (notifications/tools/list_changed on
    the gateway's subscriptions/listen stream to it) is re-fetched and stored as an update (cause
    `downstream`, one version bump): a client listening on another replica sees the new tool, with
    no admin call."""
    from admin_fixtures import wait_storage_ready
    from mcp.client.subscriptions import ToolsListChanged
    import anyio

    first = start_gateway(**storage.gateway_env, VERSION_CHECK_INTERVAL="0.5")
    second = start_gateway(**storage.gateway_env, VERSION_CHECK_INTERVAL="0.5")
    for g in (first, second):
        wait_storage_ready(g.url, redis=True)
    admin = Admin(first.url)
    d = Downstream(workdir=tmp_path_factory.mktemp("watched"))
    name = unique_name("watch")
    try:
        assert admin.register(name, d.url).status_code == 201

        async def go():
            async with Client(second.url + "/mcp", cache=None) as c:
                before = {t.name for t in (await c.list_tools()).tools}
                assert f"{name}__echo" in before and f"{name}__multiply" not in before
                async with c.listen(tools_list_changed=True) as sub:
                    # The gateways' streams to the downstream open right after the register.
                    await anyio.sleep(1.0)
                    await anyio.to_thread.run_sync(d.set_tool_set, "changed")
                    got = await next_event(sub, ToolsListChanged, 10)
                after = {t.name for t in (await c.list_tools()).tools}
                return got is not None, after

        notified, after = run(go)
        assert notified, "no tools list_changed on the other replica within 10 s of the downstream's change"
        assert f"{name}__multiply" in after and f"{name}__fail" not in after, sorted(after)
        history = admin.request("GET", f"/services/{name}/history").json()["changes"]
        assert history[0]["cause"] == "downstream" and [e["tool"] for e in history[0]["added"]] == ["multiply"], history[0]
        assert [c["cause"] for c in history].count("downstream") == 1, "both replicas stored the same change"
        last = admin.service(name).json()["lastChange"]
        assert last["cause"] == "downstream" and last["action"] == "update" and last["version"] == history[0]["version"], last
    finally:
        admin.delete(name)
        admin.close()
        d.stop()


@pytest.mark.backends("postgres")
def test_resource_updates_reach_subscribers_on_any_replica(start_gateway, storage, tmp_path_factory):
    """A handshake-era session subscribes (resources/subscribe) through one replica while its GET
    stream is on another: the replica holding the stream subscribes downstream and delivers
    notifications/resources/updated with the federated URI; an unsubscribed session on the same
    replica gets nothing; a 2026-07-28 listen with resourceSubscriptions gets it too; after
    resources/unsubscribe, no more."""
    from admin_fixtures import wait_storage_ready
    from mcp.shared.subscriptions import ResourceUpdated
    from test_replicas import Listener, initialize, mcp_headers, rpc_result
    import anyio
    import time

    secret = "s" * 48
    first = start_gateway(**storage.gateway_env, SESSION_SECRET=secret)
    second = start_gateway(**storage.gateway_env, SESSION_SECRET=secret)
    for g in (first, second):
        wait_storage_ready(g.url, redis=True)
    admin = Admin(first.url)
    d = Downstream("--catalog", "subs", workdir=tmp_path_factory.mktemp("subs"))
    name = unique_name("subs")
    uri = f"config://{name}/app"
    listeners = []
    try:
        assert admin.register(name, d.url).status_code == 201
        subscribed, bystander = initialize(first.url), initialize(first.url)
        for sid in (subscribed, bystander):
            listeners.append(Listener(first.url, sid))
            listeners[-1].wait_open()
        time.sleep(0.5)  # the subscription may race the other replica's index delta otherwise

        def call(url: str, sid: str, method: str, params: dict) -> dict:
            r = httpx.post(url + "/mcp", headers=mcp_headers(sid), json={"jsonrpc": "2.0", "id": 9, "method": method,
                                                                          "params": params}, timeout=10)
            return rpc_result(r)

        assert call(second.url, subscribed, "resources/subscribe", {"uri": uri}) == {"jsonrpc": "2.0", "id": 9, "result": {}}
        assert call(second.url, subscribed, "resources/subscribe", {"uri": "config://nosuch/app"})["error"]["code"] == -32602

        def updated_on(listener, seconds: float):
            return listener.wait_method("notifications/resources/updated", seconds)

        got = None
        for _ in range(20):  # until the first replica's stream to the downstream asks for the URI
            d.resource_updated("config://app")
            got = updated_on(listeners[0], 0.5)
            if got:
                break
        assert got is not None, "the subscribed session's GET stream got no notifications/resources/updated"
        assert got["params"]["uri"] == uri, got
        assert updated_on(listeners[1], 0.5) is None, "an unsubscribed session got the update"

        async def modern():
            async with Client(second.url + "/mcp", cache=None) as c:
                async with c.listen(resource_subscriptions=[uri]) as sub:
                    for _ in range(20):  # until this replica's stream to the downstream asks for the URI
                        await anyio.to_thread.run_sync(d.resource_updated, "config://app")
                        if event := await next_event(sub, ResourceUpdated, 0.5):
                            return event
            return None

        event = run(modern)
        assert event is not None and event.uri == uri, event

        assert call(first.url, subscribed, "resources/unsubscribe", {"uri": uri})["result"] == {}
        listeners[0].drain()
        time.sleep(0.5)
        d.resource_updated("config://app")
        assert updated_on(listeners[0], 1.0) is None, "an update arrived after resources/unsubscribe"
    finally:
        for listener in listeners:
            listener.close()
        admin.delete(name)
        admin.close()
        d.stop()


def test_a_handshake_era_downstream_is_watched_on_its_get_stream(catalogs, tmp_path_factory):
    """A downstream that serves only the handshake era (it refuses subscriptions/listen) is watched
    on the GET stream of the gateway's pooled session: a tools/list_changed it sends there (here from
    inside a tool call made through the gateway, on that same session) makes the gateway re-fetch."""
    d = Downstream("--legacy-only", "--announce-tool", mode="sse", workdir=tmp_path_factory.mktemp("legacy-watch"))
    name = unique_name("legw")
    try:
        assert catalogs.admin.register(name, d.url).status_code == 201

        async def go():
            async with Client(catalogs.url, mode="legacy", cache=None) as c:
                import anyio
                await anyio.sleep(1.0)  # the gateway falls back from listen to the GET stream
                result = await c.call_tool(f"{name}__announce", {"tool_set": "changed"})
                assert result.content[0].text == "now changed", result
                for _ in range(50):
                    names = {t.name for t in (await c.list_tools()).tools}
                    if f"{name}__multiply" in names:
                        return names
                    await anyio.sleep(0.2)
                return names

        names = run(go)
        assert f"{name}__multiply" in names, "the handshake-era downstream's list_changed did not lead to a re-fetch"
        history = catalogs.admin.request("GET", f"/services/{name}/history").json()["changes"]
        assert history[0]["cause"] == "downstream", history[0]
    finally:
        catalogs.admin.delete(name)
        d.stop()
