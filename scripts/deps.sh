#!/usr/bin/env bash
# Install the Debian packages the build and the test suite need. Idempotent:
# does nothing (and touches no network) when everything is already installed.
set -euo pipefail

PACKAGES=(
  libev-dev libpq-dev libhiredis-dev libhttp-parser-dev
  libsqlite3-dev libssl-dev sqlite3 postgresql redis-server nginx-light wrk curl docker-compose
  chromium chromium-driver
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg -s "$p" >/dev/null 2>&1 || \
     ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
