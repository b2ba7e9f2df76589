#!/usr/bin/env bash
# CI: kantra-ai as users get it, not as the editable checkout the test suite uses.
#
# 1. Build the sdist and, from it, the wheel (`python -m build`): a file missing from the sdist or
#    the package data fails here.
# 2. Install the wheel into a clean venv (not editable) and run the demo from it, outside the
#    checkout: `remediate --provider simulated` on a copy of the bundled example must leave exactly
#    examples/javaee-inventory/expected, and write report.html (templates shipped).
# 3. Install it as a tool the way the README says (`uv tool install` of the wheel) and run it.
# 4. Install every direct dependency at its LOWEST allowed version (`uv pip install --resolution
#    lowest-direct`) and run the fast part of the test suite against that install: the floors in
#    pyproject.toml are the versions the code was tried with.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
PYTHON="${PYTHON:-python3}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { echo "== packaging: $*"; }

step "build sdist and wheel"
"$PYTHON" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --upgrade pip build uv
"$work/tools/bin/python" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 || {
  cat "$work/build.log"
  exit 1
}
wheel=$(ls "$work"/dist/*.whl)
ls "$work/dist"
uv="$work/tools/bin/uv"

step "install the wheel into a clean venv and run the demo from it"
"$PYTHON" -m venv "$work/wheel-venv"
"$work/wheel-venv/bin/python" -m pip install --quiet "$wheel"
cp -r "$repo/examples/javaee-inventory" "$work/example"
(
  cd "$work"  # not the checkout: only the installed package can be imported
  "$work/wheel-venv/bin/kantra-ai" --version
  "$work/wheel-venv/bin/python" -c 'import kantra_ai, sys; sys.exit("editable" if "/src/" in kantra_ai.__file__ else 0)'
  "$work/wheel-venv/bin/kantra-ai" remediate --provider simulated --analysis example/output.yaml \
    --input example/app --no-progress >"$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
  diff -r --exclude=.kantra-ai example/app example/expected
  test -s example/app/.kantra-ai/report.html
  grep -q "Remediation results" example/app/.kantra-ai/report.html
)
echo "demo from the wheel: the tree equals examples/javaee-inventory/expected"

step "uv tool install of the wheel"
export UV_TOOL_DIR="$work/uv-tools" UV_TOOL_BIN_DIR="$work/uv-bin" UV_CACHE_DIR="$work/uv-cache"
"$uv" tool install --quiet --python "$PYTHON" "$wheel"
"$work/uv-bin/kantra-ai" --version

step "lowest allowed version of every direct dependency, then the fast tests"
"$uv" venv --quiet --python "$PYTHON" "$work/lowest"
# The dependencies themselves must be the direct requirements (read from pyproject.toml), else
# "lowest-direct" would only apply to kantra-ai; then the wheel on top, with nothing more.
VIRTUAL_ENV="$work/lowest" "$uv" pip install --quiet --resolution lowest-direct -r "$repo/pyproject.toml"
VIRTUAL_ENV="$work/lowest" "$uv" pip install --quiet --no-deps "$wheel"
VIRTUAL_ENV="$work/lowest" "$uv" pip freeze >"$work/lowest.txt"
echo "resolved:"
grep -iE "^($(
  "$work/tools/bin/python" - "$repo/pyproject.toml" <<'EOF'
import re, sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
print("|".join(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].replace("-", "[-_]") for d in deps))
EOF
))==" "$work/lowest.txt" | sed 's/^/  /'
# The test tools (the dev extra, minus linters and type checkers) at their usual versions, without
# moving any dependency of ours.
mapfile -t test_tools < <("$work/tools/bin/python" - "$repo/pyproject.toml" <<'EOF'
import sys, tomllib
dev = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["dev"]
print("\n".join(d for d in dev if not d.startswith(("mypy", "ruff", "types-"))))
EOF
)
VIRTUAL_ENV="$work/lowest" "$uv" pip install --quiet -c "$work/lowest.txt" "${test_tools[@]}"
(
  cd "$repo"
  "$work/lowest/bin/python" -m pytest -p no:cacheprovider -m "not slow and not browser" \
    -o addopts="--import-mode=importlib" -q
)
echo "fast tests passed with the lowest allowed dependencies"
