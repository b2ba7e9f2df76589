"""`kantra-ai report`: rebuild report.html (and run.json) for the job on a tree, from its run store.

The report shows the whole job: every run on the tree and every incident any of them worked on,
with its latest status, diffs and history. `--run FILE` renders a saved run.json instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kantra_ai.cli.help import INPUT, OUTPUT, READ_EXIT_CODES, epilog
from kantra_ai.cli.status import StateOpt, StoreOpt, check_store_url
from kantra_ai.config.cli import ConfigOpt, given
from kantra_ai.errors import ExitCode, UserError
from kantra_ai.report.record import (
    RecordError,
    default_report_path,
    load_record,
    write_job_report,
    write_report,
)

EPILOG = epilog(
    "kantra-ai report -i ./my-app",
    "kantra-ai report -i ./my-app -o /tmp/report.html",
    exit_codes=READ_EXIT_CODES,
)


def report(
    ctx: typer.Context,
    input_dir: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            metavar="DIR",
            help="The checkout runs worked on: the report is rebuilt from its run store.",
            rich_help_panel=INPUT,
        ),
    ] = None,
    state: StateOpt = None,
    store_url: StoreOpt = None,
    run: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Render a saved run.json instead.", rich_help_panel=INPUT),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Where to write report.html (default: INPUT/.kantra-ai/report.html, or next to --run).",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    config_file: ConfigOpt = None,  # paths.input from .kantra-ai.yaml
) -> None:
    """Rebuild report.html for the job on a tree (every run, every incident) from its run store."""
    if run is not None and given(ctx, "input_dir"):  # --input was silently left unused
        raise UserError(
            "give --input DIR (rebuild from the run store) or --run FILE (a saved run.json), not both"
        )
    try:
        if run is not None:
            target = write_report(load_record(run), output or run.parent / "report.html")
        elif input_dir is not None:
            if not input_dir.is_dir():
                raise UserError(f"--input {input_dir}: not a directory")
            target = write_job_report(
                input_dir,
                state,
                output or default_report_path(input_dir),
                store_url=check_store_url(store_url),
            )
        else:
            raise UserError("give --input DIR (the checkout runs worked on) or --run FILE (a run.json)")
    except RecordError as exc:
        raise UserError(str(exc)) from exc
    Console(highlight=False).print(f"wrote [link={target.resolve().as_uri()}]{target}[/link]")
    raise typer.Exit(ExitCode.OK)
