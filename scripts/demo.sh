#!/usr/bin/env bash
# Sets everything up and runs the main job on the bundled example, on a copy so the example stays
# pristine. Without ANTHROPIC_API_KEY it uses the clearly labelled simulated provider (a local fake
# model that knows this example's fixes); with the key set, it fixes with Claude for real.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
example=examples/javaee-inventory
work=demo-output/javaee-inventory
rm -rf "$work" && mkdir -p demo-output && cp -r "$example/app" "$work"
provider=simulated
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then provider=claude; fi
echo "== dry run: what would be sent, and what it would cost"
.venv/bin/kantra-ai remediate --analysis "$example/output.yaml" --input "$work" --provider "$provider" --dry-run
echo
echo "== remediate with provider '$provider' on $work"
status=0
.venv/bin/kantra-ai remediate --analysis "$example/output.yaml" --input "$work" --provider "$provider" "$@" || status=$?
echo
echo "== what changed (diff against the original example)"
diff -ru "$example/app" "$work" || true
exit "$status"
