"""`kantra-ai report`: regenerate report.html from the last run's record.

The run record (`run.json`) is written next to report.html by `remediate` and `execute`. Once the
run store (src/kantra_ai/store/) records the same data, this command will read it from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kantra_ai.cli.help import INPUT, OUTPUT, epilog
from kantra_ai.config.cli import ConfigOpt
from kantra_ai.errors import ExitCode, UserError
from kantra_ai.report.record import (
    RUN_RECORD_NAME,
    RecordError,
    default_report_path,
    load_record,
    write_report,
)

EPILOG = epilog("kantra-ai report -i ./my-app", "kantra-ai report -i ./my-app --output /tmp/report.html")


def report(
    input_dir: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            metavar="DIR",
            help="The checkout a run fixed (its .kantra-ai/ holds the record).",
            rich_help_panel=INPUT,
        ),
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="A run record (run.json) to render instead.", rich_help_panel=INPUT
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Where to write report.html (default: next to the run record).",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    config_file: ConfigOpt = None,  # paths.input from .kantra-ai.yaml
) -> None:
    """Write report.html (per-incident results, diffs, cost) for the last remediate/execute run."""
    if run is None and input_dir is None:
        raise UserError("give --input DIR (the checkout a run fixed) or --run FILE (a run.json)")
    record_path = run or default_report_path(input_dir or Path()).parent / RUN_RECORD_NAME
    try:
        record = load_record(record_path)
    except RecordError as exc:
        raise UserError(str(exc)) from exc
    target = output or record_path.parent / "report.html"
    write_report(record, target)
    Console(stderr=True).print(f"wrote {target}")
    raise typer.Exit(ExitCode.OK)
