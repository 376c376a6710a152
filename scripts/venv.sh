#!/usr/bin/env bash
# Create .venv in the repository root and install the Python test dependencies.
# Idempotent: a stamp file records the requirement list that was installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQS=("mcp>=2.3,<2.4" "pytest" "httpx" "prometheus_client" "openapi-spec-validator" "jsonschema" "pyyaml" "selenium" "matplotlib" "cryptography")
STAMP="$VENV/.stamp"
WANT="$(printf '%s\n' "${REQS[@]}")"

PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi

"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${REQS[@]}"
printf '%s\n' "${REQS[@]}" > "$STAMP"
