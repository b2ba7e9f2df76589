"""`kantra-ai remediate`, and how every command that runs a job prints what it did."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from kantra_ai.app.options import RunOptions
from kantra_ai.app.remediate import RemediateJob, remediate_dry_run, remediate_summary
from kantra_ai.app.run import DryRun, Job, JobRun, dry_run_job, exit_code, run_job
from kantra_ai.cli.progress import ConsoleUi
from kantra_ai.errors import ExitCode
from kantra_ai.report.summary import print_dry_run, print_summary

Document = dict[str, Any]


def run_command(
    job: Job,
    options: RunOptions,
    console: Console,
    *,
    dry_document: Callable[[DryRun], Document],
    print_dry: Callable[[Document, Console], None],
    summarize: Callable[[JobRun], Document],
    print_result: Callable[[Document, Console], None],
) -> int:
    """Dry-run or run `job`, then print the result for people, or as JSON on stdout with `--json`."""
    ui = ConsoleUi(console, progress=options.output.progress and not options.output.json)
    if options.dry_run:
        _show(dry_document(dry_run_job(job, options, ui)), options, print_dry, console)
        return ExitCode.OK
    run = run_job(job, options, ui)
    _show(summarize(run), options, print_result, console)
    return exit_code(run)


def _show(
    document: Document, options: RunOptions, printer: Callable[[Document, Console], None], console: Console
) -> None:
    if options.output.json:
        emit_json(document)
    else:
        printer(document, console)


def remediate(options: RunOptions, console: Console) -> int:
    """Run (or dry-run) with the run store: skip what earlier runs settled, record this one."""
    return run_command(
        RemediateJob(options.selection.analysis),
        options,
        console,
        dry_document=remediate_dry_run,
        print_dry=print_dry_run,
        summarize=lambda run: remediate_summary(run, options),
        print_result=print_summary,
    )


def emit_json(document: Document) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
