"""100,000 incidents: `remediate --dry-run` and `plan` against loading the analysis with raw libyaml.

    .venv/bin/python -m bench.scale_bench [--incidents 100000] [--json]

Generates a synthetic analysis of small Java files (about six incidents each) and its source tree,
then runs each step in a fresh process and measures its CPU time (user and system; the figure compared,
since a shared machine stretches wall time), its wall time and its peak memory (maximum
resident set size, from `wait4`): the raw `yaml.load(..., CSafeLoader)` of the file, the dry run,
and a deterministic plan. Nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.workloads import synthetic

INCIDENTS_PER_FILE = 6.2  # the small synthetic files' average


# Runs the command as its own child and reports that child's resource usage. The benchmark process
# itself is large after a long run, and Linux carries a process's peak resident size across fork and
# exec: a command started straight from here would report at least the benchmark's own size.
_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss,
                  "cpu": usage.ru_utime + usage.ru_stime}), file=sys.stderr)
"""


def _measure(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seconds = time.monotonic() - started
    errors = child.stderr.decode(errors="replace").strip().splitlines()
    report = json.loads(errors[-1]) if errors and errors[-1].startswith("{") else None
    if report is None or report["code"] not in (0, 1):
        raise SystemExit(f"{argv[2:5]} failed: {chr(10).join(errors)[-400:]}")
    # CPU time is the figure to compare on a shared machine: wall time also counts waiting for a CPU.
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(report["cpu"], 2),
        "peak_mb": round(report["maxrss_kb"] / 1024, 1),
    }


def run(incidents: int, work: Path) -> dict[str, Any]:
    files = max(1, round(incidents / INCIDENTS_PER_FILE))
    workload = synthetic(work / "input", files=files, seed=3, small=True, name="scale")
    python = sys.executable
    env = {**os.environ, "ANTHROPIC_API_KEY": "unused"}
    load = f"import yaml; yaml.load(open({str(workload.analysis)!r}, 'rb'), Loader=yaml.CSafeLoader)"
    cli = [python, "-m", "kantra_ai.cli.app"]
    common = ["--analysis", str(workload.analysis), "--input", str(workload.app)]
    steps = {
        "raw libyaml load": [python, "-c", load],
        "remediate --dry-run --json": [*cli, "remediate", *common, "--dry-run", "--json"],
        "plan --planner deterministic": [
            *cli,
            "plan",
            *common,
            "--planner",
            "deterministic",
            "--output",
            str(work / "plan"),
        ],
    }
    return {
        "workload": f"{workload.incidents:,} incidents in {workload.files:,} small Java files "
        f"({workload.analysis.stat().st_size / 1e6:.0f} MB of output.yaml)",
        "steps": {name: _measure(argv, env) for name, argv in steps.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kantra-scale-") as tmp:
        figures = run(args.incidents, Path(tmp))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        raw = figures["steps"]["raw libyaml load"]["cpu_seconds"]
        for name, step in figures["steps"].items():
            ratio = step["cpu_seconds"] / raw
            print(
                f"{name:32s} {step['cpu_seconds']:7.2f} s CPU  {ratio:5.2f}x  {step['seconds']:7.2f} s wall  "
                f"{step['peak_mb']:7.0f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
