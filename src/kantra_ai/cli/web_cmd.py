"""`kantra-ai web`: the interactive web app on a tree (its plan, its run store, its reports).

The web stack (Starlette, uvicorn) is imported only when the command runs, so `kantra-ai --help`
and every other command stay as fast as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kantra_ai.cli.help import INPUT, WEB, epilog
from kantra_ai.cli.run_options import InputOpt
from kantra_ai.cli.status import StateOpt
from kantra_ai.config.cli import ConfigOpt, loaded_config
from kantra_ai.errors import UserError

EPILOG = epilog(
    "kantra-ai web -i ./my-app -a output.yaml",
    "kantra-ai web -i ./my-app --plan .kantra-ai-plan/plan.yaml --no-browser --port 8800",
    "kantra-ai plan -a output.yaml -i ./my-app --planner deterministic --interactive-web",
)
HostOpt = Annotated[
    str,
    typer.Option(
        metavar="ADDRESS",
        help="Address to listen on. The default, 127.0.0.1, is this machine only; anything else lets "
        "other machines reach the app (with the URL's token) and is warned about.",
        rich_help_panel=WEB,
    ),
]
PortOpt = Annotated[
    int,
    typer.Option(
        min=0, max=65535, metavar="N", help="Port to listen on (0: a free one).", rich_help_panel=WEB
    ),
]
BrowserOpt = Annotated[
    bool,
    typer.Option(
        "--browser/--no-browser",
        metavar="",
        help="Open the app in the default browser.",
        rich_help_panel=WEB,
    ),
]


def web(
    ctx: typer.Context,
    input_dir: InputOpt,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="FILE",
            help="plan.yaml to work on (or its folder); default: plan.output of the config.",
            rich_help_panel=INPUT,
        ),
    ] = None,
    analysis: Annotated[
        Path | None,
        typer.Option(
            "--analysis",
            "-a",
            metavar="FILE|DIR",
            help="Konveyor output to make a plan from on the page (default: paths.analysis).",
            rich_help_panel=INPUT,
        ),
    ] = None,
    state: StateOpt = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 0,
    browser: BrowserOpt = True,
    config_file: ConfigOpt = None,
) -> None:
    """Open the web app on a tree: plan (approve, reorder, split, merge), run, review and settings.

    Prints the URL (with its access token) and opens the browser unless --no-browser. Ctrl-C stops
    the server; a run it started is paused first.
    """
    settings = loaded_config(ctx).settings
    plan_path = plan if plan is not None else settings.plan.output / "plan.yaml"
    if analysis is not None:  # else the page's "make a plan" failed long after the server started
        from kantra_ai.analysis.loader import AnalysisError, find_analysis_file

        try:
            find_analysis_file(analysis)
        except AnalysisError as exc:
            raise UserError(f"--analysis {exc}") from exc
    serve(
        input_dir=input_dir,
        plan_path=plan_path,
        analysis=analysis,
        state=state,
        config=config_file,
        host=host,
        port=port,
        browser=browser,
    )


def serve(
    *,
    input_dir: Path,
    plan_path: Path,
    analysis: Path | None,
    state: Path | None,
    config: Path | None,
    host: str,
    port: int,
    browser: bool,
) -> None:
    """Serve the web app until Ctrl-C (`web` and `plan --interactive-web`)."""
    from kantra_ai.web.server import new_context, run_web

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    context = new_context(
        input_dir=input_dir, plan_path=plan_path, analysis=analysis, state=state, config=config
    )
    run_web(
        context, host=host, port=port, browser=browser, say=lambda text: console.print(text, markup=False)
    )
