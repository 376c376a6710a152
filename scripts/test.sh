#!/usr/bin/env bash
# The whole test run: Debian deps, Python venv, Swift unit tests, then the end-to-end suite against
# a private PostgreSQL + Redis that is always stopped and removed at the end.
#
#   scripts/test.sh                 everything (what `make test` and .ci/run do)
#   scripts/test.sh --no-build      skip `swift build`/`swift test`; run the e2e suite on the existing binary
#   scripts/test.sh -- ARGS...      extra arguments for pytest (e.g. -- -k keepalive -x)
#
# Environment: GATEWAY_BIN (default .build/debug/mcp-gateway), KEEP_SERVICES_DIR=1 keeps the temp
# folder (logs) instead of removing it.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi

BUILD=1
PYTEST_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --) shift; PYTEST_ARGS=("$@"); break ;;
    *) PYTEST_ARGS+=("$1"); shift ;;
  esac
done

scripts/deps.sh || { echo "test.sh: scripts/deps.sh failed" >&2; exit 1; }
scripts/venv.sh || { echo "test.sh: scripts/venv.sh failed" >&2; exit 1; }

status=0
if [ "$BUILD" = 1 ]; then
  echo "== swift build --build-tests"
  swift build --build-tests || { echo "test.sh: swift build failed" >&2; exit 1; }
  echo "== swift test --skip-build"
  swift test --skip-build || { echo "test.sh: unit tests failed" >&2; status=1; }
  # A few seconds of each fuzz target over the seed corpus (make fuzz runs them longer).
  echo "== fuzz smoke (fuzz/build.sh, fuzz/run.sh ${FUZZ_SMOKE_SECONDS:-5})"
  if fuzz/build.sh; then
    fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-5}" || { echo "test.sh: a fuzz target failed" >&2; status=1; }
  else
    echo "test.sh: fuzz targets did not build" >&2
    status=1
  fi
fi

export GATEWAY_BIN="${GATEWAY_BIN:-$ROOT/.build/debug/mcp-gateway}"
if [ ! -x "$GATEWAY_BIN" ]; then
  echo "test.sh: gateway binary not found at $GATEWAY_BIN" >&2
  exit 1
fi

# /tmp explicitly: the folder must be reachable by the postgres user (TMPDIR may be private).
SERVICES_DIR="$(mktemp -d /tmp/mcp-gateway-test.XXXXXX)"
cleanup() {
  "$ROOT/scripts/services.sh" stop "$SERVICES_DIR" || true
  if [ "${KEEP_SERVICES_DIR:-0}" = 1 ]; then
    echo "test.sh: kept $SERVICES_DIR" >&2
  else
    rm -rf "$SERVICES_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== services (PostgreSQL, Redis) in $SERVICES_DIR"
scripts/services.sh start "$SERVICES_DIR" || { echo "test.sh: could not start services" >&2; exit 1; }
# shellcheck disable=SC1091
. "$SERVICES_DIR/env"

echo "== pytest Tests/e2e"
.venv/bin/python -m pytest -q Tests/e2e "${PYTEST_ARGS[@]}" || status=1

exit "$status"
