#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (plus lint and type checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Debian packages the tests drive for real, installed when missing (root, or through sudo).
apt_install() {
  local runner=()
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "error: $* missing; install these Debian packages first" >&2
      exit 1
    fi
    runner=(sudo)
  fi
  "${runner[@]}" apt-get update -qq
  "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
# The HTML report tests open plan.html / report.html in Debian's headless chromium, driven by
# Playwright's bundled driver (`playwright install` is never run: it downloads a browser).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Verification (tests/verify) checks real projects: Java with the JDK's javac, TypeScript with tsc
# run by npm (node and npm from Debian when the machine has none).
command -v javac >/dev/null || missing+=(default-jdk-headless)
command -v npm >/dev/null || missing+=(nodejs npm)
# The PostgreSQL run store's tests start Debian's PostgreSQL themselves (a throwaway server on
# loopback in a temporary folder, testing/postgres.py); only the binaries are needed.
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
# The Hub addon clones a repository behind SSH from Debian's sshd on loopback (tests/hub).
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi
# TypeScript itself from the npm registry, pinned, into .cache/ (ignored by git, kept between runs).
if [ ! -x .cache/typescript/node_modules/.bin/tsc ]; then
  npm install --prefix .cache/typescript --no-audit --no-fund --loglevel=error typescript@5.6.3 >/dev/null
fi
.venv/bin/ruff check src tests bench testing scripts
.venv/bin/ruff format --check --quiet src tests bench testing scripts
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
