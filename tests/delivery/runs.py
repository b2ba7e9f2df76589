"""Running `kantra-ai` on a checkout with the simulated model, in this process or as a process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.cli.helpers import analysis_of, run

EXAMPLE = "javaee-inventory"


def remediate(app: Path, *flags: str | Path, example: str = EXAMPLE) -> tuple[int, dict[str, Any]]:
    """`remediate --json` in this process: (exit code, the summary, {} when none)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(
            "remediate", "--analysis", analysis_of(example), "--input", app, "--provider", "simulated",
            "--json", "--no-progress", *flags,
        )  # fmt: skip
    text = out.getvalue()
    return code, (json.loads(text) if text.strip() else {})


def remediate_process(
    app: Path, *flags: str, kill_at: str = "", example: str = EXAMPLE
) -> subprocess.CompletedProcess[str]:
    """The same as a separate process, optionally SIGKILLed at a named moment."""
    env = {**os.environ}
    if kill_at:
        env["KANTRA_AI_TEST_KILL_AT"] = kill_at
    argv = [
        sys.executable, "-m", "kantra_ai.cli.app", "remediate", "--analysis", str(analysis_of(example)),
        "--input", str(app), "--provider", "simulated", "--no-progress", *flags,
    ]  # fmt: skip
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
