"""End-to-end tests of what an operator relies on: the OpenAPI document, `/metrics`, the logs, the
container files.

* OpenAPI: docs/openapi.yaml validates, documents every route and status of DESIGN.md, and the
  bodies the real gateway returns match its schemas.
* Metrics: after real traffic (admin routes, an MCP session, a relayed `tools/call` through
  servers/downstream.py) the Prometheus text has the documented series, the gauges agree with
  `/health`, and label values stay bounded (routes are patterns, never a tool name or session id).
* Logs: LOG_FORMAT=json gives one JSON object per stderr line; every request has one access line
  carrying its request id, which is also echoed in `X-Request-Id`; no secret (API key, database or
  Redis password, session secret, full session id) is ever written.
* Containers: compose/docker-compose.yml validates with `docker-compose config -q` and has the
  topology of scripts/cluster.sh; compose/nginx.conf passes `nginx -t` and really proxies MCP (SSE
  included) to three replicas; compose/Dockerfile installs what the binary links.

Tests marked for storage use the suite's PostgreSQL + Redis (scripts/test.sh, or
`scripts/services.sh start DIR && . DIR/env`); the suite's database is shared with other modules, so
service names are fresh and counts are compared with `/health`, never with fixed numbers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import httpx
import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from admin_fixtures import Downstream
from conftest import ROOT, free_port
from mcp_fixtures import poll
from rawhttp import RawConn

OPENAPI = ROOT / "docs" / "openapi.yaml"
COMPOSE = ROOT / "compose" / "docker-compose.yml"
NGINX_CONF = ROOT / "compose" / "nginx.conf"
DOCKERFILE = ROOT / "compose" / "Dockerfile"
CLUSTER_SH = ROOT / "scripts" / "cluster.sh"
API_KEY = "test-key"  # conftest.gateway_env's default
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT_BOTH = "application/json, text/event-stream"
BASIC_TOOLS = ["echo", "add", "fail", "slow", "progress", "whoami"]
STORAGE_VARS = ("DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD", "DB_DATABASE", "REDIS_URL")


def fresh(prefix: str) -> str:
    """A fresh valid service name."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def need_storage() -> None:
    missing = [v for v in STORAGE_VARS if not os.environ.get(v)]
    if missing:
        pytest.fail(f"this test needs PostgreSQL + Redis ({', '.join(missing)} unset): run it through "
                    f"scripts/test.sh, or `scripts/services.sh start DIR && . DIR/env`", pytrace=False)


def describe(r: httpx.Response) -> str:
    return f"HTTP {r.status_code} {dict(r.headers)} {r.text[:500]!r}"


# ---------------------------------------------------------------------------------------------------
# downstream MCP server: admin_fixtures.Downstream (servers/downstream.py)

@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    d = Downstream(mode="json", workdir=tmp_path_factory.mktemp("ops-downstream"))
    yield d
    d.stop()


@pytest.fixture
def own_downstream(tmp_path):
    made: list[Downstream] = []

    def start() -> Downstream:
        d = Downstream(mode="json", workdir=tmp_path)
        made.append(d)
        return d

    yield start
    for d in made:
        d.stop()


# ---------------------------------------------------------------------------------------------------
# HTTP / MCP helpers

def admin_headers(key: str = API_KEY, **extra: str) -> dict[str, str]:
    return {"X-API-Key": key, **extra}


def register(client: httpx.Client, name: str, url: str, key: str = API_KEY) -> httpx.Response:
    r = client.post("/register", json={"name": name, "url": url}, headers=admin_headers(key))
    assert r.status_code == 201, f"register {name}: {describe(r)}"
    return r


class Session:
    """A handshake-era MCP session over httpx."""

    def __init__(self, client: httpx.Client):
        self.client = client
        body = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": LEGACY, "capabilities": {},
                           "clientInfo": {"name": "ops-e2e", "version": "1"}}}
        r = client.post("/mcp", json=body, headers={"Accept": ACCEPT_BOTH})
        assert r.status_code == 200, f"initialize: {describe(r)}"
        self.id = r.headers.get("mcp-session-id")
        assert self.id, f"initialize without Mcp-Session-Id: {describe(r)}"
        r = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert r.status_code == 202, f"notifications/initialized: {describe(r)}"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Accept": ACCEPT_BOTH, "Mcp-Session-Id": self.id, "MCP-Protocol-Version": LEGACY, **extra}

    def post(self, body: dict, **headers: str) -> httpx.Response:
        return self.client.post("/mcp", json=body, headers=self.headers(**headers))

    def call(self, rid: int, method: str, params: dict | None = None) -> dict:
        body = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            body["params"] = params
        r = self.post(body)
        assert r.status_code == 200, f"{method}: {describe(r)}"
        assert r.headers.get("content-type", "").startswith("application/json"), describe(r)
        return r.json()

    def tool_names(self) -> list[str]:
        return [t["name"] for t in self.call(900, "tools/list")["result"]["tools"]]

    def wait_for_tool(self, name: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while name not in self.tool_names():
            assert time.monotonic() < deadline, f"{name} not in tools/list within {timeout} s"
            time.sleep(0.05)

    def delete(self) -> httpx.Response:
        return self.client.delete("/mcp", headers=self.headers())


def modern_post(client: httpx.Client, rid: int, method: str, params: dict | None = None) -> httpx.Response:
    p = dict(params or {})
    p["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    return client.post("/mcp", json={"jsonrpc": "2.0", "id": rid, "method": method, "params": p},
                       headers={"Accept": ACCEPT_BOTH, "MCP-Protocol-Version": MODERN, "Mcp-Method": method})


# ---------------------------------------------------------------------------------------------------
# metrics helpers

class Scrape:
    """One `/metrics` scrape, parsed by prometheus_client."""

    def __init__(self, text: str):
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = [(s.name, dict(s.labels), s.value) for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float | None:
        """The sample `name` whose labels include `labels` (the only one), or None."""
        found = [v for n, l, v in self.samples if n == name and all(l.get(k) == x for k, x in labels.items())]
        assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
        return found[0] if found else None

    def series(self, name: str) -> list[dict]:
        return [l for n, l, _ in self.samples if n == name]

    def label_values(self) -> set[str]:
        return {v for _, l, _ in self.samples for v in l.values()}

    def type_of(self, family: str) -> str:
        return self.families[family].type


def scrape(client: httpx.Client) -> Scrape:
    r = client.get("/metrics")
    assert r.status_code == 200, describe(r)
    assert r.headers["content-type"].startswith("text/plain"), describe(r)
    return Scrape(r.text)


def wait_answering(gw, timeout: float = 15.0) -> None:
    """Waits until the gateway answers GET /health at all (whatever the storage state: these
    gateways are started with storage that cannot be reached)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert gw.proc.poll() is None, f"the gateway exited with code {gw.proc.returncode}:\n{gw.log_tail()}"
        try:
            if httpx.get(gw.url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"the gateway did not answer GET /health within {timeout} s\n{gw.log_tail()}", pytrace=False)


# ---------------------------------------------------------------------------------------------------
# (a) the OpenAPI document

def load_openapi() -> dict:
    return yaml.safe_load(OPENAPI.read_text())


def test_openapi_document_validates():
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    spec, _ = read_from_filename(str(OPENAPI))
    validate(spec)  # raises on any violation of the OpenAPI 3.x schema


def test_openapi_documents_every_route_and_status_of_the_design():
    doc = load_openapi()
    paths = doc["paths"]
    # DESIGN.md's admin table: route -> statuses (success first), plus 503 wherever storage is read.
    expected = {
        ("/register", "post"): {"201", "400", "401", "409", "502", "503"},
        ("/update/{name}", "put"): {"200", "404", "401", "502", "503"},
        ("/delete/{name}", "delete"): {"200", "404", "401", "503"},
        ("/services", "get"): {"200", "401"},
        ("/services/{name}", "get"): {"200", "404", "401"},
        ("/health", "get"): {"200"},
        ("/metrics", "get"): {"200"},
        ("/mcp", "post"): {"200", "202", "400", "401", "403", "404", "406", "429"},
        ("/mcp", "get"): {"200", "400", "401", "403", "404", "405", "406"},
        ("/mcp", "delete"): {"204", "400", "401", "403", "404"},
        # virtual servers and tokens (DESIGN.md: 201 / 200, 400 · 401 · 404 · 409)
        ("/virtual-servers", "post"): {"201", "400", "401", "409", "503"},
        ("/virtual-servers", "get"): {"200", "401"},
        ("/virtual-servers/{name}", "get"): {"200", "401", "404"},
        ("/virtual-servers/{name}", "put"): {"200", "400", "401", "404", "503"},
        ("/virtual-servers/{name}", "delete"): {"200", "401", "404", "503"},
        ("/tokens", "post"): {"201", "400", "401", "503"},
        ("/tokens", "get"): {"200", "401"},
        ("/tokens/{id}", "delete"): {"200", "401", "404", "503"},
        # views: everything /mcp speaks, plus authentication, an unknown view and rate limits
        ("/mcp/{view}", "post"): {"200", "202", "400", "401", "403", "404", "406", "429"},
        ("/mcp/{view}", "get"): {"200", "400", "401", "403", "404", "405", "406"},
        ("/mcp/{view}", "delete"): {"204", "400", "401", "403", "404"},
        ("/.well-known/oauth-protected-resource", "get"): {"200"},
        ("/.well-known/oauth-protected-resource/mcp", "get"): {"200"},
        ("/.well-known/oauth-protected-resource/mcp/{view}", "get"): {"200", "404"},
    }
    for (path, method), statuses in expected.items():
        assert path in paths, f"{path} is not documented"
        assert method in paths[path], f"{method.upper()} {path} is not documented"
        documented = set(paths[path][method]["responses"])
        assert statuses <= documented, f"{method.upper()} {path}: statuses {statuses - documented} are not documented"

    schemes = doc["components"]["securitySchemes"]
    assert any(s.get("type") == "apiKey" and s.get("in") == "header" and s.get("name") == "X-API-Key"
               for s in schemes.values()), f"no X-API-Key security scheme: {schemes}"
    scheme = next(n for n, s in schemes.items() if s.get("name") == "X-API-Key")
    for path, method in [("/register", "post"), ("/update/{name}", "put"), ("/delete/{name}", "delete"),
                         ("/services", "get"), ("/services/{name}", "get"), ("/virtual-servers", "post"),
                         ("/virtual-servers", "get"), ("/virtual-servers/{name}", "get"), ("/virtual-servers/{name}", "put"),
                         ("/virtual-servers/{name}", "delete"), ("/tokens", "post"), ("/tokens", "get"),
                         ("/tokens/{id}", "delete")]:
        sec = paths[path][method].get("security", doc.get("security"))
        assert sec and all(scheme in s for s in sec), f"{method.upper()} {path} does not require {scheme}"
    for path, method in [("/health", "get"), ("/metrics", "get"), ("/.well-known/oauth-protected-resource/mcp", "get")]:
        sec = paths[path][method].get("security", doc.get("security", []))
        assert sec in ([], [{}]), f"{method.upper()} {path} must not require a key, documents {sec}"
    # /mcp and its views: never the admin key; a client bearer only as MCP_AUTH asks (none by default).
    bearer = next((n for n, s in schemes.items() if s.get("type") == "http" and s.get("scheme") == "bearer"), None)
    assert bearer, f"no bearer security scheme for MCP clients: {schemes}"
    for path in ("/mcp", "/mcp/{view}"):
        for method in ("post", "get", "delete"):
            sec = paths[path][method].get("security", doc.get("security", []))
            assert {} in sec and not any(scheme in s for s in sec), f"{method.upper()} {path}: {sec}"
            assert any(bearer in s for s in sec), f"{method.upper()} {path} does not name the {bearer} scheme"

    schemas = doc["components"]["schemas"]
    codes = set(schemas["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    assert {"bad_request", "unauthorized", "not_found", "conflict", "downstream_error",
            "storage_unavailable"} <= codes, codes
    mutation = schemas["MutationResult"]["properties"]
    assert {"version", "redis"} <= set(mutation), mutation
    # The secret is in the creation response only; listings never carry it.
    assert "token" in schemas["TokenCreated"]["required"] and "token" not in schemas["Token"]["properties"]
    assert {"version", "redis"} <= set(schemas["VirtualServerMutation"]["required"])


class OpenAPIChecker:
    """Validates real responses against the documented response of (path, method, status)."""

    def __init__(self):
        self.doc = load_openapi()
        self.checked: set[tuple[str, str, int]] = set()

    def _resolve(self, obj: dict) -> dict:
        while "$ref" in obj:
            node = self.doc
            for part in obj["$ref"].lstrip("#/").split("/"):
                node = node[part]
            obj = node
        return obj

    def check(self, path: str, method: str, r: httpx.Response) -> None:
        op = self.doc["paths"][path][method]
        responses = op["responses"]
        status = str(r.status_code)
        assert status in responses, (f"{method.upper()} {path} answered {status}, which docs/openapi.yaml does "
                                     f"not document ({sorted(responses)}): {describe(r)}")
        resp = self._resolve(responses[status])
        content = resp.get("content")
        if not content:
            assert r.content == b"", f"{method.upper()} {path} {status}: documented without a body: {describe(r)}"
            return
        ctype = r.headers.get("content-type", "").split(";")[0].strip()
        assert ctype in content, f"{method.upper()} {path} {status}: content type {ctype!r} not in {list(content)}"
        schema = content[ctype].get("schema")
        if schema and ctype == "application/json":
            root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": self.doc["components"], **schema}
            errors = sorted(jsonschema.Draft202012Validator(root).iter_errors(r.json()), key=str)
            assert not errors, (f"{method.upper()} {path} {status}: body does not match docs/openapi.yaml: "
                                f"{[e.message for e in errors][:5]} body={r.text[:600]}")
        for name in resp.get("headers", {}):
            if name.lower() == "x-request-id":
                assert r.headers.get(name), f"{method.upper()} {path} {status}: no {name} header"
        self.checked.add((path, method, r.status_code))


def test_openapi_schemas_match_real_responses(start_gateway, downstream):
    """The bodies the gateway really returns validate against the documented schemas (embedded
    SQLite storage, so no external service is needed)."""
    gw = start_gateway()
    spec = OpenAPIChecker()
    name = fresh("openapi")
    with httpx.Client(base_url=gw.url, timeout=20) as c:
        r = c.post("/register", json={"name": name, "url": downstream.url}, headers=admin_headers())
        spec.check("/register", "post", r)
        assert r.status_code == 201
        assert sorted(r.json()["tools"]) == sorted(BASIC_TOOLS), r.text
        spec.check("/register", "post", c.post("/register", json={"name": name, "url": downstream.url},
                                               headers=admin_headers()))  # 409
        spec.check("/register", "post", c.post("/register", json={"name": "Bad_Name", "url": downstream.url},
                                               headers=admin_headers()))  # 400
        spec.check("/register", "post", c.post("/register", json={"name": fresh("x"), "url": downstream.url, "extra": 1},
                                               headers=admin_headers()))  # 400 unknown field
        spec.check("/register", "post", c.post("/register", json={"name": fresh("x"), "url": downstream.url}))  # 401
        spec.check("/register", "post", c.post("/register", json={"name": fresh("x"), "url": downstream.url},
                                               headers=admin_headers("wrong-key-123")))  # 401
        dead = f"http://127.0.0.1:{free_port()}/mcp"
        spec.check("/register", "post", c.post("/register", json={"name": fresh("dead"), "url": dead},
                                               headers=admin_headers()))  # 502
        spec.check("/services", "get", c.get("/services", headers=admin_headers()))
        spec.check("/services", "get", c.get("/services"))
        spec.check("/services/{name}", "get", c.get(f"/services/{name}", headers=admin_headers()))
        spec.check("/services/{name}", "get", c.get(f"/services/{fresh('none')}", headers=admin_headers()))
        spec.check("/update/{name}", "put", c.put(f"/update/{name}", headers=admin_headers()))
        spec.check("/update/{name}", "put", c.put(f"/update/{name}", json={"url": downstream.url},
                                                  headers=admin_headers()))
        spec.check("/update/{name}", "put", c.put(f"/update/{name}", json={"url": "ftp://x"},
                                                  headers=admin_headers()))  # 400
        spec.check("/update/{name}", "put", c.put(f"/update/{fresh('none')}", headers=admin_headers()))  # 404
        spec.check("/update/{name}", "put", c.put(f"/update/{name}", json={"url": dead},
                                                  headers=admin_headers()))  # 502
        spec.check("/replicas", "get", c.get("/replicas", headers=admin_headers()))
        spec.check("/replicas", "get", c.get("/replicas"))  # 401
        spec.check("/events", "get", c.get("/events"))  # 401
        spec.check("/health", "get", c.get("/health"))
        spec.check("/livez", "get", c.get("/livez"))
        spec.check("/metrics", "get", c.get("/metrics"))

        session = Session(c)
        spec.check("/mcp", "post", session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        spec.check("/mcp", "post", session.post({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                 "params": {"name": f"{name}__echo", "arguments": {"text": "x"}}}))
        spec.check("/mcp", "post", session.post({"jsonrpc": "2.0", "method": "notifications/initialized"}))  # 202
        spec.check("/mcp", "post", c.post("/mcp", content=b"{not json", headers={"Accept": ACCEPT_BOTH,
                                                                                  "Content-Type": "application/json"}))
        spec.check("/mcp", "post", c.post("/mcp", json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
                                          headers={"Accept": ACCEPT_BOTH}))  # 400: no session
        spec.check("/mcp", "post", c.post("/mcp", json={"jsonrpc": "2.0", "id": 4, "method": "tools/list"},
                                          headers={"Accept": "application/json"}))  # 406
        spec.check("/mcp", "post", c.post("/mcp", json={"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
                                          headers={"Accept": ACCEPT_BOTH, "Origin": "https://evil.example"}))  # 403
        spec.check("/mcp", "post", modern_post(c, 6, "server/discover"))
        spec.check("/mcp", "post", modern_post(c, 7, "no/such-method"))  # 404 -32601
        spec.check("/mcp", "get", c.get("/mcp", headers={"Accept": "text/event-stream"}))  # 400
        spec.check("/mcp", "delete", session.delete())  # 204
        spec.check("/mcp", "delete", session.delete())  # 404: ended
        spec.check("/mcp", "post", session.post({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}))  # 404

        spec.check("/delete/{name}", "delete", c.delete(f"/delete/{name}", headers=admin_headers()))
        spec.check("/delete/{name}", "delete", c.delete(f"/delete/{name}", headers=admin_headers()))  # 404
        spec.check("/delete/{name}", "delete", c.delete(f"/delete/{name}"))  # 401

    # 413 on POST /register, as documented (the HTTP layer answers it and closes the connection)
    with RawConn(gw.port) as conn:
        conn.send(f"POST /register HTTP/1.1\r\nHost: x\r\nX-API-Key: {API_KEY}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {64 * 1024 * 1024}\r\n\r\n")
        raw = conn.read_response("POST")
    assert raw.status == 413, raw
    body = raw.json()
    errors = list(jsonschema.Draft202012Validator(
        {"components": spec.doc["components"], "$ref": "#/components/schemas/Error"}).iter_errors(body))
    assert not errors, f"413 body {body} does not match the Error schema: {[e.message for e in errors]}"

    statuses = {(p, m): set() for p, m, _ in spec.checked}
    for p, m, s in spec.checked:
        statuses[(p, m)].add(s)
    assert statuses[("/register", "post")] >= {201, 400, 401, 409, 502}, statuses
    assert statuses[("/update/{name}", "put")] >= {200, 400, 404, 502}, statuses
    assert statuses[("/delete/{name}", "delete")] >= {200, 401, 404}, statuses


def test_openapi_access_schemas_match_real_responses(start_gateway, downstream):
    """Virtual servers, tokens, views and the RFC 9728 documents answer as docs/openapi.yaml says
    (MCP_AUTH=token, embedded SQLite)."""
    gw = start_gateway(MCP_AUTH="token")
    spec = OpenAPIChecker()
    svc, view = fresh("oas"), fresh("view")
    key = admin_headers()
    with httpx.Client(base_url=gw.url, timeout=20) as c:
        register(c, svc, downstream.url)
        body = {"name": view, "include": [f"{svc}__*"], "exclude": [f"{svc}__fail"],
                "overrides": {f"{svc}__add": {"name": "plus", "description": "Adds."}}, "rateLimit": {"perMinute": 2}}
        spec.check("/virtual-servers", "post", c.post("/virtual-servers", json=body, headers=key))  # 201
        spec.check("/virtual-servers", "post", c.post("/virtual-servers", json=body, headers=key))  # 409
        spec.check("/virtual-servers", "post", c.post("/virtual-servers", json={"name": "Bad_Name"}, headers=key))  # 400
        spec.check("/virtual-servers", "post", c.post("/virtual-servers", json=body))  # 401
        spec.check("/virtual-servers", "get", c.get("/virtual-servers", headers=key))
        spec.check("/virtual-servers/{name}", "get", c.get(f"/virtual-servers/{view}", headers=key))
        spec.check("/virtual-servers/{name}", "get", c.get(f"/virtual-servers/{fresh('none')}", headers=key))  # 404
        spec.check("/virtual-servers/{name}", "put", c.put(f"/virtual-servers/{view}", json={k: v for k, v in body.items() if k != "name"},
                                                           headers=key))
        spec.check("/virtual-servers/{name}", "put", c.put(f"/virtual-servers/{view}", json={"name": "other"},
                                                           headers=key))  # 400
        spec.check("/virtual-servers/{name}", "put", c.put(f"/virtual-servers/{fresh('none')}", json={}, headers=key))

        created = c.post("/tokens", json={"name": "ops", "virtualServers": [view], "expiresAt": "2099-01-01T00:00:00Z",
                                          "rateLimit": {"perMinute": 100}}, headers=key)
        spec.check("/tokens", "post", created)  # 201
        secret = created.json()["token"]
        everywhere = c.post("/tokens", json={"name": "all"}, headers=key)
        spec.check("/tokens", "post", everywhere)
        spec.check("/tokens", "post", c.post("/tokens", json={"name": "x", "virtualServers": [fresh("none")]},
                                             headers=key))  # 400
        spec.check("/tokens", "get", c.get("/tokens", headers=key))
        assert secret not in c.get("/tokens", headers=key).text

        def view_call(path: str, rid: int, token: str | None, tool: str = "plus") -> httpx.Response:
            meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
            headers = {"Accept": ACCEPT_BOTH, "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": tool}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            return c.post(path, json={"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                                      "params": {"name": tool, "arguments": {"a": 1, "b": 2}, "_meta": meta}}, headers=headers)

        spec.check("/mcp/{view}", "post", view_call(f"/mcp/{view}", 1, None))  # 401
        spec.check("/mcp/{view}", "post", view_call(f"/mcp/{view}", 2, "mgt_" + "A" * 43))  # 401 invalid_token
        spec.check("/mcp", "post", view_call("/mcp", 3, secret, f"{svc}__echo"))  # 403: limited to the view
        spec.check("/mcp/{view}", "post", view_call(f"/mcp/{fresh('none')}", 4, everywhere.json()["token"]))  # 404
        statuses = [view_call(f"/mcp/{view}", 10 + i, secret) for i in range(3)]
        for r in statuses:
            spec.check("/mcp/{view}", "post", r)
        assert [r.status_code for r in statuses] == [200, 200, 429], [describe(r) for r in statuses]
        assert int(statuses[-1].headers["retry-after"]) >= 1

        spec.check("/.well-known/oauth-protected-resource", "get", c.get("/.well-known/oauth-protected-resource"))
        spec.check("/.well-known/oauth-protected-resource/mcp", "get", c.get("/.well-known/oauth-protected-resource/mcp"))
        spec.check("/.well-known/oauth-protected-resource/mcp/{view}", "get",
                   c.get(f"/.well-known/oauth-protected-resource/mcp/{view}"))
        spec.check("/.well-known/oauth-protected-resource/mcp/{view}", "get",
                   c.get(f"/.well-known/oauth-protected-resource/mcp/{fresh('none')}"))  # 404

        token_id = created.json()["id"]
        spec.check("/tokens/{id}", "delete", c.delete(f"/tokens/{token_id}", headers=key))
        spec.check("/tokens/{id}", "delete", c.delete(f"/tokens/{token_id}", headers=key))  # 404: revoked
        spec.check("/tokens/{id}", "delete", c.delete(f"/tokens/{token_id}"))  # 401
        spec.check("/virtual-servers/{name}", "delete", c.delete(f"/virtual-servers/{view}", headers=key))
        spec.check("/virtual-servers/{name}", "delete", c.delete(f"/virtual-servers/{view}", headers=key))  # 404

    statuses: dict[tuple[str, str], set[int]] = {}
    for p, m, st in spec.checked:
        statuses.setdefault((p, m), set()).add(st)
    assert statuses[("/virtual-servers", "post")] >= {201, 400, 401, 409}, statuses
    assert statuses[("/virtual-servers/{name}", "put")] >= {200, 400, 404}, statuses
    assert statuses[("/tokens/{id}", "delete")] >= {200, 401, 404}, statuses
    assert statuses[("/mcp/{view}", "post")] >= {200, 401, 404, 429}, statuses
    assert statuses[("/mcp", "post")] >= {403}, statuses


def test_openapi_storage_unavailable_is_documented(start_gateway):
    """503 storage_unavailable, as documented, while storage cannot be reached."""
    port = free_port()  # nothing listens there
    gw = start_gateway(DATABASE_URL=f"postgres://nobody:nopw@127.0.0.1:{port}/none", DB_CONNECT_TIMEOUT="1",
                       wait=False)
    wait_answering(gw)
    spec = OpenAPIChecker()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        health = c.get("/health")
        spec.check("/health", "get", health)
        assert health.json()["status"] == "degraded", health.text
        assert health.json()["storage"]["state"] != "up", health.text
        # What the driver said (host, port, user, "refused") goes to the log, never to a client.
        for leak in (str(port), "nobody", "127.0.0.1", "refused", "postgres://"):
            assert leak not in health.text, f"/health shows driver detail {leak!r}: {health.text}"
        for method, path, doc_path in [("GET", "/services", "/services"), ("GET", "/services/abc", "/services/{name}"),
                                       ("DELETE", "/delete/abc", "/delete/{name}"),
                                       ("PUT", "/update/abc", "/update/{name}")]:
            r = c.request(method, path, headers=admin_headers())
            assert r.status_code == 503, f"{method} {path} with storage down: {describe(r)}"
            assert r.json()["error"]["code"] == "storage_unavailable", describe(r)
            assert str(port) not in r.text and "nobody" not in r.text and "refused" not in r.text, describe(r)
            spec.check(doc_path, method.lower(), r)
        r = c.post("/register", json={"name": fresh("x"), "url": "http://127.0.0.1:9/mcp"}, headers=admin_headers())
        assert r.status_code == 503, describe(r)
        spec.check("/register", "post", r)


# ---------------------------------------------------------------------------------------------------
# (b) metrics

ROUTE_PATTERNS = {"/register", "/update/:name", "/delete/:name", "/services", "/services/:name", "/health",
                  "/livez", "/metrics", "/mcp", "unmatched"}


@pytest.mark.deadline(120)
def test_metrics_after_admin_mcp_and_tool_traffic(start_gateway, downstream):
    need_storage()
    gw = start_gateway(with_storage=True)
    name = fresh("opsmetrics")
    unknown_method = f"x-ops/{uuid.uuid4().hex}"
    unknown_path = f"/no-such-route-{uuid.uuid4().hex}"
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        register(c, name, downstream.url)
        session = Session(c)
        session.wait_for_tool(f"{name}__echo")
        listed = session.call(1, "tools/list")["result"]["tools"]
        federated = {t["name"] for t in listed}
        result = session.call(2, "tools/call", {"name": f"{name}__echo", "arguments": {"text": "metrics"}})
        assert result["result"]["content"][0]["text"] == "metrics", result
        result = session.call(3, "tools/call", {"name": f"{name}__add", "arguments": {"a": 2, "b": 3}})
        assert "result" in result, result
        err = session.call(4, unknown_method)
        assert err["error"]["code"] == -32601, err
        r = modern_post(c, 5, "server/discover")
        assert r.status_code == 200, describe(r)
        r = modern_post(c, 6, "tools/list")
        assert r.status_code == 200, describe(r)
        assert c.get(unknown_path).status_code == 404
        assert c.put(f"/update/{name}", headers=admin_headers()).status_code == 200
        assert c.get("/services", headers=admin_headers()).status_code == 200
        assert c.get("/services").status_code == 401

        m = scrape(c)
        health = c.get("/health").json()

        # -- HTTP requests by route (the pattern), method and status
        assert m.type_of("mcp_gateway_http_requests") == "counter"
        http = "mcp_gateway_http_requests_total"
        for labels, at_least in [(("/register", "POST", "201"), 1), (("/mcp", "POST", "200"), 6),
                                 (("/mcp", "POST", "202"), 1), (("/update/:name", "PUT", "200"), 1),
                                 (("unmatched", "GET", "404"), 1), (("/services", "GET", "200"), 1),
                                 (("/services", "GET", "401"), 1)]:
            route, method, status = labels
            v = m.value(http, route=route, method=method, status=status)
            assert v is not None and v >= at_least, f"{http}{labels} = {v}, expected >= {at_least}\n{m.text}"
        for s in m.series(http):
            assert set(s) == {"route", "method", "status"}, s
            assert s["route"] in ROUTE_PATTERNS, f"route label {s['route']!r} is not a route pattern"
        assert m.type_of("mcp_gateway_http_request_duration_seconds") == "histogram"
        count = m.value("mcp_gateway_http_request_duration_seconds_count", route="/mcp")
        assert count is not None and count >= 7, f"/mcp request duration count {count}"

        # -- MCP requests by method and era
        mcp = "mcp_gateway_mcp_requests_total"
        assert m.type_of("mcp_gateway_mcp_requests") == "counter"
        for method, era in [("tools/list", "handshake"), ("tools/call", "handshake"), ("other", "handshake"),
                            ("server/discover", "2026"), ("tools/list", "2026")]:
            v = m.value(mcp, method=method, era=era)
            assert v is not None and v >= 1, f"{mcp}{{method={method},era={era}}} = {v}\n{m.text}"
        assert (m.value(mcp, method="tools/call", era="handshake") or 0) >= 2
        initialize_count = m.value(mcp, method="initialize", era="handshake")  # checked last
        mcp_lines = "\n".join(l for l in m.text.splitlines() if l.startswith(mcp))

        # -- tool calls by service and outcome, and their latency
        assert m.type_of("mcp_gateway_tool_calls") == "counter"
        ok = m.value("mcp_gateway_tool_calls_total", service=name, outcome="ok")
        assert ok is not None and ok >= 2, f"tool calls ok for {name}: {ok}\n{m.text}"
        assert m.type_of("mcp_gateway_tool_call_duration_seconds") == "histogram"
        n = m.value("mcp_gateway_tool_call_duration_seconds_count", service=name)
        total = m.value("mcp_gateway_tool_call_duration_seconds_sum", service=name)
        inf = m.value("mcp_gateway_tool_call_duration_seconds_bucket", service=name, le="+Inf")
        assert n is not None and n >= 2 and inf == n and total and total > 0, (n, total, inf)

        # -- registry gauges agree with /health (retry: a fence reload may land between the two reads)
        def consistent():
            m2, h = scrape(c), c.get("/health").json()
            ok = (m2.value("mcp_gateway_registry_version") == h["registryVersion"]
                  and m2.value("mcp_gateway_services") == h["services"]
                  and m2.value("mcp_gateway_tools") == h["tools"])
            return (m2, h) if ok else None
        pair = poll(consistent, timeout=5)
        assert pair, (f"registry gauges disagree with /health: version {m.value('mcp_gateway_registry_version')} vs "
                      f"{health['registryVersion']}, services {m.value('mcp_gateway_services')} vs {health['services']}, "
                      f"tools {m.value('mcp_gateway_tools')} vs {health['tools']}")
        m, health = pair
        assert health["registryVersion"] > 0 and health["services"] >= 1 and health["tools"] >= len(BASIC_TOOLS)
        for g in ["mcp_gateway_registry_version", "mcp_gateway_services", "mcp_gateway_tools",
                  "mcp_gateway_storage_up", "mcp_gateway_redis_up", "mcp_gateway_open_connections",
                  "mcp_gateway_sse_listeners"]:
            assert m.type_of(g) == "gauge", f"{g} is a {m.type_of(g)}"

        # -- storage and Redis gauges
        assert health["storage"]["state"] == "up" and m.value("mcp_gateway_storage_up") == 1, (health, m.text)
        assert health["redis"]["state"] == "up" and m.value("mcp_gateway_redis_up") == 1, (health, m.text)
        assert m.value("mcp_gateway_redis_subscriber_up") == 1, m.text
        assert (m.value("mcp_gateway_index_reloads_total") or 0) >= 1, m.text

        # -- open connections: a second, idle keep-alive connection counts
        with RawConn(gw.port) as held:
            held.request("GET", "/livez")
            conns = scrape(c).value("mcp_gateway_open_connections")
            assert conns is not None and conns >= 2, f"open connections {conns} with two clients connected"
            assert c.get("/health").json()["connections"] >= 2

        # -- SSE listeners: a GET /mcp stream counts while open
        base = scrape(c).value("mcp_gateway_sse_listeners")
        with c.stream("GET", "/mcp", headers=session.headers(Accept="text/event-stream")) as stream:
            assert stream.status_code == 200, stream.status_code
            assert poll(lambda: scrape(c).value("mcp_gateway_sse_listeners") == base + 1), \
                f"sse listeners not {base + 1} while a GET /mcp stream is open: {scrape(c).value('mcp_gateway_sse_listeners')}"
            assert c.get("/health").json()["listeners"] == base + 1
        assert poll(lambda: scrape(c).value("mcp_gateway_sse_listeners") == base), "listener gauge did not drop"

        # -- bounded labels: never a tool name, a session id, an unknown method or a concrete path
        m = scrape(c)
        forbidden = federated | set(BASIC_TOOLS) | {session.id, unknown_method, unknown_path, f"/update/{name}",
                                                    f"{name}__echo"}
        leaked = m.label_values() & forbidden
        assert not leaked, f"unbounded label values in /metrics: {leaked}"
        session.delete()

    assert initialize_count is not None and initialize_count >= 1, (
        f"an MCP initialize was answered but {mcp}{{method=\"initialize\",era=\"handshake\"}} is "
        f"{initialize_count}: initialize is not counted (GatewayMetrics.knownMethods lists it)\n{mcp_lines}")


def test_metric_label_sets_stay_bounded(start_gateway):
    """Many distinct paths, methods and session ids add no series."""
    gw = start_gateway()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        s = Session(c)
        c.get(f"/nope-{uuid.uuid4().hex}")
        s.call(1, f"m-{uuid.uuid4().hex}")
        before = scrape(c)
        ids = set()
        for i in range(25):
            c.get(f"/nope-{uuid.uuid4().hex}")
            c.delete(f"/delete/{fresh('n')}", headers=admin_headers())
            t = Session(c)
            ids.add(t.id)
            t.call(i, f"m-{uuid.uuid4().hex}")
            t.call(1000 + i, "tools/call", {"name": f"s{i}__tool{i}", "arguments": {}})  # unknown tool
        after = scrape(c)
    for metric in ["mcp_gateway_http_requests_total", "mcp_gateway_mcp_requests_total",
                   "mcp_gateway_http_request_duration_seconds_count", "mcp_gateway_tool_calls_total"]:
        grew = len(after.series(metric)) - len(before.series(metric))
        assert grew <= 3, f"{metric}: {grew} new series for 25 distinct paths/methods/sessions"
    assert not (after.label_values() & ids), "a session id became a label value"
    assert not any(v.startswith(("/nope-", "m-", "s0__")) for v in after.label_values()), after.label_values()


def test_tool_call_failure_is_counted_as_error(start_gateway, own_downstream):
    gw = start_gateway(DOWNSTREAM_CONNECT_TIMEOUT="2", TOOL_CALL_TIMEOUT="10")
    d = own_downstream()
    name = fresh("opsfail")
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        register(c, name, d.url)
        s = Session(c)
        s.wait_for_tool(f"{name}__echo")
        assert "result" in s.call(1, "tools/call", {"name": f"{name}__echo", "arguments": {"text": "a"}})
        d.stop()
        reply = s.call(2, "tools/call", {"name": f"{name}__echo", "arguments": {"text": "b"}})
        assert "error" in reply, f"a call to a stopped downstream returned {reply}"
        m = scrape(c)
        assert m.value("mcp_gateway_tool_calls_total", service=name, outcome="ok") == 1, m.text
        err = m.value("mcp_gateway_tool_calls_total", service=name, outcome="error")
        assert err == 1, f"failed call not counted as outcome=error: {err}\n{m.text}"
        assert m.value("mcp_gateway_tool_call_duration_seconds_count", service=name) == 2


# ---------------------------------------------------------------------------------------------------
# (c) logs

ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
LEVELS = {"trace", "debug", "info", "warn", "error"}


def json_lines(text: str) -> list[dict]:
    out = []
    for i, line in enumerate(text.splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            pytest.fail(f"stderr line {i + 1} is not JSON: {line!r}", pytrace=False)
        assert isinstance(obj, dict), f"stderr line {i + 1} is not a JSON object: {line!r}"
        assert isinstance(obj.get("time"), str) and ISO_TIME.match(obj["time"]), f"bad time: {line}"
        assert obj.get("level") in LEVELS, f"bad level: {line}"
        assert isinstance(obj.get("msg"), str) and obj["msg"], f"no msg: {line}"
        out.append(obj)
    return out


def access_lines(lines: list[dict], request_id: str) -> list[dict]:
    return [l for l in lines if l.get("msg") == "request" and l.get("request_id") == request_id]


@pytest.mark.deadline(120)
def test_json_logs_and_request_ids(start_gateway, downstream):
    need_storage()
    gw = start_gateway(with_storage=True, LOG_FORMAT="json", LOG_LEVEL="trace")
    sent: list[tuple[str, str, str, int]] = []  # (request id, method, path, status)
    generated: list[tuple[str, str, int]] = []
    name = fresh("opslog")
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        def go(method: str, path: str, rid: str | None, **kw) -> httpx.Response:
            headers = kw.pop("headers", {})
            if rid is not None:
                headers["X-Request-Id"] = rid
            r = c.request(method, path, headers=headers, **kw)
            echoed = r.headers.get("x-request-id")
            if rid is not None:
                assert echoed == rid, f"{method} {path}: sent X-Request-Id {rid!r}, got {echoed!r}"
                sent.append((rid, method, path, r.status_code))
            else:
                assert echoed, f"{method} {path}: no X-Request-Id generated"
                generated.append((echoed, path, r.status_code))
            return r

        go("GET", "/health", f"ops-{uuid.uuid4()}")
        go("GET", "/health", None)
        go("GET", "/health", None)
        go("POST", "/register", f"reg-{uuid.uuid4().hex}", json={"name": name, "url": downstream.url},
           headers=admin_headers())
        go("POST", "/register", f"dead-{uuid.uuid4().hex}", json={"name": fresh("dead"),
                                                                   "url": f"http://127.0.0.1:{free_port()}/mcp"},
           headers=admin_headers())
        go("GET", "/services", f"noauth-{uuid.uuid4().hex}")
        go("GET", f"/missing-{uuid.uuid4().hex[:6]}", f"miss-{uuid.uuid4().hex}")
        go("PATCH", "/services", f"patch-{uuid.uuid4().hex}")
        go("GET", "/metrics", "a.b_c:d/e=f")  # any visible ASCII is kept
        s = Session(c)
        s.wait_for_tool(f"{name}__echo")
        go("POST", "/mcp", f"call-{uuid.uuid4().hex}", headers=s.headers(),
           json={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": f"{name}__echo", "arguments": {"text": "x"}}})
        rid = f"sse-{uuid.uuid4().hex}"
        with c.stream("GET", "/mcp", headers=s.headers(Accept="text/event-stream", **{"X-Request-Id": rid})) as st:
            assert st.status_code == 200 and st.headers.get("x-request-id") == rid, dict(st.headers)
            sent.append((rid, "GET", "/mcp", 200))
        go("DELETE", f"/delete/{name}", f"del-{uuid.uuid4().hex}", headers=admin_headers())
        # unusable ids are replaced by generated ones
        for bad in ["has space", "x" * 129]:
            r = c.get("/livez", headers={"X-Request-Id": bad})
            assert r.headers.get("x-request-id") and r.headers["x-request-id"] != bad, dict(r.headers)
            generated.append((r.headers["x-request-id"], "/livez", 200))
        s.delete()

    poll(lambda: all(rid in gw.stderr_text() for rid, *_ in sent), timeout=3)
    lines = json_lines(gw.stderr_text())
    for rid, method, path, status in sent:
        found = access_lines(lines, rid)
        assert len(found) == 1, f"{len(found)} access lines for request id {rid} ({method} {path})"
        line = found[0]
        assert line["method"] == method and line["path"] == path and line["status"] == str(status), line
        assert line["level"] == "info" and "route" in line and "conn" in line and "ms" in line, line
    ids = [g for g, _, _ in generated]
    assert len(set(ids)) == len(ids), f"generated request ids repeat: {ids}"
    for rid, path, status in generated:
        found = access_lines(lines, rid)
        assert len(found) == 1 and found[0]["path"] == path and found[0]["status"] == str(status), (rid, found)
    # other events carry their identity as fields
    assert any(l["msg"] == "service registered" and l.get("service") == name for l in lines), "no 'service registered' line"
    assert any(l["msg"] == "definition fetch failed" and l.get("level") == "warn" for l in lines), "no warn line for the 502"


def test_rejected_requests_get_an_access_line_and_a_metric(start_gateway):
    """A request the HTTP layer refuses (413 here) is still a request: it is counted and logged with
    its request id like any other."""
    gw = start_gateway(LOG_FORMAT="json", MAX_BODY_BYTES="2048")
    rid = f"too-big-{uuid.uuid4().hex}"
    with RawConn(gw.port) as conn:
        conn.send(f"POST /mcp HTTP/1.1\r\nHost: x\r\nX-Request-Id: {rid}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: 100000\r\n\r\n")
        r = conn.read_response("POST")
    assert r.status == 413, r
    m = Scrape(httpx.get(gw.url + "/metrics", timeout=5).text)
    counted = [s for s in m.series("mcp_gateway_http_requests_total") if s.get("status") == "413"]
    logged = access_lines(json_lines(gw.stderr_text()), rid)
    problems = []
    if r.header("x-request-id") != rid:
        problems.append(f"the 413 response carries X-Request-Id {r.header('x-request-id')!r}, not {rid!r}")
    if len(logged) != 1:
        problems.append(f"{len(logged)} access lines for the 413 request (id {rid})")
    if not counted:
        problems.append("mcp_gateway_http_requests_total has no status=\"413\" series")
    assert not problems, "; ".join(problems) + "\nstderr:\n" + gw.stderr_text()[-2000:]


def stop_and_read(gw) -> tuple[str, str]:
    """SIGTERM, wait for the exit (the shutdown lines are written), then (stdout, stderr)."""
    gw.signal(signal.SIGTERM)
    assert gw.wait(15) is not None, "the gateway did not exit within 15 s of SIGTERM"
    return gw.stdout_path.read_text(errors="replace"), gw.stderr_path.read_text(errors="replace")


def assert_absent(secrets: dict[str, str], **texts: str) -> None:
    for what, secret in secrets.items():
        for where, text in texts.items():
            assert secret not in text, f"the {what} appears in {where}"


@pytest.mark.deadline(120)
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_in_output(start_gateway, downstream, log_format):
    need_storage()
    api_key = f"ops-key-{uuid.uuid4().hex}"
    wrong_key = f"not-the-key-{uuid.uuid4().hex}"
    secret = f"session-secret-{uuid.uuid4().hex}"
    gw = start_gateway(with_storage=True, API_KEY=api_key, SESSION_SECRET=secret, LOG_LEVEL="trace",
                       LOG_FORMAT=log_format, NODE_ENV="production")
    name = fresh("opssecret")
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        register(c, name, downstream.url, key=api_key)
        assert c.get("/services", headers=admin_headers(wrong_key)).status_code == 401
        assert c.get("/services", headers=admin_headers(api_key + "x")).status_code == 401
        s = Session(c)
        s.wait_for_tool(f"{name}__echo")
        assert "result" in s.call(1, "tools/call", {"name": f"{name}__echo", "arguments": {"text": "hi"}})
        with c.stream("GET", "/mcp", headers=s.headers(Accept="text/event-stream")) as st:
            assert st.status_code == 200
        assert c.delete(f"/delete/{name}", headers=admin_headers(api_key)).status_code == 200
        assert s.delete().status_code == 204
        assert s.post({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}).status_code == 404
        health, metrics = c.get("/health").text, c.get("/metrics").text
    stdout, stderr = stop_and_read(gw)  # the shutdown lines too
    assert "shutting down" in stderr, stderr[-1000:]
    secrets = {"API key": api_key, "wrong API key presented": wrong_key, "session secret": secret,
               "database password": os.environ["DB_PASSWORD"], "session id": s.id}
    assert_absent(secrets, stdout=stdout, stderr=stderr, health=health, metrics=metrics)
    assert "$API_KEY" in stdout, "the banner should show $API_KEY, not the key, when API_KEY is set"


def test_no_credentials_in_output_when_storage_refuses_them(start_gateway):
    """Wrong PostgreSQL and Redis passwords: the errors are logged and shown in /health without them."""
    need_storage()
    db_pw = f"pg-pw-{uuid.uuid4().hex}"
    redis_pw = f"redis-pw-{uuid.uuid4().hex}"
    db_url = (f"postgres://{os.environ['DB_USERNAME']}:{db_pw}@{os.environ['DB_HOST']}:{os.environ['DB_PORT']}/"
              f"{os.environ['DB_DATABASE']}")
    redis_port = os.environ["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]
    gw = start_gateway(DATABASE_URL=db_url, REDIS_URL=f"redis://:{redis_pw}@127.0.0.1:{redis_port}",
                       LOG_LEVEL="trace", DB_CONNECT_TIMEOUT="1", wait=False)
    wait_answering(gw)
    text = poll(lambda: gw.stderr_text() if "storage not ready" in gw.stderr_text() else None, timeout=10)
    assert text, f"no 'storage not ready' line with a wrong database password:\n{gw.stderr_text()[-2000:]}"
    poll(lambda: "redis" in gw.stderr_text() and "unavailable" in gw.stderr_text(), timeout=5)
    health = httpx.get(gw.url + "/health", timeout=5)
    assert health.json()["storage"]["state"] != "up", health.text
    r = httpx.get(gw.url + "/services", headers=admin_headers(), timeout=5)
    assert r.status_code == 503, describe(r)
    stdout, stderr = stop_and_read(gw)
    assert_absent({"database password": db_pw, "database URL": db_url, "Redis password": redis_pw},
                  stdout=stdout, stderr=stderr, health=health.text, admin_error=r.text)


def test_generated_api_key_is_printed_once_on_stdout_only(start_gateway):
    gw = start_gateway(API_KEY=None)  # development: a key is generated
    out = gw.stdout_text()
    keys = set(re.findall(r"mgw_[A-Za-z0-9]{32}", out))
    assert len(keys) == 1, f"expected one generated key in the banner, found {keys}:\n{out}"
    key = keys.pop()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        assert c.get("/services", headers=admin_headers(key)).status_code == 200
        assert c.get("/services", headers=admin_headers("wrong-key-123")).status_code == 401
        s = Session(c)
        s.call(1, "tools/list")
    assert gw.stdout_text() == out, "stdout grew after the banner"
    banner_lines = [l for l in out.splitlines() if key in l]
    assert banner_lines and all(l.startswith(("admin API key", "  curl ")) for l in banner_lines), banner_lines
    stdout, stderr = stop_and_read(gw)
    assert key not in stderr, "the generated key appears in the logs (stderr)"


# ---------------------------------------------------------------------------------------------------
# (d) containers

def compose_model() -> dict:
    """The compose file as docker-compose resolves it (anchors, interpolation), else as YAML."""
    exe = shutil.which("docker-compose")
    if exe:
        p = subprocess.run([exe, "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=60,
                           cwd=ROOT, env=clean_compose_env())
        assert p.returncode == 0, p.stderr
        return yaml.safe_load(p.stdout)
    return yaml.safe_load(COMPOSE.read_text())


def clean_compose_env() -> dict[str, str]:
    # the compose file's own defaults, not the test run's DB_* / REDIS_URL / API_KEY
    drop = set(STORAGE_VARS) | {"API_KEY", "SESSION_SECRET", "LOG_LEVEL", "GATEWAY_PORT", "NODE_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def gateway_services(model: dict) -> dict[str, dict]:
    return {n: s for n, s in model["services"].items()
            if isinstance(s.get("build"), dict) and s["build"].get("dockerfile", "").endswith("compose/Dockerfile")}


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def healthcheck_text(service: dict) -> str:
    test = service.get("healthcheck", {}).get("test")
    assert test, f"no healthcheck: {service}"
    return " ".join(test) if isinstance(test, list) else str(test)


def test_compose_file_validates():
    exe = shutil.which("docker-compose")
    if not exe:
        pytest.skip("docker-compose is not installed (scripts/deps.sh installs Debian's docker-compose)")
    p = subprocess.run([exe, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60,
                       cwd=ROOT, env=clean_compose_env())
    assert p.returncode == 0, f"docker-compose config -q exited {p.returncode}: {p.stderr}{p.stdout}"


def test_compose_topology_matches_the_cluster_script():
    model = compose_model()
    services = model["services"]
    gateways = gateway_services(model)
    replicas = 3
    if CLUSTER_SH.exists():
        m = re.search(r"REPLICAS:-(\d+)", CLUSTER_SH.read_text())
        assert m, "scripts/cluster.sh no longer has a REPLICAS default"
        replicas = int(m.group(1))
    assert len(gateways) == replicas, f"{len(gateways)} gateway services, scripts/cluster.sh runs {replicas}"

    pg = [n for n, s in services.items() if str(s.get("image", "")).startswith("postgres:15")]
    redis = [n for n, s in services.items() if str(s.get("image", "")).startswith("redis:7")]
    nginx = [n for n, s in services.items() if str(s.get("image", "")).startswith("nginx")]
    assert len(pg) == 1 and len(redis) == 1 and len(nginx) == 1, (pg, redis, nginx)
    assert set(services) == set(gateways) | {pg[0], redis[0], nginx[0]}, sorted(services)
    assert "pg_isready" in healthcheck_text(services[pg[0]])
    hc = healthcheck_text(services[redis[0]])
    assert "redis-cli" in hc and "ping" in hc, hc

    required = {"NODE_ENV", "DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD", "DB_DATABASE", "REDIS_URL",
                "API_KEY", "PORT", "SESSION_SECRET", "HOST"}
    envs = {n: env_of(s) for n, s in gateways.items()}
    for n, env in envs.items():
        assert required <= set(env), f"{n} lacks {required - set(env)}"
        assert env["HOST"] == "0.0.0.0", f"{n}: HOST={env['HOST']}"
        assert env["DB_HOST"] == pg[0], f"{n}: DB_HOST={env['DB_HOST']} is not the postgres service"
        assert re.match(rf"^redis://{re.escape(redis[0])}(:\d+)?(/\d+)?$", env["REDIS_URL"]), env["REDIS_URL"]
        assert "/health" in healthcheck_text(gateways[n]), gateways[n].get("healthcheck")
        deps = gateways[n].get("depends_on", {})
        assert pg[0] in deps and redis[0] in deps, f"{n} depends_on {deps}"
    for var in ("API_KEY", "SESSION_SECRET", "DB_PASSWORD", "NODE_ENV", "PORT"):
        assert len({e[var] for e in envs.values()}) == 1, f"{var} differs between replicas"
    pg_env = env_of(services[pg[0]])
    one = next(iter(envs.values()))
    assert pg_env.get("POSTGRES_PASSWORD") == one["DB_PASSWORD"], "postgres and the gateways disagree on the password"
    assert pg_env.get("POSTGRES_USER", "postgres") == one["DB_USERNAME"]
    assert pg_env.get("POSTGRES_DB") == one["DB_DATABASE"]

    # nginx: the upstream lists exactly the replicas, on their PORT
    mounts = " ".join(str(v) if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}"
                      for v in services[nginx[0]].get("volumes", []))
    assert "nginx.conf" in mounts, mounts
    upstream = re.findall(r"^\s*server\s+([\w.-]+):(\d+)\s*;", NGINX_CONF.read_text(), re.M)
    assert sorted(upstream) == sorted((n, envs[n]["PORT"]) for n in gateways), upstream


def test_compose_gateway_environment_is_accepted_by_the_gateway(start_gateway):
    """A replica's environment from the compose file passes the gateway's own validation (it starts
    and answers /health; a configuration error would exit with code 2 at once). The container host
    names are pointed at closed local ports: only the values' validity is under test here."""
    gateways = gateway_services(compose_model())
    env = env_of(next(iter(gateways.values())))
    port = free_port()
    env.update(HOST="127.0.0.1", PORT=str(port), DB_CONNECT_TIMEOUT="1", DB_HOST="127.0.0.1", DB_PORT=str(free_port()))
    env["REDIS_URL"] = re.sub(r"^redis://([^@/]*@)?[^:/]+(:\d+)?", lambda m: f"redis://{m.group(1) or ''}127.0.0.1:{free_port()}",
                              env["REDIS_URL"])
    gw = start_gateway(port=port, wait=False, GATEWAY_TEST_ROUTES=None, **env)
    time.sleep(0.3)
    assert gw.proc.poll() is None, f"the compose environment was refused (exit {gw.proc.returncode}):\n{gw.log_tail()}"
    wait_answering(gw)
    assert env["API_KEY"] not in gw.log_text(), "the API key was printed"


def test_nginx_conf_passes_nginx_t(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not nginx:
        pytest.skip("nginx is not installed (scripts/deps.sh installs nginx-light)")
    text = NGINX_CONF.read_text()
    directives = re.sub(r"#.*", "", text)
    mcp = re.search(r"location\s+/mcp\s*\{(.*?)\}", text, re.S)
    assert mcp, "no location /mcp block"
    block = mcp.group(1)
    assert re.search(r"proxy_buffering\s+off", block), "SSE needs proxy_buffering off on /mcp"
    timeout = re.search(r"proxy_read_timeout\s+(\d+)([smhd]?)", block)
    assert timeout, "no proxy_read_timeout on /mcp"
    seconds = int(timeout.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[timeout.group(2)]
    assert seconds >= 3600, f"proxy_read_timeout on /mcp is {seconds} s; SSE streams stay open for hours"
    assert re.search(r"proxy_http_version\s+1\.1", text) and re.search(r"proxy_set_header\s+Connection\s+\"\"", text)
    assert re.search(r"upstream\s+\w+\s*\{[^}]*keepalive\s+\d+", text, re.S), "no keepalive in the upstream"
    assert not re.search(r"\b(ip_hash|hash|sticky)\b", directives), "the balancer must not pin sessions"
    conf = tmp_path / "nginx.conf"
    conf.write_text(re.sub(r"gateway-\d+:(\d+)", r"127.0.0.1:\1", text))
    p = subprocess.run([nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(conf), "-g", f"pid {tmp_path}/nginx.pid;"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"nginx -t: {p.stderr}"


@pytest.mark.deadline(150)
def test_nginx_conf_balances_mcp_over_three_replicas(start_gateway, downstream, tmp_path):
    """compose/nginx.conf in front of three replicas sharing PostgreSQL, Redis and SESSION_SECRET:
    a session opened through it works whichever replica answers, SSE streams pass through at once,
    and request ids reach the replicas."""
    need_storage()
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not nginx:
        pytest.skip("nginx is not installed (scripts/deps.sh installs nginx-light)")
    secret = f"shared-{uuid.uuid4().hex}"
    replicas = [start_gateway(with_storage=True, SESSION_SECRET=secret, LOG_FORMAT="json", LOG_LEVEL="info")
                for _ in range(3)]
    lb_port = free_port()
    text = NGINX_CONF.read_text()
    names = re.findall(r"^\s*server\s+(gateway-\d+):\d+\s*;", text, re.M)
    assert len(names) == 3, names
    for gname, gw in zip(names, replicas):
        text = re.sub(rf"\b{gname}:\d+", f"127.0.0.1:{gw.port}", text)
    text = re.sub(r"listen\s+80\s*;", f"listen 127.0.0.1:{lb_port};", text)
    text = text.replace("access_log /dev/stdout gateway;", f"access_log {tmp_path}/access.log gateway;")
    text = re.sub(r"error_log\s+/dev/stderr", f"error_log {tmp_path}/error.log", text)
    text = text.replace("http {", f"http {{\n    client_body_temp_path {tmp_path}/body;\n"
                                  f"    proxy_temp_path {tmp_path}/proxy;\n", 1)
    text = re.sub(r"worker_processes\s+\w+;", "worker_processes 1;\ndaemon off;", text)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf), "-g", f"pid {tmp_path}/nginx.pid;"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        lb = f"http://127.0.0.1:{lb_port}"
        assert poll(lambda: _answers(lb + "/livez"), timeout=10), \
            f"nginx did not come up: {(tmp_path / 'error.log').read_text(errors='replace') if (tmp_path / 'error.log').exists() else ''}"
        name = fresh("opslb")
        with httpx.Client(base_url=lb, timeout=30) as c:
            register(c, name, downstream.url)
            s = Session(c)
            for i in range(6):  # round-robin: every replica sees the session
                s.wait_for_tool(f"{name}__echo", timeout=10)
                r = s.call(10 + i, "tools/call", {"name": f"{name}__echo", "arguments": {"text": str(i)}})
                assert r["result"]["content"][0]["text"] == str(i), r
            rids = []
            for i in range(6):
                rid = f"lb-{uuid.uuid4().hex}"
                r = c.get("/health", headers={"X-Request-Id": rid})
                assert r.headers.get("x-request-id") == rid, dict(r.headers)
                rids.append(rid)
            served = [sum(1 for rid in rids if rid in gw.stderr_text()) for gw in replicas]
            assert sum(served) == 6 and all(n >= 1 for n in served), f"requests per replica: {served} (not round-robin)"
            r = c.get("/livez")
            assert re.match(r"^[0-9a-f]{32}$", r.headers.get("x-request-id", "")), \
                f"nginx should pass its own $request_id when the client sends none: {dict(r.headers)}"

            # SSE through the balancer: the stream opens at once and a change arrives on it
            with c.stream("GET", "/mcp", headers=s.headers(Accept="text/event-stream")) as st:
                assert st.status_code == 200, st.status_code
                lines = st.iter_lines()
                first = _next_line(lines, 5)
                assert first is not None and first.startswith(":"), f"first SSE line through nginx: {first!r}"
                other = fresh("opslb2")
                with httpx.Client(base_url=lb, timeout=30) as c2:
                    register(c2, other, downstream.url)
                    seen = []
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline:
                        line = _next_line(lines, max(0.1, deadline - time.monotonic()))
                        if line is None:
                            break
                        seen.append(line)
                        if "notifications/tools/list_changed" in line:
                            break
                    assert any("notifications/tools/list_changed" in l for l in seen), \
                        f"no list_changed through nginx within 10 s: {seen}"
                    c2.delete(f"/delete/{other}", headers=admin_headers())
            c.delete(f"/delete/{name}", headers=admin_headers())
            s.delete()
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stderr.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _next_line(lines, timeout: float):
    """The next non-empty line of an httpx line iterator, or None once `timeout` has passed (checked
    between lines; a silent stream is bounded by the client's read timeout and the test deadline)."""
    deadline = time.monotonic() + timeout
    try:
        for line in lines:
            if line:
                return line
            if time.monotonic() > deadline:
                return None
    except httpx.ReadTimeout:
        return None
    return None


def test_dockerfile_builds_and_ships_what_the_binary_needs(gateway_bin):
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    assert len(froms) >= 2, f"expected a multi-stage build: {froms}"
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    build_image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), froms[0][0])
    assert re.match(r"^swift:\d+\.\d+(\.\d+)?-bookworm$", build_image), f"build stage image {build_image}"
    assert froms[-1][0] == "debian:bookworm-slim", f"runtime stage image {froms[-1][0]}"
    build_stage, runtime_stage = re.split(r"^FROM\s+debian:bookworm-slim", text, maxsplit=1, flags=re.M)
    for pkg in ["libev-dev", "libpq-dev", "libhiredis-dev", "libssl-dev", "libhttp-parser-dev",
                "libsqlite3-dev"]:
        assert re.search(rf"\b{re.escape(pkg)}\b", build_stage), f"build stage does not install {pkg}"
    assert re.search(r"swift build -c release", build_stage)
    runtime_pkgs = ["libev4", "libpq5", "libhiredis0.14", "libssl3", "libhttp-parser2.9", "libsqlite3-0",
                    "ca-certificates"]
    for pkg in runtime_pkgs:
        assert re.search(rf"(?<![\w.-]){re.escape(pkg)}(?![\w.-])", runtime_stage), f"runtime stage does not install {pkg}"
    assert "/usr/lib/swift/linux" in runtime_stage, "the Swift runtime libraries are not copied"
    assert "/usr/local/bin/mcp-gateway" in runtime_stage
    assert "/usr/share/mcp-gateway/migrations" in runtime_stage
    migrations_swift = (ROOT / "Sources/Gateway/Registry/Migrations.swift").read_text()
    assert "/usr/share/mcp-gateway/migrations/" in migrations_swift, "the binary no longer looks in /usr/share"

    # every shared library the binary links is in one of those packages (or the Swift runtime)
    if not (shutil.which("readelf") and shutil.which("dpkg")):
        pytest.skip("readelf/dpkg not available")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", str(gateway_bin)], capture_output=True, text=True).stdout)
    assert needed, "readelf found no NEEDED entries"
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(["ldd", str(gateway_bin)], capture_output=True,
                                                                     text=True).stdout, re.M))
    base = {"libc6", "libgcc-s1", "libstdc++6"}
    for lib in needed:
        if lib.startswith(("libswift", "libdispatch", "libBlocksRuntime")) or lib.startswith("ld-linux"):
            continue
        path = resolved.get(lib)
        assert path and path != "not", f"{lib} does not resolve"
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        assert owner.returncode == 0, f"no package owns {path}"
        pkg = owner.stdout.split(":")[0]
        assert pkg in set(runtime_pkgs) | base, f"{lib} comes from {pkg}, which the runtime stage does not install"


def test_migrate_command_applies_and_then_reports_up_to_date(run_gateway, tmp_path):
    """`mcp-gateway migrate` on the embedded default applies every migration and exits 0 (nothing
    else keeps its loop alive while the store works on its thread); run again, it has nothing to do."""
    import sqlite3

    db = tmp_path / "migrated.db"
    first = run_gateway("migrate", DATABASE_URL=f"sqlite:{db}", timeout=30)
    assert first.returncode == 0, first.stderr
    assert "migrations applied:" in first.stdout and "0001_registry.sql" in first.stdout, first.stdout
    with sqlite3.connect(db) as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        applied = [r[0] for r in c.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert {"services", "service_tools", "registry_version", "service_changes"} <= tables, tables
    migrations = sorted(p.name for p in (ROOT / "migrations" / "sqlite").glob("*.sql"))
    assert applied == migrations, (applied, migrations)
    again = run_gateway("migrate", DATABASE_URL=f"sqlite:{db}", timeout=30)
    assert again.returncode == 0 and "up to date" in again.stdout, (again.stdout, again.stderr)


def mapped_libraries(pid: int) -> set[str]:
    """The file names of the shared objects a process has mapped."""
    names = set()
    with open(f"/proc/{pid}/maps") as f:
        lines = f.read().splitlines()
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and ".so" in parts[5]:
            names.add(os.path.basename(parts[5]))
    return names


def test_libpq_is_loaded_only_for_postgresql(start_gateway):
    """The binary does not link libpq: a gateway on the embedded store never maps it (nor GnuTLS,
    Kerberos and the rest it pulls in), one on PostgreSQL loads it at start and works."""
    needed = subprocess.run(["readelf", "-d", str(start_gateway.binary)], capture_output=True, text=True).stdout
    assert "libpq" not in needed, "the binary links libpq"
    embedded = start_gateway()
    libs = mapped_libraries(embedded.proc.pid)
    assert not any(n.startswith(("libpq.", "libgnutls", "libkrb5", "libldap")) for n in libs), sorted(libs)
    assert not any(n.startswith(("libswift_StringProcessing", "libswift_RegexParser")) for n in libs), sorted(libs)
    pg = start_gateway(with_storage=True)
    assert any(n.startswith("libpq.so") for n in mapped_libraries(pg.proc.pid))
    r = httpx.get(pg.url + "/health", timeout=5)
    assert r.status_code == 200, r.text
