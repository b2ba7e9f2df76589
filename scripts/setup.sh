#!/usr/bin/env bash
# Creates .venv (if missing) and installs kantra-ai with its test tools (and the ray extra: the
# portfolio's Ray tests start a local cluster). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.kantra-ai-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setting up .venv (kantra-ai and its test tools)..."
  log=.venv/install.log
  # pip's own chatter (build backend notices, index warnings) goes to the log; shown if it fails.
  if ! { .venv/bin/python -m pip install --quiet --upgrade pip \
         && .venv/bin/python -m pip install --quiet -e '.[dev,ray]'; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: installing kantra-ai failed (log above, also in $log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
