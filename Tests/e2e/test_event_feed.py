"""End-to-end tests of the operator's event stream (``GET /events``): a register and a delete show up
once each (also with Redis, where the replica hears its own change again on the bus), keep-alive
comments flow, and the key is required.
"""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx
import pytest

from admin_fixtures import API_KEY, Admin, assert_error, json_downstream, unique_name  # noqa: F401 (fixtures by name)

pytestmark = pytest.mark.deadline(60)


class EventReader:
    """Reads `GET /events` on a thread: (event, data) pairs and comments arrive on `.events`."""

    def __init__(self, url: str, key: str | None = API_KEY):
        self.events: queue.Queue = queue.Queue()
        self.status: int | None = None
        self.ready = threading.Event()
        self.client = httpx.Client(timeout=httpx.Timeout(5, read=30))
        headers = {"X-API-Key": key} if key else {}
        self.thread = threading.Thread(target=self._run, args=(url + "/events", headers), daemon=True)
        self.thread.start()
        assert self.ready.wait(5), "GET /events did not answer"

    def _run(self, url: str, headers: dict) -> None:
        try:
            with self.client.stream("GET", url, headers=headers) as r:
                self.status = r.status_code
                self.content_type = r.headers.get("content-type")
                self.ready.set()
                if r.status_code != 200:
                    return
                name, data = "message", []
                for line in r.iter_lines():
                    if line.startswith(":"):
                        self.events.put(("comment", line))
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip(" "))
                    elif line == "" and data:
                        self.events.put((name, json.loads("\n".join(data))))
                        name, data = "message", []
        except (httpx.HTTPError, ValueError):
            pass
        finally:
            self.ready.set()

    def next(self, pred, timeout: float = 8.0):
        """The first (event, data) satisfying pred within `timeout`; everything read meanwhile."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(item)
            if pred(item):
                return item, seen
        return None, seen

    def drain(self, seconds: float) -> list:
        out = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                out.append(self.events.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------------------------------------------
# GET /events

@pytest.mark.parametrize("with_storage", [False, True], ids=["sqlite", "postgres-redis"])
def test_event_stream_shows_each_registry_change_once(start_gateway, json_downstream, with_storage):
    gw = start_gateway(with_storage=with_storage, SSE_KEEPALIVE="0.3")
    reader = EventReader(gw.url)
    try:
        assert reader.status == 200 and reader.content_type.startswith("text/event-stream")
        hello, _ = reader.next(lambda e: e[0] == "hello")
        assert hello and isinstance(hello[1]["version"], int) and hello[1]["replica"], hello
        admin = Admin(gw.url)
        name = unique_name("feed")
        r = admin.register(name, json_downstream.url)
        assert r.status_code == 201, r.text
        version = r.json()["version"]
        event, seen = reader.next(lambda e: e[0] == "registry" and e[1].get("service") == name)
        assert event, f"no registry event for {name}; read {seen}"
        assert event[1] == {"version": version, "previous": event[1]["previous"], "action": "register", "service": name}
        assert isinstance(event[1]["previous"], int) and event[1]["previous"] < version
        r = admin.delete(name)
        assert r.status_code == 200
        deleted, seen = reader.next(lambda e: e[0] == "registry" and e[1].get("action") == "delete")
        assert deleted and deleted[1]["service"] == name and deleted[1]["previous"] == version, seen
        # With Redis the change comes back on the bus too: still announced once per version.
        later = reader.drain(1.0)
        repeats = [e for e in later if e[0] == "registry" and e[1].get("service") == name]
        assert repeats == [], f"a change announced twice: {repeats}"
        assert any(e[0] == "comment" and "keepalive" in e[1] for e in seen + later), "no keep-alive comment"
        admin.close()
    finally:
        reader.close()


def test_event_stream_needs_the_key(start_gateway):
    gw = start_gateway()
    for key in (None, "wrong-key"):
        reader = EventReader(gw.url, key=key)
        assert reader.status == 401, reader.status
        reader.close()
    r = httpx.get(gw.url + "/events", timeout=5)
    assert_error(r, 401, "unauthorized")
