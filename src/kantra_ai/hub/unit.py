"""The per-application unit the addon runs: the one place to switch to the portfolio's unit
(`portfolio/unit.py`) once it lands; until then, the remediate job of the application layer."""

from __future__ import annotations

from kantra_ai.app.options import RunOptions
from kantra_ai.app.remediate import RemediateJob
from kantra_ai.app.run import JobRun, run_job
from kantra_ai.app.ui import Ui


def run_application(options: RunOptions, ui: Ui) -> JobRun:
    """Fix one application's tree as `remediate` would (recorded in its run store)."""
    return run_job(RemediateJob(options.selection.analysis), options, ui)
