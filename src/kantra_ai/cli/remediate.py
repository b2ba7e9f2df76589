"""`kantra-ai remediate`: load, select, plan, then either show the plan (dry run) or run it."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from kantra_ai.analysis.loader import AnalysisError, load_analysis
from kantra_ai.analysis.model import Category
from kantra_ai.analysis.selection import Selection, SelectionError, select_incidents
from kantra_ai.cli.errors import ExitCode, UserError
from kantra_ai.cli.progress import ProgressDisplay
from kantra_ai.config.cli import check_templates
from kantra_ai.engine.batch_runner import ESTIMATE_SAFETY, RunContext
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.confidence import ConfidencePolicy
from kantra_ai.engine.events import ObserverGroup, RunObserver
from kantra_ai.engine.outcomes import RunTotals, Status
from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.engine.runner import BatchSettings, RunPlan, RunResult, execute_plan, plan_run
from kantra_ai.engine.scheduling import wrap_provider
from kantra_ai.planning.batches import OUTPUT_TOKENS_PER_INCIDENT
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.prompts.custom import CustomTemplates
from kantra_ai.providers.base import Provider
from kantra_ai.providers.pricing import ModelPrice, PriceTable, PricingError, Usage, load_price_overrides
from kantra_ai.providers.registry import Preset, ProviderConfigError, create_provider, resolve_preset
from kantra_ai.report.record import RunCapture, write_run_report
from kantra_ai.report.summary import dry_run_summary, print_dry_run, print_summary, run_summary
from kantra_ai.store.history import HistoryOptions
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import RunSession

# What a fix usually costs in output, for the dry run's expected (not worst-case) estimate.
EXPECTED_OUTPUT_PER_INCIDENT = OUTPUT_TOKENS_PER_INCIDENT // 2


@dataclass
class RemediateOptions:
    analysis: Path
    input_dir: Path
    provider: str = "claude"
    model: str | None = None
    base_url: str | None = None
    source_root: str | None = None
    violation_ids: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    max_effort: int | None = None
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    include_informational: bool = False
    max_cost: float | None = None
    dry_run: bool = False
    batch: BatchSettings = field(default_factory=BatchSettings)
    max_retries: int = 1
    prices: Path | None = None
    text_edits: bool = False
    json_output: bool = False
    progress: bool = True
    report: Path | None = None  # report.html; default INPUT/.kantra-ai/report.html
    confidence: ConfidencePolicy = field(default_factory=ConfidencePolicy)  # off unless enabled
    templates: CustomTemplates | None = None  # the user's prompt templates (config), already checked
    history: HistoryOptions = field(default_factory=HistoryOptions)  # run store: --state, --resume, ...
    rate_limits: RateLimitConfig | None = None  # --rate-limits; unknown ones are learned from headers


def _split(values: list[str]) -> list[str]:
    """Accept both repeated flags and comma-separated lists, as the predecessor did."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _categories(values: list[str]) -> list[Category] | None:
    names = _split(values)
    if not names:
        return None
    allowed = [c.value for c in Category]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise UserError(f"--categories: unknown category {bad[0]!r}; allowed: {', '.join(allowed)}")
    return [Category(n) for n in names]


def load_selection(opts: RemediateOptions) -> Selection:
    if not opts.input_dir.is_dir():
        raise UserError(f"--input {opts.input_dir}: not a directory")
    try:
        analysis = load_analysis(
            opts.analysis,
            opts.input_dir,
            source_root=opts.source_root,
            include_informational=opts.include_informational,
        )
        return select_incidents(
            analysis,
            violation_ids=_split(opts.violation_ids) or None,
            categories=_categories(opts.categories),
            max_effort=opts.max_effort,
            include=_split(opts.include) or None,
            exclude=_split(opts.exclude) or None,
            include_informational=opts.include_informational,
        )
    except (AnalysisError, SelectionError) as exc:
        raise UserError(str(exc)) from exc


def _price_table(opts: RemediateOptions) -> PriceTable:
    table = PriceTable()
    if opts.prices is not None:
        try:
            table.override(load_price_overrides(opts.prices))
        except PricingError as exc:
            raise UserError(str(exc)) from exc
    return table


@contextmanager
def simulated_endpoint(preset: Preset, console: Console) -> Iterator[str | None]:
    """For `--provider simulated`: say loudly that no real model answers (it runs in process)."""
    if preset.name == "simulated":
        console.print(
            "[bold yellow]SIMULATED provider:[/] a scripted fake model that knows the bundled examples' "
            "fixes answers in process. No real model is called; set ANTHROPIC_API_KEY and use "
            "--provider claude for real fixes."
        )
    yield None


def remediate(opts: RemediateOptions, console: Console) -> int:
    """Run (or dry-run) with the run store: skip what earlier runs settled, record this one."""
    try:
        with RunSession(opts.input_dir, opts.history, console) as session:
            return _remediate(opts, console, session)
    except StoreError as exc:  # lock held, damaged or foreign store, nothing to resume
        raise UserError(str(exc)) from None
    except asyncio.CancelledError:  # a second Ctrl-C abandoned the requests in flight
        raise KeyboardInterrupt from None


def _remediate(opts: RemediateOptions, console: Console, session: RunSession) -> int:
    if opts.max_cost is not None and opts.max_cost <= 0:
        raise UserError("--max-cost must be a positive amount of USD")
    try:
        preset = resolve_preset(opts.provider)
    except ProviderConfigError as exc:
        raise UserError(str(exc)) from exc
    model = opts.model or preset.default_model
    price = _price_table(opts).lookup(model, local=preset.local)
    if opts.max_cost is not None and price is None:
        raise UserError(
            f"--max-cost cannot be enforced: no price is known for model {model!r}; "
            "give one with --prices FILE"
        )
    selection = load_selection(opts)
    selection = session.skip_done(
        selection, analysis=opts.analysis, provider=preset.name, model=model, dry_run=opts.dry_run
    )
    use_tools = preset.supports_tools and not opts.text_edits
    prompts = PromptBuilder(use_tools, opts.templates)
    system = prompts.system()
    plan = plan_run(
        selection.selected, opts.input_dir, opts.batch, system, use_tools=use_tools, prompts=prompts
    )
    check_templates(prompts, plan)  # a broken user template fails here, before any request
    if opts.dry_run:
        return _dry_run(opts, selection, plan, model, price, console)
    capture = RunCapture(opts.input_dir)
    if plan.request_count == 0:
        # Nothing left to send (e.g. a rerun of a finished job): no provider, no key, no SDK import.
        result = RunResult({}, [], RunTotals())
    else:
        with simulated_endpoint(preset, console) as simulated_url:
            try:
                provider = create_provider(
                    preset, model, base_url=simulated_url or opts.base_url, tools=use_tools
                )
            except ProviderConfigError as exc:
                raise UserError(str(exc)) from exc
            result = asyncio.run(
                _execute(opts, plan, provider, price, system, use_tools, console, capture, session)
            )
    summary = run_summary(
        provider=preset.name,
        model=model,
        selected=selection.selected,
        not_applicable=selection.not_applicable,
        informational=selection.informational,
        outcomes={**{o.incident_id: o for o in plan.unreadable}, **result.outcomes},
        totals=result.totals,
        aborted=result.aborted,
        confidence=opts.confidence,
        records=result.records,
        performance=result.performance,
    )
    summary["report"] = str(
        write_run_report(
            kind="remediate",
            summary=summary,
            incidents=selection.selected,
            outcomes={**{o.incident_id: o for o in plan.unreadable}, **result.outcomes},
            capture=capture,
            input_dir=opts.input_dir,
            report_path=opts.report,
        )
    )
    summary["store"] = session.summary()
    _emit(summary, opts, console)
    if session.finish([*plan.unreadable, *result.outcomes.values()], result.aborted):
        return ExitCode.INTERRUPTED
    if result.aborted:
        return ExitCode.ABORTED
    statuses = {o.status for o in result.outcomes.values()} | {o.status for o in plan.unreadable}
    if session.partition.failed:  # failed in an earlier run and not retried: still not fixed
        statuses.add(Status.FAILED)
    return ExitCode.SOME_FAILED if statuses & {Status.FAILED, Status.SKIPPED} else ExitCode.OK


async def _execute(
    opts: RemediateOptions,
    plan: RunPlan,
    provider: Provider,
    price: ModelPrice | None,
    system: str,
    use_tools: bool,
    console: Console,
    capture: RunObserver | None = None,
    session: RunSession | None = None,
) -> RunResult:
    # Rate-limit buckets, AIMD concurrency and our own retries (engine/ratelimit.py, adaptive.py).
    provider = wrap_provider(provider, limits=opts.rate_limits, max_in_flight=opts.batch.parallelism)
    ctx = RunContext(
        provider=provider,
        price=price,
        guard=CostGuard(opts.max_cost, price),
        observer=RunObserver(),
        input_dir=opts.input_dir,
        system_prompt=system,
        use_tools=use_tools,
        max_retries=opts.max_retries,
        confidence=opts.confidence,
        prompts=PromptBuilder(use_tools, opts.templates),
    )
    if session is not None:
        session.attach(ctx)  # stored replies and Ctrl-C handling
    try:
        with ProgressDisplay(console, enabled=opts.progress and not opts.json_output) as display:
            ctx.observer = ObserverGroup(display, capture) if capture else display
            if session is not None:
                ctx.observer = ObserverGroup(ctx.observer, *session.observers())
            return await execute_plan(plan, ctx, opts.batch.parallelism)
    finally:
        if session is not None:
            session.detach()
        await provider.aclose()


def _dry_run(
    opts: RemediateOptions,
    selection: Selection,
    plan: RunPlan,
    model: str,
    price: ModelPrice | None,
    console: Console,
) -> int:
    guard = CostGuard(None, price)
    batches = [batch for file_plan in plan.files for batch in file_plan.batches]
    rows: list[dict[str, Any]] = [
        {
            "file": str(batch.path),
            "window": list(batch.window) if batch.window else None,
            "incidents": len(batch.incidents),
            "incident_ids": [i.id for i in batch.incidents],
            "input_tokens": batch.estimated_input_tokens,
            "max_output_tokens": batch.max_output_tokens,
        }
        for batch in batches
    ]
    input_tokens = sum(b.estimated_input_tokens for b in batches)
    max_output = sum(b.max_output_tokens for b in batches)
    expected_output = EXPECTED_OUTPUT_PER_INCIDENT * plan.incident_count
    expected_usage = Usage(input_tokens=input_tokens, output_tokens=expected_output)
    expected = PriceTable.cost(price, expected_usage)
    worst = (
        sum(
            guard.worst_case(int(b.estimated_input_tokens * ESTIMATE_SAFETY) + 200, b.max_output_tokens)
            for b in batches
        )
        if price
        else None
    )
    totals = {
        "requests": len(rows),
        "incidents": plan.incident_count,
        "files": len(plan.files),
        "input_tokens": input_tokens,
        "expected_output_tokens": expected_output,
        "max_output_tokens": max_output,
        "expected_cost_usd": expected,
        "worst_case_cost_usd": worst,
        "model": model,
        "not_applicable": len(selection.not_applicable),
        "informational": selection.informational,
        "unreadable": len(plan.unreadable),
    }
    summary = dry_run_summary(rows, totals)
    if opts.json_output:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        print_dry_run(summary, console)
    return ExitCode.OK


def _emit(summary: dict[str, Any], opts: RemediateOptions, console: Console) -> None:
    if opts.json_output:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        print_summary(summary, console)
