#!/usr/bin/env python3
"""Charts of the benchmarks' results: reads RESULTS_DIR (default bench/results/, the JSON files the
bench scripts write, see bench/results.py) and writes PNGs (matplotlib, Agg) into docs/img/.

    .venv/bin/python bench/plot.py [--results DIR] [--out docs/img] [--only NAME ...]

Charts (NAME: file, from):
  tools-call       docs/img/tools-call.png        mcp-call.json   (PHASES=call bash bench/mcp.sh)
      tools/call throughput at 64 connections (median of rounds, whiskers min..max) and the latency
      one sequential call adds over the direct call (p50 / p99, median of rounds): the gateway,
      nginx proxy_pass doing the same hop, and the direct call.
  registry-reload  docs/img/registry-reload.png   registry.json   (bash bench/registry.sh)
      full reload (median, band min..max, the first at start as a hollow marker) and delta time
      against the number of tools, per store; log-log.
  registry-rss     docs/img/registry-rss.png      registry.json
      the gateway's VmRSS against the number of tools: idle after its first reload, and after the
      reloads (it keeps its last 8 snapshots); the empty registry as the baseline.
Every chart's footer names the command's results file, its date (UTC), the gateway's commit and
the load average at the end of the run. Exit status 1 when a chart's data is missing (the others
are still drawn).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLORS = {"gateway": "#1f77b4", "nginx": "#2ca02c", "direct": "#7f7f7f", "sqlite": "#1f77b4", "postgres": "#d62728"}
LABELS = {"gateway": "gateway", "nginx": "nginx proxy_pass", "direct": "direct (no proxy)",
          "sqlite": "embedded SQLite", "postgres": "PostgreSQL"}


class Missing(Exception):
    pass


def load(results: Path, name: str) -> dict:
    path = results / f"{name}.json"
    if not path.exists():
        raise Missing(f"no {path}")
    return json.loads(path.read_text())


def footer(fig, doc: dict, command: str) -> None:
    g = doc.get("gateway", {})
    commit = g.get("commit") or "?"
    if g.get("dirty"):
        commit += " (+ uncommitted changes)"
    load = doc.get("load_average") or [0]
    fig.text(0.01, 0.01, f"{command}\n{doc['date']}, gateway {commit}, {doc.get('cpus')} cores shared with other "
                         f"work (load average {load[0]:.2f} at the end): compare within one chart",
             fontsize=7.5, color="#555555", ha="left", va="bottom", linespacing=1.4)


def save(fig, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def thousands(x, _pos) -> str:
    if x >= 1000:
        return f"{x / 1000:g}k"
    return f"{x:g}"


# ------------------------------------------------------------------------------------------------
# (a) tools/call

def chart_tools_call(results: Path, out: Path) -> Path:
    doc = load(results, "mcp-call")
    t = doc["tables"]
    thr = {r["target"]: r for r in t["throughput"]}
    rounds: dict[str, list[float]] = {}
    for r in t["rounds"]:
        rounds.setdefault(r["target"].removeprefix("call-"), []).append(r["rps"])
    lat = {(r["via"], r["target"]): r for r in t["latency"]}
    targets = [x for x in ("gateway", "nginx", "direct") if x in thr]
    p = doc["params"]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.6), gridspec_kw={"width_ratios": [1, 1.1]})
    fig.subplots_adjust(left=0.08, right=0.98, top=0.86, bottom=0.17, wspace=0.3)
    fig.suptitle("tools/call: the gateway against nginx proxy_pass (same hop) and the direct call", fontsize=12)

    # throughput: median of rounds, whiskers min..max
    med = [statistics.median(rounds[x]) for x in targets]
    lo = [m - min(rounds[x]) for m, x in zip(med, targets)]
    hi = [max(rounds[x]) - m for m, x in zip(med, targets)]
    bars = ax1.bar([LABELS[x] for x in targets], med, yerr=[lo, hi], capsize=4,
                   color=[COLORS[x] for x in targets], alpha=0.85)
    for b, x in zip(bars, targets):
        cpu = thr[x].get("cpu_a_us")
        note = f"{b.get_height():,.0f}"
        if x != "direct" and cpu:
            note += f"\n{cpu:.0f} µs CPU/call"
        ax1.text(b.get_x() + b.get_width() / 2, b.get_height() * 0.5, note, ha="center", va="center",
                 fontsize=8.5, color="white", fontweight="bold")
    ax1.set_ylabel("requests / s")
    ax1.yaxis.set_major_formatter(FuncFormatter(thousands))
    ratios = [f"gateway/{x} {thr['gateway']['median_rps'] / thr[x]['median_rps']:.2f} "
              f"(best {thr['gateway']['best_rps'] / thr[x]['best_rps']:.2f})" for x in ("nginx", "direct") if x in thr]
    ax1.set_title(f"throughput, wrk -c{p['connections']}, {p['rounds']} × {p['duration_s']} s, median of rounds\n"
                  f"{', '.join(ratios)}", fontsize=9.5)
    ax1.grid(axis="y", alpha=0.3)
    ax1.tick_params(axis="x", labelsize=9)

    # added latency of one sequential call: p50, p99 (median of rounds), gateway vs nginx
    vias = [v for v in ("gateway", "nginx") if (v, "added") in lat]
    width = 0.36
    for i, v in enumerate(vias):
        a = lat[(v, "added")]
        xs = [0 + (i - (len(vias) - 1) / 2) * width, 1 + (i - (len(vias) - 1) / 2) * width]
        vals = [a["median_p50_us"], a["median_p99_us"]]
        # time the proxy was runnable but another process had its core: the machine's share of the numbers
        wait = a.get("proxy_runq_wait_us")
        label = LABELS[v] + (f" (waited {wait:.0f} µs/call for its core)" if wait is not None else "")
        bs = ax2.bar(xs, vals, width * 0.95, color=COLORS[v], alpha=0.85, label=label)
        for b in bs:
            ax2.text(b.get_x() + b.get_width() / 2, b.get_height(), f"{b.get_height():.0f}", ha="center",
                     va="bottom", fontsize=8.5)
    ax2.set_xticks([0, 1], ["p50", "p99"])
    # log scale: a noisy machine's p99 can be ten times the p50
    ax2.set_yscale("log")
    ax2.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax2.set_ylabel("µs added to a call (proxied − direct), log scale")
    d = lat[("gateway", "direct")]
    title = f"latency added, 1 connection, {p['lat_rounds']} × {p['lat_n']} sequential calls\n"
    if len(vias) == 2:
        title += (f"(median of rounds; p50 gateway/nginx "
                  f"{lat[('gateway', 'added')]['median_p50_us'] / max(lat[('nginx', 'added')]['median_p50_us'], 0.1):.2f}; "
                  f"direct call p50 {d['median_p50_us']:.0f} µs)")
    ax2.set_title(title, fontsize=9.5)
    ax2.legend(fontsize=8, loc="upper left")
    ax2.grid(axis="y", alpha=0.3)
    ax2.set_ylim(10, ax2.get_ylim()[1] * 3)  # room for the legend

    footer(fig, doc, f"PHASES=call ROUNDS={p['rounds']} DURATION={p['duration_s']} WARMUP={p['warmup_s']} "
                     f"LAT_N={p['lat_n']} LAT_ROUNDS={p['lat_rounds']} bash bench/mcp.sh  (mcp-call.json)")
    return save(fig, out, "tools-call")


# ------------------------------------------------------------------------------------------------
# (b), (c) registry size

def registry_rows(doc: dict) -> dict[str, list[dict]]:
    by: dict[str, list[dict]] = {}
    for r in doc["tables"]["sizes"]:
        by.setdefault(r["store"], []).append(r)
    for rows in by.values():
        rows.sort(key=lambda r: r["tools"])
    return by


def registry_figure(results: Path):
    """registry.json, its rows by store, its params, and a figure with one axes for it."""
    doc = load(results, "registry")
    fig, ax = plt.subplots(figsize=(9, 5.2))
    fig.subplots_adjust(left=0.09, right=0.98, top=0.87, bottom=0.17)
    return doc, registry_rows(doc), doc["params"], fig, ax


def registry_command(doc: dict) -> str:
    p = doc["params"]
    sizes = " ".join(str(n) for n in p["sizes"] if n)
    return (f"SIZES=\"{sizes}\" TOOLS_PER_SERVICE={p['tools_per_service']} RELOADS={p['reloads']} "
            f"DELTAS={p['deltas']} STORES=\"{' '.join(p['stores'])}\" bash bench/registry.sh  (registry.json)")


def chart_registry_reload(results: Path, out: Path) -> Path:
    doc, by, p, fig, ax = registry_figure(results)
    for store, rows in by.items():
        rows = [r for r in rows if r["tools"] > 0 and r["reload_ms_median"] is not None]
        xs = [r["tools"] for r in rows]
        c = COLORS.get(store, None)
        ax.plot(xs, [r["reload_ms_median"] for r in rows], "-o", color=c, label=f"{LABELS.get(store, store)}: full reload")
        ax.fill_between(xs, [r["reload_ms_min"] for r in rows], [r["reload_ms_max"] for r in rows], color=c, alpha=0.15)
        ax.plot(xs, [r["first_reload_ms"] for r in rows], "o", mfc="none", color=c, ms=8,
                label=f"{LABELS.get(store, store)}: first reload, at start")
        d = [r for r in rows if r["delta_ms_median"] is not None]
        ax.plot([r["tools"] for r in d], [r["delta_ms_median"] for r in d], "--s", color=c, ms=5,
                label=f"{LABELS.get(store, store)}: delta (one service)")
    # the targets docs/performance.md holds them to
    for y, text in ((100, "full reload target 100 ms"), (1, "delta target 1 ms")):
        ax.axhline(y, color="#999999", lw=0.8, ls=":")
        ax.text(0.99, y * 1.06, text, transform=ax.get_yaxis_transform(), fontsize=8, color="#777777",
                ha="right", va="bottom")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(thousands))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_xlabel(f"tools in the registry ({p['tools_per_service']} per service)")
    ax.set_ylabel("ms (the gateway's own log)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", ncol=1)
    title = "Full reload and delta time against registry size"
    sub = (f"median of {p['reloads']} reloads (band: min..max) and of {2 * p['deltas']} deltas per size; "
           f"one gateway, the store on the same 2 cores")
    fig.suptitle(title, fontsize=12)
    ax.set_title(sub, fontsize=9)
    footer(fig, doc, registry_command(doc))
    return save(fig, out, "registry-reload")


def chart_registry_rss(results: Path, out: Path) -> Path:
    doc, by, p, fig, ax = registry_figure(results)
    notes = []
    # the snapshot, not the store, is what takes the memory: the first store gets lines, the others
    # hollow markers on them
    for i, (store, rows) in enumerate(by.items()):
        c = COLORS.get(store, None)
        xs = [r["tools"] for r in rows]
        idle = [r["rss_idle_kb"] / 1024 for r in rows]
        after = [r["rss_after_reloads_kb"] / 1024 for r in rows]
        name = LABELS.get(store, store)
        if i == 0:
            ax.plot(xs, idle, "-o", color=c, label=f"{name}: idle, after the first reload")
            ax.plot(xs, after, "--^", color=c, label=f"{name}: after {p['reloads']} more full reloads")
        else:
            ax.plot(xs, idle, "s", mfc="none", color=c, ms=9, label=f"{name}: idle")
            ax.plot(xs, after, "D", mfc="none", color=c, ms=8, label=f"{name}: after the reloads")
        base = next((r for r in rows if r["tools"] == 0), None)
        top = rows[-1]
        if base and top["tools"]:
            notes.append(f"{name}: {base['rss_idle_kb'] / 1024:.0f} MB empty, "
                         f"+{(top['rss_idle_kb'] - base['rss_idle_kb']) * 1024 / top['tools']:.0f} bytes per tool idle, "
                         f"+{(top['rss_after_reloads_kb'] - base['rss_idle_kb']) * 1024 / top['tools']:.0f} after the reloads")
        if i == 0:
            for y, dy in ((idle[-1], -16), (after[-1], 6)):
                ax.annotate(f"{y:.0f} MB", (xs[-1], y), textcoords="offset points", xytext=(-10, dy), ha="right",
                            fontsize=8.5, color=c)
    ax.xaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_xlabel(f"tools in the registry ({p['tools_per_service']} per service; 0 = empty registry)")
    ax.set_ylabel("VmRSS of the gateway (MB)")
    ax.set_xlim(left=-2000)
    ax.set_ylim(0, None)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Gateway resident memory against registry size", fontsize=12)
    ax.set_title(f"VmRSS {doc['params']['settle_s']:g} s after the first reload, and after {p['reloads']} more "
                 f"(the gateway keeps its last 8 snapshots for tools/list cursors)", fontsize=9)
    ax.text(0.98, 0.25, "\n".join(notes), transform=ax.transAxes, ha="right", va="bottom", fontsize=8.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"})
    footer(fig, doc, registry_command(doc))
    return save(fig, out, "registry-rss")


CHARTS = {"tools-call": chart_tools_call, "registry-reload": chart_registry_reload, "registry-rss": chart_registry_rss}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=Path(os.environ.get("RESULTS_DIR") or ROOT / "bench" / "results"))
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--only", nargs="*", choices=sorted(CHARTS), help="draw only these")
    args = ap.parse_args()
    status = 0
    for name in args.only or CHARTS:
        try:
            path = CHARTS[name](args.results, args.out)
        except Missing as e:
            print(f"bench/plot.py: {name}: skipped, {e}", file=sys.stderr)
            status = 1
            continue
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return status


if __name__ == "__main__":
    sys.exit(main())
