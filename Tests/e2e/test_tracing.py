"""End-to-end tests of OpenTelemetry traces: a gateway with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a
local OTLP/HTTP receiver (JSON), a real SDK downstream, raw clients in both eras:

* the client's W3C ``traceparent`` (the header, or ``params._meta`` in 2026-07-28) is the parent of
  the gateway's server span; the downstream exchange is a client span under it; the downstream
  receives a ``traceparent`` naming that client span (header and ``_meta``), and ``tracestate``;
* span attributes: method, federated and original names, service, outcome (a tool's isError
  result is an exchange that succeeded);
* a request without trace context starts a new trace; spans are exported in batches, and the
  gateway's metrics count them.
"""

from __future__ import annotations

import http.server
import json
import threading
import time

import httpx
import pytest

from admin_fixtures import Admin, Downstream, describe, unique_name
from conftest import GatewayFactory, free_port
from mcp_fixtures import GATEWAY_ENV, LegacySession, final_message, modern_body, modern_headers

pytestmark = pytest.mark.deadline(60)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


class Receiver:
    """OTLP/HTTP JSON receiver: every span of every POST /v1/traces, flattened."""

    def __init__(self):
        self.spans: list[dict] = []
        self.posts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = self.path == "/v1/traces" and self.headers.get("Content-Type", "").startswith("application/json")
                if ok:
                    outer.posts += 1
                    doc = json.loads(body)
                    for rs in doc["resourceSpans"]:
                        service = {a["key"]: a["value"]["stringValue"] for a in rs["resource"]["attributes"]}["service.name"]
                        for ss in rs["scopeSpans"]:
                            for s in ss["spans"]:
                                s["attrs"] = {a["key"]: a["value"]["stringValue"] for a in s.get("attributes", [])}
                                s["service"] = service
                                outer.spans.append(s)
                self.send_response(200 if ok else 404)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, pred, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [s for s in self.spans if pred(s)]
            if found:
                return found
            time.sleep(0.05)
        return []


@pytest.fixture(scope="module")
def traced(gateway_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tracing")
    receiver = Receiver()
    factory = GatewayFactory(gateway_bin, tmp)
    gw = factory(DATABASE_URL=f"sqlite:{tmp / 'registry.db'}", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, **GATEWAY_ENV)
    ds = Downstream(mode="json", workdir=tmp)
    admin = Admin(gw.url)
    svc = unique_name("tr")
    assert admin.register(svc, ds.url).status_code == 201
    try:
        yield gw, receiver, ds, svc
    finally:
        admin.close()
        ds.stop()
        receiver.server.shutdown()
        problems = factory.teardown(False)
        assert not problems, problems


def test_header_context_links_client_gateway_and_downstream(traced):
    gw, receiver, ds, svc = traced
    session = LegacySession(f"{gw.url}/mcp").open()
    r = session.post({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": f"{svc}__add", "arguments": {"a": 2, "b": 3}}},
                     headers={"traceparent": f"00-{TRACE}-{PARENT}-01", "tracestate": "vendor=abc"})
    assert final_message(r, 5)["result"]["content"][0]["text"] == "5", describe(r)
    session.close()
    seen = ds.stats()["last_call_headers"]
    down = seen.get("traceparent", "")
    assert down.startswith(f"00-{TRACE}-") and down.endswith("-01") and PARENT not in down, seen
    assert seen.get("tracestate") == "vendor=abc", seen
    client_span_id = down.split("-")[2]
    meta = ds.stats()["last_call_params"].get("_meta", {})
    assert meta.get("traceparent") == down, meta

    server = receiver.wait(lambda s: s["traceId"] == TRACE and s["kind"] == 2 and s["attrs"].get("mcp.method") == "tools/call")
    client = receiver.wait(lambda s: s["traceId"] == TRACE and s["kind"] == 3)
    assert len(server) == 1 and len(client) == 1, (server, client)
    server, client = server[0], client[0]
    assert server["parentSpanId"] == PARENT and server["traceState"] == "vendor=abc", server
    assert client["parentSpanId"] == server["spanId"] and client["spanId"] == client_span_id, (server, client)
    assert client["attrs"] == {"mcp.method": "tools/call", "mcp.service": svc, "mcp.name": f"{svc}__add",
                               "mcp.name.original": "add", "mcp.outcome": "ok"}, client["attrs"]
    assert server["attrs"]["mcp.name"] == f"{svc}__add" and server["attrs"]["mcp.service"] == svc, server["attrs"]
    assert server["status"]["code"] == 1 and client["status"]["code"] == 1
    assert int(server["startTimeUnixNano"]) <= int(client["startTimeUnixNano"]) <= int(client["endTimeUnixNano"]) \
        <= int(server["endTimeUnixNano"]), (server, client)


def test_modern_meta_context_and_a_tool_error(traced):
    gw, receiver, ds, svc = traced
    trace = "0af7651916cd43dd8448eb211c80319c"
    body = modern_body(9, "tools/call", {"name": f"{svc}__fail", "arguments": {"message": "boom"},
                                         "_meta": {"traceparent": f"00-{trace}-b7ad6b7169203331-01"}})
    r = httpx.post(f"{gw.url}/mcp", json=body, headers=modern_headers("tools/call", f"{svc}__fail"), timeout=20)
    assert r.status_code == 200, describe(r)
    down = ds.stats()["last_call_headers"].get("traceparent", "")
    assert down.startswith(f"00-{trace}-"), down
    server = receiver.wait(lambda s: s["traceId"] == trace and s["kind"] == 2)
    client = receiver.wait(lambda s: s["traceId"] == trace and s["kind"] == 3)
    assert server and client and server[0]["parentSpanId"] == "b7ad6b7169203331", (server, client)
    # The SDK answers a raising tool with an isError result: the exchange itself succeeded.
    assert client[0]["attrs"]["mcp.outcome"] == "ok" and client[0]["attrs"]["mcp.name.original"] == "fail", client[0]["attrs"]


def test_untraced_requests_start_new_traces_and_are_counted(traced):
    gw, receiver, ds, svc = traced
    before = len(receiver.spans)
    for i in range(3):
        r = httpx.post(f"{gw.url}/mcp", json=modern_body(i, "tools/list"), headers=modern_headers("tools/list"), timeout=10)
        assert r.status_code == 200
    lists = receiver.wait(lambda s: s["attrs"].get("mcp.method") == "tools/list", timeout=5)
    assert len(lists) >= 3 and len({s["traceId"] for s in lists}) == len(lists), lists
    assert all("parentSpanId" not in s and s["service"] == "mcp-gateway" for s in lists), lists
    assert len(receiver.spans) > before
    metrics = httpx.get(f"{gw.url}/metrics", timeout=10).text
    exported = [ln for ln in metrics.splitlines() if ln.startswith("mcp_gateway_trace_spans_exported")]
    assert exported and float(exported[0].split()[-1]) >= len(lists), exported
    assert "mcp_gateway_trace_spans_dropped 0" in metrics
