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
if command -v javac >/dev/null; then
  # Verification: an example whose first fixes break the build (the simulated model answers it as a
  # hurried model would). The JDK compiles the tree before any edit, after each file's fixes and
  # after each repair; what still fails after the repair rounds is reverted with its diagnostic.
  verify_example=examples/utf8-reports
  verify_work=demo-output/utf8-reports
  rm -rf "$verify_work" demo-output/classes && cp -r "$verify_example/app" "$verify_work"
  check="javac -d $(pwd)/demo-output/classes \$(find src/main/java -name '*.java')"
  echo
  echo "== remediate --verify build on $verify_work (check: $check)"
  .venv/bin/kantra-ai remediate --analysis "$verify_example/output.yaml" --input "$verify_work" \
    --provider "$provider" --verify build --verify-command "$check" || true
  echo
  echo "== what changed there (verified and repaired fixes kept, the one that stayed broken reverted)"
  diff -ru "$verify_example/app" "$verify_work" || true
fi
exit "$status"
