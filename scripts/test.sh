#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (plus lint and type checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The HTML report tests open plan.html / report.html in Debian's headless chromium, driven by
# Playwright's bundled driver (`playwright install` is never run: it downloads a browser).
apt_install() {  # PACKAGE WHAT-IS-MISSING
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "error: $2 is missing; install Debian's $1 package first" >&2
    exit 1
  fi
}
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium /usr/bin/chromium
fi
# The PostgreSQL run store's tests start Debian's PostgreSQL themselves (a throwaway server on
# loopback in a temporary folder, testing/postgres.py); only the binaries are needed.
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt_install postgresql "PostgreSQL (pg_ctl, initdb)"
fi
.venv/bin/ruff check src tests bench testing
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
