"""End-to-end tests of the gateway's HTTP/1.1 server, over real sockets.

They rely on the test-only routes the gateway serves when GATEWAY_TEST_ROUTES=1:
  GET  /_test/bytes/:n    n bytes, application/octet-stream, Content-Length n
  POST /_test/echo        the request body back (Content-Length or chunked request bodies)
  GET  /_test/sleep/:ms   {"slept": ms} after ms milliseconds, without blocking the loop
  GET  /_test/sse/:count  text/event-stream, `data: <i>\\n\\n` every 10 ms, then the stream ends
and on the limits configured by MAX_HEADER_BYTES, MAX_BODY_BYTES, REQUEST_TIMEOUT, IDLE_TIMEOUT,
MAX_CONNECTIONS and SHUTDOWN_TIMEOUT.
"""

from __future__ import annotations

import os
import re
import resource
import select
import signal
import socket
import struct
import time

import httpx
import pytest

from rawhttp import ConnectionClosed, ProtocolError, RawConn, build_request, chunked, get

MiB = 1024 * 1024


def media_type(r) -> str:
    v = r.header("content-type")
    assert v is not None, f"no Content-Type in {r!r}"
    return v.split(";")[0].strip().lower()


def assert_error(r, status: int, code: str):
    assert r.status == status, r
    assert media_type(r) == "application/json", r
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    assert body["error"].get("code") == code, body
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"], body


def assert_closed(c: RawConn, timeout: float = 2.0, what: str = ""):
    closed, extra = c.wait_closed(timeout)
    assert closed, f"server did not close the connection within {timeout} s {what}"
    assert extra == b"", f"unexpected bytes after the response {what}: {extra[:200]!r}"


def reset_close(sock: socket.socket):
    """Closes with an RST (SO_LINGER 0), the rudest way a client can go away."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def sse_events(data: bytes) -> list[str]:
    text = data.decode()
    assert text.endswith("\n\n"), f"stream does not end at an event boundary: {text[-50:]!r}"
    return [e for e in text.split("\n\n") if e]


# ---------------------------------------------------------------------------------------------------
# routes

def test_health(gateway):
    r = get(gateway.port, "/health")
    assert r.status == 200, r
    assert media_type(r) == "application/json"
    body = r.json()
    assert isinstance(body, dict) and "status" in body, body


def test_health_with_httpx(gateway):
    r = httpx.get(gateway.url + "/health", timeout=5)
    assert r.status_code == 200
    assert "status" in r.json()


def test_query_string_is_not_part_of_the_route(gateway):
    r = get(gateway.port, "/health?probe=1")
    assert r.status == 200, r
    r = get(gateway.port, "/_test/bytes/5?x=y")
    assert r.status == 200 and r.body and len(r.body) == 5, r


@pytest.mark.parametrize("n", [0, 1, 10, 65536, 1_000_000])
def test_bytes(gateway, n):
    r = get(gateway.port, f"/_test/bytes/{n}", timeout=10)
    assert r.status == 200, r
    assert media_type(r) == "application/octet-stream"
    assert r.header("content-length") == str(n), r
    assert not r.chunked
    assert len(r.body) == n


@pytest.mark.parametrize("size", [1, 256 * 4, 1 * MiB])
def test_echo_content_length(gateway, size):
    body = (bytes(range(256)) * (size // 256 + 1))[:size]
    with RawConn(gateway.port, timeout=10) as c:
        r = c.request("POST", "/_test/echo", body, {"Content-Type": "application/octet-stream"})
    assert r.status == 200, r
    assert media_type(r) == "application/octet-stream"
    assert r.body == body


def test_echo_empty_bodies(gateway):
    with RawConn(gateway.port) as c:
        r = c.request("POST", "/_test/echo", b"")  # Content-Length: 0
        assert r.status == 200 and r.body == b"", r
        r = c.request("POST", "/_test/echo")  # no body framing at all
        assert r.status == 200 and r.body == b"", r
        r = c.request("POST", "/_test/echo", chunked(), {"Transfer-Encoding": "chunked"})
        assert r.status == 200 and r.body == b"", r


@pytest.mark.parametrize("variant", ["plain", "extensions", "trailers", "lowercase-header", "big"])
def test_echo_chunked(gateway, variant):
    parts = [b"hello", b" ", b"w" * 1000, b"\x00\xff\r\n", b"x"]
    headers = {"Transfer-Encoding": "chunked"}
    if variant == "plain":
        payload = chunked(*parts)
    elif variant == "extensions":
        payload = b"".join(b"%x;name=value\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    elif variant == "trailers":
        payload = chunked(*parts, trailers="X-Checksum: 42\r\n")
    elif variant == "lowercase-header":
        headers = {"transfer-encoding": "chunked"}
        payload = chunked(*parts)
    else:
        parts = [os.urandom(300_000) for _ in range(5)]
        payload = chunked(*parts)
    with RawConn(gateway.port, timeout=10) as c:
        c.send(build_request("POST", "/_test/echo", None, headers) + payload)
        r = c.read_response()
    assert r.status == 200, r
    assert media_type(r) == "application/octet-stream"
    assert r.body == b"".join(parts)


def test_echo_chunked_body_trickled_across_many_reads(gateway):
    parts = [os.urandom(n) for n in (1, 7, 100, 3000, 5)]
    wire = chunked(*parts)
    with RawConn(gateway.port) as c:
        c.send(build_request("POST", "/_test/echo", None, {"Transfer-Encoding": "chunked"}))
        for i in range(0, len(wire), 700):  # splits in the middle of size lines and chunk data
            c.send(wire[i:i + 700])
            time.sleep(0.01)
        r = c.read_response()
    assert r.status == 200, r
    assert r.body == b"".join(parts)


def test_sleep(gateway):
    t0 = time.monotonic()
    r = get(gateway.port, "/_test/sleep/100")
    elapsed = time.monotonic() - t0
    assert r.status == 200, r
    assert media_type(r) == "application/json"
    assert r.json() == {"slept": 100}
    assert elapsed >= 0.09, f"answered after {elapsed:.3f} s, before the 100 ms sleep ended"


def test_sleep_does_not_block_the_loop(gateway):
    conns = [RawConn(gateway.port) for _ in range(5)]
    try:
        t0 = time.monotonic()
        for c in conns:
            c.send(build_request("GET", "/_test/sleep/300"))
        time.sleep(0.05)
        h0 = time.monotonic()
        r = get(gateway.port, "/health", timeout=2)
        health_latency = time.monotonic() - h0
        assert r.status == 200
        for c in conns:
            r = c.read_response()
            assert r.status == 200 and r.json() == {"slept": 300}, r
        total = time.monotonic() - t0
    finally:
        for c in conns:
            c.close()
    assert health_latency < 0.2, f"/health took {health_latency:.3f} s while 5 sleeps were pending"
    assert total < 1.0, f"5 concurrent 300 ms sleeps took {total:.3f} s: they ran one after another"


def test_sse(gateway):
    count = 20
    with RawConn(gateway.port) as c:
        c.send(build_request("GET", "/_test/sse/%d" % count))
        t0 = time.monotonic()
        r = c.read_head()
        assert r.status == 200, r
        assert media_type(r) == "text/event-stream"
        assert (r.header("x-accel-buffering") or "").lower() == "no", r
        assert r.header_tokens("transfer-encoding") == ["chunked"], r
        assert r.header("content-length") is None, r
        arrivals, data = [], b""
        for chunk in c.iter_chunks():
            arrivals.append(time.monotonic() - t0)
            data += chunk
        events = sse_events(data)
        assert len(events) == count, events
        values = []
        for e in events:
            m = re.fullmatch(r"data: (\d+)", e)
            assert m, f"unexpected event {e!r}"
            values.append(int(m.group(1)))
        assert values == list(range(values[0], values[0] + count)) and values[0] in (0, 1), values
        duration = arrivals[-1]
        assert duration >= 0.15, f"{count} events 10 ms apart arrived within {duration:.3f} s"
        assert arrivals[0] < duration - 0.1, \
            f"first bytes at {arrivals[0]:.3f} s, last at {duration:.3f} s: the stream is buffered, not streamed"
        # the stream ended with the terminating chunk; the connection is still usable
        r = c.request("GET", "/health")
        assert r.status == 200, r


def test_not_found(gateway):
    for path in ("/definitely/not/here", "/_test/nope", "/health/extra"):
        r = get(gateway.port, path)
        assert_error(r, 404, "not_found")


@pytest.mark.parametrize("method,path", [("POST", "/health"), ("PUT", "/health"),
                                         ("DELETE", "/_test/bytes/10"), ("GET", "/_test/echo")])
def test_method_not_allowed(gateway, method, path):
    with RawConn(gateway.port) as c:
        r = c.request(method, path, b"" if method in ("POST", "PUT") else None)
        assert_error(r, 405, "method_not_allowed")
        # the connection survives a 405
        assert c.request("GET", "/health").status == 200


def test_method_not_allowed_lists_allow(gateway):
    # RFC 9110 15.5.6: "The origin server MUST generate an Allow header field in a 405 response"
    with RawConn(gateway.port) as c:
        r = c.request("POST", "/health", b"")
    assert r.status == 405
    assert "get" in r.header_tokens("allow"), r


def test_cors_preflight(gateway):
    origin = "http://localhost:5173"
    with RawConn(gateway.port) as c:
        r = c.request("OPTIONS", "/mcp", headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, mcp-session-id, mcp-protocol-version",
        })
    assert r.status == 204, r
    assert r.body == b""
    assert r.header("access-control-allow-origin") in ("*", origin), r
    assert "post" in r.header_tokens("access-control-allow-methods"), r
    allowed = r.header_tokens("access-control-allow-headers")
    assert "mcp-session-id" in allowed and "mcp-protocol-version" in allowed, r
    assert "mcp-session-id" in r.header_tokens("access-control-expose-headers"), r


def test_head(gateway):
    with RawConn(gateway.port) as c:
        g = c.request("GET", "/health")
        h = c.request("HEAD", "/health")
        assert c.nothing_received_within(0.2), "bytes after a HEAD response (a body was sent?)"
        assert g.status == h.status == 200
        assert h.body == b""
        assert h.header("content-length") is not None and h.header("content-length").isdigit(), h
        assert h.header("content-type") == g.header("content-type")
        names = lambda r: {k.lower() for k, _ in r.headers} - {"date"}
        assert names(h) == names(g), (h.headers, g.headers)
        # the connection is in sync: the next response parses
        assert c.request("GET", "/_test/bytes/3").body.__len__() == 3


# ---------------------------------------------------------------------------------------------------
# connection management

def test_keep_alive(gateway):
    with RawConn(gateway.port) as c:
        for i in range(10):
            if i % 3 == 0:
                r = c.request("GET", "/health")
            elif i % 3 == 1:
                r = c.request("GET", f"/_test/bytes/{i * 100}")
                assert len(r.body) == i * 100
            else:
                r = c.request("POST", "/_test/echo", b"ping %d" % i)
                assert r.body == b"ping %d" % i
            assert r.status == 200, r
            assert not r.wants_close(), f"request {i}: server asked to close a keep-alive connection"


def test_http10_closes_after_response(gateway):
    with RawConn(gateway.port) as c:
        c.send(b"GET /health HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        assert r.version in ("HTTP/1.0", "HTTP/1.1")
        assert_closed(c, what="after an HTTP/1.0 request without keep-alive")


def test_connection_close_honored(gateway):
    with RawConn(gateway.port) as c:
        r = c.request("GET", "/health", headers={"Connection": "close"})
        assert r.status == 200, r
        assert_closed(c, what="after `Connection: close`")


def test_pipelining(gateway):
    reqs = (build_request("GET", "/_test/sleep/50") + build_request("GET", "/health")
            + build_request("GET", "/_test/bytes/10") + build_request("POST", "/_test/echo", b"pipelined")
            + build_request("GET", "/_test/bytes/0"))
    with RawConn(gateway.port) as c:
        c.send(reqs)
        r1, r2, r3, r4, r5 = (c.read_response() for _ in range(5))
        assert r1.status == 200 and r1.json() == {"slept": 50}, r1
        assert r2.status == 200 and "status" in r2.json(), r2
        assert r3.status == 200 and len(r3.body) == 10 and media_type(r3) == "application/octet-stream", r3
        assert r4.status == 200 and r4.body == b"pipelined", r4
        assert r5.status == 200 and r5.body == b"", r5
        assert c.nothing_received_within(0.2)


def test_pipelining_split_mid_request_and_close(gateway):
    reqs = (build_request("GET", "/_test/bytes/7") + build_request("POST", "/_test/echo", b"abcdef")
            + build_request("GET", "/_test/sleep/20") + build_request("GET", "/health", headers={"Connection": "close"}))
    with RawConn(gateway.port) as c:
        cut = len(build_request("GET", "/_test/bytes/7")) + 30
        c.send(reqs[:cut])
        time.sleep(0.05)
        c.send(reqs[cut:])
        rs = [c.read_response() for _ in range(4)]
        assert [r.status for r in rs] == [200] * 4, rs
        assert len(rs[0].body) == 7 and rs[1].body == b"abcdef" and rs[2].json() == {"slept": 20}
        assert_closed(c, what="after the pipelined `Connection: close` request")


def test_client_closes_mid_body(gateway):
    with RawConn(gateway.port) as c:
        c.send(build_request("POST", "/_test/echo", None, {"Content-Length": "1000"}) + b"x" * 10)
    time.sleep(0.1)
    with RawConn(gateway.port) as c:
        c.send(build_request("POST", "/_test/echo", None, {"Content-Length": "1000"}) + b"x" * 10)
        time.sleep(0.05)
        reset_close(c.sock)
    time.sleep(0.1)
    assert gateway.alive(), "gateway died after a client went away mid-body"
    assert get(gateway.port, "/health").status == 200


def test_client_goes_away_before_response(gateway):
    """Writes to a peer that is gone must not kill the process (SIGPIPE/EPIPE/ECONNRESET)."""
    c = RawConn(gateway.port)
    c.send(build_request("GET", "/_test/sleep/150"))
    reset_close(c.sock)
    c = RawConn(gateway.port)  # graceful close this time
    c.send(build_request("GET", "/_test/sleep/150"))
    c.close()
    c = RawConn(gateway.port)  # in the middle of an SSE stream
    c.send(build_request("GET", "/_test/sse/100"))
    c.read_head()
    next(c.iter_chunks())
    reset_close(c.sock)
    c = RawConn(gateway.port, rcvbuf=4096)  # in the middle of a large body
    c.send(build_request("GET", "/_test/bytes/%d" % (8 * MiB)))
    c.read_head()
    c._fill(4096)
    reset_close(c.sock)
    time.sleep(0.4)
    assert gateway.alive(), "gateway died after clients went away before their responses"
    for _ in range(3):
        assert get(gateway.port, "/health").status == 200


def test_idle_gateway_does_not_spin(gateway):
    with RawConn(gateway.port) as c:  # one idle keep-alive connection open meanwhile
        assert c.request("GET", "/health").status == 200
        cpu0, t0 = gateway.cpu_seconds(), time.monotonic()
        time.sleep(1.0)
        cpu = gateway.cpu_seconds() - cpu0
        wall = time.monotonic() - t0
    assert cpu < 0.1 * wall, f"idle gateway used {cpu:.2f} s of CPU in {wall:.2f} s"


# ---------------------------------------------------------------------------------------------------
# limits

def test_header_limit(start_gateway):
    gw = start_gateway(MAX_HEADER_BYTES=1024)
    with RawConn(gw.port) as c:
        r = c.request("GET", "/health", headers={"X-Small": "a" * 600})
        assert r.status == 200, r
    with RawConn(gw.port) as c:
        c.send(build_request("GET", "/health", headers={"X-Big": "a" * 2000}))
        r = c.read_response()
        assert r.status == 431, r
        assert_closed(c, what="after 431")
    with RawConn(gw.port) as c:
        c.send(build_request("GET", "/health", headers=[(f"X-H{i}", "v" * 40) for i in range(50)]))
        r = c.read_response()
        assert r.status == 431, r
        assert_closed(c, what="after 431 (many headers)")
    assert get(gw.port, "/health").status == 200


def test_header_limit_default(gateway):
    with RawConn(gateway.port) as c:
        r = c.request("GET", "/health", headers={"X-Fine": "a" * 10000})
        assert r.status == 200, r
    with RawConn(gateway.port) as c:
        c.send(build_request("GET", "/health", headers={"X-Big": "a" * 20000}))
        r = c.read_response()
        assert r.status == 431, r
        assert_closed(c, what="after 431")
    # a header block that never ends must not be buffered without bound: 431 before the end
    with RawConn(gateway.port, timeout=3) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"a" * 20000)
        r = c.read_response()
        assert r.status == 431, r
        assert_closed(c, what="after 431 (unterminated header block)")


def test_body_limit(start_gateway):
    limit = 4096
    gw = start_gateway(MAX_BODY_BYTES=limit)
    with RawConn(gw.port) as c:
        body = os.urandom(limit)
        r = c.request("POST", "/_test/echo", body)
        assert r.status == 200 and r.body == body, r
        r = c.request("POST", "/_test/echo", chunked(body[:3000], body[3000:]), {"Transfer-Encoding": "chunked"})
        assert r.status == 200 and r.body == body, r
    # Content-Length over the limit: 413 at once, without waiting for (or reading) the body
    with RawConn(gw.port, timeout=3) as c:
        c.send(build_request("POST", "/_test/echo", None, {"Content-Length": str(limit + 1)}))
        r = c.read_response()
        assert r.status == 413, r
    with RawConn(gw.port, timeout=3) as c:
        c.send(build_request("POST", "/_test/echo", None, {"Content-Length": str(10 * 1024 ** 3)}))
        r = c.read_response()
        assert r.status == 413, r
    # a client that sends the body anyway (no Expect): the 413 arrives, and the unread body is never
    # taken for a next request: the server either closes or discards it
    for size in (limit + 1, 64 * 1024):
        with RawConn(gw.port, timeout=3) as c:
            c.send(build_request("POST", "/_test/echo", b"GET /_test/bytes/1 HTTP/1.1\r\n\r\n" + b"a" * size))
            r = c.read_response()
            assert r.status == 413, r
            closed, extra = c.wait_closed(1.0)
            assert extra == b"", f"a second response after 413 (the body was parsed as a request?): {extra[:200]!r}"
            if not closed:
                assert c.request("GET", "/health").status == 200
    # a chunked body that grows over the limit: 413 and close
    with RawConn(gw.port, timeout=3) as c:
        c.send(build_request("POST", "/_test/echo", None, {"Transfer-Encoding": "chunked"})
               + b"".join(b"800\r\n" + b"z" * 0x800 + b"\r\n" for _ in range(3)))
        r = c.read_response()
        assert r.status == 413, r
        assert_closed(c, what="after 413 on a chunked body")
    assert get(gw.port, "/health").status == 200


@pytest.mark.parametrize("raw", [
    b"GET\r\n\r\n",
    b"GET / HTTX/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1 trailing\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),  # a TLS ClientHello on the plain port
    b"GET /health HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
], ids=["no-target", "bad-version", "trailing-garbage", "tls-hello", "bad-header"])
def test_malformed_request(gateway, raw):
    with RawConn(gateway.port, timeout=3) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status == 400, r
        assert_closed(c, what="after 400")
    assert get(gateway.port, "/health").status == 200


def test_conflicting_framing_is_rejected(gateway):
    # duplicate, differing Content-Length: RFC 9112 6.3 says unrecoverable, 400 and close
    with RawConn(gateway.port, timeout=3) as c:
        c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde")
        r = c.read_response()
        assert r.status == 400, r
        assert_closed(c, what="after 400")
    # Content-Length and chunked together: reject, or use chunked and close afterwards (RFC 9112 6.3)
    with RawConn(gateway.port, timeout=3) as c:
        c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.status == 400 or (r.status == 200 and r.body == b"hello"), r
        assert_closed(c, what="after a request with both Content-Length and Transfer-Encoding")


def test_expect_100_continue(gateway):
    with RawConn(gateway.port, timeout=3) as c:
        c.send(build_request("POST", "/_test/echo", None, {"Content-Length": "11", "Expect": "100-continue"}))
        interim = c.read_head()  # sent before the body: the client waits for it
        assert interim.status == 100, interim
        assert interim.raw_head.startswith(b"HTTP/1.1 100"), interim.raw_head
        c.send(b"hello world")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello world", r
        assert c.request("GET", "/health").status == 200


def test_expect_100_continue_over_limit(start_gateway):
    gw = start_gateway(MAX_BODY_BYTES=4096)
    with RawConn(gw.port, timeout=3) as c:
        c.send(build_request("POST", "/_test/echo", None, {"Content-Length": "5000", "Expect": "100-continue"}))
        r = c.read_response(stop_at_interim=True)
        assert r.status == 413, f"expected 413 without 100 Continue, got {r!r}"


def test_request_timeout(start_gateway):
    gw = start_gateway(REQUEST_TIMEOUT="0.5")
    # headers that never end
    with RawConn(gw.port, timeout=3) as c:
        t0 = time.monotonic()
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        r = c.read_response()
        elapsed = time.monotonic() - t0
        assert r.status == 408, r
        assert 0.3 <= elapsed < 2.5, f"408 after {elapsed:.2f} s with REQUEST_TIMEOUT=0.5"
        assert_closed(c, what="after 408")
    # a body that never completes
    with RawConn(gw.port, timeout=3) as c:
        c.send(build_request("POST", "/_test/echo", None, {"Content-Length": "100"}) + b"0123456789")
        r = c.read_response()
        assert r.status == 408, r
        assert_closed(c, what="after 408 (partial body)")
    assert get(gw.port, "/health").status == 200


def test_request_timeout_slowloris(start_gateway):
    """A client trickling a byte every 100 ms never completes its request: the timeout is for the whole
    request, not for each read."""
    gw = start_gateway(REQUEST_TIMEOUT="0.5")
    with RawConn(gw.port, timeout=3) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        got_response = False
        while time.monotonic() - t0 < 3.0:
            readable, _, _ = select.select([c.sock], [], [], 0.1)
            if readable:
                got_response = True
                break
            try:
                c.send(b"X")
            except (BrokenPipeError, ConnectionResetError):
                got_response = True
                break
        elapsed = time.monotonic() - t0
        assert got_response, "server kept a trickling client for 3 s with REQUEST_TIMEOUT=0.5"
        try:
            r = c.read_response()
        except (ConnectionResetError, ConnectionClosed):
            pytest.fail(f"connection dropped after {elapsed:.2f} s without a 408 response")
        assert r.status in (408, 431), r
        assert elapsed < 2.5, f"answered after {elapsed:.2f} s"


def test_timeouts_do_not_cut_slow_responses(start_gateway):
    """REQUEST_TIMEOUT covers receiving the request and IDLE_TIMEOUT an idle connection; neither may
    cut a handler that takes long or a stream that is still sending."""
    gw = start_gateway(REQUEST_TIMEOUT="0.3", IDLE_TIMEOUT="0.3")
    with RawConn(gw.port, timeout=5) as c:
        r = c.request("GET", "/_test/sleep/1000")
        assert r.status == 200 and r.json() == {"slept": 1000}, r
        r = c.request("GET", "/_test/sse/60")
        assert r.status == 200, r
        assert len(sse_events(r.body)) == 60


def test_idle_timeout(start_gateway):
    gw = start_gateway(IDLE_TIMEOUT="0.5")
    # a connection in use stays open
    with RawConn(gw.port) as c:
        for i in range(6):
            if i:
                time.sleep(0.25)
            assert c.request("GET", "/health").status == 200
        t0 = time.monotonic()
        closed, extra = c.wait_closed(3.0)
        elapsed = time.monotonic() - t0
        assert closed, "idle keep-alive connection not closed with IDLE_TIMEOUT=0.5"
        assert extra == b"", f"server sent bytes when closing an idle connection: {extra[:200]!r}"
        assert elapsed >= 0.3, f"closed after {elapsed:.2f} s, before IDLE_TIMEOUT"
    assert get(gw.port, "/health").status == 200


def test_silent_connection_is_closed(start_gateway):
    gw = start_gateway(REQUEST_TIMEOUT="0.5", IDLE_TIMEOUT="0.5")
    with RawConn(gw.port, timeout=3) as c:
        closed, extra = c.wait_closed(3.0)
        assert closed, "a connection that never sends a byte was kept open"
        assert extra == b"" or extra.startswith(b"HTTP/1.1 408"), extra[:200]


def test_max_connections(start_gateway):
    gw = start_gateway(MAX_CONNECTIONS=5)
    conns = [RawConn(gw.port, timeout=3) for _ in range(5)]
    extra = []
    try:
        for c in conns:
            assert c.request("GET", "/health").status == 200
        sixth = RawConn(gw.port, timeout=3)
        extra.append(sixth)
        sixth.send(build_request("GET", "/health"))
        if sixth.nothing_received_within(0.5):
            # not accepted (or not read) while at the cap; served once a slot frees up
            conns.pop(0).close()
            r = sixth.read_response()
            assert r.status == 200, r
        else:
            r = sixth.read_response()
            assert r.status == 503, f"6th connection over MAX_CONNECTIONS=5: {r!r}"
            assert_closed(sixth, what="after 503")
            conns.pop(0).close()
            time.sleep(0.1)
            late = RawConn(gw.port, timeout=3)
            extra.append(late)
            assert late.request("GET", "/health").status == 200
        for c in conns:  # the others still work
            assert c.request("GET", "/health").status == 200
    finally:
        for c in conns + extra:
            c.close()
    time.sleep(0.1)
    assert gw.alive()
    for _ in range(5):
        assert get(gw.port, "/health").status == 200


# ---------------------------------------------------------------------------------------------------
# load and back-pressure

def _raise_nofile(n: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@pytest.mark.deadline(60)
def test_thousand_concurrent_connections(start_gateway):
    n = 1000
    have = _raise_nofile(4096)
    assert have >= n + 100, f"test process cannot open {n} sockets (RLIMIT_NOFILE {have})"
    # The gateway starts with the soft limit many machines default to (1024); it must still serve 1000
    # connections (raising its own soft limit towards the hard limit is the robust way).
    gw = start_gateway(nofile=1024)
    fds_before = gw.fd_count()
    conns = []
    try:
        for _ in range(n):
            conns.append(RawConn(gw.port, timeout=10))
        for i, c in enumerate(conns):
            c.send(build_request("GET", "/health" if i % 2 else "/_test/bytes/100"))
        statuses = {}
        for i, c in enumerate(conns):
            try:
                r = c.read_response()
                statuses[r.status] = statuses.get(r.status, 0) + 1
            except (OSError, ProtocolError) as e:
                statuses[type(e).__name__] = statuses.get(type(e).__name__, 0) + 1
        with open(f"/proc/{gw.pid}/limits") as f:
            limit_line = next((l for l in f if l.startswith("Max open files")), "").strip()
        assert statuses == {200: n}, f"{statuses} ({limit_line}; gateway fds: {gw.fd_count()})"
    finally:
        for c in conns:
            c.close()
    deadline = time.monotonic() + 3
    while gw.fd_count() > fds_before + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gw.fd_count() <= fds_before + 5, f"fd leak: {fds_before} fds before, {gw.fd_count()} after closing all"
    assert get(gw.port, "/health").status == 200


@pytest.mark.deadline(30)
def test_slow_reader(start_gateway):
    gw = start_gateway()
    size = 10 * MiB
    c = RawConn(gw.port, timeout=10, rcvbuf=65536)
    try:
        c.send(build_request("GET", f"/_test/bytes/{size}"))
        r = c.read_head()
        assert r.status == 200 and r.header("content-length") == str(size), r
        received = len(c.buf)
        c.buf.clear()
        rss_start = gw.rss_kb()
        rss_max = rss_start
        latencies = []
        cpu0, t0 = gw.cpu_seconds(), time.monotonic()
        next_probe = t0
        while received < size and time.monotonic() - t0 < 1.5:  # the slow phase
            data = c.sock.recv(32768)
            assert data, f"connection closed after {received} of {size} bytes"
            received += len(data)
            time.sleep(0.01)
            now = time.monotonic()
            if now >= next_probe:
                r = get(gw.port, "/health", timeout=2)
                latencies.append(time.monotonic() - now)
                assert r.status == 200, r
                rss_max = max(rss_max, gw.rss_kb())
                next_probe = now + 0.1
        slow_wall = time.monotonic() - t0
        slow_cpu = gw.cpu_seconds() - cpu0
        slow_received = received
        reads = 0
        while received < size:  # now read the rest as fast as possible
            data = c.sock.recv(1 << 20)
            assert data, f"connection closed after {received} of {size} bytes"
            received += len(data)
            reads += 1
            if reads % 16 == 0:
                rss_max = max(rss_max, gw.rss_kb())
        assert received == size
        # exact framing: the same connection serves the next request
        assert c.request("GET", "/health").status == 200
    finally:
        c.close()
    print(f"slow reader: {slow_received} bytes in the slow phase ({slow_wall:.2f} s, gateway CPU "
          f"{slow_cpu:.2f} s); RSS {rss_start} kB -> max {rss_max} kB; /health latencies max "
          f"{max(latencies):.3f} s over {len(latencies)} probes")
    assert latencies and max(latencies) < 1.0, latencies
    assert rss_max < 200 * 1024, f"gateway RSS reached {rss_max} kB while serving a slow reader"
    assert slow_cpu < 0.6 * slow_wall, \
        f"gateway burned {slow_cpu:.2f} s CPU in {slow_wall:.2f} s against a slow reader (busy loop on EAGAIN?)"


# ---------------------------------------------------------------------------------------------------
# shutdown

def test_graceful_shutdown_finishes_in_flight_requests(start_gateway):
    gw = start_gateway(SHUTDOWN_TIMEOUT=5)
    with RawConn(gw.port, timeout=5) as c:
        c.send(build_request("GET", "/_test/sleep/500"))
        time.sleep(0.1)
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        time.sleep(0.15)
        # the listener is closed at once: new connections are refused, not left hanging in a backlog
        with pytest.raises(ConnectionRefusedError):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=1)
            s.close()
        r = c.read_response()
        assert r.status == 200 and r.json() == {"slept": 500}, r
        assert_closed(c, what="after the last response of a shutting-down server")
    rc = gw.wait(max(0.1, 5.5 - (time.monotonic() - t0)))
    elapsed = time.monotonic() - t0
    assert rc == 0, f"exit code {rc} after SIGTERM ({elapsed:.2f} s)\n" + gw.log_tail()
    assert elapsed < 5.0, f"exited {elapsed:.2f} s after SIGTERM"


def test_graceful_shutdown_closes_idle_connections(start_gateway):
    gw = start_gateway(SHUTDOWN_TIMEOUT=5)
    with RawConn(gw.port, timeout=5) as c:
        assert c.request("GET", "/health").status == 200  # an idle keep-alive connection
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        closed, extra = c.wait_closed(2.0)
        assert closed, "idle keep-alive connection still open 2 s after SIGTERM"
        assert extra == b""
    rc = gw.wait(3.0)
    elapsed = time.monotonic() - t0
    assert rc == 0, f"exit code {rc} ({elapsed:.2f} s after SIGTERM)\n" + gw.log_tail()
    assert elapsed < 2.5, f"an idle connection held shutdown for {elapsed:.2f} s"


def test_shutdown_ends_sse_streams(start_gateway):
    gw = start_gateway(SHUTDOWN_TIMEOUT=5)
    with RawConn(gw.port, timeout=5) as c:
        c.send(build_request("GET", "/_test/sse/1000"))
        r = c.read_head()
        assert r.status == 200, r
        chunks = c.iter_chunks()
        data = next(chunks) + next(chunks)
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        try:
            for chunk in chunks:  # ends with the terminating chunk ...
                data += chunk
                assert time.monotonic() - t0 < 3, "SSE stream still running 3 s after SIGTERM"
        except ProtocolError:
            if not c.eof:
                raise
            # ... or with the connection closing between two chunks
            assert not c.buf, f"stream cut in the middle of a chunk: {bytes(c.buf[:100])!r}"
        except (ConnectionResetError, TimeoutError) as e:
            pytest.fail(f"SSE stream did not end cleanly after SIGTERM: {e!r}")
        sse_events(data)  # whole events only
    rc = gw.wait(3.0)
    elapsed = time.monotonic() - t0
    assert rc == 0, f"exit code {rc} ({elapsed:.2f} s after SIGTERM)\n" + gw.log_tail()
    assert elapsed < 3.0, f"exited {elapsed:.2f} s after SIGTERM with an SSE stream open"


# ---------------------------------------------------------------------------------------------------
# command line and configuration

@pytest.mark.parametrize("var,value", [
    ("PORT", "abc"), ("PORT", "99999"), ("PORT", "3000x"),
    ("MAX_HEADER_BYTES", "abc"), ("MAX_BODY_BYTES", "abc"), ("REQUEST_TIMEOUT", "abc"),
    ("IDLE_TIMEOUT", "abc"), ("MAX_CONNECTIONS", "abc"), ("SHUTDOWN_TIMEOUT", "abc"),
])
def test_invalid_configuration(run_gateway, var, value):
    p = run_gateway("serve", **{var: value})
    assert p.returncode == 2, f"exit code {p.returncode} for {var}={value!r}; stderr={p.stderr!r}"
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert var in lines[0], lines[0]


@pytest.mark.parametrize("env_var", ["NODE_ENV", "APP_ENV"])
def test_production_requires_api_key(run_gateway, env_var):
    p = run_gateway("serve", API_KEY=None, SESSION_SECRET="s" * 48, **{env_var: "production"})
    assert p.returncode != 0, f"started in production without API_KEY: {p.stdout!r} {p.stderr!r}"
    assert "API_KEY" in p.stderr + p.stdout, (p.stdout, p.stderr)


def test_version(run_gateway):
    p = run_gateway("--version")
    assert p.returncode == 0, p
    assert re.search(r"\d+\.\d+", p.stdout), p.stdout


def test_help(run_gateway):
    p = run_gateway("--help")
    assert p.returncode == 0, p
    assert "serve" in p.stdout and "migrate" in p.stdout, p.stdout


def test_serves_with_postgres_and_redis(start_gateway):
    """The same server with the production storage configured (scripts/services.sh's PostgreSQL + Redis)."""
    gw = start_gateway(with_storage=True)
    r = get(gw.port, "/health")
    assert r.status == 200, r
    assert "status" in r.json()
    with RawConn(gw.port) as c:
        assert c.request("POST", "/_test/echo", b"with storage").body == b"with storage"
