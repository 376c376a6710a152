"""End-to-end tests of replica heartbeats (``GET /replicas``): two gateways sharing PostgreSQL and
Redis see each other, both current before and after a change, and a stopped one leaves the list at once;
without Redis a gateway lists only itself; the key is required.
"""

from __future__ import annotations

import time

import httpx
import pytest

from admin_fixtures import API_KEY, Admin, assert_error, json_downstream, unique_name  # noqa: F401 (fixtures by name)

pytestmark = pytest.mark.deadline(60)
HEARTBEAT = "0.3"  # seconds: a peer is gone after 3 silent intervals


def replicas(url: str) -> dict:
    r = httpx.get(url + "/replicas", headers={"X-API-Key": API_KEY}, timeout=5)
    assert r.status_code == 200, f"GET /replicas -> {r.status_code} {r.text}"
    return r.json()


def wait_for(what: str, probe, timeout: float = 8.0):
    """Polls probe() until it returns something truthy; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    pytest.fail(f"{what} within {timeout} s; last seen: {last!r}", pytrace=False)


# ---------------------------------------------------------------------------------------------------
# GET /replicas

def test_two_replicas_sharing_redis_see_each_other_and_both_are_current(start_gateway, json_downstream):
    a = start_gateway(with_storage=True, REPLICA_HEARTBEAT_INTERVAL=HEARTBEAT, VERSION_CHECK_INTERVAL="0.5")
    b = start_gateway(with_storage=True, REPLICA_HEARTBEAT_INTERVAL=HEARTBEAT, VERSION_CHECK_INTERVAL="0.5")

    def both(url):
        body = replicas(url)
        addresses = {r["address"] for r in body["replicas"]}
        return body if {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"} <= addresses else None

    body = wait_for("A lists both replicas", lambda: both(a.url))
    mine = [r for r in body["replicas"] if r["self"]]
    assert len(mine) == 1 and mine[0]["address"] == f"127.0.0.1:{a.port}", body
    assert body["replicas"][0]["self"], f"this replica comes first: {body}"
    for r in body["replicas"]:
        assert set(r) >= {"id", "address", "version", "uptimeSeconds", "self", "current"}, r
        assert isinstance(r["version"], int) and r["uptimeSeconds"] >= 0, r
    wait_for("B lists both replicas", lambda: both(b.url))
    ids = {r["address"]: r["id"] for r in body["replicas"]}
    assert ids[f"127.0.0.1:{a.port}"] != ids[f"127.0.0.1:{b.port}"]

    # A register on A: both reach the new version and are current at it.
    admin = Admin(a.url)
    name = unique_name("hb")
    r = admin.register(name, json_downstream.url)
    assert r.status_code == 201, r.text
    version = r.json()["version"]

    def current_at(url):
        body = both(url)
        if not body or body["version"] < version:
            return None
        ours = [x for x in body["replicas"] if x["address"] in (f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}")]
        return body if all(x["current"] and x["version"] >= version for x in ours) else None

    wait_for("both replicas current at the new version (seen from A)", lambda: current_at(a.url))
    wait_for("both replicas current at the new version (seen from B)", lambda: current_at(b.url))
    assert admin.delete(name).status_code == 200

    # B stops: it says so, and A drops it at once (long before 3 intervals would).
    b.stop()
    wait_for("A drops the stopped replica",
             lambda: all(x["address"] != f"127.0.0.1:{b.port}" for x in replicas(a.url)["replicas"]), timeout=5)
    wait_for("A logs why", lambda: f"replica gone replica={ids[f'127.0.0.1:{b.port}']} reason=leaving" in a.log_text(),
             timeout=2)
    admin.close()


def test_without_redis_a_replica_lists_only_itself(start_gateway):
    gw = start_gateway(REPLICA_HEARTBEAT_INTERVAL=HEARTBEAT)
    body = replicas(gw.url)
    assert len(body["replicas"]) == 1, body
    me = body["replicas"][0]
    assert me["self"] and me["current"] and me["address"] == f"127.0.0.1:{gw.port}", body
    assert body["version"] == me["version"]
    assert_error(httpx.get(gw.url + "/replicas", timeout=5), 401, "unauthorized")
    assert_error(httpx.get(gw.url + "/replicas", headers={"X-API-Key": "wrong-key"}, timeout=5), 401, "unauthorized")
