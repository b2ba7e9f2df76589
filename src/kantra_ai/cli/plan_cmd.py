"""`kantra-ai plan`: group the selected violations into ordered phases; write plan.yaml and plan.html."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.table import Table

from kantra_ai.cli.errors import ExitCode, UserError
from kantra_ai.cli.remediate import RemediateOptions, load_selection, simulated_endpoint
from kantra_ai.cli.run_options import (
    CategoriesOpt,
    ExcludeOpt,
    IncludeInformationalOpt,
    IncludeOpt,
    MaxEffortOpt,
    ViolationIdsOpt,
)
from kantra_ai.config.cli import ConfigOpt
from kantra_ai.engine.runner import BatchSettings
from kantra_ai.plan.ai_planner import AiPlan, PlannerFailure, plan_with_model
from kantra_ai.plan.build import build_plan
from kantra_ai.plan.deterministic import RiskTolerance, plan_deterministic
from kantra_ai.plan.model import Plan, PlanMetadata, dump_plan, write_atomic
from kantra_ai.plan.phases import group_incidents
from kantra_ai.providers.pricing import ModelPrice, PriceTable, PricingError, load_price_overrides
from kantra_ai.providers.registry import ProviderConfigError, create_provider, resolve_preset
from kantra_ai.report.html import render_plan_html

PLANNERS = ("ai", "deterministic")


def plan(
    analysis: Annotated[
        Path,
        typer.Option("--analysis", help="Konveyor output.yaml / output.json, or a directory holding one."),
    ],
    input_dir: Annotated[
        Path, typer.Option("--input", help="The application's source tree (your checkout).")
    ],
    output: Annotated[Path, typer.Option(help="Directory for plan.yaml and plan.html.")] = Path(
        ".kantra-ai-plan"
    ),
    planner: Annotated[
        str, typer.Option(help="ai (a model groups the violations) or deterministic (no model needed).")
    ] = "ai",
    provider: Annotated[
        str, typer.Option(help="Provider for the AI planner and for cost estimates (as for remediate).")
    ] = "claude",
    model: Annotated[str | None, typer.Option(help="Model id; default: the provider's default.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Provider endpoint.")] = None,
    source_root: Annotated[str | None, typer.Option(help="The analyzer's source root to strip.")] = None,
    violation_ids: ViolationIdsOpt = None,
    categories: CategoriesOpt = None,
    max_effort: MaxEffortOpt = None,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    include_informational: IncludeInformationalOpt = False,
    max_phases: Annotated[
        int | None, typer.Option(min=1, help="At most N phases (neighbours are merged).")
    ] = None,
    risk_tolerance: Annotated[
        str,
        typer.Option(
            help="conservative (small phases, high-risk ones deferred), balanced, "
            "or aggressive (few big phases)."
        ),
    ] = "balanced",
    interactive: Annotated[bool, typer.Option(help="Approve or defer each phase in the terminal.")] = False,
    prices: Annotated[Path | None, typer.Option(help="YAML price overrides per model.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Incidents per request (for estimates).")] = 25,
    batch_parallelism: Annotated[int, typer.Option(min=1, help="Requests in flight (for estimates).")] = 8,
    max_batch_tokens: Annotated[
        int, typer.Option(min=2000, help="Input tokens per request (for estimates).")
    ] = 24_000,
    chunk_tokens: Annotated[
        int,
        typer.Option(
            min=1000, help="AI planner: input tokens per planning request (large analyses are chunked)."
        ),
    ] = 8_000,
    text_edits: Annotated[
        bool, typer.Option(help="Estimate for plain-text edits instead of tool calls.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the plan's phases as JSON on stdout.")
    ] = False,
    config_file: ConfigOpt = None,
) -> None:
    """Group violations into ordered phases: writes plan.yaml and plan.html into --output."""
    if planner not in PLANNERS:
        raise UserError(f"--planner: unknown planner {planner!r}; choose ai or deterministic")
    if risk_tolerance not in ("conservative", "balanced", "aggressive"):
        raise UserError(
            f"--risk-tolerance: unknown value {risk_tolerance!r}; choose conservative, balanced or aggressive"
        )
    opts = RemediateOptions(
        analysis=analysis,
        input_dir=input_dir,
        provider=provider,
        model=model,
        base_url=base_url,
        source_root=source_root,
        violation_ids=violation_ids or [],
        categories=categories or [],
        max_effort=max_effort,
        include=include or [],
        exclude=exclude or [],
        include_informational=include_informational,
        batch=BatchSettings(max_batch_tokens, batch_size, batch_parallelism),
        prices=prices,
        text_edits=text_edits,
        json_output=json_output,
    )
    code = make_plan(
        opts,
        output=output,
        planner=planner,
        tolerance=risk_tolerance,
        max_phases=max_phases,
        interactive=interactive,
        chunk_tokens=chunk_tokens,
        console=Console(stderr=True),
    )
    raise typer.Exit(code)


def make_plan(
    opts: RemediateOptions,
    *,
    output: Path,
    planner: str,
    tolerance: str,
    max_phases: int | None,
    interactive: bool,
    chunk_tokens: int,
    console: Console,
) -> int:
    try:
        preset = resolve_preset(opts.provider)
    except ProviderConfigError as exc:
        raise UserError(str(exc)) from exc
    model = opts.model or preset.default_model
    price = price_for(opts, model, preset.local)
    selection = load_selection(opts)
    groups = group_incidents(selection.selected)
    if not groups:
        raise UserError(
            "nothing to plan: no fixable incident is selected "
            f"({len(selection.not_applicable)} not applicable, {selection.filtered_out} filtered out, "
            f"{selection.informational} informational)"
        )
    metadata = PlanMetadata(
        provider=preset.name, planner=planner, model=model, analysis=str(Path(opts.analysis).resolve())
    )
    rule: RiskTolerance = (
        "conservative"
        if tolerance == "conservative"
        else "aggressive"
        if tolerance == "aggressive"
        else "balanced"
    )
    if planner == "deterministic":
        drafts = plan_deterministic(groups, tolerance=rule, max_phases=max_phases)
    else:
        with simulated_endpoint(preset, console) as simulated_url:
            try:
                provider = create_provider(
                    preset, model, base_url=simulated_url or opts.base_url, tools=False
                )
            except ProviderConfigError as exc:
                reason = str(exc).split(":")[0] if preset.key_env else str(exc)
                hint = "export it, or plan without a model: --planner deterministic"
                raise UserError(f"{reason}: {hint}") from exc

            async def ask() -> AiPlan:
                try:
                    return await plan_with_model(
                        provider,
                        groups,
                        price=price,
                        tolerance=rule,
                        max_phases=max_phases,
                        chunk_tokens=chunk_tokens,
                    )
                finally:
                    await provider.aclose()

            try:
                result = asyncio.run(ask())
            except PlannerFailure as exc:
                raise UserError(f"the provider refused the planning request: {exc}") from exc
        drafts = result.drafts
        metadata.notes = result.notes
        cost = "unknown" if result.cost is None else f"${result.cost:.4f}"
        console.print(f"AI planner: {result.requests} request(s), planning cost {cost}")
    use_tools = preset.supports_tools and not opts.text_edits
    plan_doc = build_plan(
        drafts,
        groups,
        metadata=metadata,
        input_dir=opts.input_dir,
        batch=opts.batch,
        price=price,
        use_tools=use_tools,
    )
    if interactive:
        review_phases(plan_doc, sys.stdin, console)
    output.mkdir(parents=True, exist_ok=True)
    dump_plan(plan_doc, output / "plan.yaml")
    write_atomic(output / "plan.html", render_plan_html(plan_doc))
    _show(plan_doc, output, opts.json_output, console)
    return ExitCode.OK


def price_for(opts: RemediateOptions, model: str, local: bool) -> ModelPrice | None:
    table = PriceTable()
    if opts.prices is not None:
        try:
            table.override(load_price_overrides(opts.prices))
        except PricingError as exc:
            raise UserError(str(exc)) from exc
    return table.lookup(model, local=local)


def review_phases(plan_doc: Plan, stream: TextIO, console: Console) -> None:
    """Ask, phase by phase, whether to approve (run it) or defer it. End of input keeps the rest."""
    for phase in plan_doc.ordered_phases():
        state = "deferred" if phase.deferred else "approved"
        console.print(
            f"[bold]{phase.id}[/] {phase.name} — {phase.risk} risk, {len(phase.violations)} violation(s), "
            f"{phase.incident_count} incident(s), ~${phase.estimated_cost:.4f} (now {state})"
        )
        while True:
            console.print("  [a]pprove, [d]efer, [k]eep as is? ", end="")
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


def _show(plan_doc: Plan, output: Path, json_output: bool, console: Console) -> None:
    phases = plan_doc.ordered_phases()
    if json_output:
        document = {
            "plan": str(output / "plan.yaml"),
            "html": str(output / "plan.html"),
            "notes": plan_doc.metadata.notes,
            "phases": [
                {
                    "id": p.id,
                    "name": p.name,
                    "risk": p.risk,
                    "deferred": p.deferred,
                    "violations": [v.violation_id for v in p.violations],
                    "incidents": p.incident_count,
                    "estimated_cost": p.estimated_cost,
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
            f"${p.estimated_cost:.4f}",
            str(p.estimated_duration_minutes),
            "yes" if p.deferred else "",
        )
    console.print(table)
    for note in plan_doc.metadata.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"wrote {output / 'plan.yaml'} and {output / 'plan.html'}")
