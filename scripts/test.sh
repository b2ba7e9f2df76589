#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (plus lint and type checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The HTML report tests open plan.html / report.html in Debian's headless chromium, driven by
# Playwright's bundled driver (`playwright install` is never run: it downloads a browser).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: /usr/bin/chromium is missing; install Debian's chromium package first" >&2
    exit 1
  fi
fi
.venv/bin/ruff check src tests bench testing
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
