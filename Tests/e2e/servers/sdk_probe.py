#!/usr/bin/env python3
"""Exercise an MCP endpoint with the official SDK client and print a JSON report.

    python sdk_probe.py URL [--mode auto|legacy|both] [--tool-prefix svc__] [--stats-url URL]

Against a downstream test server (servers/downstream.py) directly, or against the gateway with
``--tool-prefix <service>__``. For each client mode it: connects (recording the negotiated
protocol version), lists tools following every ``nextCursor``, calls echo / add / fail /
progress (with a progress callback) / an unknown tool, and cancels a ``slow`` call after 0.5 s.
With ``--stats-url`` (the downstream's ``/_stats``) it also reports whether the cancellation
reached the downstream tool. Exit code 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import anyio
import httpx
from mcp import Client
from mcp.shared.exceptions import MCPError


async def probe(url: str, mode: str, prefix: str, stats_url: str | None, slow_seconds: float) -> dict[str, Any]:
    report: dict[str, Any] = {"mode": mode, "checks": {}}
    checks = report["checks"]

    def check(name: str, ok: bool, detail: Any = None) -> None:
        checks[name] = {"ok": bool(ok), **({"detail": detail} if detail is not None else {})}

    async with Client(url, mode=mode, cache=None) as client:
        report["protocol_version"] = client.protocol_version
        report["server_info"] = client.server_info.model_dump(exclude_none=True) if client.server_info else None

        names: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await client.list_tools(cursor=cursor)
            pages += 1
            names += [t.name for t in page.tools]
            cursor = page.next_cursor
            if cursor is None or pages >= 100:
                break
        report["tools"] = names
        report["pages"] = pages

        r = await client.call_tool(prefix + "echo", {"text": "héllo"})
        check("echo", not r.is_error and r.content[0].text == "héllo", r.content[0].text)

        r = await client.call_tool(prefix + "add", {"a": 2, "b": 3})
        check("add_structured", r.structured_content == {"result": 5}, r.structured_content)

        r = await client.call_tool(prefix + "fail", {"message": "boom"})
        check("fail_is_error", r.is_error and "boom" in r.content[0].text, r.content[0].text)

        seen: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total, message))

        r = await client.call_tool(prefix + "progress", {"steps": 3}, progress_callback=on_progress)
        check("progress_result", r.content[0].text == "done")
        # JSON-response servers cannot deliver progress; report rather than judge.
        report["progress_notifications"] = seen

        try:
            r = await client.call_tool(prefix + "no_such_tool", {})
            report["unknown_tool"] = {"result_is_error": r.is_error, "text": r.content[0].text if r.content else None}
        except MCPError as e:
            report["unknown_tool"] = {"error_code": e.code, "message": e.error.message}

        t0 = time.monotonic()
        with anyio.move_on_after(0.5):
            await client.call_tool(prefix + "slow", {"seconds": slow_seconds})
        check("slow_abandoned_by_client", time.monotonic() - t0 < slow_seconds)

    if stats_url:
        await anyio.sleep(0.3)
        async with httpx.AsyncClient() as http:
            stats = (await http.get(stats_url)).json()
        report["downstream_slow"] = stats["slow"]
    report["ok"] = all(c["ok"] for c in checks.values())
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("--mode", choices=("auto", "legacy", "both"), default="both")
    p.add_argument("--tool-prefix", default="")
    p.add_argument("--stats-url", default=None)
    p.add_argument("--slow-seconds", type=float, default=5.0)
    args = p.parse_args()
    modes = ("auto", "legacy") if args.mode == "both" else (args.mode,)
    reports = []
    for mode in modes:
        reports.append(anyio.run(probe, args.url, mode, args.tool_prefix, args.stats_url, args.slow_seconds))
    print(json.dumps(reports, indent=2, ensure_ascii=False))
    return 0 if all(r["ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
