"""`kantra-ai plan`: group the selected violations into ordered phases; write plan.yaml and plan.html."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.table import Table

from kantra_ai import bounds
from kantra_ai.app.plan import PlanRequest, check_plan_output, make_plan, save_plan
from kantra_ai.cli.help import BUDGET, MODEL, OUTPUT, WEB, epilog
from kantra_ai.cli.options import run_options
from kantra_ai.cli.progress import ConsoleUi
from kantra_ai.cli.remediate import result_console
from kantra_ai.cli.run_options import (
    DEFAULT_BATCH,
    AnalysisOpt,
    BaseUrlOpt,
    BatchParallelismOpt,
    BatchSizeOpt,
    CategoriesOpt,
    ExcludeOpt,
    IncludeGeneratedOpt,
    IncludeInformationalOpt,
    IncludeOpt,
    InputOpt,
    MaxBatchTokensOpt,
    MaxEffortOpt,
    ModelOpt,
    PackFilesOpt,
    PricesOpt,
    ProviderOpt,
    SourceRootOpt,
    TextEditsOpt,
    ViolationIdsOpt,
)
from kantra_ai.cli.web_cmd import BrowserOpt, HostOpt, PortOpt, serve
from kantra_ai.config.cli import ConfigOpt
from kantra_ai.errors import ExitCode
from kantra_ai.plan.model import Phase, Plan

EPILOG = epilog(
    "kantra-ai plan -a output.yaml -i ./my-app --planner deterministic",
    "kantra-ai plan -a output.yaml -i ./my-app -o plan/ --interactive",
    "kantra-ai execute --plan plan/plan.yaml -i ./my-app",
)


class Planner(str, Enum):
    AI = "ai"
    DETERMINISTIC = "deterministic"


class RiskTolerance(str, Enum):
    CONSERVATIVE = "conservative"
    BALANCED = "balanced"
    AGGRESSIVE = "aggressive"


def plan(
    ctx: typer.Context,
    analysis: AnalysisOpt,
    input_dir: InputOpt,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Directory for plan.yaml and plan.html.",
            rich_help_panel=OUTPUT,
        ),
    ] = Path(".kantra-ai-plan"),
    planner: Annotated[
        Planner,
        typer.Option(
            metavar="[ai|deterministic]",
            help="ai (a model groups the violations) or deterministic (no model needed).",
            rich_help_panel=MODEL,
        ),
    ] = Planner.AI,
    provider: ProviderOpt = "claude",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    source_root: SourceRootOpt = None,
    violation_ids: ViolationIdsOpt = None,
    categories: CategoriesOpt = None,
    max_effort: MaxEffortOpt = None,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    include_informational: IncludeInformationalOpt = False,
    include_generated: IncludeGeneratedOpt = False,
    max_phases: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=bounds.PHASES.high,
            metavar="N",
            help="At most N phases (neighbours are merged).",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    risk_tolerance: Annotated[
        RiskTolerance,
        typer.Option(
            metavar="[conservative|balanced|aggressive]",
            help="conservative (small phases, high-risk ones deferred), balanced, "
            "or aggressive (few big phases).",
            rich_help_panel=OUTPUT,
        ),
    ] = RiskTolerance.BALANCED,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            metavar="",
            help="Approve or defer each phase in the terminal.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    interactive_web: Annotated[
        bool,
        typer.Option(
            "--interactive-web",
            metavar="",
            help="Then open the plan in the web app (approve, defer, reorder, split, merge, run, review).",
            rich_help_panel=WEB,
        ),
    ] = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 0,
    browser: BrowserOpt = True,
    prices: PricesOpt = None,
    batch_size: BatchSizeOpt = DEFAULT_BATCH.batch_size,
    pack_files: PackFilesOpt = DEFAULT_BATCH.packing.max_files,
    batch_parallelism: BatchParallelismOpt = DEFAULT_BATCH.parallelism,
    max_batch_tokens: MaxBatchTokensOpt = DEFAULT_BATCH.max_batch_tokens,
    chunk_tokens: Annotated[
        int,
        typer.Option(
            min=bounds.CHUNK_TOKENS.low,
            max=bounds.CHUNK_TOKENS.high,
            metavar="TOKENS",
            help="AI planner: input tokens per planning request (large analyses are chunked).",
            rich_help_panel=BUDGET,
        ),
    ] = 8_000,
    text_edits: TextEditsOpt = False,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", metavar="", help="Print the plan's phases as JSON on stdout.", rich_help_panel=OUTPUT
        ),
    ] = False,
    config_file: ConfigOpt = None,
) -> None:
    """Group violations into ordered phases: writes plan.yaml and plan.html into --output."""
    console = Console(stderr=True)
    request = PlanRequest(
        planner=Planner(planner).value,
        risk_tolerance=RiskTolerance(risk_tolerance).value,
        max_phases=max_phases,
        chunk_tokens=chunk_tokens,
    )
    check_plan_output(output)  # before planning: an AI plan is paid for
    plan_doc = make_plan(run_options(ctx, locals()), request, ConsoleUi(console))
    if interactive:
        review_phases(plan_doc, sys.stdin, console)
    save_plan(plan_doc, output)
    _show(plan_doc, output, json_output, result_console())
    if interactive_web:
        serve(
            input_dir=input_dir,
            plan_path=output / "plan.yaml",
            analysis=analysis,
            state=None,
            config=config_file,
            host=host,
            port=port,
            browser=browser,
        )
    raise typer.Exit(ExitCode.OK)


def review_phases(plan_doc: Plan, stream: TextIO, console: Console) -> None:
    """Ask, phase by phase, whether to approve (run it) or defer it. End of input keeps the rest."""
    for phase in plan_doc.ordered_phases():
        state = "deferred" if phase.deferred else "approved"
        console.print(
            f"[bold]{phase.id}[/] {phase.name} — {phase.risk} risk, {len(phase.violations)} violation(s), "
            f"{phase.incident_count} incident(s), ~{_estimate(plan_doc, phase)} (now {state})"
        )
        while True:
            console.print("  [a]pprove, [d]efer, [k]eep as is? ", end="", markup=False, highlight=False)
            answer = stream.readline()
            if not answer:
                console.print()
                return
            choice = answer.strip().lower()[:1]
            if choice in ("a", "d", "k", ""):
                break
            console.print("  please answer a, d or k")
        if choice == "a":
            phase.deferred = False
        elif choice == "d":
            phase.deferred = True


def _estimate(plan_doc: Plan, phase: Phase) -> str:
    """A phase's estimated cost as people read it: "unknown" when no price is known for the model."""
    return f"${phase.estimated_cost:.4f}" if plan_doc.metadata.cost_known else "unknown"


def _show(plan_doc: Plan, output: Path, json_output: bool, console: Console) -> None:
    phases = plan_doc.ordered_phases()
    if json_output:
        document = {
            "plan": str(output / "plan.yaml"),
            "html": str(output / "plan.html"),
            "notes": plan_doc.metadata.notes,
            "cost_known": plan_doc.metadata.cost_known,
            "phases": [
                {
                    "id": p.id,
                    "name": p.name,
                    "risk": p.risk,
                    "deferred": p.deferred,
                    "violations": [v.violation_id for v in p.violations],
                    "incidents": p.incident_count,
                    # null, not 0.0, when no price is known for the model (metadata.cost_known)
                    "estimated_cost": p.estimated_cost if plan_doc.metadata.cost_known else None,
                    "estimated_duration_minutes": p.estimated_duration_minutes,
                }
                for p in phases
            ],
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    table = Table(title=f"Plan: {len(phases)} phases, {plan_doc.violation_count} violations")
    for column in ("#", "phase", "risk", "violations", "incidents", "est. cost", "min", "deferred"):
        table.add_column(column, overflow="fold")
    for p in phases:
        table.add_row(
            p.id,
            p.name,
            p.risk,
            str(len(p.violations)),
            str(p.incident_count),
            _estimate(plan_doc, p),
            str(p.estimated_duration_minutes),
            "yes" if p.deferred else "",
        )
    console.print(table)
    for note in plan_doc.metadata.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"wrote {output / 'plan.yaml'} and {output / 'plan.html'}")
