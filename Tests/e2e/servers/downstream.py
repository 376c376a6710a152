#!/usr/bin/env python3
"""A downstream MCP server for the gateway's end-to-end tests (official MCP Python SDK 2.3.x).

    python downstream.py --port P --mode json|sse [--tools N] [--prefix NAME]
                         [--tool-set basic|changed] [--page-size K] [--host H] [--path /mcp]
                         [--tls-cert CERT.pem --tls-key KEY.pem]

* ``--mode json``: stateless Streamable HTTP, ``application/json`` responses, no ``Mcp-Session-Id``.
* ``--mode sse``: stateful Streamable HTTP (``Mcp-Session-Id`` issued on initialize), every
  request's response is ``text/event-stream`` (notifications, then the response; with
  ``--event-store`` a priming event with empty data comes first and events carry ids).

Both modes also answer the stateless 2026-07-28 revision (``server/discover`` etc.): the SDK
routes any request whose ``MCP-Protocol-Version`` header names a modern revision to its modern
single-exchange path, whatever the mode.

``--tls-cert``/``--tls-key`` serve https (uvicorn's TLS, the certificate chain and its key as
PEM files); ``/_stats`` then also counts TLS handshakes and the SNI names they carried.

``--port 0`` picks a free port. Once listening, one line ``READY <port>`` is printed to stdout
(flushed); everything else goes to stderr. SIGTERM/SIGINT shut it down cleanly (exit code 0).

Tools (``--tool-set basic``):
* echo(text) -> content text ``text``;
* add(a: int, b: int) -> structuredContent ``{"result": a+b}`` (+ text), with outputSchema;
* fail(message) -> isError true, text ``Error executing tool fail: <message>``;
* slow(seconds: float) -> cancellable sleep, then ``slept <seconds>``;
* progress(steps: int, delay=0.01) -> ``steps`` progress notifications (progress=i,
  total=steps, message ``step i/steps``; only deliverable over SSE), then ``done``;
* whoami() -> structuredContent with the protocol version, session id, request id and the
  mcp-*/host/user-agent headers this server saw;
* ``--tools N``: generated t0..t{N-1}, t<i>(x: int = 0) -> ``t<i>:<x>``
  (``--description-padding K`` lengthens their descriptions, for size tests).
Only add, multiply and whoami have an outputSchema. ``--tool-set changed`` = echo, add, slow,
progress, whoami, multiply(a, b) -> ``{"result": a*b}`` (``fail`` removed); ``--tool-set drifted``
= basic with ``add`` taking a third argument ``note`` (a definition changed under the same name). ``--prefix NAME``
prefixes every tool name (``NAME`` + name). ``--note-description TEXT`` adds ``note(text)`` described by
exactly TEXT (the console's XSS test puts markup there). ``--page-size K`` paginates tools/list (cursor =
decimal offset; a bad cursor is -32602).

Unknown tools and invalid arguments are answered the SDK's way: a result with isError true
(``Unknown tool: <name>``), not a JSON-RPC error.

Cancellation reaches the slow tool only in ``--mode sse`` (handshake era: notifications/cancelled;
2026-07-28: closing the response stream). In ``--mode json`` the tool runs to completion.

Test helpers (plain HTTP, not MCP):
* ``GET  /_stats``         counters: requests per JSON-RPC method, calls per tool, slow-tool
                           started/completed/cancelled, in-flight tools, sessions seen,
                           protocol versions seen, the last tools/call headers, id, params (with _meta)
                           and arguments; ``connections``: the TCP connections (client address and
                           port) that carried MCP requests, ``tls``: handshakes and SNI names seen.
* ``POST /_stats/reset``   zero the counters.
* ``POST /_tool-set/<name>``  switch the tool set at runtime (``basic`` or ``changed``);
                           2026-07-28 ``subscriptions/listen`` streams get a tools
                           list-changed event.
* ``GET  /_health``        200 ``ok``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections import Counter
from typing import Any

import anyio
import uvicorn
from mcp_types import Completion, ListToolsResult, PaginatedRequestParams
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.subscriptions import ResourceUpdated, ToolsListChanged
from mcp.server.streamable_http import EventMessage, EventStore
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class MemoryEventStore(EventStore):
    """Minimal in-memory event store: makes the SDK emit SSE priming events (empty data + id,
    optionally `retry:`) and event ids, and lets a client resume with Last-Event-ID."""

    def __init__(self) -> None:
        self._events: list[tuple[str, str, Any]] = []  # (event_id, stream_id, message | None)
        self._next = 0

    async def store_event(self, stream_id: str, message: Any) -> str:
        self._next += 1
        event_id = f"{stream_id}:{self._next}"
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: str, send_callback: Any) -> str | None:
        index = next((i for i, e in enumerate(self._events) if e[0] == last_event_id), None)
        if index is None:
            return None
        stream_id = self._events[index][1]
        for event_id, sid, message in self._events[index + 1 :]:
            if sid == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.methods: Counter[str] = Counter()
        self.tool_calls: Counter[str] = Counter()
        self.slow_started = 0
        self.slow_completed = 0
        self.slow_cancelled = 0
        self.in_flight = 0
        self.sessions: set[str] = set()
        self.protocol_versions: Counter[str] = Counter()
        self.last_call_headers: dict[str, str] = {}
        self.last_call_arguments: dict[str, Any] | None = None
        self.last_call_params: dict[str, Any] | None = None
        self.last_call_id: Any = None
        self.peers: set[str] = set()
        self.tls_handshakes = 0
        self.sni: Counter[str] = Counter()

    def as_json(self, args: argparse.Namespace, tool_set: str) -> dict[str, Any]:
        return {
            "mode": args.mode,
            "tool_set": tool_set,
            "methods": dict(self.methods),
            "tool_calls": dict(self.tool_calls),
            "slow": {
                "started": self.slow_started,
                "completed": self.slow_completed,
                "cancelled": self.slow_cancelled,
            },
            "in_flight": self.in_flight,
            "sessions": sorted(self.sessions),
            "protocol_versions": dict(self.protocol_versions),
            "last_call_headers": self.last_call_headers,
            "last_call_arguments": self.last_call_arguments,
            "last_call_params": self.last_call_params,
            "last_call_id": self.last_call_id,
            "connections": len(self.peers),
            "tls": {"handshakes": self.tls_handshakes, "sni": dict(self.sni)},
        }


class LegacyOnly:
    """ASGI wrapper that makes the server look like one that predates 2026-07-28.

    Such servers validated `MCP-Protocol-Version` against their handshake-era list and answered
    an unknown value with 400 and a JSON-RPC error without an id (the SDK 1.x wording below).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            version = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"mcp-protocol-version"), None
            )
            if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
                body = {
                    "jsonrpc": "2.0",
                    "id": "server-error",
                    "error": {
                        "code": -32600,
                        "message": f"Bad Request: Unsupported protocol version: {version}. Supported versions: "
                        + ", ".join(HANDSHAKE_PROTOCOL_VERSIONS),
                    },
                }
                await JSONResponse(body, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class PeerCounter:
    """ASGI wrapper that notes the TCP connection (client address and port) of every request to
    the MCP path: how many connections a client used, kept alive or not."""

    def __init__(self, app: Any, path: str, stats: Stats) -> None:
        self.app, self.path, self.stats = app, path, stats

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == self.path and scope.get("client"):
            host, port = scope["client"][:2]
            self.stats.peers.add(f"{host}:{port}")
        await self.app(scope, receive, send)


def _headers_of(ctx: ServerRequestContext[Any, Any]) -> dict[str, str]:
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return {}
    return {k.lower(): v for k, v in headers.items()}


def build_server(args: argparse.Namespace, stats: Stats) -> tuple[MCPServer, dict[str, Any]]:
    mcp = MCPServer(
        name=f"downstream-{args.prefix or 'test'}",
        version="1.0.0",
        instructions="Test downstream server for mcp-gateway e2e tests.",
        log_level=args.log_level,
    )
    prefix = args.prefix or ""
    state: dict[str, Any] = {"tool_set": args.tool_set}

    # ---- tool implementations -------------------------------------------------------------
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    def add(a: int, b: int) -> int:
        """Add two integers (structured output: {"result": a + b})."""
        return a + b

    def add_drifted(a: int, b: int, note: str = "") -> int:
        """Add two integers (structured output: {"result": a + b})."""
        return a + b

    add_drifted.__name__ = "add"

    def multiply(a: int, b: int) -> int:
        """Multiply two integers (structured output; only in the 'changed' tool set)."""
        return a * b

    def fail(message: str = "failure requested") -> str:
        """Always fails: the result has isError true and the message as text."""
        raise ToolError(message)

    async def slow(seconds: float) -> str:
        """Sleep for `seconds` (cancellable), then return 'slept <seconds>'."""
        stats.slow_started += 1
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            stats.slow_cancelled += 1
            raise
        stats.slow_completed += 1
        return f"slept {seconds}"

    async def progress(steps: int, ctx: Context, delay: float = 0.01) -> str:
        """Report progress `steps` times (progress=i, total=steps), then return 'done'."""
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}/{steps}")
            if delay > 0:
                await anyio.sleep(delay)
        return "done"

    def whoami(ctx: Context) -> dict[str, Any]:
        """Return what this server saw of the request (protocol version, session id, headers)."""
        headers = dict(ctx.headers or {})
        return {
            "server": mcp.name,
            "protocol_version": ctx.protocol_version,
            "session_id": headers.get("mcp-session-id"),
            "request_id": str(ctx.request_id),
            "headers": {k: v for k, v in headers.items() if k.startswith("mcp-") or k in ("user-agent", "host")},
        }

    def make_generated(i: int):
        def generated(x: int = 0) -> str:
            return f"t{i}:{x}"

        generated.__name__ = f"t{i}"
        generated.__doc__ = f"Generated tool number {i}. " + ("Padding text. " * args.description_padding)
        return generated

    # Tools whose results carry structuredContent (and whose definitions carry outputSchema);
    # the others are plain-content tools without outputSchema.
    structured = {"add", "multiply", "whoami"}
    basic = [echo, add, fail, slow, progress, whoami]
    changed = [echo, add, slow, progress, whoami, multiply]
    # The same names as basic, but `add` takes another argument: a definition that drifted.
    drifted = [echo, add_drifted, fail, slow, progress, whoami]

    def note(text: str = "") -> str:
        return text

    async def announce(tool_set: str, ctx: Context) -> str:
        """Switch to another tool set and say so on this session (handshake era: on its GET stream)."""
        install(tool_set)
        await ctx.session.send_tool_list_changed()
        return f"now {tool_set}"

    def install(tool_set: str) -> None:
        for tool in list(mcp._tool_manager.list_tools()):  # noqa: SLF001 (test server)
            mcp.remove_tool(tool.name)
        for fn in {"basic": basic, "changed": changed, "drifted": drifted}[tool_set]:
            mcp.add_tool(fn, name=prefix + fn.__name__, structured_output=fn.__name__ in structured)
        for i in range(args.tools):
            mcp.add_tool(make_generated(i), name=f"{prefix}t{i}", structured_output=False)
        if args.announce_tool:
            mcp.add_tool(announce, name=prefix + "announce", structured_output=False)
        if args.note_description is not None:
            mcp.add_tool(note, name=prefix + "note", description=args.note_description, structured_output=False)
        state["tool_set"] = tool_set

    install(args.tool_set)

    # ---- resources, a template, a prompt and completions (--catalog LABEL) -----------------
    # Two downstreams started with different labels expose the same URIs: reads tell them apart.
    if args.catalog:
        label = args.catalog

        @mcp.resource("config://app", name="app-config", mime_type="text/plain", description="the app's configuration")
        def app_config() -> str:
            return f"config of {label}"

        @mcp.resource("file:///notes/{day}", name="notes", mime_type="text/plain", description="notes of a day")
        def notes(day: str) -> str:
            return f"notes for {day} from {label}"

        @mcp.prompt(description="greet someone")
        def greet(person: str, style: str = "plain") -> str:
            return f"{label} greets {person} ({style})"

        @mcp.completion()
        async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
            pool = {"person": ["alice", "albert", "bob"], "day": ["monday", "tuesday"]}.get(argument.name, [])
            return Completion(values=[f"{v}" for v in pool if v.startswith(argument.value)] + [f"from-{label}"])
    state["install"] = install

    # ---- pagination (MCPServer's own tools/list answers everything in one page) -----------
    if args.page_size > 0:
        page_size = args.page_size

        async def list_tools_paged(
            ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
        ) -> ListToolsResult:
            tools = await mcp.list_tools()
            cursor = params.cursor if params is not None else None
            try:
                start = int(cursor) if cursor is not None else 0
            except ValueError:
                raise MCPError(code=-32602, message=f"invalid cursor {cursor!r}") from None
            if start < 0 or start > len(tools):
                raise MCPError(code=-32602, message=f"invalid cursor {cursor!r}")
            end = start + page_size
            return ListToolsResult(tools=tools[start:end], next_cursor=str(end) if end < len(tools) else None)

        mcp._lowlevel_server.add_request_handler(  # noqa: SLF001
            "tools/list", PaginatedRequestParams, list_tools_paged
        )

    # ---- request accounting middleware ------------------------------------------------------
    async def count(ctx: ServerRequestContext[Any, Any], call_next):  # type: ignore[no-untyped-def]
        stats.methods[ctx.method] += 1
        stats.protocol_versions[ctx.protocol_version] += 1
        headers = _headers_of(ctx)
        if sid := headers.get("mcp-session-id"):
            stats.sessions.add(sid)
        is_call = ctx.method == "tools/call" and ctx.request_id is not None
        if is_call:
            params = ctx.params or {}
            stats.tool_calls[str(params.get("name"))] += 1
            stats.last_call_headers = headers
            stats.last_call_arguments = dict(params.get("arguments") or {})
            stats.last_call_params = dict(params)
            stats.last_call_id = ctx.request_id
            stats.in_flight += 1
        try:
            return await call_next(ctx)
        finally:
            if is_call:
                stats.in_flight -= 1

    mcp.middleware.append(count)

    # ---- plain HTTP helper routes -----------------------------------------------------------
    @mcp.custom_route("/_stats", methods=["GET"])
    async def get_stats(request: Request) -> Response:
        return JSONResponse(stats.as_json(args, state["tool_set"]))

    @mcp.custom_route("/_stats/reset", methods=["POST"])
    async def reset_stats(request: Request) -> Response:
        stats.reset()
        return JSONResponse({"ok": True})

    @mcp.custom_route("/_tool-set/{name}", methods=["POST"])
    async def set_tool_set(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("basic", "changed", "drifted"):
            return JSONResponse({"error": f"unknown tool set {name!r}"}, status_code=400)
        install(name)
        # Reaches 2026-07-28 `subscriptions/listen` streams. Handshake-era sessions are not
        # notified (the SDK has no public broadcast to legacy sessions); the gateway re-fetches
        # on an admin update anyway.
        await mcp._subscriptions.publish(ToolsListChanged())  # noqa: SLF001
        return JSONResponse({"ok": True, "tool_set": name, "tools": [t.name for t in await mcp.list_tools()]})

    @mcp.custom_route("/_resource-updated", methods=["POST"])
    async def resource_updated(request: Request) -> Response:
        """Announces an update of the resource ?uri= to 2026-07-28 listen streams subscribed to it."""
        uri = request.query_params.get("uri", "")
        await mcp._subscriptions.publish(ResourceUpdated(uri))  # noqa: SLF001
        return JSONResponse({"ok": True, "uri": uri})

    @mcp.custom_route("/_health", methods=["GET"])
    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return mcp, state


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="TCP port (0 = pick a free one)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--mode", choices=("json", "sse"), default="json")
    p.add_argument("--path", default="/mcp", help="MCP endpoint path (default /mcp)")
    p.add_argument("--tools", type=int, default=0, help="number of generated extra tools t0..tN-1")
    p.add_argument("--prefix", default="", help="prefix for every tool name")
    p.add_argument("--tool-set", choices=("basic", "changed", "drifted"), default="basic")
    p.add_argument("--announce-tool", action="store_true",
                   help="also serve `announce(tool_set)`: switch tool sets and send tools/list_changed on the calling session")
    p.add_argument("--note-description", default=None,
                   help="also serve `note(text)` with exactly this description (markup, for the console's XSS test)")
    p.add_argument("--catalog", default="", help="also serve resources, a template, a prompt and completions, labelled LABEL")
    p.add_argument("--page-size", type=int, default=0, help="tools/list page size (0 = one page)")
    p.add_argument(
        "--description-padding", type=int, default=0, help="repeat a filler sentence N times in generated descriptions"
    )
    p.add_argument(
        "--event-store",
        action="store_true",
        help="sse mode: keep an in-memory event store, so SSE responses start with a priming event "
        "(empty data, an id, and `retry:` if --retry-ms) and events carry ids",
    )
    p.add_argument("--retry-ms", type=int, default=None, help="sse mode: SSE retry interval sent in priming events")
    p.add_argument("--session-idle-timeout", type=float, default=None, help="sse mode: idle seconds before a session ends")
    p.add_argument("--access-log", action="store_true", help="log every HTTP request (uvicorn access log, stderr)")
    p.add_argument(
        "--legacy-only",
        action="store_true",
        help="behave like a pre-2026 server: refuse requests whose MCP-Protocol-Version header names "
        "2026-07-28 (or any unknown version) with HTTP 400 and JSON-RPC -32600, so auto-mode clients "
        "fall back to initialize",
    )
    p.add_argument("--tls-cert", default=None, help="serve https with this PEM certificate chain (needs --tls-key)")
    p.add_argument("--tls-key", default=None, help="the PEM private key of --tls-cert")
    p.add_argument("--log-level", default=os.environ.get("DOWNSTREAM_LOG_LEVEL", "WARNING").upper())
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    stats = Stats()
    mcp, _state = build_server(args, stats)

    security = None
    if args.host not in LOCAL_HOSTS:
        # The SDK only auto-configures Host/Origin checks for loopback binds; for anything
        # else (e.g. 0.0.0.0 inside a container) accept any Host so the gateway can reach us.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)

    app = mcp.streamable_http_app(
        streamable_http_path=args.path,
        json_response=args.mode == "json",
        stateless_http=args.mode == "json",
        session_idle_timeout=args.session_idle_timeout,
        event_store=MemoryEventStore() if args.event_store and args.mode == "sse" else None,
        retry_interval=args.retry_ms,
        transport_security=security,
        host=args.host,
    )
    asgi: Any = LegacyOnly(app) if args.legacy_only else app
    asgi = PeerCounter(asgi, args.path, stats)
    config = uvicorn.Config(
        asgi,
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        access_log=args.access_log,
        log_config=None,  # keep uvicorn on the root logger (stderr); stdout carries only READY
        lifespan="on",
        timeout_graceful_shutdown=0.5,  # long-lived listen streams (the gateway's) would hold it the whole time
        timeout_keep_alive=75,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
    )
    if args.tls_cert:
        config.load()  # builds config.ssl, which serve() then uses as it is

        def on_client_hello(_sock: Any, server_name: str | None, _ctx: Any) -> None:
            stats.tls_handshakes += 1
            stats.sni[server_name or "(none)"] += 1

        config.ssl.sni_callback = on_client_hello
    if args.access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)  # uvicorn.Config reset it to --log-level
    server = uvicorn.Server(config)

    # We install our own SIGTERM/SIGINT handlers (uvicorn's would also work, but this way the
    # behaviour does not depend on uvicorn's version).
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()

    def request_exit(*_: Any) -> None:
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_exit)

    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # re-raise a bind error
            return 1
        await asyncio.sleep(0.01)
    port = args.port
    for s in server.servers:
        for sock in s.sockets:
            port = sock.getsockname()[1]
            break
    print(f"READY {port}", flush=True)
    await task
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
