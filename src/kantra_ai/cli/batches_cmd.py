"""`kantra-ai batches cancel`: cancel the batch API submissions of a tree (see app/batches.py)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console

from kantra_ai.app.batches import cancel_batches
from kantra_ai.cli.help import HISTORY, Command, Group, epilog
from kantra_ai.cli.run_options import BaseUrlOpt, InputOpt, JsonOpt
from kantra_ai.cli.status import StateOpt
from kantra_ai.config.cli import ConfigOpt
from kantra_ai.errors import ExitCode

batches_app = typer.Typer(
    name="batches",
    help="The batch API submissions of --batch-api runs (`kantra-ai status` lists them).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    cls=Group,
)
EPILOG = epilog(
    "kantra-ai batches cancel -i ./my-app", "kantra-ai batches cancel -i ./my-app --batch msgbatch_01..."
)


@batches_app.command("cancel", cls=Command, epilog=EPILOG)
def cancel(
    input_dir: InputOpt,
    state: StateOpt = None,
    batch: Annotated[
        str | None,
        typer.Option(
            metavar="ID",
            help="Only this batch (the provider's id, or #N as `status` shows it); default: all.",
            rich_help_panel=HISTORY,
        ),
    ] = None,
    base_url: BaseUrlOpt = None,
    json_output: JsonOpt = False,
    config_file: ConfigOpt = None,
) -> None:
    """Cancel the tree's batches still with the provider; what they answered first is still applied."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)  # a line per message, unbroken
    done = cancel_batches(input_dir, state=state, batch=batch, base_url=base_url)
    if json_output:
        sys.stdout.write(json.dumps([asdict(c) for c in done], indent=2) + "\n")
    elif not done:
        console.print("nothing to cancel: no batch of this tree is still with the provider", markup=False)
    else:
        for c in done:
            name = c.batch or f"#{c.submission}"
            what = "cancelling" if c.cancelled else "not cancelled"
            console.print(f"{what}  {name}: {c.status}", markup=False)
        console.print(
            "The next `remediate ... --batch-api` applies what they answered before the cancellation "
            "and sends the rest again as --batch-retry says.",
            markup=False,
        )
    raise typer.Exit(ExitCode.OK if all(c.cancelled for c in done) else ExitCode.SOME_FAILED)
