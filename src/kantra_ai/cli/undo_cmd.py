"""`kantra-ai undo`: revert exactly what a run wrote (from the run store's write log)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from kantra_ai.app.undo import undo as undo_run
from kantra_ai.cli.help import HISTORY, UNDO_EXIT_CODES, epilog
from kantra_ai.cli.run_options import InputOpt, JsonOpt
from kantra_ai.cli.status import StateOpt
from kantra_ai.config.cli import ConfigOpt
from kantra_ai.errors import ExitCode

EPILOG = epilog(
    "kantra-ai undo -i ./my-app", "kantra-ai undo -i ./my-app --run 2", exit_codes=UNDO_EXIT_CODES
)


def undo(
    input_dir: InputOpt,
    run: Annotated[
        int | None,
        typer.Option(
            "--run",
            min=1,
            metavar="N",
            help="The run to undo (default: the last run that wrote).",
            rich_help_panel=HISTORY,
        ),
    ] = None,
    state: StateOpt = None,
    json_output: JsonOpt = False,
    config_file: ConfigOpt = None,
) -> None:
    """Revert exactly what a run wrote; files changed since it wrote them are left alone."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)  # a line per message, unbroken
    report = undo_run(
        input_dir, run=run, state=state, say=lambda text: console.print(f"kantra-ai: {text}", markup=False)
    )
    result = report.result
    if json_output:
        document = {
            "run": report.run,
            "undo_run": report.undo_run,
            "reverted": result.reverted,
            "refused": result.refused,
            "commit": report.commit,
            "git": report.git,
            "report": report.report,
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif report.run is None:
        console.print("nothing to undo: no run on this tree has a write left to undo", markup=False)
    elif not result.reverted and not result.refused:
        console.print(f"nothing to undo: the writes of run #{report.run} are already undone", markup=False)
    else:
        for path in result.reverted:
            console.print(f"restored  {path}", markup=False)
        for path, reason in result.refused.items():
            console.print(f"left      {path}: {reason}", markup=False)
        console.print(
            f"undid run #{report.run}: {len(result.reverted)} file(s) restored, "
            f"{len(result.refused)} left as they are",
            markup=False,
        )
        if report.git:
            console.print(f"git: {report.git}", markup=False)
    raise typer.Exit(ExitCode.OK if report.complete else ExitCode.SOME_FAILED)
