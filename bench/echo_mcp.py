#!/usr/bin/env python3
"""A minimal, fast MCP echo server for bench/mcp.sh (plain asyncio, no SDK, no uvloop).

    python3 bench/echo_mcp.py --port P [--host 127.0.0.1] [--path /mcp] [--tls-cert CERT --tls-key KEY]

Handshake-era Streamable HTTP over HTTP/1.1 keep-alive, every answer ``application/json``:

* ``initialize``                 -> protocolVersion 2025-11-25, capabilities {tools: {}}, and an
                                    ``Mcp-Session-Id`` header;
* ``notifications/initialized``  -> 202 (any notification or response -> 202, empty body);
* ``ping``                       -> {};
* ``tools/list``                 -> one tool, ``echo(text)``;
* ``tools/call`` of ``echo``      -> {"content":[{"type":"text","text":<arguments.text>}]}, same id;
* ``resources/list``             -> one resource, ``echo://text``; ``resources/templates/list`` -> none;
* ``resources/read`` of any URI  -> {"contents":[{"uri":<uri>,"mimeType":"text/plain","text":"hello, gateway"}]};
  another tool name              -> a result with isError true (the SDK's way);
* other methods                  -> JSON-RPC -32601.

``GET``/``DELETE`` on the path -> 405; other paths -> 404. Sessions are not checked (any or no
``Mcp-Session-Id`` is accepted), so the server never gets in the way of what is measured.

The HTTP side: requests are parsed from a per-connection buffer in a loop, so pipelined requests
are answered in order, in one write per batch; bodies by ``Content-Length`` or chunked;
``Expect: 100-continue`` is honoured; ``Connection: close`` closes after the answer.

With ``--tls-cert``/``--tls-key`` (PEM files) it serves https (asyncio's TLS over the same protocol).

Once listening, one line ``READY <port>`` is printed to stdout (flushed); ``--port 0`` picks a
free port. SIGTERM/SIGINT stop it (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

PROTOCOL_VERSION = "2025-11-25"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads

TOOLS_LIST_RESULT = {
    "tools": [
        {
            "name": "echo",
            "description": "Echo the text back.",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        }
    ]
}
INIT_RESULT = {
    "protocolVersion": PROTOCOL_VERSION,
    "capabilities": {"tools": {"listChanged": False}, "resources": {}},
    "serverInfo": {"name": "bench-echo", "version": "1.0"},
}

RESP_JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
RESP_202 = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
RESP_405 = b"HTTP/1.1 405 Method Not Allowed\r\nAllow: POST\r\nContent-Length: 0\r\n\r\n"
RESP_404 = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
RESP_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
RESP_100 = b"HTTP/1.1 100 Continue\r\n\r\n"
MAX_HEAD = 64 * 1024


def json_response(obj: dict, extra_headers: bytes = b"") -> bytes:
    body = _dumps(obj).encode()
    return b"".join((RESP_JSON_HEAD, str(len(body)).encode(), b"\r\n", extra_headers, b"\r\n", body))


class EchoProtocol(asyncio.Protocol):
    __slots__ = ("server", "transport", "buf", "continued")

    def __init__(self, server: "EchoServer"):
        self.server = server
        self.transport = None
        self.buf = bytearray()
        self.continued = False  # 100 Continue already sent for the request at the head of buf

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes):
        self.buf += data
        try:
            out, close = self.process()
        except (ValueError, IndexError):  # a malformed length or chunk size
            out, close = [RESP_400], True
        if out:
            self.transport.write(b"".join(out))
        if close:
            self.transport.close()

    def process(self) -> tuple[list[bytes], bool]:
        """Answers every complete request in the buffer, in order."""
        buf = self.buf
        out = []
        close = False
        while buf:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                if len(buf) > MAX_HEAD:
                    out.append(RESP_400)
                    close = True
                break
            head = bytes(buf[:head_end]).decode("latin-1")
            lines = head.split("\r\n")
            try:
                method, target, _version = lines[0].split(" ", 2)
            except ValueError:
                out.append(RESP_400)
                close = True
                break
            length = 0
            chunked = False
            expect = False
            conn_close = _version == "HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(":")
                lname = name.strip().lower()
                if lname == "content-length":
                    length = int(value.strip())
                elif lname == "transfer-encoding":
                    chunked = "chunked" in value.lower()
                elif lname == "expect":
                    expect = value.strip().lower() == "100-continue"
                elif lname == "connection":
                    v = value.strip().lower()
                    if v == "close":
                        conn_close = True
                    elif v == "keep-alive":
                        conn_close = False
            start = head_end + 4
            if chunked:
                body = bytearray()
                pos = start
                complete = False
                while True:
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        break
                    size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
                    if size == 0:
                        # no trailers expected; the last CRLF ends the message
                        if len(buf) < eol + 4:
                            break
                        pos = eol + 4
                        complete = True
                        break
                    if len(buf) < eol + 2 + size + 2:
                        break
                    body += buf[eol + 2:eol + 2 + size]
                    pos = eol + 2 + size + 2
                if not complete:
                    if expect and not self.continued:
                        self.continued = True
                        out.append(RESP_100)
                    break
                end = pos
                body = bytes(body)
            else:
                end = start + length
                if len(buf) < end:
                    if expect and not self.continued:
                        self.continued = True
                        out.append(RESP_100)
                    break
                body = bytes(buf[start:end])
            del buf[:end]
            self.continued = False
            out.append(self.server.handle(method, target, body))
            if conn_close:
                close = True
                break
        return out, close


class EchoServer:
    def __init__(self, path: str):
        self.path = path
        self.sessions = 0

    def handle(self, method: str, target: str, body: bytes) -> bytes:
        path = target.split("?", 1)[0]
        if path != self.path:
            return RESP_404
        if method != "POST":
            return RESP_405
        try:
            msg = _loads(body)
        except ValueError:
            return json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
        if not isinstance(msg, dict):
            return json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid Request"}})
        rpc_method = msg.get("method")
        if "id" not in msg or rpc_method is None:
            return RESP_202  # a notification or a response
        rid = msg["id"]
        if rpc_method == "tools/call":
            params = msg.get("params") or {}
            args = params.get("arguments") or {}
            if params.get("name") == "echo":
                result = {"content": [{"type": "text", "text": args.get("text", "")}]}
            else:
                result = {"content": [{"type": "text", "text": f"Unknown tool: {params.get('name')}"}], "isError": True}
            return json_response({"jsonrpc": "2.0", "id": rid, "result": result})
        if rpc_method == "tools/list":
            return json_response({"jsonrpc": "2.0", "id": rid, "result": TOOLS_LIST_RESULT})
        if rpc_method == "resources/list":
            return json_response({"jsonrpc": "2.0", "id": rid, "result": {"resources": [
                {"uri": "echo://text", "name": "text", "mimeType": "text/plain"}]}})
        if rpc_method == "resources/templates/list":
            return json_response({"jsonrpc": "2.0", "id": rid, "result": {"resourceTemplates": []}})
        if rpc_method == "resources/read":
            uri = (msg.get("params") or {}).get("uri", "")
            return json_response({"jsonrpc": "2.0", "id": rid, "result": {"contents": [
                {"uri": uri, "mimeType": "text/plain", "text": "hello, gateway"}]}})
        if rpc_method == "initialize":
            self.sessions += 1
            sid = f"echo-{os.getpid()}-{self.sessions}-{os.urandom(8).hex()}"
            return json_response({"jsonrpc": "2.0", "id": rid, "result": INIT_RESULT},
                                 b"Mcp-Session-Id: " + sid.encode() + b"\r\n")
        if rpc_method == "ping":
            return json_response({"jsonrpc": "2.0", "id": rid, "result": {}})
        return json_response({"jsonrpc": "2.0", "id": rid,
                              "error": {"code": -32601, "message": f"Method not found: {rpc_method}"}})


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--path", default="/mcp")
    ap.add_argument("--backlog", type=int, default=1024)
    ap.add_argument("--tls-cert", help="serve https with this PEM certificate chain (with --tls-key)")
    ap.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    a = ap.parse_args()
    tls = None
    if a.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
    loop = asyncio.get_running_loop()
    server = EchoServer(a.path)
    srv = await loop.create_server(lambda: EchoProtocol(server), a.host, a.port, backlog=a.backlog, reuse_address=True,
                                   ssl=tls)
    port = srv.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()
    await stop.wait()
    srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
