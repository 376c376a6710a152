#!/usr/bin/env python3
"""The benchmarks' results as data: one JSON file per benchmark in RESULTS_DIR (default bench/results/).

    from results import save                     # from a bench/*.py script
    save("registry", {"sizes": rows}, params={"reloads": 5})

    python3 bench/results.py NAME TABLES_DIR [KEY=VALUE ...]    # from a bench/*.sh script

Each file is {"bench", "date" (UTC), "load_average", "cpus", "gateway" (binary, its mtime, the
repository's commit and whether the tree was dirty), "params", "tables": {table: [row, ...]}}, a row
being {column: value}. From the shell, every TABLES_DIR/<table>.tsv is a table: a header line of
column names, then one line a row, fields separated by tabs; a field that reads as a number becomes
one, `-` or an empty field becomes null. KEY=VALUE arguments are the params (numbers converted the
same way). The file is written whole to a temporary name and renamed, so a reader never sees half.
Nothing is printed: the scripts' output stays what it was. Standard library only.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def results_dir() -> Path:
    d = Path(os.environ.get("RESULTS_DIR") or ROOT / "bench" / "results")
    d.mkdir(parents=True, exist_ok=True)
    return d


def value(text: str):
    """A TSV field or a KEY=VALUE value: int, float, null (`-` or empty) or the string."""
    text = text.strip()
    if text in ("", "-"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def git(*args: str) -> str | None:
    try:
        p = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def gateway_info(binary: str | None) -> dict:
    info: dict = {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    if binary:
        info["binary"] = binary
        try:
            mtime = os.stat(binary).st_mtime
            info["built"] = datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        except OSError:
            pass
    return info


def save(name: str, tables: dict[str, list[dict]], params: dict | None = None, gateway_bin: str | None = None) -> Path:
    """Writes RESULTS_DIR/NAME.json; returns its path."""
    gateway_bin = gateway_bin or os.environ.get("GATEWAY_BIN")
    doc = {
        "bench": name,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "gateway": gateway_info(gateway_bin),
        "params": params or {},
        "tables": tables,
    }
    path = results_dir() / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return path


def read_tsv(path: Path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, (value(f) for f in line.split("\t")))) for line in lines[1:]]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    name, tables_dir = argv[0], Path(argv[1])
    params = {}
    for arg in argv[2:]:
        key, sep, val = arg.partition("=")
        if not sep:
            print(f"bench/results.py: not KEY=VALUE: {arg!r}", file=sys.stderr)
            return 2
        params[key] = value(val)
    tables = {p.stem: read_tsv(p) for p in sorted(tables_dir.glob("*.tsv"))}
    save(name, tables, params)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
