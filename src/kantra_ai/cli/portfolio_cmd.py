"""`kantra-ai portfolio run|status|report MANIFEST`: many applications from one manifest."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kantra_ai.cli.help import (
    BUDGET,
    MODEL,
    OUTPUT,
    PORTFOLIO_EXIT_CODES,
    READ_EXIT_CODES,
    Command,
    Group,
    epilog,
)
from kantra_ai.cli.remediate import result_console
from kantra_ai.cli.status import StoreOpt, check_store_url
from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.errors import ExitCode, UserError
from kantra_ai.portfolio.manifest import load_manifest
from kantra_ai.portfolio.run import ENGINES, PortfolioOptions, run_portfolio
from kantra_ai.portfolio.status import portfolio_view, write_portfolio_report
from kantra_ai.portfolio.unit import AppState
from kantra_ai.store.postgres import display_url

RUN_PANEL = "Portfolio"

portfolio_app = typer.Typer(
    name="portfolio",
    help="Run many applications from one manifest: one budget, one rate limit, on one machine or Ray.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    cls=Group,
)

ManifestArg = Annotated[
    Path, typer.Argument(metavar="MANIFEST", help="The portfolio manifest (YAML): its applications.")
]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print JSON.", rich_help_panel=OUTPUT)]


@portfolio_app.command(
    "run",
    cls=Command,
    epilog=epilog(
        "kantra-ai portfolio run examples/portfolio.yaml",
        "kantra-ai portfolio run apps.yaml --max-apps 4 --max-cost 50 --max-cost-per-app 5",
        "kantra-ai portfolio run apps.yaml --engine ray --ray-address head:6379",
        exit_codes=PORTFOLIO_EXIT_CODES,
    ),
)
def run(
    manifest: ManifestArg,
    engine: Annotated[
        str,
        typer.Option(
            metavar="|".join(ENGINES),
            help="embedded: this machine, applications in threads; ray: one Ray task per application.",
            rich_help_panel=RUN_PANEL,
        ),
    ] = "embedded",
    ray_address: Annotated[
        str | None,
        typer.Option(
            metavar="ADDR",
            help="The Ray cluster: auto, HOST:PORT of its head node, or ray://HOST:10001 (with ray[client]).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = None,
    max_apps: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Applications at a time (manifest: max-apps; default 2).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            metavar="USD",
            help="Budget of the whole portfolio, never exceeded (manifest: max-cost).",
            rich_help_panel=BUDGET,
        ),
    ] = None,
    max_cost_per_app: Annotated[
        float | None,
        typer.Option(
            metavar="USD",
            help="Budget of each application (manifest: max-cost-per-app).",
            rich_help_panel=BUDGET,
        ),
    ] = None,
    rate_limits: Annotated[
        str | None,
        typer.Option(
            metavar="SPEC",
            help="Per-minute limits shared by every application: rpm=N,itpm=N,otpm=N.",
            rich_help_panel=BUDGET,
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            "-p",
            metavar="NAME",
            help="The provider of every application (over the manifest).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    store_url: StoreOpt = None,
    json_output: JsonOpt = False,
) -> int:
    """Run every application of the manifest (rerun: resumes); then write the portfolio's report."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    loaded = load_manifest(manifest, overrides={"provider": {"name": provider}} if provider else None)
    spec = loaded.manifest
    for name, value in (("--max-cost", max_cost), ("--max-cost-per-app", max_cost_per_app)):
        if value is not None and not (math.isfinite(value) and value > 0):  # nan would be no budget
            raise UserError(f"{name} must be a positive amount of USD, not {value:g}")
    limits = rate_limits or spec.rate_limits
    try:
        parsed = RateLimitConfig.parse(limits) if limits else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if engine == "ray" and not ray_address:
        raise UserError("--engine ray needs --ray-address (auto, or HOST:PORT of the head node)")
    store = check_store_url(store_url)
    if engine == "ray" and store and display_url(store) != store:
        # Ray keeps the driver's command line in the cluster's job table, for all who can see it.
        raise UserError(
            "--store: no password in it with --engine ray (the cluster records the command line); "
            "give it in PGPASSWORD or ~/.pgpass"
        )
    options = PortfolioOptions(
        engine=engine,
        ray_address=ray_address,
        max_apps=max_apps or spec.max_apps,
        max_cost=max_cost if max_cost is not None else spec.max_cost,
        max_cost_per_app=max_cost_per_app if max_cost_per_app is not None else spec.max_cost_per_app,
        rate_limits=parsed,
        store=store or spec.store,
    )
    result = run_portfolio(loaded, options, lambda line: err.print(line, markup=False))
    report = write_portfolio_report(loaded)
    if json_output:
        sys.stdout.write(json.dumps({**result.as_dict(), "report": str(report)}, indent=2) + "\n")
    else:
        _table([a.as_dict() for a in result.apps], f"Portfolio: {result.seconds:.1f} s, ${result.cost:.4f}")
        Console(highlight=False, soft_wrap=True).print(f"report: {report}", markup=False)
    states = {a.state for a in result.apps}
    return ExitCode.OK if states <= {AppState.DONE} else ExitCode.SOME_FAILED


@portfolio_app.command(
    "status", cls=Command, epilog=epilog("kantra-ai portfolio status apps.yaml", exit_codes=READ_EXIT_CODES)
)
def status(manifest: ManifestArg, json_output: JsonOpt = False) -> None:
    """Every application: state, incidents fixed and failed, verification, pull requests, cost."""
    rows = portfolio_view(load_manifest(manifest))
    if json_output:
        sys.stdout.write(json.dumps({"apps": rows}, indent=2) + "\n")
    else:
        _table(rows, "Portfolio")


@portfolio_app.command(
    "report",
    cls=Command,
    epilog=epilog("kantra-ai portfolio report apps.yaml -o portfolio.html", exit_codes=READ_EXIT_CODES),
)
def report(
    manifest: ManifestArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Where to write it (default: WORKSPACE/report.html).",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
) -> None:
    """Write the portfolio's report.html, linking each application's own report."""
    path = write_portfolio_report(load_manifest(manifest), output)
    Console(highlight=False, soft_wrap=True).print(f"report: {path}", markup=False)


def _table(rows: list[dict[str, object]], title: str) -> None:
    table = Table(title=title)
    for column in (
        "application",
        "state",
        "fixed",
        "failed",
        "not sent",
        "verification",
        "pull request",
        "cost",
        "reason",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        urls = row.get("pr_urls") or []
        table.add_row(
            *(
                Text(str(v))
                for v in (
                    row["name"],
                    row["state"],
                    row["fixed"],
                    row["failed"],
                    row.get("skipped", 0),
                    row.get("verification") or "",
                    ", ".join(map(str, urls)) if isinstance(urls, list) else "",
                    f"${float(str(row['cost'])):.4f}",
                    row.get("reason") or "",
                )
            )
        )
    result_console().print(table)  # piped: wide enough that no column folds
