"""`kantra-ai execute`: run a plan's phases in order with the remediate engine, resumably.

Each phase is one `remediate` run restricted to the phase's violations (same batching, caching,
`--max-cost` guard across all phases, dry run). Incident progress goes to the run store exactly as
for `remediate` (store/session.py: the tree's lock, recovery, replies saved before they are applied,
settled incidents skipped, paid replies reused; one store run spans all phases). Phase status goes
to `state.yaml` next to the plan (plan/state.py); with progress there, a rerun needs `--resume`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kantra_ai.analysis.loader import AnalysisError, load_analysis
from kantra_ai.analysis.selection import Selection
from kantra_ai.cli.confidence_opts import (
    ComplexityThresholdOpt,
    EnableConfidenceOpt,
    MinConfidenceOpt,
    OnLowConfidenceOpt,
    ReviewFileOpt,
    confidence_policy,
)
from kantra_ai.cli.errors import ExitCode, UserError
from kantra_ai.cli.plan_cmd import price_for
from kantra_ai.cli.progress import ProgressDisplay
from kantra_ai.cli.remediate import RemediateOptions, simulated_endpoint
from kantra_ai.cli.run_options import (
    DEFAULT_BATCH,
    BaseUrlOpt,
    BatchParallelismOpt,
    BatchSizeOpt,
    DryRunOpt,
    JsonOpt,
    MaxBatchTokensOpt,
    MaxCostOpt,
    MaxRetriesOpt,
    ModelOpt,
    PricesOpt,
    ProgressOpt,
    ProviderOpt,
    RateLimitsOpt,
    ReportOpt,
    RetryFailedOpt,
    SourceRootOpt,
    TextEditsOpt,
    WaitLockOpt,
    parse_rate_limits,
)
from kantra_ai.cli.status import StateOpt, history_options
from kantra_ai.config.cli import ConfigOpt, custom_templates
from kantra_ai.engine.batch_runner import RunContext
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.confidence import LowConfidenceAction
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.engine.runner import BatchSettings
from kantra_ai.engine.scheduling import wrap_provider
from kantra_ai.plan.estimate import estimate_incidents
from kantra_ai.plan.incidents import PlanIncidents, check_against_analysis, plan_incidents
from kantra_ai.plan.model import Phase, Plan, PlanError, load_plan
from kantra_ai.plan.run import PhasesResult, run_phases
from kantra_ai.plan.state import ExecutionState, load_state, plan_hash, save_state
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.prompts.render import system_prompt
from kantra_ai.providers.pricing import ModelPrice
from kantra_ai.providers.registry import ProviderConfigError, create_provider, resolve_preset
from kantra_ai.report.record import (
    RUN_RECORD_NAME,
    RecordError,
    RunCapture,
    build_record,
    default_report_path,
    load_record,
    merge_records,
    write_report,
)
from kantra_ai.report.summary import run_summary
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import RunSession

EXECUTE_RESUME_HINT = "interrupted: run the same command again with --resume to continue"


@dataclass
class ExecuteOptions:
    plan: Path
    input_dir: Path
    phase: str | None = None
    resume: bool = False
    analysis: Path | None = None
    report: Path | None = None
    run: RemediateOptions = field(default_factory=lambda: RemediateOptions(Path(), Path()))  # .history: store


def execute(
    ctx: typer.Context,
    plan: Annotated[
        Path, typer.Option("--plan", help="plan.yaml written by `kantra-ai plan` (or its directory).")
    ],
    input_dir: Annotated[
        Path, typer.Option("--input", help="The application's source tree (your checkout).")
    ],
    state: StateOpt = None,
    phase: Annotated[str | None, typer.Option(help="Run only this phase id (even if deferred).")] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the plan's phases where an earlier execute stopped.")
    ] = False,
    retry_failed: RetryFailedOpt = False,
    fresh: Annotated[
        bool, typer.Option(help="Ignore the run history and phase state: start the plan over.")
    ] = False,
    wait_lock: WaitLockOpt = False,
    analysis: Annotated[
        Path | None, typer.Option(help="Check the plan's violations against this analysis first.")
    ] = None,
    provider: ProviderOpt = "claude",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    source_root: SourceRootOpt = None,
    max_cost: MaxCostOpt = None,
    dry_run: DryRunOpt = False,
    batch_size: BatchSizeOpt = DEFAULT_BATCH.batch_size,
    batch_parallelism: BatchParallelismOpt = DEFAULT_BATCH.parallelism,
    rate_limits: RateLimitsOpt = None,
    max_batch_tokens: MaxBatchTokensOpt = DEFAULT_BATCH.max_batch_tokens,
    max_retries: MaxRetriesOpt = 1,
    prices: PricesOpt = None,
    text_edits: TextEditsOpt = False,
    report: ReportOpt = None,
    json_output: JsonOpt = False,
    progress: ProgressOpt = True,
    enable_confidence: EnableConfidenceOpt = False,
    min_confidence: MinConfidenceOpt = None,
    on_low_confidence: OnLowConfidenceOpt = LowConfidenceAction.SKIP,
    complexity_threshold: ComplexityThresholdOpt = None,
    review_file: ReviewFileOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Run a plan phase by phase (non-deferred phases, in order), recorded in the run store."""
    # The store always runs incrementally: --resume is about the plan's phases (state.yaml), not a
    # demand that the store holds an unfinished run (`--phase B --resume` after A finished is fine).
    history = dataclasses.replace(
        history_options(
            state=state, resume=resume, retry_failed=retry_failed, fresh=fresh, wait_lock=wait_lock
        ),
        resume=False,
    )
    options = ExecuteOptions(
        plan=plan,
        input_dir=input_dir,
        phase=phase,
        resume=resume,
        analysis=analysis,
        report=report,
        run=RemediateOptions(
            analysis=plan,
            input_dir=input_dir,
            provider=provider,
            model=model,
            base_url=base_url,
            source_root=source_root,
            max_cost=max_cost,
            dry_run=dry_run,
            batch=BatchSettings(max_batch_tokens, batch_size, batch_parallelism),
            rate_limits=parse_rate_limits(rate_limits),
            max_retries=max_retries,
            prices=prices,
            text_edits=text_edits,
            json_output=json_output,
            progress=progress,
            confidence=confidence_policy(
                ctx,
                input_dir=input_dir,
                enable_confidence=enable_confidence,
                min_confidence=min_confidence,
                on_low_confidence=on_low_confidence,
                complexity_threshold=complexity_threshold,
                review_file=review_file,
            ),
            templates=custom_templates(ctx),
            history=history,
        ),
    )
    raise typer.Exit(run_execute(options, Console(stderr=True)))


def _load(opts: ExecuteOptions) -> tuple[Plan, Path, PlanIncidents]:
    plan_path = opts.plan / "plan.yaml" if opts.plan.is_dir() else opts.plan
    if not opts.input_dir.is_dir():
        raise UserError(f"--input {opts.input_dir}: not a directory")
    try:
        plan = load_plan(plan_path)
        if opts.analysis is not None:
            try:
                analysis = load_analysis(opts.analysis, opts.input_dir, source_root=opts.run.source_root)
            except AnalysisError as exc:
                raise UserError(str(exc)) from exc
            check_against_analysis(plan, analysis, str(plan_path))
        return (
            plan,
            plan_path,
            plan_incidents(plan, plan_path, opts.input_dir, source_root=opts.run.source_root),
        )
    except PlanError as exc:
        raise UserError(str(exc)) from exc


def _phases(plan: Plan, only: str | None) -> list[Phase]:
    if only is not None:
        try:
            return [plan.phase(only)]
        except PlanError as exc:
            raise UserError(f"--phase: {exc}") from exc
    return [p for p in plan.ordered_phases() if not p.deferred]


def _state(opts: ExecuteOptions, plan_path: Path) -> tuple[ExecutionState, Path]:
    path = plan_path.parent / "state.yaml"
    digest = plan_hash(plan_path)
    if path.exists() and not opts.run.history.fresh:
        try:
            state = load_state(path)
        except PlanError as exc:
            raise UserError(str(exc)) from exc
        if opts.resume:
            if state.plan_sha256 and state.plan_sha256 != digest:
                raise UserError(
                    f"{path}: the plan changed since this state was written; "
                    "pass --fresh (or remove the state file) to start over"
                )
            return state, path
        if state.has_progress():
            raise UserError(
                f"{path}: holds progress of an earlier run: pass --resume to continue, "
                "or --fresh (or remove it) to start over"
            )
    return ExecutionState(plan_file=str(plan_path), plan_sha256=digest), path


def _selection(phases: Sequence[Phase], incidents: PlanIncidents) -> Selection:
    return Selection(
        selected=[i for p in phases for i in incidents.by_phase[p.id]],
        not_applicable=[i for p in phases for i in incidents.not_applicable[p.id]],
    )


def run_execute(opts: ExecuteOptions, console: Console) -> int:
    """Execute with the run store: skip what earlier runs settled, record this one (like remediate)."""
    try:
        with RunSession(
            opts.input_dir, opts.run.history, console, command="execute", resume_hint=EXECUTE_RESUME_HINT
        ) as session:
            return _run_execute(opts, console, session)
    except StoreError as exc:  # lock held, damaged or foreign store
        raise UserError(str(exc)) from None
    except asyncio.CancelledError:  # a second Ctrl-C abandoned the requests in flight
        raise KeyboardInterrupt from None


def _run_execute(opts: ExecuteOptions, console: Console, session: RunSession) -> int:
    ro = opts.run
    if ro.max_cost is not None and ro.max_cost <= 0:
        raise UserError("--max-cost must be a positive amount of USD")
    try:
        preset = resolve_preset(ro.provider)
    except ProviderConfigError as exc:
        raise UserError(str(exc)) from exc
    model = ro.model or preset.default_model
    price = price_for(ro, model, preset.local)
    if ro.max_cost is not None and price is None:
        raise UserError(
            f"--max-cost cannot be enforced: no price is known for model {model!r}; use --prices FILE"
        )
    plan, plan_path, incidents = _load(opts)
    phases = _phases(plan, opts.phase)
    use_tools = preset.supports_tools and not ro.text_edits
    system = system_prompt(use_tools)
    if ro.dry_run:
        pending = session.skip_done(
            _selection(phases, incidents), analysis=plan_path, provider=preset.name, model=model, dry_run=True
        )
        todo = {i.id for i in pending.selected}
        return _dry_run(phases, incidents, todo, ro, system, price, use_tools, model, console)
    state, state_path = _state(opts, plan_path)  # refuses before the store is locked or written
    pending = session.skip_done(
        _selection(phases, incidents), analysis=plan_path, provider=preset.name, model=model
    )
    todo = {i.id for i in pending.selected}
    for phase in plan.ordered_phases():
        state.phase(phase.id)
    save_state(state, state_path)
    capture = RunCapture(opts.input_dir)
    with simulated_endpoint(preset, console) as simulated_url:
        try:
            provider = create_provider(preset, model, base_url=simulated_url or ro.base_url, tools=use_tools)
        except ProviderConfigError as exc:
            raise UserError(str(exc)) from exc
        # Rate-limit buckets, AIMD concurrency, our own retries and cache warm-up, as in remediate.
        provider = wrap_provider(provider, limits=ro.rate_limits, max_in_flight=ro.batch.parallelism)
        ctx = RunContext(
            provider=provider,
            price=price,
            guard=CostGuard(ro.max_cost, price),
            observer=RunObserver(),
            input_dir=ro.input_dir,
            system_prompt=system,
            use_tools=use_tools,
            max_retries=ro.max_retries,
            confidence=ro.confidence,
            prompts=PromptBuilder(use_tools, ro.templates),
        )

        async def go() -> PhasesResult:
            session.attach(ctx)  # stored replies and Ctrl-C handling
            try:
                with ProgressDisplay(console, enabled=ro.progress and not ro.json_output) as display:
                    observers = (display, capture, *session.observers())
                    return await run_phases(
                        phases,
                        incidents,
                        todo,
                        session.settled(),
                        state,
                        state_path,
                        ctx,
                        ro.batch,
                        observers,
                    )
            finally:
                session.detach()
                await provider.aclose()

        run = asyncio.run(go())
    code = _finish(opts, plan, phases, incidents, session, state, capture, run, preset.name, model, console)
    if session.finish(run.outcomes.values(), run.aborted):
        return ExitCode.INTERRUPTED
    return code


def _finish(
    opts: ExecuteOptions,
    plan: Plan,
    phases: Sequence[Phase],
    incidents: PlanIncidents,
    session: RunSession,
    state: ExecutionState,
    capture: RunCapture,
    run: PhasesResult,
    provider: str,
    model: str,
    console: Console,
) -> int:
    selected = [i for p in phases for i in incidents.by_phase[p.id]]
    earlier = {
        incident_id: IncidentOutcome(incident_id, Status(status), "settled by an earlier run")
        for incident_id, status in session.settled().items()
    }
    outcomes = {**earlier, **run.outcomes}
    summary = run_summary(
        provider=provider,
        model=model,
        selected=selected,
        not_applicable=[i for p in phases for i in incidents.not_applicable[p.id]],
        informational=0,
        outcomes=outcomes,
        totals=run.totals,
        aborted=run.aborted,
        confidence=opts.run.confidence,
        records=run.records,
    )
    phase_rows = [{"id": p.id, "name": p.name, "status": state.phase(p.id).status} for p in phases]
    summary["phases"] = phase_rows
    summary["store"] = session.summary()
    phase_of = {i.id: p.id for p in phases for i in incidents.by_phase[p.id]}
    record = build_record(
        kind="execute",
        summary=summary,
        incidents=selected,
        outcomes=outcomes,
        capture=capture,
        input_dir=opts.input_dir,
        phase_of=phase_of,
        phases=phase_rows,
    )
    report_path = opts.report or default_report_path(opts.input_dir)
    if opts.resume:
        # No earlier record (or an unreadable one): this run's record stands alone.
        with contextlib.suppress(RecordError):
            record = merge_records(load_record(report_path.parent / RUN_RECORD_NAME), record)
    write_report(record, report_path)
    summary["report"] = str(report_path)
    if opts.run.json_output:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        from kantra_ai.report.summary import print_summary

        print_summary(summary, console)
        console.print(" · ".join(f"{r['id']} {r['status']}" for r in phase_rows))
        console.print(f"report: {report_path}")
    if run.aborted:
        return ExitCode.ABORTED
    statuses = {outcomes[i.id].status for i in selected if i.id in outcomes}
    missing = any(i.id not in outcomes for i in selected)
    return ExitCode.SOME_FAILED if missing or statuses & {Status.FAILED, Status.SKIPPED} else ExitCode.OK


def _dry_run(
    phases: Sequence[Phase],
    incidents: PlanIncidents,
    todo: set[str],
    ro: RemediateOptions,
    system: str,
    price: ModelPrice | None,
    use_tools: bool,
    model: str,
    console: Console,
) -> int:
    rows: list[dict[str, Any]] = []
    for phase in phases:
        est = estimate_incidents(
            [i for i in incidents.by_phase[phase.id] if i.id in todo],
            ro.input_dir,
            ro.batch,
            system,
            price,
            use_tools=use_tools,
        )
        rows.append(
            {
                "phase": phase.id,
                "name": phase.name,
                "requests": est.requests,
                "incidents": est.incidents,
                "input_tokens": est.input_tokens,
                "expected_output_tokens": est.output_tokens,
                "expected_cost_usd": est.cost,
                "minutes": est.minutes,
            }
        )
    costs = [r["expected_cost_usd"] for r in rows]
    totals = {
        "phases": len(rows),
        "requests": sum(r["requests"] for r in rows),
        "incidents": sum(r["incidents"] for r in rows),
        "expected_cost_usd": None if None in costs else round(sum(costs), 4),
        "model": model,
    }
    if ro.json_output:
        sys.stdout.write(json.dumps({"dry_run": True, "phases": rows, "totals": totals}, indent=2) + "\n")
        return ExitCode.OK
    table = Table(title="Dry run: what each phase would send (no model is called)")
    for column in ("phase", "name", "requests", "incidents", "est. input tokens", "est. cost", "min"):
        table.add_column(column, overflow="fold")
    for r in rows:
        cost = "unknown" if r["expected_cost_usd"] is None else f"${r['expected_cost_usd']:.4f}"
        table.add_row(
            r["phase"],
            r["name"],
            str(r["requests"]),
            str(r["incidents"]),
            f"{r['input_tokens']:,}",
            cost,
            str(r["minutes"]),
        )
    console.print(table)
    return ExitCode.OK
