"""End-to-end tests of the admin API (register / update / delete / list) against the real binary, on
both registry backends: every test that uses the `backend` fixture runs twice, `test_x[postgres]`
(PostgreSQL + Redis) and `test_x[sqlite]` (an embedded SQLite file, DATABASE_URL=sqlite:<file>, no
REDIS_URL: in-process invalidation). Rows are checked through `db` (psql or the sqlite3 CLI, the same
registry queries on both). Tests about Redis (its key and events) and the outage tests are
`@pytest.mark.backends("postgres")`; the restart and WAL tests are `@pytest.mark.backends("sqlite")`.

The suite's PostgreSQL/Redis (the variables scripts/test.sh exports) are shared by the whole session,
so every test uses service names of its own and never assumes an empty registry. Each [sqlite] test
has a fresh database file of its own. The two outage tests (Redis down, PostgreSQL down) run on a
private PostgreSQL + Redis (`outage_services`: scripts/services.sh in a temporary folder, one per
module), so stopping them cannot disturb any other test; each restarts what it stopped in a finally.

Every gateway is started with short timeouts and used only once /health says storage (and, on
postgres, Redis) is up (the gateway answers /health before its migrations ran, and the admin API
answers 503 until then).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import datetime

import httpx
import pytest

from admin_fixtures import (  # noqa: F401  (fixtures are used by name)
    API_KEY,
    Admin,
    Psql,
    RegistryDB,
    Resp,
    assert_error,
    backend,
    describe,
    error_problem,
    json_downstream,
    plain_http_server,
    outage_services,
    redis_get,
    sse_downstream,
    start_downstream,
    storage,
    unique_name,
    wait_storage_ready,
)
from conftest import free_port
from mcp_fixtures import final_message, modern_body, modern_headers

VERSION_KEY = "mcp:registry:version"
CHANNEL = "mcp:registry:events"
BASIC_TOOLS = ["echo", "add", "fail", "slow", "progress", "whoami"]
CHANGED_TOOLS = ["echo", "add", "slow", "progress", "whoami", "multiply"]
SERVICE_KEYS = {"name", "url", "createdAt", "updatedAt", "toolCount", "tools", "resourceCount", "resourceTemplateCount",
                "promptCount", "limits"}

# Every gateway in this module: short timeouts so failures are quick.
# Downstreams here change their tool sets to test admin updates: the gateway must not re-fetch on
# their list_changed notifications meanwhile (test_federation.py covers that).
GATEWAY_ENV = {"DB_CONNECT_TIMEOUT": "1", "DOWNSTREAM_TIMEOUT": "5", "DOWNSTREAM_CONNECT_TIMEOUT": "2",
               "WATCH_DOWNSTREAMS": "false"}


# ---------------------------------------------------------------------------------------------------
# fixtures and helpers

# What the "redis" field of a successful mutation must say, by gateway base URL (ports are never reused
# within a session); a gateway not listed here is on PostgreSQL + Redis.
REDIS_RESULT: dict[str, str] = {}


def start_on(start_gateway, storage, **env):
    """A gateway on `storage` (module settings plus `env`), storage (and on postgres Redis) up."""
    g = start_gateway(**storage.gateway_env, **{**GATEWAY_ENV, **env})
    REDIS_RESULT[g.url] = storage.backend.redis_result
    wait_storage_ready(g.url, redis=storage.backend.has_redis)
    return g


@pytest.fixture
def gw(start_gateway, storage):
    """A gateway on the test's backend: the suite's PostgreSQL + Redis, or a fresh SQLite file."""
    return start_on(start_gateway, storage)


@pytest.fixture
def admin(gw):
    a = Admin(gw.url)
    yield a
    a.close()


@pytest.fixture
def db(storage) -> RegistryDB:
    return storage.db


def expected_redis(r: httpx.Response) -> str:
    return REDIS_RESULT.get(f"{r.request.url.scheme}://{r.request.url.host}:{r.request.url.port}", "published")


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_ts(s: str) -> datetime:
    assert isinstance(s, str) and s, s
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def check_service_shape(body: dict, name: str, url: str, tools: list[str]) -> None:
    assert body["name"] == name, body
    assert body["url"] == url, body
    assert body["toolCount"] == len(tools), body
    assert sorted(body["tools"]) == sorted(tools), body
    parse_ts(body["createdAt"])
    parse_ts(body["updatedAt"])


def check_mutation(r: httpx.Response, status: int, name: str, url: str, tools: list[str]) -> dict:
    assert r.status_code == status, describe(r)
    assert r.headers.get("content-type", "").split(";")[0] == "application/json", describe(r)
    body = r.json()
    check_service_shape(body, name, url, tools)
    assert isinstance(body.get("version"), int) and body["version"] > 0, body
    assert body.get("redis") == expected_redis(r), body
    return body


def without_health(body: dict) -> dict:
    if "services" in body:
        return {**body, "services": [without_health(s) for s in body["services"]]}
    return {k: v for k, v in body.items() if k != "health"}


def live_row(db: RegistryDB, name: str) -> dict:
    rows = [r for r in db.service_rows(name) if not r["deleted"]]
    assert len(rows) == 1, f"expected exactly one live services row named {name}, found {db.service_rows(name)}"
    return rows[0]


def live_tools(db: RegistryDB, service_id: int) -> dict:
    rows = [r for r in db.tool_rows(service_id) if not r["deleted"]]
    assert len(rows) == 1, f"expected one live service_tools row for service {service_id}: {db.tool_rows(service_id)}"
    return rows[0]


def check_stored(db: RegistryDB, name: str, url: str, tools: list[str]) -> dict:
    row = live_row(db, name)
    assert row["url"] == url, row
    t = live_tools(db, row["id"])
    assert t["count"] == len(tools), f"stored tools array ({db.kind}) length {t['count']} != tool count {len(tools)}: {t}"
    assert sorted(t["names"]) == sorted(tools), t
    return row


def assert_nothing_stored(db: RegistryDB, name: str) -> None:
    rows = db.service_rows(name)
    assert rows == [], f"a failed register stored rows for {name}: {rows}"


# ---------------------------------------------------------------------------------------------------
# register

def test_register_json_downstream(admin, db, json_downstream):
    name = unique_name("reg-json")
    before = db.version()
    t0 = now_ms()
    r = admin.register(name, json_downstream.url)
    t1 = now_ms()
    body = check_mutation(r, 201, name, json_downstream.url, BASIC_TOOLS)
    assert body["version"] > before, (before, body)
    assert body["version"] == db.version(), (body, db.version())
    # DESIGN.md: the version is a millisecond timestamp (strictly increasing)
    assert t0 - 60_000 <= body["version"] <= t1 + 60_000, (t0, body["version"], t1)
    row = check_stored(db, name, json_downstream.url, BASIC_TOOLS)
    assert row["deleted"] is False


def test_register_sse_downstream(admin, db, sse_downstream):
    name = unique_name("reg-sse")
    r = admin.register(name, sse_downstream.url)
    check_mutation(r, 201, name, sse_downstream.url, BASIC_TOOLS)
    check_stored(db, name, sse_downstream.url, BASIC_TOOLS)
    stats = sse_downstream.stats()
    assert stats["methods"].get("tools/list", 0) >= 1, stats


def test_register_many_tools_and_boundary_names(admin, db, start_downstream):
    ds = start_downstream("--tools", "40", "--page-size", "7")  # paginated tools/list
    tools = BASIC_TOOLS + [f"t{i}" for i in range(40)]
    long_name = unique_name("b")  # "b-xxxxxxxx"
    long_name = (long_name + "0" * 32)[:32]
    assert len(long_name) == 32
    r = admin.register(long_name, ds.url)
    check_mutation(r, 201, long_name, ds.url, tools)
    check_stored(db, long_name, ds.url, tools)
    # a one-character name is valid too (unique enough: only this test uses it, deleted at the end)
    short = "z"
    if any(not x["deleted"] for x in db.service_rows(short)):
        assert admin.delete(short).status_code == 200
    r = admin.register(short, ds.url)
    check_mutation(r, 201, short, ds.url, tools)
    assert admin.delete(short).status_code == 200


def test_register_duplicate_is_409(admin, db, json_downstream, sse_downstream):
    name = unique_name("dup")
    check_mutation(admin.register(name, json_downstream.url), 201, name, json_downstream.url, BASIC_TOOLS)
    version = db.version()
    r = admin.register(name, sse_downstream.url)
    assert_error(r, 409, "conflict")
    row = check_stored(db, name, json_downstream.url, BASIC_TOOLS)  # untouched, still one live row
    assert len(db.service_rows(name)) == 1
    assert db.version() == version, "a refused register bumped the version"
    assert row["url"] == json_downstream.url


def test_register_concurrent_same_name(admin, gw, db, json_downstream):
    name = unique_name("race")
    results: list[httpx.Response] = []
    barrier = threading.Barrier(4)

    def go():
        with httpx.Client(base_url=gw.url, timeout=20) as c:
            barrier.wait()
            results.append(c.post("/register", json={"name": name, "url": json_downstream.url},
                                  headers={"X-API-Key": API_KEY}))

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409], [describe(r) for r in results]
    for r in results:
        if r.status_code == 409:
            assert_error(r, 409, "conflict")
    assert len(db.service_rows(name)) == 1, db.service_rows(name)
    check_stored(db, name, json_downstream.url, BASIC_TOOLS)


BAD_NAMES = [
    "", "A", "Upper", "-lead", "trail-", "under_score", "has space", "dot.name", "slash/name", "é",
    "a" * 33, "a--" + "b" * 31,
]
BAD_NAME_VALUES = [None, 12, True, ["a"], {"a": 1}]


def test_register_bad_names_are_400(admin, db, json_downstream):
    problems = []
    for n in BAD_NAMES:
        r = admin.register(n, json_downstream.url)
        if p := error_problem(r, 400, "bad_request"):
            problems.append(p)
        if n and re.fullmatch(r"[\x20-\x7e]+", n) and "'" not in n and db.service_rows(n):
            problems.append(f"bad name {n!r} was stored")
    for v in BAD_NAME_VALUES:
        r = admin.request("POST", "/register", json_body={"name": v, "url": json_downstream.url})
        if p := error_problem(r, 400, "bad_request"):
            problems.append(p)
    r = admin.request("POST", "/register", json_body={"url": json_downstream.url})  # name missing
    if p := error_problem(r, 400, "bad_request"):
        problems.append(p)
    assert not problems, "\n".join(problems)


def test_register_bad_urls_are_400(admin, db):
    name = unique_name("badurl")
    bad = [
        "", "not a url", "127.0.0.1:8080/mcp", "ftp://127.0.0.1/mcp", "file:///etc/passwd", "javascript:alert(1)",
        "ws://127.0.0.1:1/mcp", "http://", "http:///mcp", "https://", "http://user:pw@127.0.0.1:1/mcp",
        "http://user@127.0.0.1:1/mcp", "http://127.0.0.1:1/" + "a" * 2100, " http://127.0.0.1:1/mcp",
        "http://127.0.0.1:1/m cp",
    ]
    problems = []
    for u in bad:
        r = admin.register(name, u)
        if p := error_problem(r, 400, "bad_request"):
            problems.append(p)
    for v in (None, 5, ["http://127.0.0.1:1/mcp"], {"u": 1}):
        r = admin.request("POST", "/register", json_body={"name": name, "url": v})
        if p := error_problem(r, 400, "bad_request"):
            problems.append(p)
    r = admin.request("POST", "/register", json_body={"name": name})  # url missing
    if p := error_problem(r, 400, "bad_request"):
        problems.append(p)
    if db.service_rows(name):
        problems.append(f"rows stored for {name}: {db.service_rows(name)}")
    assert not problems, "\n".join(problems)


def test_register_url_length_limit(admin, db, json_downstream):
    """2048 characters is allowed (the downstream ignores the query string), 2049 is not."""
    name = unique_name("longurl")
    base = json_downstream.url + "?pad="
    ok = base + "x" * (2048 - len(base))
    assert len(ok) == 2048
    r = admin.register(name, ok)
    check_mutation(r, 201, name, ok, BASIC_TOOLS)
    r = admin.register(unique_name("longurl"), ok + "x")
    assert_error(r, 400, "bad_request")


def test_register_bad_bodies_are_400(admin, db, json_downstream):
    name = unique_name("badbody")
    good = json.dumps({"name": name, "url": json_downstream.url})
    cases = [
        # (description, content, headers)
        ("no body", None, {}),
        ("empty body with json type", b"", {"Content-Type": "application/json"}),
        ("array", b"[]", {"Content-Type": "application/json"}),
        ("string", b'"x"', {"Content-Type": "application/json"}),
        ("number", b"42", {"Content-Type": "application/json"}),
        ("null", b"null", {"Content-Type": "application/json"}),
        ("empty object", b"{}", {"Content-Type": "application/json"}),
        ("unknown field", json.dumps({"name": name, "url": json_downstream.url, "extra": 1}).encode(),
         {"Content-Type": "application/json"}),
        ("malformed: truncated", good[:-5].encode(), {"Content-Type": "application/json"}),
        ("malformed: single quotes", b"{'name': 'x', 'url': 'http://127.0.0.1/'}", {"Content-Type": "application/json"}),
        ("malformed: trailing garbage", (good + "}").encode(), {"Content-Type": "application/json"}),
        ("malformed: trailing comma", good[:-1].encode() + b",}", {"Content-Type": "application/json"}),
        ("malformed: not utf-8", b'{"name": "\xff\xfe", "url": "http://127.0.0.1:1/mcp"}',
         {"Content-Type": "application/json"}),
        ("text/plain", good.encode(), {"Content-Type": "text/plain"}),
        ("form", f"name={name}".encode(), {"Content-Type": "application/x-www-form-urlencoded"}),
        ("no content type", good.encode(), {}),
    ]
    problems = []
    for what, content, headers in cases:
        r = admin.request("POST", "/register", content=content, headers=headers)
        if p := error_problem(r, 400, "bad_request"):
            problems.append(f"[{what}] {p}")
    if db.service_rows(name):
        problems.append(f"rows stored for {name}: {db.service_rows(name)}")
    assert not problems, "\n".join(problems)
    # the same body with the right type is fine, also with a charset parameter
    r = admin.request("POST", "/register", content=good, headers={"Content-Type": "application/json; charset=utf-8"})
    check_mutation(r, 201, name, json_downstream.url, BASIC_TOOLS)


def test_register_unreachable_is_502_and_stores_nothing(admin, db):
    name = unique_name("unreach")
    version = db.version()
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    t0 = time.monotonic()
    r = admin.register(name, url)
    elapsed = time.monotonic() - t0
    assert_error(r, 502, "downstream_error")
    assert elapsed < 5, f"connection refused took {elapsed:.2f} s to report"
    assert_nothing_stored(db, name)
    assert db.version() == version, "a failed register bumped the version"
    assert admin.service(name).status_code == 404


def test_register_not_mcp_is_502_and_stores_nothing(admin, gw, db, plain_http_server, json_downstream):
    version = db.version()
    urls = {
        "the gateway's own /health": gw.url + "/health",
        "a plain HTML server": plain_http_server.url,
        "a 404 path on an MCP server": json_downstream.base + "/not-mcp",
    }
    problems = []
    for what, url in urls.items():
        name = unique_name("notmcp")
        t0 = time.monotonic()
        r = admin.register(name, url)
        elapsed = time.monotonic() - t0
        if p := error_problem(r, 502, "downstream_error"):
            problems.append(f"[{what}] {p}")
        if elapsed > 6:
            problems.append(f"[{what}] took {elapsed:.2f} s")
        if rows := db.service_rows(name):
            problems.append(f"[{what}] rows stored: {rows}")
    assert not problems, "\n".join(problems)
    assert db.version() == version, "a failed register bumped the version"


# ---------------------------------------------------------------------------------------------------
# update

def test_update_refetches_changed_tools(admin, db, start_downstream):
    ds = start_downstream()
    name = unique_name("upd")
    reg = check_mutation(admin.register(name, ds.url), 201, name, ds.url, BASIC_TOOLS)
    row_before = check_stored(db, name, ds.url, BASIC_TOOLS)
    assert sorted(ds.set_tool_set("changed")) == sorted(CHANGED_TOOLS)
    time.sleep(0.01)
    r = admin.update(name)  # no body: re-fetch from the stored url
    body = check_mutation(r, 200, name, ds.url, CHANGED_TOOLS)
    assert "multiply" in body["tools"] and "fail" not in body["tools"], body
    assert body["version"] > reg["version"], (reg, body)
    assert body["version"] == db.version()
    assert body["createdAt"] == reg["createdAt"], (reg, body)
    assert parse_ts(body["updatedAt"]) > parse_ts(reg["updatedAt"]), (reg, body)
    row = check_stored(db, name, ds.url, CHANGED_TOOLS)
    assert row["id"] == row_before["id"], "update created a new services row"
    show = admin.service(name).json()
    defs = {d["name"]: d for d in show["definitions"]}
    assert "multiply" in defs and "fail" not in defs, show
    assert "outputSchema" in defs["multiply"], defs["multiply"]
    # back to basic, with an explicit JSON body that has no url
    ds.set_tool_set("basic")
    r = admin.request("PUT", f"/update/{name}", json_body={})
    check_mutation(r, 200, name, ds.url, BASIC_TOOLS)
    check_stored(db, name, ds.url, BASIC_TOOLS)


def test_update_with_new_url(admin, db, json_downstream, start_downstream):
    other = start_downstream("--tool-set", "changed", mode="sse")
    name = unique_name("updurl")
    check_mutation(admin.register(name, json_downstream.url), 201, name, json_downstream.url, BASIC_TOOLS)
    r = admin.update(name, other.url)
    body = check_mutation(r, 200, name, other.url, CHANGED_TOOLS)
    check_stored(db, name, other.url, CHANGED_TOOLS)
    # a new url that does not answer: 502, nothing changes
    version = db.version()
    r = admin.update(name, f"http://127.0.0.1:{free_port()}/mcp")
    assert_error(r, 502, "downstream_error")
    check_stored(db, name, other.url, CHANGED_TOOLS)
    assert db.version() == version
    # a new url that is invalid: 400
    for bad in ("ftp://x/mcp", "http://u:p@127.0.0.1/mcp", "nope"):
        assert_error(admin.update(name, bad), 400, "bad_request")
    assert_error(admin.request("PUT", f"/update/{name}", json_body={"url": 5}), 400, "bad_request")
    assert_error(admin.request("PUT", f"/update/{name}", json_body={"url": other.url, "name": "x"}), 400,
                 "bad_request")
    assert_error(admin.request("PUT", f"/update/{name}", content=b"{not json",
                               headers={"Content-Type": "application/json"}), 400, "bad_request")
    check_stored(db, name, other.url, CHANGED_TOOLS)
    assert body["name"] == name


def test_update_unknown_is_404(admin, db, json_downstream):
    name = unique_name("nosuch")
    assert_error(admin.update(name), 404, "not_found")
    assert_error(admin.update(name, json_downstream.url), 404, "not_found")
    assert_nothing_stored(db, name)


def test_update_downstream_gone_is_502(admin, db, start_downstream):
    ds = start_downstream()
    name = unique_name("updgone")
    check_mutation(admin.register(name, ds.url), 201, name, ds.url, BASIC_TOOLS)
    version = db.version()
    ds.stop()
    assert_error(admin.update(name), 502, "downstream_error")
    check_stored(db, name, ds.url, BASIC_TOOLS)  # the stored tools are kept
    assert db.version() == version


# ---------------------------------------------------------------------------------------------------
# delete, list, show

def test_delete_is_soft_and_name_reusable(admin, db, json_downstream, sse_downstream):
    name = unique_name("del")
    reg = check_mutation(admin.register(name, json_downstream.url), 201, name, json_downstream.url, BASIC_TOOLS)
    first = check_stored(db, name, json_downstream.url, BASIC_TOOLS)
    r = admin.delete(name)
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body.get("deleted") == name, body
    assert isinstance(body.get("version"), int) and body["version"] > reg["version"], (reg, body)
    assert body.get("redis") == expected_redis(r), body
    assert body["version"] == db.version()
    rows = db.service_rows(name)
    assert len(rows) == 1 and rows[0]["deleted"] is True, f"soft delete: row kept with deleted_at set: {rows}"
    tools = db.tool_rows(first["id"])
    assert tools and all(t["deleted"] for t in tools), f"service_tools rows not soft-deleted: {tools}"
    assert tools[0]["count"] == len(BASIC_TOOLS), tools  # definitions kept
    # gone from the API
    assert_error(admin.service(name), 404, "not_found")
    assert name not in [s["name"] for s in admin.services().json()["services"]]
    assert_error(admin.delete(name), 404, "not_found")
    assert_error(admin.update(name), 404, "not_found")
    # the name can be registered again: a new row, the old one stays deleted
    r = admin.register(name, sse_downstream.url)
    check_mutation(r, 201, name, sse_downstream.url, BASIC_TOOLS)
    rows = db.service_rows(name)
    assert len(rows) == 2, rows
    assert rows[0]["id"] == first["id"] and rows[0]["deleted"] is True, rows
    assert rows[1]["id"] != first["id"] and rows[1]["deleted"] is False and rows[1]["url"] == sse_downstream.url, rows
    check_stored(db, name, sse_downstream.url, BASIC_TOOLS)
    assert [t["deleted"] for t in db.tool_rows(first["id"])] == [True]


def test_delete_unknown_is_404(admin, db):
    name = unique_name("delnone")
    version = db.version()
    assert_error(admin.delete(name), 404, "not_found")
    assert_error(admin.delete("Not_A_Valid_Name"), 404, "not_found")
    assert db.version() == version


def test_list_and_show(admin, db, json_downstream, sse_downstream):
    a, b = unique_name("lst-a"), unique_name("lst-b")
    check_mutation(admin.register(a, json_downstream.url), 201, a, json_downstream.url, BASIC_TOOLS)
    check_mutation(admin.register(b, sse_downstream.url), 201, b, sse_downstream.url, BASIC_TOOLS)
    r = admin.services()
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert isinstance(body.get("services"), list) and body.get("count") == len(body["services"]), body
    by_name = {s["name"]: s for s in body["services"]}
    assert len(by_name) == len(body["services"]), "a name is listed twice"
    live = db.rows("SELECT name FROM services WHERE deleted_at IS NULL")
    assert sorted(by_name) == sorted(x[0] for x in live), "GET /services differs from the live rows"
    for n, url in ((a, json_downstream.url), (b, sse_downstream.url)):
        s = by_name[n]
        assert set(s) == SERVICE_KEYS | {"health", "lastChange"}, f"list entry keys: {sorted(s)}"
        assert s["health"]["state"] in ("healthy", "degraded", "down"), s["health"]
        check_service_shape(s, n, url, BASIC_TOOLS)
        assert (s["resourceCount"], s["resourceTemplateCount"], s["promptCount"]) == (0, 0, 0), s
        assert s["lastChange"]["action"] == "register" and s["lastChange"]["cause"] == "admin", s["lastChange"]
    # one service, with full definitions
    r = admin.service(a)
    assert r.status_code == 200, describe(r)
    one = r.json()
    assert set(one) == SERVICE_KEYS | {"definitions", "health", "resources", "resourceTemplates", "prompts", "lastChange"}, sorted(one)
    check_service_shape(one, a, json_downstream.url, BASIC_TOOLS)
    assert one["createdAt"] == by_name[a]["createdAt"]
    assert one["lastChange"] == by_name[a]["lastChange"], (one["lastChange"], by_name[a]["lastChange"])
    defs = one["definitions"]
    assert [d["name"] for d in defs] == one["tools"], (defs, one["tools"])
    for d in defs:
        assert isinstance(d.get("inputSchema"), dict) and d["inputSchema"].get("type") == "object", d
        assert isinstance(d.get("description"), str), d
    add = next(d for d in defs if d["name"] == "add")
    assert set(add["inputSchema"]["properties"]) == {"a", "b"}, add
    assert "outputSchema" in add, add
    echo = next(d for d in defs if d["name"] == "echo")
    assert "outputSchema" not in echo, echo
    # the stored definitions are exactly what the API shows
    stored = db.stored_tools_json(a)
    assert stored is not None, f"no live service_tools row for {a}"
    assert json.loads(stored) == defs
    assert_error(admin.service(unique_name("nope")), 404, "not_found")


# ---------------------------------------------------------------------------------------------------
# version, Redis key and events

def test_version_increases_and_matches_redis(admin, db, storage, json_downstream, sse_downstream):
    """Every mutation raises the stored version; with Redis (postgres) the Redis key follows it."""
    ds = sse_downstream
    name = unique_name("ver")
    versions = []

    def after(r: httpx.Response, status: int):
        assert r.status_code == status, describe(r)
        v = r.json()["version"]
        assert r.json()["redis"] == storage.backend.redis_result, r.json()
        assert v == db.version(), (v, db.version())
        if storage.redis_url:
            key = redis_get(storage.redis_url, VERSION_KEY)
            assert key is not None and int(key) == v, f"redis {VERSION_KEY}={key!r}, stored version {v}"
        versions.append(v)

    start = db.version()
    after(admin.register(name, ds.url), 201)
    after(admin.update(name), 200)
    after(admin.request("PUT", f"/update/{name}", json_body={}), 200)
    after(admin.update(name, json_downstream.url), 200)
    after(admin.delete(name), 200)
    after(admin.register(name, ds.url), 201)
    after(admin.delete(name), 200)
    seq = [start] + versions
    assert all(x < y for x, y in zip(seq, seq[1:])), f"versions not strictly increasing: {seq}"
    health_at(admin, versions[-1], "the last DELETE")


@pytest.mark.backends("postgres")
def test_events_one_per_mutation(admin, db, storage, json_downstream, sse_downstream):
    ds = sse_downstream
    name = unique_name("evt")
    sub = Resp.from_url(storage.redis_url)
    try:
        sub.subscribe(CHANNEL)
        previous = db.version()
        expected = []
        for action, call, status in (
            ("register", lambda: admin.register(name, ds.url), 201),
            ("update", lambda: admin.update(name), 200),
            ("update", lambda: admin.update(name, json_downstream.url), 200),
            ("delete", lambda: admin.delete(name), 200),
            ("register", lambda: admin.register(name, ds.url), 201),
        ):
            r = call()
            assert r.status_code == status, describe(r)
            v = r.json()["version"]
            expected.append({"version": v, "previous": previous, "action": action, "service": name})
            previous = v
        # failures publish nothing
        assert_error(admin.register(name, ds.url), 409, "conflict")
        assert_error(admin.update(unique_name("none")), 404, "not_found")
        assert_error(admin.delete(unique_name("none")), 404, "not_found")
        assert_error(admin.register(unique_name("evt-bad"), f"http://127.0.0.1:{free_port()}/mcp"), 502,
                     "downstream_error")

        seen = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and len(seen) < len(expected):
            m = sub.next_message(deadline - time.monotonic())
            if m is None:
                break
            seen.append(m)
        # anything more within a short grace period is an extra event
        while (m := sub.next_message(0.3)) is not None:
            seen.append(m)
    finally:
        sub.close()
    events = []
    for m in seen:
        try:
            events.append(json.loads(m))
        except ValueError:
            pytest.fail(f"event on {CHANNEL} is not JSON: {m!r}")
    assert events == expected, f"events on {CHANNEL}:\n  seen     {events}\n  expected {expected}"


# ---------------------------------------------------------------------------------------------------
# authentication

ROUTES = [
    ("POST", "/register"),
    ("PUT", "/update/{name}"),
    ("DELETE", "/delete/{name}"),
    ("GET", "/services"),
    ("GET", "/services/{name}"),
]
WRONG_KEYS = ["", "wrong", "test-kez", "TEST-KEY", "test-ke", "test-key-and-more", "x" * 500]


def test_auth_required_on_every_admin_route(admin, db, json_downstream):
    name = unique_name("auth")
    check_mutation(admin.register(name, json_downstream.url), 201, name, json_downstream.url, BASIC_TOOLS)
    version = db.version()
    other = unique_name("auth-new")
    problems = []
    for method, path in ROUTES:
        p = path.format(name=name)
        body = {"name": other, "url": json_downstream.url} if method == "POST" else None
        for key in [None, *WRONG_KEYS]:
            r = admin.request(method, p, json_body=body, key=key)
            if pr := error_problem(r, 401, "unauthorized"):
                problems.append(f"[key={key!r}] {pr}")
        # a lower-case header name is the same header
        r = admin.request(method, p, json_body=body, key=None, headers={"x-api-key": "nope"})
        if pr := error_problem(r, 401, "unauthorized"):
            problems.append(f"[x-api-key: nope] {pr}")
        # the key in another header does not count
        r = admin.request(method, p, json_body=body, key=None, headers={"Authorization": f"Bearer {API_KEY}"})
        if pr := error_problem(r, 401, "unauthorized"):
            problems.append(f"[Authorization: Bearer] {pr}")
    # and nothing happened
    if db.version() != version:
        problems.append(f"version changed from {version} to {db.version()} by unauthorized requests")
    if db.service_rows(other):
        problems.append(f"unauthorized register stored {other}")
    rows = db.service_rows(name)
    if len(rows) != 1 or rows[0]["deleted"]:
        problems.append(f"unauthorized delete touched {name}: {rows}")
    # the right key works on every route
    r = admin.request("GET", "/services", key=None, headers={"x-api-key": API_KEY})
    if r.status_code != 200:
        problems.append(f"lower-case x-api-key with the right key: {describe(r)}")
    # /health needs no key
    r = httpx.get(admin.base + "/health", timeout=5)
    if r.status_code != 200:
        problems.append(f"GET /health without a key: {describe(r)}")
    assert not problems, "\n".join(problems)


def test_health_reflects_counts(admin, db, storage, json_downstream, start_downstream):
    def snapshot():
        h = admin.health()
        lst = admin.services().json()
        return h, lst["count"], sum(s["toolCount"] for s in lst["services"])

    h, n, t = snapshot()
    assert h["status"] == "ok", h
    assert h["storage"]["state"] == "up" and h["storage"].get("kind") == storage.backend.name, h
    assert h["redis"]["state"] == storage.backend.redis_state, h
    assert h["services"] == n and h["tools"] == t, (h, n, t)
    assert h["registryVersion"] == db.version(), (h, db.version())

    ds = start_downstream("--tools", "5")
    name = unique_name("hc")
    r = admin.register(name, ds.url)
    check_mutation(r, 201, name, ds.url, BASIC_TOOLS + [f"t{i}" for i in range(5)])
    h2 = health_at(admin, r.json()["version"], "POST /register")
    assert h2["services"] == h["services"] + 1, (h, h2)
    assert h2["tools"] == h["tools"] + 11, (h, h2)

    ds.set_tool_set("changed")  # 6 tools again (fail out, multiply in)
    r = admin.update(name)
    assert r.status_code == 200, describe(r)
    h3 = health_at(admin, r.json()["version"], "PUT /update")
    assert h3["services"] == h2["services"] and h3["tools"] == h2["tools"], (h2, h3)

    r = admin.delete(name)
    assert r.status_code == 200, describe(r)
    h4 = health_at(admin, r.json()["version"], "DELETE /delete")
    assert h4["services"] == h["services"] and h4["tools"] == h["tools"], (h, h4)
    h5, n5, t5 = snapshot()
    assert (h5["services"], h5["tools"]) == (n5, t5)


# ---------------------------------------------------------------------------------------------------
# SQLite only: the file is the registry

def mcp_call_echo(url: str, tool: str, text: str) -> dict:
    """tools/call of `tool` (an echo) over /mcp, 2026-07-28 (stateless: no session to set up)."""
    r = httpx.post(url + "/mcp", json=modern_body(1, "tools/call", {"name": tool, "arguments": {"text": text}}),
                   headers=modern_headers("tools/call", tool), timeout=20)
    assert r.status_code == 200, describe(r)
    return final_message(r, 1)


def mcp_tool_names(url: str) -> list[str]:
    """Every tool name /mcp lists (2026-07-28), following nextCursor."""
    names, cursor = [], None
    for rid in range(1, 50):
        params = {"cursor": cursor} if cursor is not None else {}
        r = httpx.post(url + "/mcp", json=modern_body(rid, "tools/list", params),
                       headers=modern_headers("tools/list"), timeout=20)
        assert r.status_code == 200, describe(r)
        res = final_message(r, rid).get("result")
        assert res is not None, describe(r)
        names += [t["name"] for t in res["tools"]]
        cursor = res.get("nextCursor")
        if cursor is None:
            return names
    raise AssertionError("tools/list did not end within 50 pages")


@pytest.mark.backends("sqlite")
def test_sqlite_wal_mode(admin, db, storage, json_downstream):
    name = unique_name("wal")
    check_mutation(admin.register(name, json_downstream.url), 201, name, json_downstream.url, BASIC_TOOLS)
    assert admin.health()["storage"] == {"kind": "sqlite", "state": "up"}, admin.health()
    mode = db.journal_mode()
    assert mode == "wal", f"PRAGMA journal_mode on {storage.sqlite_path} is {mode!r}, not wal"
    check_stored(db, name, json_downstream.url, BASIC_TOOLS)


@pytest.mark.backends("sqlite")
def test_sqlite_data_survives_restart(start_gateway, storage, json_downstream, sse_downstream):
    """Register, stop the gateway with SIGTERM, start a new one on the same file: the registry is all there
    (services, tools, deletions, version) and the tools are callable through /mcp."""
    db = storage.db
    g1 = start_on(start_gateway, storage)
    a1 = Admin(g1.url)
    keep, gone = unique_name("keep"), unique_name("gone")
    try:
        reg = check_mutation(a1.register(keep, json_downstream.url), 201, keep, json_downstream.url, BASIC_TOOLS)
        check_mutation(a1.register(gone, sse_downstream.url), 201, gone, sse_downstream.url, BASIC_TOOLS)
        r = a1.delete(gone)
        assert r.status_code == 200, describe(r)
        version = r.json()["version"]
        listing = a1.services().json()
        shown = a1.service(keep).json()
        assert mcp_call_echo(g1.url, f"{keep}__echo", "before")["result"]["content"][0]["text"] == "before"
    finally:
        a1.close()
    rc = g1.stop(10.0)
    assert rc == 0, f"gateway exited with {rc} on SIGTERM (want 0)\n" + g1.log_tail(40)

    g2 = start_on(start_gateway, storage)
    a2 = Admin(g2.url)
    try:
        h = a2.health()
        assert h["storage"] == {"kind": "sqlite", "state": "up"}, h
        assert (h["registryVersion"], h["services"], h["tools"]) == (version, 1, len(BASIC_TOOLS)), \
            f"after the restart /health shows {h}; before it: version {version}, 1 service, {len(BASIC_TOOLS)} tools"
        # health is this replica's live view (since, latency): compare what was stored
        assert without_health(a2.services().json()) == without_health(listing), (listing, a2.services().json())
        r = a2.service(keep)
        assert r.status_code == 200, describe(r)
        assert without_health(r.json()) == without_health(shown), (shown, r.json())
        check_service_shape(r.json(), keep, json_downstream.url, BASIC_TOOLS)
        assert r.json()["createdAt"] == reg["createdAt"], (reg, r.json())
        assert_error(a2.service(gone), 404, "not_found")
        assert db.version() == version
        check_stored(db, keep, json_downstream.url, BASIC_TOOLS)
        assert [x["deleted"] for x in db.service_rows(gone)] == [True], db.service_rows(gone)

        # listed and callable through /mcp
        names = mcp_tool_names(g2.url)
        assert sorted(names) == sorted(f"{keep}__{t}" for t in BASIC_TOOLS), names
        text = f"after restart {uuid.uuid4().hex[:8]}"
        m = mcp_call_echo(g2.url, f"{keep}__echo", text)
        content = (m.get("result") or {}).get("content")
        assert content and [(c.get("type"), c.get("text")) for c in content] == [("text", text)], m
        assert json_downstream.stats()["last_call_arguments"] == {"text": text}, json_downstream.stats()

        # and the new process writes on: versions go on rising, the deleted name is free
        r = a2.update(keep)
        assert check_mutation(r, 200, keep, json_downstream.url, BASIC_TOOLS)["version"] > version
        r = a2.register(gone, sse_downstream.url)
        check_mutation(r, 201, gone, sse_downstream.url, BASIC_TOOLS)
        assert r.json()["version"] == db.version()
    finally:
        a2.close()


# ---------------------------------------------------------------------------------------------------
# outages (private PostgreSQL + Redis)

def health_at(admin: Admin, version: int, what: str) -> dict:
    """GET /health right after a mutation answered: DESIGN.md has the local index reload *before* the
    response (register: ... -> the local index reloads -> 201), so the replica that took the write
    already shows it. When it does not, find out whether (and when) it catches up, for the report."""
    h = admin.health()
    if h["registryVersion"] == version:
        return h
    t0 = time.monotonic()
    later = _poll(lambda: (lambda x: x if x["registryVersion"] == version else None)(admin.health()), 3, 0.01)
    when = f"it caught up {1000 * (time.monotonic() - t0):.0f} ms later" if later else "not even 3 s later"
    pytest.fail(f"GET /health right after {what} answered shows registryVersion {h['registryVersion']} "
                f"(services {h['services']}, tools {h['tools']}), not the mutation's version {version}; {when}. "
                f"DESIGN.md: the local index reloads before the response (read-your-writes on this replica).",
                pytrace=False)


def _poll(fn, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    return last


@pytest.mark.backends("postgres")
@pytest.mark.deadline(60)
def test_redis_down_register_commits_pending_then_resyncs(backend, outage_services, start_gateway, json_downstream):
    svc = outage_services
    gw = start_gateway(**svc.gateway_env(), **GATEWAY_ENV)
    wait_storage_ready(gw.url)
    admin = Admin(gw.url)
    db = Psql(svc.env)
    ds = json_downstream
    redis_url = svc.env["REDIS_URL"]
    try:
        first = unique_name("rd-a")
        r = admin.register(first, ds.url)
        check_mutation(r, 201, first, ds.url, BASIC_TOOLS)
        assert int(redis_get(redis_url, VERSION_KEY)) == r.json()["version"]

        redis_pid = svc.redis_pid()
        svc.redis_stop()
        time.sleep(0.1)
        assert gw.alive(), (f"the gateway (pid {gw.pid}) exited when Redis (pid {redis_pid}) was stopped\n"
                            + gw.log_tail(30))
        name = unique_name("rd-b")
        t0 = time.monotonic()
        r = admin.register(name, ds.url)
        elapsed = time.monotonic() - t0
        assert r.status_code == 201, describe(r)
        body = r.json()
        check_service_shape(body, name, ds.url, BASIC_TOOLS)
        assert body.get("redis") == "pending", body
        assert elapsed < 3, f"register with Redis down took {elapsed:.2f} s"
        check_stored(db, name, ds.url, BASIC_TOOLS)
        stored = db.version()
        assert body["version"] == stored
        # the gateway notices
        h = _poll(lambda: (lambda x: x if x["redis"]["state"] == "down" else None)(admin.health()), 5)
        assert h and h["redis"]["state"] == "down", f"health while Redis is down: {admin.health()}"
        # delete also commits while Redis is down
        r = admin.delete(first)
        assert r.status_code == 200 and r.json().get("redis") == "pending", describe(r)
        stored = db.version()
        assert r.json()["version"] == stored

        svc.redis_start()  # comes back empty (no persistence)
        t0 = time.monotonic()
        key = _poll(lambda: redis_get(redis_url, VERSION_KEY), 15, 0.2)
        took = time.monotonic() - t0
        assert key is not None and int(key) == stored, \
            f"after Redis restarted, {VERSION_KEY}={key!r} (waited {took:.1f} s), stored version {stored}"
        h = _poll(lambda: (lambda x: x if x["redis"]["state"] == "up" else None)(admin.health()), 5)
        assert h and h["redis"]["state"] == "up", admin.health()
        # and mutations publish again
        r = admin.update(name)
        assert r.status_code == 200 and r.json()["redis"] == "published", describe(r)
        assert int(redis_get(redis_url, VERSION_KEY)) == r.json()["version"] == db.version()
    finally:
        admin.close()
        svc.ensure_running()


@pytest.mark.backends("postgres")
@pytest.mark.deadline(60)
def test_postgres_down_is_503_fast_then_recovers(backend, outage_services, start_gateway, json_downstream):
    svc = outage_services
    gw = start_gateway(**svc.gateway_env(), **GATEWAY_ENV)
    wait_storage_ready(gw.url)
    admin = Admin(gw.url, timeout=10)
    db = Psql(svc.env)
    ds = json_downstream
    problems = []
    try:
        before = unique_name("pg-a")
        check_mutation(admin.register(before, ds.url), 201, before, ds.url, BASIC_TOOLS)
        assert admin.services().status_code == 200

        svc.pg_stop()
        name = unique_name("pg-b")
        for what, call in (
            ("GET /services", lambda: admin.services()),
            ("POST /register", lambda: admin.register(name, ds.url)),
            ("GET /services (again)", lambda: admin.services()),
            ("GET /services/:name", lambda: admin.service(before)),
            ("PUT /update/:name", lambda: admin.update(before)),
            ("DELETE /delete/:name", lambda: admin.delete(before)),
            ("POST /register (again)", lambda: admin.register(name, ds.url)),
        ):
            t0 = time.monotonic()
            try:
                r = call()
            except httpx.HTTPError as e:
                problems.append(f"[{what}] with PostgreSQL down: {e!r} after {time.monotonic() - t0:.2f} s")
                continue
            elapsed = time.monotonic() - t0
            if p := error_problem(r, 503, "storage_unavailable"):
                problems.append(f"[{what}] with PostgreSQL down ({elapsed:.2f} s): {p}")
            elif r.json()["error"]["message"] != "storage is unavailable; retry later":
                problems.append(f"[{what}] the 503 carries more than the stable message: {describe(r)}")
            if elapsed >= 1.0:
                problems.append(f"[{what}] with PostgreSQL down took {elapsed:.2f} s (want < 1 s)")
        h = admin.health()
        if h["storage"]["state"] != "down" or h["status"] != "degraded":
            problems.append(f"GET /health with PostgreSQL down: {h}")

        svc.pg_start()
        t0 = time.monotonic()
        r = _poll(lambda: (lambda x: x if x.status_code == 200 else None)(admin.services()), 10, 0.2)
        took = time.monotonic() - t0
        if r is None or r.status_code != 200:
            problems.append(f"GET /services did not recover within 10 s after pg-start: "
                            f"{describe(admin.services())}")
        else:
            names = [s["name"] for s in r.json()["services"]]
            if before not in names or name in names:
                problems.append(f"after recovery the list is {names} (want {before}, not {name})")
            r = admin.register(name, ds.url)
            if r.status_code != 201:
                problems.append(f"register after recovery ({took:.1f} s): {describe(r)}")
            else:
                check_stored(db, name, ds.url, BASIC_TOOLS)
            h = admin.health()
            if h["storage"]["state"] != "up" or h["status"] != "ok":
                problems.append(f"GET /health after recovery: {h}")
        if problems:
            problems.append("gateway log:\n" + gw.log_tail(40))
        assert not problems, "\n".join(problems)
    finally:
        admin.close()
        svc.ensure_running()


# ---------------------------------------------------------------------------------------------------
# dry runs

def test_dry_run_register_and_update_store_nothing(admin, db, storage, start_downstream):
    """?dryRun=true fetches the downstream as a real register/update does and answers 200 with what
    would change (federated names added, removed, changed, with content hashes; a changed schema under
    the same name is flagged); rows, the registry version and the index stay as they were."""
    d = start_downstream()
    name = unique_name("dry")
    before = db.version()
    r = admin.request("POST", "/register?dryRun=true", json_body={"name": name, "url": d.url})
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body["dryRun"] is True and body["name"] == name and body["url"] == d.url, body
    assert sorted(e["tool"] for e in body["added"]) == sorted(BASIC_TOOLS), body
    assert all(e["name"] == f"{name}__{e['tool']}" and re.fullmatch(r"sha256:[0-9a-f]{64}", e["hash"]) for e in body["added"]), body
    assert body["removed"] == [] and body["changed"] == [] and body["unchanged"] == 0, body
    assert_nothing_stored(db, name)
    assert db.version() == before, "a dry run moved the registry version"
    assert admin.service(name).status_code == 404

    check_mutation(admin.register(name, d.url), 201, name, d.url, BASIC_TOOLS)
    stored_version = db.version()
    stored = db.stored_tools_json(name)
    d.set_tool_set("drifted")
    r = admin.request("PUT", f"/update/{name}?dryRun=true")
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body["added"] == [] and body["removed"] == [], body
    assert body["unchanged"] == len(BASIC_TOOLS) - 1, body
    (change,) = body["changed"]
    assert change["tool"] == "add" and change["name"] == f"{name}__add", change
    assert change["flagged"] is True and "inputSchema" in change["fields"], change
    assert change["oldHash"] != change["newHash"], change
    assert db.version() == stored_version and db.stored_tools_json(name) == stored, "a dry-run update stored something"

    d.set_tool_set("changed")
    body = admin.request("PUT", f"/update/{name}?dryRun=1").json()
    assert [e["tool"] for e in body["added"]] == ["multiply"] and [e["tool"] for e in body["removed"]] == ["fail"], body

    # The same failures as the real thing, and a bad flag value is refused rather than ignored.
    assert_error(admin.request("POST", "/register?dryRun=true", json_body={"name": name, "url": d.url}), 409, "conflict")
    assert_error(admin.request("PUT", f"/update/{unique_name('nope')}?dryRun=true"), 404, "not_found")
    assert_error(admin.request("POST", "/register?dryRun=yes", json_body={"name": unique_name("x"), "url": d.url}), 400, "bad_request")
    assert_error(admin.request("POST", "/register?dryRun=true", json_body={"name": unique_name("x"), "url": "http://127.0.0.1:9/mcp"}),
                 502, "downstream_error")
    assert admin.request("POST", "/register?dryRun=true", json_body={"name": unique_name("x"), "url": d.url},
                         key=None).status_code == 401


# ---------------------------------------------------------------------------------------------------
# per-service limits, history, pinned definitions

def mcp_call(url: str, tool: str, arguments: dict, rid: int = 1, timeout: float = 30) -> dict:
    """tools/call over /mcp (2026-07-28, stateless); the final JSON-RPC message."""
    r = httpx.post(url + "/mcp", json=modern_body(rid, "tools/call", {"name": tool, "arguments": arguments}),
                   headers=modern_headers("tools/call", tool), timeout=timeout)
    assert r.status_code == 200, describe(r)
    return final_message(r, rid)


def test_service_limits_are_stored_shown_and_enforced(start_gateway, storage, db, start_downstream):
    """limits.timeoutMs bounds a service's calls instead of TOOL_CALL_TIMEOUT; limits.maxConcurrent
    makes the excess wait CALL_QUEUE_WAIT for a slot, then fail with -32005 naming the service; an
    update patches the limits (null clears one); bad limits are 400 and store nothing."""
    g = start_on(start_gateway, storage, CALL_QUEUE_WAIT="0.3")
    admin = Admin(g.url)
    d = start_downstream()
    name = unique_name("lim")
    for bad in ({"timeoutMs": 0}, {"maxConcurrent": "2"}, {"retries": 3}, [1]):
        assert_error(admin.request("POST", "/register", json_body={"name": name, "url": d.url, "limits": bad}), 400, "bad_request")
    assert_nothing_stored(db, name)

    r = admin.request("POST", "/register", json_body={"name": name, "url": d.url, "limits": {"timeoutMs": 400}})
    assert r.status_code == 201, describe(r)
    assert r.json()["limits"] == {"timeoutMs": 400, "maxConcurrent": None}, r.json()
    assert admin.service(name).json()["limits"] == {"timeoutMs": 400, "maxConcurrent": None}

    started = time.monotonic()
    reply = mcp_call(g.url, f"{name}__slow", {"seconds": 3})
    took = time.monotonic() - started
    assert reply.get("error", {}).get("code") == -32002, reply
    assert took < 2.5, f"the service's 400 ms timeout took {took:.2f} s"

    # Patch: a longer timeout and one call at a time.
    r = admin.request("PUT", f"/update/{name}", json_body={"limits": {"timeoutMs": 10000, "maxConcurrent": 1}})
    assert r.status_code == 200 and r.json()["limits"] == {"timeoutMs": 10000, "maxConcurrent": 1}, describe(r)
    assert_error(admin.request("PUT", f"/update/{name}", json_body={"limits": {"maxConcurrent": 0}}), 400, "bad_request")
    assert admin.service(name).json()["limits"]["maxConcurrent"] == 1, "a refused update changed the limits"

    results: dict = {}
    holder = threading.Thread(target=lambda: results.setdefault("slow", mcp_call(g.url, f"{name}__slow", {"seconds": 1.5})))
    holder.start()
    time.sleep(0.4)  # the slow call holds the only slot
    started = time.monotonic()
    busy = mcp_call(g.url, f"{name}__echo", {"text": "x"})
    waited = time.monotonic() - started
    assert busy.get("error", {}).get("code") == -32005, busy
    assert busy["error"]["data"] == {"service": name, "maxConcurrent": 1}, busy
    assert name in busy["error"]["message"]
    assert 0.2 <= waited < 1.2, f"the refused call waited {waited:.2f} s (CALL_QUEUE_WAIT=0.3)"
    holder.join(10)
    assert results["slow"]["result"]["content"][0]["text"] == "slept 1.5", results

    # A waiter gets the slot when it frees within the wait.
    holder = threading.Thread(target=lambda: results.__setitem__("slow2", mcp_call(g.url, f"{name}__slow", {"seconds": 0.3})))
    holder.start()
    time.sleep(0.15)
    assert mcp_call(g.url, f"{name}__echo", {"text": "after"}).get("result") is not None
    holder.join(10)

    # null clears the limit: concurrent calls all run.
    r = admin.request("PUT", f"/update/{name}", json_body={"limits": {"maxConcurrent": None}})
    assert r.json()["limits"] == {"timeoutMs": 10000, "maxConcurrent": None}, describe(r)
    holder = threading.Thread(target=lambda: mcp_call(g.url, f"{name}__slow", {"seconds": 1}))
    holder.start()
    time.sleep(0.2)
    assert mcp_call(g.url, f"{name}__echo", {"text": "free"}).get("result") is not None
    holder.join(10)
    admin.close()


def test_history_records_every_change_with_hashes(admin, db, start_downstream):
    """GET /services/:name/history: newest first, one entry per register/update/delete with the
    action, cause, version and the diff (added/removed/changed names and hashes, flagged schema
    changes), written in the mutation's transaction; it outlives a delete."""
    d = start_downstream()
    name = unique_name("hist")
    assert_error(admin.request("GET", f"/services/{name}/history"), 404, "not_found")
    v1 = check_mutation(admin.register(name, d.url), 201, name, d.url, BASIC_TOOLS)["version"]
    d.set_tool_set("drifted")
    dry = admin.request("PUT", f"/update/{name}?dryRun=true").json()
    v2 = admin.update(name).json()["version"]
    d.set_tool_set("changed")
    v3 = admin.update(name).json()["version"]
    v4 = admin.delete(name).json()["version"]

    r = admin.request("GET", f"/services/{name}/history")
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body["service"] == name and body["count"] == 4, body
    deleted, changed, drifted, registered = body["changes"]
    assert [c["action"] for c in body["changes"]] == ["delete", "update", "update", "register"]
    assert all(c["cause"] == "admin" for c in body["changes"])
    assert [int(c["version"]) for c in body["changes"]] == [int(v4), int(v3), int(v2), int(v1)]
    assert all(parse_ts(c["at"]) for c in body["changes"])

    assert sorted(e["tool"] for e in registered["added"]) == sorted(BASIC_TOOLS) and registered["removed"] == []
    (drift,) = drifted["changed"]
    assert drift["tool"] == "add" and drift["flagged"] is True and "inputSchema" in drift["fields"], drift
    assert drift == dry["changed"][0], "the stored diff differs from the dry run's"
    old_add = next(e["hash"] for e in registered["added"] if e["tool"] == "add")
    assert drift["oldHash"] == old_add
    assert [e["tool"] for e in changed["added"]] == ["multiply"] and [e["tool"] for e in changed["removed"]] == ["fail"]
    assert [c["tool"] for c in changed["changed"]] == ["add"] and changed["changed"][0]["oldHash"] == drift["newHash"]
    assert sorted(e["tool"] for e in deleted["removed"]) == sorted(["echo", "add", "slow", "progress", "whoami", "multiply"])

    assert [c["action"] for c in admin.request("GET", f"/services/{name}/history?limit=2").json()["changes"]] == ["delete", "update"]
    for bad in ("0", "201", "x"):
        assert_error(admin.request("GET", f"/services/{name}/history?limit={bad}"), 400, "bad_request")
    assert int(db.value(f"SELECT count(*) FROM service_changes WHERE service_name = {db.lit(name)}")) == 4
    assert admin.request("GET", f"/services/{name}/history", key=None).status_code == 401


def test_pinned_definitions_refuse_a_schema_change_until_accepted(start_gateway, storage, db, start_downstream):
    """PIN_DEFINITIONS=true: an update that changes a definition's input schema under the same name
    is 409 definitions_changed (naming the tool and both hashes) and stores nothing; ?accept= with
    the new hash lets it through; changes that are not flagged (added, removed tools) pass."""
    g = start_on(start_gateway, storage, PIN_DEFINITIONS="true")
    admin = Admin(g.url)
    d = start_downstream()
    name = unique_name("pin")
    check_mutation(admin.register(name, d.url), 201, name, d.url, BASIC_TOOLS)
    version = db.version()
    stored = db.stored_tools_json(name)

    d.set_tool_set("drifted")
    r = admin.update(name)
    assert_error(r, 409, "definitions_changed")
    (change,) = r.json()["error"]["changed"]
    assert change["tool"] == "add" and change["name"] == f"{name}__add" and "inputSchema" in change["fields"], change
    assert change["oldHash"] != change["newHash"]
    assert db.version() == version and db.stored_tools_json(name) == stored, "a refused update stored something"
    assert admin.request("GET", f"/services/{name}/history").json()["count"] == 1

    assert_error(admin.request("PUT", f"/update/{name}?accept=sha256:{'0' * 64}"), 409, "definitions_changed")
    r = admin.request("PUT", f"/update/{name}?accept={change['newHash'].replace(':', '%3A')}")
    assert r.status_code == 200, describe(r)
    assert db.version() > version
    history = admin.request("GET", f"/services/{name}/history").json()["changes"]
    assert history[0]["changed"][0]["newHash"] == change["newHash"]

    d.set_tool_set("drifted")  # unchanged now: nothing flagged, nothing refused
    assert admin.update(name).status_code == 200
    admin.close()


@pytest.mark.backends("postgres")
def test_text_copies_keep_the_downstreams_bytes(admin, db, start_downstream):
    """The text copies reloads read (tools_text and the catalogs') hold the definitions as the
    downstream sent them, key order included, not PostgreSQL's normalised jsonb; and they agree
    with the jsonb[] columns."""
    d = start_downstream("--catalog", "bytes")
    name = unique_name("bytes")
    check_mutation(admin.register(name, d.url), 201, name, d.url, BASIC_TOOLS)
    for column, jsonb_column, method, key in (("tools_text", "tools", "tools/list", "tools"),
                                              ("prompts_text", "prompts", "prompts/list", "prompts"),
                                              ("resources_text", "resources", "resources/list", "resources")):
        text = db.value(f"SELECT t.{column} FROM service_tools t JOIN services s ON s.id = t.service_id "
                        f"WHERE s.name = {db.lit(name)} AND t.deleted_at IS NULL")
        direct = run_direct_list(d.url, method)[key]
        def keyed(pairs):
            return dict(pairs) | {"__keys": [k for k, _ in pairs]}
        ordered = json.loads(text, object_pairs_hook=keyed)
        wanted = json.loads(json.dumps(direct), object_pairs_hook=keyed)
        assert ordered == wanted, f"{column} differs from the downstream's {method} (values or key order)"
        as_jsonb = db.value(f"SELECT array_to_json(t.{jsonb_column})::text FROM service_tools t JOIN services s ON s.id = t.service_id "
                            f"WHERE s.name = {db.lit(name)} AND t.deleted_at IS NULL")
        assert json.loads(as_jsonb) == json.loads(text), f"{jsonb_column} and {column} disagree"


def run_direct_list(url: str, method: str) -> dict:
    """`method`'s result straight from a downstream (handshake era), key order as sent."""
    h = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json", "MCP-Protocol-Version": "2025-11-25"}
    with httpx.Client(timeout=10) as c:
        r = c.post(url, headers=h, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        if sid := r.headers.get("mcp-session-id"):
            h["Mcp-Session-Id"] = sid
        c.post(url, headers=h, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        r = c.post(url, headers=h, json={"jsonrpc": "2.0", "id": 2, "method": method})
        text = r.text
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            text = next(line[5:].strip() for line in text.splitlines() if line.startswith("data:") and line[5:].strip())
        return json.loads(text)["result"]
