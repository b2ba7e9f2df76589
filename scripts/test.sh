#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (plus lint and type checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "note: /usr/bin/chromium is missing; the HTML report tests need it (apt-get install chromium, see .ci/run)" >&2
fi
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
