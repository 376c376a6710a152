"""End-to-end tests of per-client views and access, on both registry backends, with MCP_AUTH=token:

* virtual servers: the admin API's rules (400/401/404/409, PUT replaces the whole definition);
  a view at ``/mcp/<name>`` in both eras with the SDK ``Client``: its own tools (include/exclude
  globs), prompts and resources, overrides seen by clients while the downstream receives the
  original name; a read outside the view is refused; ``list_changed`` only when its own view changes;
* tokens: 401 with ``WWW-Authenticate: Bearer resource_metadata=...`` and the RFC 9728 document;
  an invalid or expired token refused; a token scoped to a view cannot reach ``/mcp`` or another
  view (403); revocation refused on another replica within 100 ms (PostgreSQL + Redis);
  the bearer never reaches a downstream; the secret is shown once and never logged;
* rate limits: a token's limit hit (429, Retry-After, JSON-RPC -32006, counted in /metrics) and
  recovered;
* audit: one line per call naming who, view, name, service and outcome — without arguments.
"""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client

from admin_fixtures import Admin, Downstream, assert_error, backend, describe, unique_name  # noqa: F401
from conftest import GatewayFactory
from mcp_fixtures import GATEWAY_ENV, MODES, LegacySession, final_message, modern_body, modern_headers, run
from mcp import Client

pytestmark = pytest.mark.deadline(90)
BOTH_MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])


class Access:
    def __init__(self, gateways, admin: Admin, svc: str, cat: str, tool_ds: Downstream, cat_ds: Downstream):
        self.gateways, self.admin, self.svc, self.cat = gateways, admin, svc, cat
        self.tool_ds, self.cat_ds = tool_ds, cat_ds
        self.secrets: list[str] = []

    @property
    def url(self) -> str:
        return self.gateways[0].url

    def token(self, name: str, **body) -> dict:
        r = self.admin.request("POST", "/tokens", json_body={"name": name, **body})
        assert r.status_code == 201, describe(r)
        out = r.json()
        self.secrets.append(out["token"])
        return out

    def view(self, name: str, **body) -> dict:
        r = self.admin.request("POST", "/virtual-servers", json_body={"name": name, **body})
        assert r.status_code == 201, describe(r)
        return r.json()


@pytest.fixture(scope="module")
def access(backend, gateway_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"access-{backend.name}")
    storage = backend.storage(tmp / "registry.db")
    factory = GatewayFactory(gateway_bin, tmp)
    env = {**storage.gateway_env, **GATEWAY_ENV, "MCP_AUTH": "token"}
    gateways = [factory(**env)]
    if backend.has_redis:  # a second replica on the same PostgreSQL + Redis
        gateways.append(factory(**env))
    tool_ds = Downstream(mode="json", workdir=tmp)
    cat_ds = Downstream("--catalog", "left", mode="json", workdir=tmp)
    admin = Admin(gateways[0].url)
    svc, cat = unique_name("acc"), unique_name("acat")
    for name, d in ((svc, tool_ds), (cat, cat_ds)):
        r = admin.register(name, d.url)
        assert r.status_code == 201, describe(r)
    a = Access(gateways, admin, svc, cat, tool_ds, cat_ds)
    try:
        yield a
    finally:
        failed = False
        for gw in gateways:
            # No secret ever reaches a log line.
            text = gw.log_text()
            leaked = [s[:8] for s in a.secrets if s in text]
            if leaked:
                failed = True
                print(f"token secrets found in the log of :{gw.port}: {leaked}")
        for name in (svc, cat):
            try:
                admin.delete(name)
            except httpx.HTTPError:
                pass
        admin.close()
        tool_ds.stop()
        cat_ds.stop()
        problems = factory.teardown(failed)
        assert not failed, "a token secret was logged"
        assert not problems, problems


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def sdk_client(url: str, secret: str, mode: str) -> Client:
    http = httpx2.AsyncClient(headers=bearer(secret), timeout=20)
    return Client(streamable_http_client(url, http_client=http), mode=mode, cache=None)


def call(url: str, secret: str | None, name: str, arguments: dict, rid: int = 1) -> httpx.Response:
    headers = modern_headers("tools/call", name, **(bearer(secret) if secret else {}))
    return httpx.post(url, json=modern_body(rid, "tools/call", {"name": name, "arguments": arguments}), headers=headers,
                      timeout=20)


# ---------------------------------------------------------------------------------------------------
# virtual servers: the admin API

def test_virtual_server_admin_rules(access):
    a = access.admin
    name = unique_name("vs")
    assert_error(a.request("POST", "/virtual-servers", json_body={"name": name}, key=None), 401, "unauthorized")
    for body, why in (({"name": "Bad_Name"}, "name"), ({"name": name, "colour": 1}, "unknown field"),
                      ({"name": name, "include": "x"}, "include"),
                      ({"name": name, "overrides": {f"{access.svc}__add": {"name": "has space"}}}, "overrides"),
                      ({"name": name, "overrides": {f"{access.svc}__add": {"name": "n"}, f"{access.svc}__echo": {"name": "n"}}},
                       "twice"),
                      ({"name": name, "rateLimit": {"perMinute": 0}}, "rateLimit")):
        r = a.request("POST", "/virtual-servers", json_body=body)
        assert_error(r, 400, "bad_request")
        assert why in r.json()["error"]["message"], describe(r)
    created = access.view(name, include=[f"{access.svc}__*"], overrides={f"{access.svc}__add": {"name": "plus"}})
    assert created["endpoint"] == f"/mcp/{name}" and created["include"] == [f"{access.svc}__*"], created
    assert_error(a.request("POST", "/virtual-servers", json_body={"name": name}), 409, "conflict")
    # PUT replaces the whole definition: what it leaves out is gone.
    r = a.request("PUT", f"/virtual-servers/{name}", json_body={"exclude": ["*__fail"]})
    assert r.status_code == 200, describe(r)
    shown = a.request("GET", f"/virtual-servers/{name}").json()
    assert shown["include"] == [] and shown["exclude"] == ["*__fail"] and shown["overrides"] == {}, shown
    assert_error(a.request("PUT", f"/virtual-servers/{name}", json_body={"name": "other"}), 400, "bad_request")
    listed = [v["name"] for v in a.request("GET", "/virtual-servers").json()["virtualServers"]]
    assert name in listed, listed
    assert a.request("DELETE", f"/virtual-servers/{name}").status_code == 200
    for method in ("GET", "DELETE"):
        assert_error(a.request(method, f"/virtual-servers/{name}"), 404, "not_found")
    assert_error(a.request("PUT", f"/virtual-servers/{name}", json_body={}), 404, "not_found")


# ---------------------------------------------------------------------------------------------------
# views through the SDK client

@pytest.fixture(scope="module")
def team_view(access):
    name = unique_name("team")
    svc, cat = access.svc, access.cat
    access.view(name, include=[f"{svc}__*", f"{cat}__greet", f"config://{cat}/*"], exclude=[f"{svc}__fail", f"{svc}__slow*"],
                overrides={f"{svc}__add": {"name": "plus", "description": "Adds two integers.", "annotations": {"readOnlyHint": True}}})
    tok = access.token("team-client")
    return name, tok


@BOTH_MODES
def test_view_shows_its_own_lists_with_overrides(access, team_view, mode):
    name, tok = team_view
    svc, cat = access.svc, access.cat

    async def go():
        async with sdk_client(f"{access.url}/mcp/{name}", tok["token"], mode) as c:
            assert c.protocol_version == MODES[mode]
            tools = (await c.list_tools()).tools
            prompts = (await c.list_prompts()).prompts
            resources = (await c.list_resources()).resources
            templates = (await c.list_resource_templates()).resource_templates
            result = await c.call_tool("plus", {"a": 2, "b": 40})
            read = await c.read_resource(f"config://{cat}/app")
            return tools, prompts, resources, templates, result, read

    tools, prompts, resources, templates, result, read = run(go)
    names = {t.name for t in tools}
    assert "plus" in names and f"{svc}__echo" in names, names
    assert f"{svc}__add" not in names and f"{svc}__fail" not in names and f"{svc}__slow" not in names, names
    assert all(n == "plus" or n.startswith(f"{svc}__") for n in names), names
    plus = next(t for t in tools if t.name == "plus")
    assert plus.description == "Adds two integers." and plus.annotations.read_only_hint is True, plus
    assert {p.name for p in prompts} == {f"{cat}__greet"}
    assert {r.uri for r in resources} == {f"config://{cat}/app"}
    assert templates == [], templates
    assert result.content[0].text == "42", result
    assert read.contents[0].text == "config of left"
    stats = access.tool_ds.stats()
    # The downstream saw its own name, and no client credential.
    assert stats["last_call_params"]["name"] == "add", stats["last_call_params"]
    assert "authorization" not in {k.lower() for k in stats["last_call_headers"]}, stats["last_call_headers"]


def test_view_refuses_what_it_does_not_show(access, team_view):
    name, tok = team_view
    url = f"{access.url}/mcp/{name}"
    for tool in (f"{access.svc}__add", f"{access.svc}__fail"):  # renamed away / excluded
        m = final_message(call(url, tok["token"], tool, {"a": 1, "b": 2, "message": "x"}), 1)
        assert m["error"]["code"] == -32602 and "Unknown tool" in m["error"]["message"], m
    body = modern_body(2, "resources/read", {"uri": f"file://{access.cat}//notes/monday"})
    r = httpx.post(url, json=body, headers=modern_headers("resources/read", f"file://{access.cat}//notes/monday",
                                                          **bearer(tok["token"])), timeout=20)
    m = final_message(r, 2)
    assert "error" in m and "not found" in m["error"]["message"].lower(), m
    r = httpx.post(f"{access.url}/mcp/{unique_name('nosuch')}", json=modern_body(3, "tools/list"),
                   headers=modern_headers("tools/list", **bearer(tok["token"])), timeout=20)
    assert r.status_code == 404, describe(r)


def test_list_changed_only_for_its_own_view(access):
    a, b = unique_name("va"), unique_name("vb")
    access.view(a, include=[f"{access.svc}__echo"])
    access.view(b, include=[f"{access.svc}__add"])
    tok = access.token("listener")
    client = httpx.Client(timeout=httpx.Timeout(20, read=3), headers=bearer(tok["token"]))
    session = LegacySession(f"{access.url}/mcp/{a}", client=client).open()
    events: queue.Queue = queue.Queue()

    def reader():
        with client.stream("GET", session.url, headers=session.headers()) as resp:
            assert resp.status_code == 200
            events.put("open")
            try:
                for line in resp.iter_lines():
                    if line.startswith("data:"):
                        events.put(json.loads(line[5:]))
            except httpx.HTTPError:
                pass

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert events.get(timeout=10) == "open"
    # Another view changes: nothing for this one.
    r = access.admin.request("PUT", f"/virtual-servers/{b}", json_body={"include": [f"{access.svc}__multiply"]})
    assert r.status_code == 200, describe(r)
    with pytest.raises(queue.Empty):
        events.get(timeout=1.0)
    # Its own view changes: tools/list_changed.
    r = access.admin.request("PUT", f"/virtual-servers/{a}", json_body={"include": [f"{access.svc}__echo", f"{access.svc}__add"]})
    assert r.status_code == 200, describe(r)
    msg = events.get(timeout=5)
    assert msg["method"] == "notifications/tools/list_changed", msg
    _, listing = session.request(9, "tools/list")
    assert {t["name"] for t in listing["result"]["tools"]} == {f"{access.svc}__echo", f"{access.svc}__add"}, listing
    session.close()
    client.close()


# ---------------------------------------------------------------------------------------------------
# tokens

def test_no_token_gets_401_with_the_metadata_document(access):
    base = access.url
    r = httpx.post(f"{base}/mcp", json=modern_body(1, "tools/list"), headers=modern_headers("tools/list"), timeout=10)
    assert r.status_code == 401, describe(r)
    challenge = r.headers["www-authenticate"]
    want = f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
    assert challenge.startswith("Bearer ") and want in challenge and "invalid_token" not in challenge, challenge
    assert r.json()["error"]["code"] == -32010, describe(r)
    doc = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
    assert doc["resource"] == f"{base}/mcp" and doc["bearer_methods_supported"] == ["header"], doc
    assert httpx.get(f"{base}/.well-known/oauth-protected-resource", timeout=10).json()["resource"] == f"{base}/mcp"
    r = httpx.post(f"{base}/mcp", json=modern_body(1, "tools/list"),
                   headers=modern_headers("tools/list", **bearer("mgt_" + "A" * 43)), timeout=10)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"], describe(r)
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert 'mcp_gateway_auth_refusals_total{status="401"}' in metrics


def test_token_metadata_and_secret_shown_once(access):
    tok = access.token("once", rateLimit={"perMinute": 100})
    assert tok["token"].startswith("mgt_") and len(tok["id"]) == 12, tok
    listed = access.admin.request("GET", "/tokens").json()["tokens"]
    mine = [t for t in listed if t["id"] == tok["id"]]
    assert mine and "token" not in mine[0] and tok["token"] not in json.dumps(listed), listed
    assert mine[0]["rateLimit"] == {"perMinute": 100} and mine[0]["expired"] is False, mine
    for body in ({"name": ""}, {"name": "x", "virtualServers": [unique_name("nosuch")]}, {"name": "x", "expiresAt": 1},
                 {"name": "x", "expiresAt": "soon"}, {"name": "x", "rateLimit": {"perMinute": -1}}, {"name": "x", "scope": "all"}):
        assert_error(access.admin.request("POST", "/tokens", json_body=body), 400, "bad_request")
    assert_error(access.admin.request("DELETE", "/tokens/000000000000"), 404, "not_found")


def test_scoped_token_reaches_its_views_only(access, team_view):
    name, _ = team_view
    other = unique_name("other")
    access.view(other)
    tok = access.token("scoped", virtualServers=[name])
    ok = call(f"{access.url}/mcp/{name}", tok["token"], "plus", {"a": 1, "b": 1})
    assert final_message(ok, 1)["result"]["content"][0]["text"] == "2", describe(ok)
    for path in ("/mcp", f"/mcp/{other}"):
        r = call(access.url + path, tok["token"], f"{access.svc}__echo", {"text": "x"})
        assert r.status_code == 403 and 'error="insufficient_scope"' in r.headers["www-authenticate"], describe(r)


def test_expired_token_is_refused(access):
    tok = access.token("brief", expiresAt=int(time.time()) + 2)
    assert call(f"{access.url}/mcp", tok["token"], f"{access.svc}__echo", {"text": "x"}).status_code == 200
    time.sleep(2.5)
    r = call(f"{access.url}/mcp", tok["token"], f"{access.svc}__echo", {"text": "x"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"], describe(r)


def test_revocation_reaches_every_replica_at_once(access):
    tok = access.token("revoked")
    last = access.gateways[-1].url  # another replica on PostgreSQL + Redis, the same one on SQLite
    with httpx.Client(timeout=5) as c:  # connected before the revocation: only the gateway's time counts

        def attempt() -> tuple[float, int]:
            sent = time.monotonic()
            r = c.post(f"{last}/mcp", json=modern_body(1, "tools/list"), headers=modern_headers("tools/list", **bearer(tok["token"])))
            return sent, r.status_code

        assert attempt()[1] == 200
        r = access.admin.request("DELETE", f"/tokens/{tok['id']}")
        assert r.status_code == 200 and r.json()["revoked"] == tok["id"], describe(r)
        revoked_at = time.monotonic()
        while True:
            sent, status = attempt()
            if status == 401:
                break
            assert status == 200 and sent - revoked_at < 2, f"status {status}, {sent - revoked_at:.2f} s after the revocation"
    # The first request sent 100 ms or more after DELETE answered is refused (usually the first one).
    took = sent - revoked_at
    assert took < 0.1, f"the revoked token was still accepted by a request sent {took * 1000:.0f} ms after DELETE answered"
    assert_error(access.admin.request("DELETE", f"/tokens/{tok['id']}"), 404, "not_found")


# ---------------------------------------------------------------------------------------------------
# rate limits and audit

def test_rate_limit_hit_and_recovered(access):
    tok = access.token("limited", rateLimit={"perMinute": 120})
    url = f"{access.url}/mcp"
    tool = f"{access.svc}__echo"
    allowed = 0
    with httpx.Client(timeout=10) as c:
        for i in range(200):
            r = c.post(url, json=modern_body(i, "tools/call", {"name": tool, "arguments": {"text": "x"}}),
                       headers=modern_headers("tools/call", tool, **bearer(tok["token"])))
            if r.status_code == 429:
                break
            assert r.status_code == 200, describe(r)
            allowed += 1
        assert r.status_code == 429, f"no 429 after {allowed} calls at 120/min"
        # The burst is this replica's share of a minute's budget (divided among live replicas).
        assert 30 <= allowed <= 121, allowed
        body = r.json()
        assert body["error"]["code"] == -32006 and body["id"] == allowed, body
        retry = int(r.headers["retry-after"])
        assert 1 <= retry <= 60 and body["error"]["data"]["limitPerMinute"] == 120, describe(r)
        # Another tool has its own bucket.
        other = f"{access.svc}__add"
        r = c.post(url, json=modern_body(1, "tools/call", {"name": other, "arguments": {"a": 1, "b": 2}}),
                   headers=modern_headers("tools/call", other, **bearer(tok["token"])))
        assert r.status_code == 200, describe(r)
        time.sleep(body["error"]["data"]["retryAfterMs"] / 1000 + 0.1)
        r = c.post(url, json=modern_body(7, "tools/call", {"name": tool, "arguments": {"text": "again"}}),
                   headers=modern_headers("tools/call", tool, **bearer(tok["token"])))
        assert r.status_code == 200 and final_message(r, 7)["result"]["content"][0]["text"] == "again", describe(r)
    metrics = httpx.get(f"{access.url}/metrics", timeout=10).text
    line = [ln for ln in metrics.splitlines() if ln.startswith("mcp_gateway_rate_limited_total")]
    assert line and float(line[0].split()[-1]) >= 1, line


def test_audit_line_per_call_without_arguments(access, team_view):
    name, tok = team_view
    marker = unique_name("secret-argument")
    r = call(f"{access.url}/mcp/{name}", tok["token"], f"{access.svc}__echo", {"text": marker}, rid=4242)
    assert r.status_code == 200, describe(r)
    gw = access.gateways[0]
    deadline = time.monotonic() + 5
    lines: list[str] = []
    while time.monotonic() < deadline and not lines:
        lines = [ln for ln in gw.log_text().splitlines() if " audit " in ln and "rpc_id=4242" in ln]
        time.sleep(0.05)
    assert len(lines) == 1, lines
    line = lines[0]
    for part in (f"who=tok:{tok['id']}", f"view={name}", "method=tools/call", f"name={access.svc}__echo",
                 f"service={access.svc}", "outcome=ok", "request_id="):
        assert part in line, line
    assert marker not in gw.log_text(), "tool arguments reached the log without AUDIT_ARGUMENTS"
