"""`kantra-ai remediate`: the application's remediate job, printed for people or as JSON."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from kantra_ai.app.options import RunOptions
from kantra_ai.app.remediate import RemediateJob, remediate_dry_run, remediate_summary
from kantra_ai.app.run import dry_run_job, exit_code, run_job
from kantra_ai.cli.progress import ConsoleUi
from kantra_ai.errors import ExitCode
from kantra_ai.report.summary import print_dry_run, print_summary


def remediate(options: RunOptions, console: Console) -> int:
    """Run (or dry-run) with the run store: skip what earlier runs settled, record this one."""
    ui = ConsoleUi(console, progress=options.output.progress and not options.output.json)
    job = RemediateJob(options.selection.analysis)
    if options.dry_run:
        document = remediate_dry_run(dry_run_job(job, options, ui))
        if options.output.json:
            emit_json(document)
        else:
            print_dry_run(document, console)
        return ExitCode.OK
    run = run_job(job, options, ui)
    summary = remediate_summary(run, options)
    if options.output.json:
        emit_json(summary)
    else:
        print_summary(summary, console)
    return exit_code(run)


def emit_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
