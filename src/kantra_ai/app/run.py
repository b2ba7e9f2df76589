"""One pipeline for every command that fixes code: options in, outcomes out.

`remediate` and `execute` are both a `Job`: stages run in order (one stage for `remediate`, one per
phase for `execute`) through the same steps, in an order chosen so that nothing is locked, recorded
or paid before everything that can be checked has been:

1. resolve provider, model, price and edit format; load the job's stages (analysis or plan);
2. the job's own checks (execute: its phase state), still without touching the tree;
3. lock the tree's run store, recover what an interrupted run left, skip what earlier runs settled;
4. batch every stage and render every request's templates (a broken template fails here);
5. open the provider (a missing key fails here), and only then record the run in the store;
6. run the stages with the engine: pacing, caching, stored replies, Ctrl-C, progress, store hooks;
7. close the run in the store; the caller builds the summary and report from the `JobRun`.

Hooks (`app/hooks.py`: verification, git delivery) are called at fixed moments of these steps: a
check with the job's (before 3), one once the store says what the run will do (after 3, nothing
recorded yet), one with the provider open before the run is recorded (5: verification's baseline),
one when the run is recorded (after 5), and in the event loop after each file, after each stage and
after the last (6), then once more before 7; and last, however the run ends, to release what they
hold outside the tree (scratch folders).

A dry run stops after step 4 with a read-only look at the store, and returns the estimate instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from kantra_ai import bounds
from kantra_ai.analysis.model import Incident, replaced_name
from kantra_ai.analysis.selection import Selection
from kantra_ai.app.batch_run import BatchDriver, BatchReport, probe_batch_api
from kantra_ai.app.git_delivery import delivery_hooks
from kantra_ai.app.hooks import JobContext, RunHook
from kantra_ai.app.model_choice import ModelChoice, choose_model
from kantra_ai.app.options import RunOptions
from kantra_ai.app.prepare import Stage, plan_batches, run_prompts
from kantra_ai.app.ui import Ui
from kantra_ai.batching.packing import NO_PACKING
from kantra_ai.collector import collector_paused
from kantra_ai.edits.model import Edit
from kantra_ai.engine.adaptive import AdaptiveProvider
from kantra_ai.engine.batch_runner import RunContext, RunControl
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.confidence import LowConfidenceAction
from kantra_ai.engine.estimate import Estimate, TokenModel, estimate, request_rows
from kantra_ai.engine.events import ObserverGroup, RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, RunTotals, Status
from kantra_ai.engine.review_file import ReviewFileError, read_review_file
from kantra_ai.engine.runner import RunBatches, execute_batches
from kantra_ai.engine.scheduling import wrap_provider
from kantra_ai.errors import TOLD, ExitCode, UserError
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.base import Provider
from kantra_ai.providers.caching import min_cacheable_tokens
from kantra_ai.providers.pricing import describe_price
from kantra_ai.report.record import report_path_problem
from kantra_ai.store.batches import BatchLedger
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import RESUME_HINT, RunSession, no_store_yet

SETTLED = frozenset({Status.FIXED, Status.NOT_APPLICABLE})


class Job(Protocol):
    """What differs between commands that fix code; everything else is `run_job`."""

    command: str  # recorded in the store with the run's mode ("" for remediate)
    resume_hint: str  # told after Ctrl-C
    again: str  # how the lines after the summary say to continue ("run the same command again")
    analysis: Path  # recorded in the store: what the incidents came from
    verify_strategy: str  # verification's default strategy: per-file (remediate), per-phase (execute)

    def load(self, options: RunOptions) -> list[Stage]:
        """Read the job's input and split it into stages (UserError when it cannot)."""

    def check(self, options: RunOptions) -> None:
        """Refuse before the tree is locked (execute: progress of an earlier run needs --resume)."""

    def started(self, stages: Sequence[Stage]) -> None:
        """The run is recorded and about to send its first request."""

    def stage_observer(self, stage: Stage) -> RunObserver | None:
        """Follows the stage's events (execute: its phase state), or None."""

    def stage_finished(self, stage: Stage, outcome_of: Mapping[str, Status], interrupted: bool) -> None:
        """After each stage: `outcome_of` holds its incidents' statuses so far (this run's, else the
        earlier runs'); `interrupted` when Ctrl-C stopped the run in this stage."""


@dataclass
class DryRun:
    choice: ModelChoice
    stages: list[Stage]
    batches: dict[str, RunBatches]  # by stage id
    estimates: dict[str, Estimate]  # by stage id
    total: Estimate
    store: dict[str, Any]  # what the store would skip
    batch_total: Estimate | None = None  # --batch-api: the same requests at batch prices
    verification: dict[str, Any] | None = None  # the check a real run would make (--verify)

    def request_rows(self) -> list[dict[str, Any]]:
        return [row for stage in self.stages for row in request_rows(self.batches[stage.id])]

    @property
    def unreadable(self) -> int:
        """Incidents in files that could not be read: they would fail without a request."""
        return sum(len(b.unreadable) for b in self.batches.values())


@dataclass
class JobRun:
    """What a real run did: every outcome of this run, and what earlier runs had settled."""

    choice: ModelChoice
    stages: list[Stage]  # every selected incident, by stage
    planned: list[Incident] = field(default_factory=list)  # what this run sent: not settled before
    outcomes: dict[str, IncidentOutcome] = field(default_factory=dict)
    settled: dict[str, str] = field(default_factory=dict)  # skipped as done: id -> earlier status
    settled_reasons: dict[str, str] = field(default_factory=dict)  # ... and why, where they said
    records: list[RequestRecord] = field(default_factory=list)
    totals: RunTotals = field(default_factory=RunTotals)
    performance: dict[str, Any] = field(default_factory=dict)
    aborted: str = ""
    interrupted: bool = False
    # A second Ctrl-C (or SIGTERM) cancelled the run: the requests then in flight were abandoned,
    # by file (the first of a pack) with the incidents they asked about and no reply waited for.
    cancelled: bool = False
    abandoned: dict[str, tuple[str, ...]] = field(default_factory=dict)
    store: dict[str, Any] = field(default_factory=dict)  # the `store` block of the summary
    changed_files: set[str] = field(default_factory=set)  # files this run wrote
    wait_observers: list[RunObserver] = field(default_factory=list)  # told of rate-limit waits
    delivery: dict[str, Any] | None = None  # the `git` block: commits, branches, pull requests
    batch: BatchReport | None = None  # --batch-api: what went through the batch API
    halted: str = ""  # a hook stopped the run (verification's --verify-fail-fast): why
    # Outcomes a hook decided after the engine's (verification reverted a fix): they stand over the
    # engine's, which may be collected later (a file's hook runs before its stage is over).
    hook_outcomes: dict[str, IncidentOutcome] = field(default_factory=dict)
    # What hooks add to the result: blocks of the summary (`verification`) and fields of an
    # incident's row (`verification`: "repaired in 1 round", ...).
    extras: dict[str, Any] = field(default_factory=dict)
    incident_extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Writes are not final yet: verification decides them at the end (at-end strategy), so git
    # delivery waits for the end too.
    verification_pending: bool = False

    @property
    def selected(self) -> list[Incident]:
        return [i for stage in self.stages for i in stage.incidents]

    @property
    def not_applicable(self) -> list[Incident]:
        return [i for stage in self.stages for i in stage.selection.not_applicable]

    def status_of(self, incident_id: str) -> Status | None:
        """This run's outcome, else what an earlier run settled, else None (never attempted)."""
        outcome = self.outcomes.get(incident_id)
        if outcome is not None:
            return outcome.status
        earlier = self.settled.get(incident_id)
        return Status(earlier) if earlier else None

    @property
    def all_settled(self) -> bool:
        """Every selected incident ended fixed or not applicable, in this run or an earlier one."""
        return all(self.status_of(i.id) in SETTLED for i in self.selected)


class RunHandle:
    """Stops a run from another thread (the web app's pause and cancel) exactly as Ctrl-C does:
    the first `stop` lets the requests in flight finish and be saved, the second abandons them.
    A stop asked for before the run reached its event loop takes effect as soon as it does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._press: Callable[[], None] | None = None
        self._pending = 0
        self.stops = 0  # how often stop was asked

    def stop(self) -> None:
        with self._lock:
            self.stops += 1
            if self._loop is None or self._press is None:
                self._pending += 1
            else:
                self._loop.call_soon_threadsafe(self._press)

    def _bind(self, press: Callable[[], None]) -> None:
        """In the run's event loop, once Ctrl-C handling is installed."""
        with self._lock:
            self._loop, self._press = asyncio.get_running_loop(), press
            pending, self._pending = self._pending, 0
        for _ in range(pending):
            press()

    def _unbind(self) -> None:
        with self._lock:
            self._loop = self._press = None


def add_hook_results(run: JobRun, document: dict[str, Any], rows_key: str) -> None:
    """What hooks added (`run.extras`, `run.incident_extras`) into a summary: blocks at the top,
    fields on each incident row (`rows_key`: "outcomes")."""
    for key, block in run.extras.items():
        document[key] = block
    # Every row has the same fields: an incident a hook never got to (skipped after
    # --verify-fail-fast, say) has them as null, so that readers of --json need no special case.
    fields = dict.fromkeys(key for extras in run.incident_extras.values() for key in extras)
    for row in document.get(rows_key, []):
        row.update({**fields, **run.incident_extras.get(str(row.get("id")), {})})


def doubtful_not_applicable(run: JobRun, input_dir: Path) -> list[dict[str, Any]]:
    """This run's "does not apply" verdicts whose file still holds the name the incident's rule
    replaces ("Replace `javax.ejb` with `jakarta.ejb`": `javax.ejb` is still there). They stay as
    the model said (a name in a comment may well not apply), but the run says so: a model that
    waves every incident off would otherwise end a run with nothing done and exit 0."""
    texts: dict[str, str | None] = {}
    rows: list[dict[str, Any]] = []
    for incident in run.selected:
        outcome = run.outcomes.get(incident.id)
        if outcome is None or outcome.status is not Status.NOT_APPLICABLE or incident.path is None:
            continue
        old = replaced_name(incident.message)
        if old is None:
            continue
        path = str(incident.path)
        if path not in texts:
            try:
                texts[path] = (input_dir / path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                texts[path] = None
        text = texts[path]
        if text is not None and old in text:
            rows.append(
                {
                    "id": incident.id,
                    "file": path,
                    "line": incident.line,
                    "rule": incident.violation.rule_id,
                    "name": old,
                }
            )
    return rows


ABANDONED = "abandoned in flight (interrupted): its reply was not waited for; the next run asks again"


def abandoned_block(run: JobRun) -> dict[str, Any] | None:
    """The summary's `abandoned` block: None unless a second Ctrl-C (or SIGTERM) cancelled the run.
    What the provider bills for an abandoned request is not known (it may have produced tokens):
    its cost is null, and not in the run's cost."""
    if not run.cancelled:
        return None
    return {
        "requests": len(run.abandoned),
        "files": sorted(run.abandoned),
        "incidents": sorted({i for ids in run.abandoned.values() for i in ids}),
        "cost_usd": None,
    }


def exit_code(run: JobRun) -> ExitCode:
    """0 every selected incident settled; 1 some failed or skipped; 3 the provider refused the run;
    75 requests are still with a batch API (run again to continue); 130 interrupted."""
    if run.interrupted:
        return ExitCode.INTERRUPTED
    if run.aborted:
        return ExitCode.ABORTED
    if run.batch is not None and run.batch.pending:
        return ExitCode.PENDING
    if run.halted:  # a hook stopped the run (--verify-fail-fast, a check that changed the tree)
        return ExitCode.SOME_FAILED
    if run.delivery is not None and run.delivery.get("errors"):
        return ExitCode.SOME_FAILED  # fixed, but not (all) delivered: the same command finishes it
    return ExitCode.OK if run.all_settled else ExitCode.SOME_FAILED


def check_limits(options: RunOptions) -> None:
    """Every front end's options, checked again here: NaN would switch the budget off; a report
    that cannot be written would fail only once the run had fixed files."""
    max_cost = options.limits.max_cost
    problem = None if max_cost is None else bounds.MAX_COST_USD.problem(max_cost)
    if problem:
        raise UserError(f"--max-cost must be a positive amount of USD: {problem}")
    report = options.output.report
    problem = None if report is None else report_path_problem(report)
    if problem:
        raise UserError(f"--report {report}: cannot write the report there: {problem}")
    policy = options.confidence
    if policy.enabled and policy.action is LowConfidenceAction.MANUAL_REVIEW_FILE and policy.review_file:
        try:  # a file of the user's (`--review-file pom.xml`) is never appended to; said now, not per fix
            read_review_file(policy.review_file)
        except ReviewFileError as exc:
            raise UserError(f"--review-file {policy.review_file}: {exc}") from None


def _choose_and_load(job: Job, options: RunOptions, ui: Ui) -> tuple[ModelChoice, list[Stage]]:
    """The model and the job's stages, telling the user what is happening from the first moment."""
    check_limits(options)
    choice = choose_model(options.model, max_cost=options.limits.max_cost)
    if options.batch_api.enabled:
        choice.check_batch_api()
    if choice.warning:
        ui.say(f"warning: {choice.warning}")
    ui.status(f"reading {job.analysis}")
    stages = job.load(options)
    incidents = [i for s in stages for i in s.incidents]
    files = len({i.path for i in incidents})
    left_out = sum(len(s.selection.not_applicable) for s in stages)
    informational = sum(s.selection.informational for s in stages)
    extra = [f"{left_out} not applicable"] if left_out else []
    extra += [f"{informational} informational"] if informational else []
    ui.status(
        f"{len(incidents)} incidents to fix in {files} files"
        + (f" ({', '.join(extra)}, not sent)" if extra else "")
        + "; planning the requests"
    )
    return choice, stages


def dry_run_job(job: Job, options: RunOptions, ui: Ui) -> DryRun:
    """What the job would send and cost; no network, no lock, nothing written."""
    with collector_paused():  # bounded bulk work: see collector.py
        return _dry_run(job, options, ui)


def _dry_run(job: Job, options: RunOptions, ui: Ui) -> DryRun:
    from kantra_ai.app.verification import verify_settings  # it builds on this module

    choice, stages = _choose_and_load(job, options, ui)
    settings = verify_settings(options.verify, options.input_dir, job.verify_strategy)
    session = RunSession(options.input_dir, options.history, ui.say)
    everything = [i for s in stages for i in s.incidents]
    try:
        stages = _skip_done(stages, session, dry_run=True)
    except StoreError as exc:  # a damaged, foreign or linked store: refused as in a real run
        raise UserError(str(exc)) from None
    calibration = session.calibration(choice.provider_name, choice.model)
    prompts = run_prompts(choice, options, everything, token_ratio=calibration.input_ratio)
    batches = {
        s.id: plan_batches(s.incidents, options.input_dir, options.limits.batch, prompts) for s in stages
    }
    parallelism = options.limits.batch.parallelism
    model = token_model(choice, prompts, calibration)
    estimates = {s.id: estimate(batches[s.id], choice.price, parallelism, model) for s in stages}
    merged = RunBatches(
        files=[f for b in batches.values() for f in b.files],
        unreadable=[o for b in batches.values() for o in b.unreadable],
        packing=next((b.packing for b in batches.values()), NO_PACKING),
    )
    verification = (
        {
            "kind": settings.kind,
            "command": settings.check.command,
            "detected_from": settings.check.marker or None,
            "strategy": settings.strategy,
            "max_repair_rounds": settings.max_rounds,
        }
        if settings is not None
        else None
    )
    total = estimate(merged, choice.price, parallelism, model)
    batch_total = (
        estimate(merged, choice.batch_price, parallelism, model) if options.batch_api.enabled else None
    )
    return DryRun(
        choice, stages, batches, estimates, total, {}, batch_total=batch_total, verification=verification
    )


def run_job(
    job: Job, options: RunOptions, ui: Ui, *, handle: RunHandle | None = None, time_scale: float = 1.0
) -> JobRun:
    """Run the job for real, recorded in the tree's run store (see the module docstring); `handle`
    lets another thread stop it as Ctrl-C would.

    `time_scale` is for benchmarks only, whose fake provider runs its clock that many times faster
    (rate-limit windows, retry waits): the limiter's minute follows. Users never set it."""
    from kantra_ai.app.verification import verification_hook  # it builds on this module

    choice, stages = _choose_and_load(job, options, ui)
    job.check(options)
    verifier = verification_hook(options, job.verify_strategy, ui.say)  # a bad flag fails here
    # Verification first: git delivery commits only what it accepted (app/git_delivery.py).
    verify_check = verifier.check_name if verifier else None
    hooks: list[RunHook] = [
        *([verifier] if verifier else []),
        *delivery_hooks(options.git, options.input_dir, ui.say, verify_check=verify_check),
    ]
    session: RunSession | None = None
    try:
        for hook in hooks:
            hook.check()
        # A fresh tree has nothing settled: every selected incident is to be sent, so a missing key
        # is said before the run store (and `.kantra-ai/` to hold it) is made for a run that cannot be.
        if no_store_yet(options.input_dir, options.history) and any(s.incidents for s in stages):
            problem = choice.missing_key()
            if problem:
                raise UserError(problem)
        with RunSession(
            options.input_dir,
            options.history,
            ui.say,
            command=job.command,
            resume_hint=job.resume_hint or RESUME_HINT,
        ) as session:
            return _run(job, options, ui, session, choice, stages, hooks, handle, time_scale)
    except StoreError as exc:  # lock held, damaged or foreign store, nothing to resume
        if session is None or session.run_id is None:
            raise UserError(str(exc)) from None
        # The store failed under a run that had begun (a full disk, another program holding the
        # store): what it wrote stays in the files, and the next run continues from the store.
        raise UserError(
            f"{exc}: the run stopped there (what it wrote to the files stays; no summary); when the run "
            f"store can be written again, {job.again} to continue"
        ) from None
    except asyncio.CancelledError as exc:  # a cancel not from the run's Ctrl-C (that one ends in `_run`)
        interrupt = KeyboardInterrupt()
        setattr(interrupt, TOLD, getattr(exc, TOLD, False))  # the session said how to continue
        raise interrupt from None
    finally:
        for hook in hooks:
            hook.close()


def _skip_done(stages: list[Stage], session: RunSession, *, dry_run: bool) -> list[Stage]:
    """The stages with what earlier runs settled taken out (one look at the store for all)."""
    everything = Selection(
        selected=[i for s in stages for i in s.incidents],
        not_applicable=[i for s in stages for i in s.selection.not_applicable],
    )
    todo = {i.id for i in session.skip_done(everything, dry_run=dry_run).selected}

    def remaining(stage: Stage) -> Selection:
        return dataclasses.replace(stage.selection, selected=[i for i in stage.incidents if i.id in todo])

    return [Stage(s.id, s.name, remaining(s)) for s in stages]


def _refuse_live_batches(ledger: BatchLedger, input_dir: Path) -> None:
    """A run without --batch-api while requests of the tree are with a provider's batch API would
    send them again and pay twice (the provider bills the batch all the same, and its answers
    would never be collected): refused, saying how to collect or cancel them."""
    live = [job for job in ledger.live_jobs() if job.cancel_requested_at is None]  # cancelled: let go
    if not live:
        return
    requests = sum(job.requests for job in live)
    names = ", ".join(job.remote_id or f"#{job.id}" for job in live[:3]) + (" ..." if len(live) > 3 else "")
    with_what = {f"--provider {job.provider} --model {job.model}" for job in live}
    raise UserError(
        f"{requests} requests of this tree are with the provider in batch {names}: collect them with "
        f"--batch-api ({' or '.join(sorted(with_what))}), or cancel them first "
        f"(kantra-ai batches cancel --input {input_dir}); without --batch-api they would be sent and "
        "paid for again"
    )


def _run(
    job: Job,
    options: RunOptions,
    ui: Ui,
    session: RunSession,
    choice: ModelChoice,
    stages: list[Stage],
    hooks: Sequence[RunHook] = (),
    handle: RunHandle | None = None,
    time_scale: float = 1.0,
) -> JobRun:
    todo_stages = _skip_done(stages, session, dry_run=False)
    if not options.batch_api.enabled:
        _refuse_live_batches(BatchLedger(session.open()), options.input_dir)
    for hook in hooks:
        hook.before_begin(session, todo_stages)
    calibration = session.calibration(choice.provider_name, choice.model)
    # The rule book covers every selected incident, settled or not: a rerun or a resume sends the
    # same prefix (the cache still holds it) and the same requests (replies a killed run paid for
    # are found again by their fingerprint).
    prompts = run_prompts(
        choice, options, [i for s in stages for i in s.incidents], token_ratio=calibration.input_ratio
    )
    first = {
        s.id: plan_batches(s.incidents, options.input_dir, options.limits.batch, prompts) for s in todo_stages
    }
    requests = sum(b.request_count for b in first.values())
    run = JobRun(
        choice,
        stages,
        planned=[i for s in todo_stages for i in s.incidents],
        settled=session.settled(),
        settled_reasons=session.settled_reasons(),
    )
    context = JobContext(options, stages, todo_stages, run, session, prompts, ui.say, hooks)
    # --batch-api: batches submitted by earlier runs are looked after even when nothing is planned.
    live_batches = options.batch_api.enabled and bool(BatchLedger(session.open()).live_jobs())
    needed = requests > 0 or live_batches or any(h.wants_provider(context) for h in hooks)
    with provider_for(choice, ui, needed=needed) as provider:
        if options.batch_api.enabled and needed:
            asyncio.run(probe_batch_api(choice))  # an endpoint without a batch API: refused here
        pacing = Pacing(calibration, time_scale)
        limit = options.limits.max_minutes
        if limit is not None and handle is None:
            handle = RunHandle()  # what the time limit presses, as Ctrl-C would be
        try:
            with _time_limit(limit, handle, ui.say):
                asyncio.run(_job(job, options, ui, session, choice, first, provider, context, pacing, handle))
        except asyncio.CancelledError:
            if not session.interrupted:
                raise
            # A second Ctrl-C or SIGTERM (engine/interrupt.py) cancelled the run without waiting for
            # the requests in flight: the run ends as after the first Ctrl-C (recorded interrupted,
            # summary and report), with what it did before the cancel (`_execute`).
            run.cancelled = True
        if provider is not None:
            session.save_calibration(choice.provider_name, choice.model, calibration)
    for hook in hooks:
        hook.job_finished(session, run)
    waiting = run.batch is not None and run.batch.pending
    run.interrupted = session.finish(run.outcomes.values(), run.aborted, waiting=waiting)
    # After `finish`: the store keeps them unanswered (its requests cancelled, the next run asks
    # again); the summary names them.
    for incident_ids in run.abandoned.values():
        for incident_id in incident_ids:
            run.outcomes.setdefault(incident_id, IncidentOutcome(incident_id, Status.SKIPPED, ABANDONED))
    run.store = session.summary()
    return run


async def _job(
    job: Job,
    options: RunOptions,
    ui: Ui,
    session: RunSession,
    choice: ModelChoice,
    first: dict[str, RunBatches],
    provider: Provider | None,
    context: JobContext,
    pacing: Pacing,
    handle: RunHandle | None = None,
) -> None:
    """Prepare (hooks: verification's baseline), record the run, run its stages."""
    stages, run = context.stages, context.run
    for hook in context.hooks:
        await hook.prepare(context)
    session.begin(
        analysis=job.analysis,
        provider=choice.provider_name,
        model=choice.model,
        stages={i.id: s.id for s in stages for i in s.incidents} if job.command else None,
        details=run_details(job, options, stages, choice),
    )
    for hook in context.hooks:
        hook.job_started(session, stages)
    requests = sum(b.request_count for b in first.values())
    if requests:
        files = sum(len(b.files) for b in first.values())
        how = "through the batch API " if options.batch_api.enabled else ""
        ui.say(f"sending {requests} requests {how}for {len(run.planned)} incidents in {files} files")
    job.started(stages)
    await _execute(
        job,
        options,
        ui,
        session,
        choice,
        context.prompts,
        context.todo,
        first,
        provider,
        context,
        pacing,
        handle,
    )


@dataclass(frozen=True)
class Pacing:
    calibration: Calibration  # what earlier runs and this one learned about token counts
    time_scale: float = 1.0  # benchmarks only (see run_job)


def token_model(choice: ModelChoice, prompts: PromptBuilder, calibration: Calibration) -> TokenModel:
    """What the estimator needs to know about the run's tokens and the model's cache."""
    minimum = (
        None if choice.preset.local else min_cacheable_tokens(choice.model, protocol=choice.preset.protocol)
    )
    return TokenModel(calibration, shared_prefix_tokens=prompts.shared_tokens(), cache_minimum=minimum)


@contextlib.contextmanager
def provider_for(choice: ModelChoice, ui: Ui, *, needed: bool, hint: str = "") -> Iterator[Provider | None]:
    """The provider for the run, or None when nothing is left to send (no key, no SDK import)."""
    if not needed:
        yield None
        return
    if choice.simulated:
        ui.say(
            "SIMULATED provider: a scripted fake model that knows the bundled examples' fixes answers "
            "in process. No real model is called; set ANTHROPIC_API_KEY and use --provider claude for "
            "real fixes.",
            emphasis=True,
        )
    yield choice.open_provider(hint=hint)


TIME_LIMIT_GRACE_SECONDS = 60.0  # after --max-minutes, what requests in flight get to finish


@contextlib.contextmanager
def _time_limit(
    minutes: float | None, handle: RunHandle | None, say: Callable[[str], None]
) -> Iterator[None]:
    """`--max-minutes`: when it passes, the run stops as on Ctrl-C (no new request; the ones in
    flight finish and are saved; retries give up, engine/adaptive.py), and a minute later as on a
    second Ctrl-C (what is still in flight is abandoned). The same command continues the run."""
    if minutes is None or handle is None:
        yield
        return
    seconds = minutes * 60.0

    def stop() -> None:
        say(
            f"the run's time limit passed (--max-minutes {minutes:g}): stopping as Ctrl-C would; "
            f"requests in flight get {TIME_LIMIT_GRACE_SECONDS:g} s to finish"
        )
        handle.stop()

    def abandon() -> None:
        say("the run's time limit passed a minute ago: abandoning the requests still in flight")
        handle.stop()

    timers = [threading.Timer(seconds, stop), threading.Timer(seconds + TIME_LIMIT_GRACE_SECONDS, abandon)]
    for timer in timers:
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()


class _SoFar(RunObserver):
    """What the engine reported of a stage as it went: its result never comes back when a second
    Ctrl-C (or SIGTERM) cancels it, yet its files were written and its requests paid for."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.outcomes: dict[str, IncidentOutcome] = {}
        self.records: list[RequestRecord] = []
        self._asking: dict[str, tuple[str, ...]] = {}  # path -> incidents of its request now
        self._sent: set[str] = set()  # paths whose request went out (the store records it so)

    def request_started(self, path: str, incident_ids: tuple[str, ...]) -> None:
        self._asking[path] = incident_ids

    def request_sent(self, path: str) -> None:
        self._sent.add(path)

    def request_finished(self, record: RequestRecord) -> None:
        self.records.append(record)
        self._asking.pop(record.path, None)
        self._sent.discard(record.path)

    def batch_finished(self, path: str, outcomes: list[IncidentOutcome]) -> None:
        self.outcomes.update((o.incident_id, o) for o in outcomes)

    def keep(self, run: JobRun) -> None:
        """Into the run: the outcomes and requests so far, and the requests in flight (sent, not
        answered: a request still waiting for its turn was never sent) as abandoned."""
        run.outcomes.update(self.outcomes)
        run.outcomes.update(run.hook_outcomes)
        run.records.extend(self.records)
        for record in self.records:
            run.totals.add(record)
        run.totals.seconds += time.monotonic() - self.started
        for path in self._sent & self._asking.keys():
            unanswered = tuple(i for i in self._asking[path] if i not in run.outcomes)
            if unanswered:
                run.abandoned[path] = unanswered


class _Written(RunObserver):
    """Which files this run wrote (the end of the run names them)."""

    def __init__(self, run: JobRun) -> None:
        self.run = run

    def file_written(self, path: str, before_sha: str, after_sha: str, edits: list[Edit]) -> None:
        self.run.changed_files.add(path)


def _announce_rate_limit_waits(paced: AdaptiveProvider, run: JobRun) -> None:
    """Every wait of the limiter (its buckets, a 429 or 529's pushback) reaches the run's observers,
    so the live view can say that the run waits on the provider, and for how long."""
    limiter = paced.limiter
    sleep = limiter.sleep

    async def announced(seconds: float) -> None:
        for observer in run.wait_observers:
            observer.rate_limit_wait(seconds)
        await sleep(seconds)

    limiter.sleep = announced


def run_details(
    job: Job, options: RunOptions, stages: Sequence[Stage], choice: ModelChoice
) -> dict[str, Any]:
    """What the job's report shows of this run beyond the store's rows: its stages, what it left
    out (not applicable, by file and reason), and the confidence settings it held fixes to."""
    policy = options.confidence
    return {
        "kind": job.command or "remediate",
        "stages": [{"id": s.id, "name": s.name} for s in stages],
        "not_applicable": [
            {
                "file": str(i.path) if i.path is not None else i.uri,
                "rule": i.violation.rule_id,
                "line": i.line,
                "reason": i.applicability.value,
            }
            for s in stages
            for i in s.selection.not_applicable
        ],
        "informational": sum(s.selection.informational for s in stages),
        "price": describe_price(choice.price),  # the rates and their source, as the run used them
        "confidence": {
            "enabled": policy.enabled,
            "action": policy.action.value,
            "thresholds": {c.value: t for c, t in policy.thresholds.items()},
            "review_file": str(policy.review_file) if policy.review_file else None,
        },
    }


def _record_unreadable(batches: RunBatches, stage: Stage, observer: RunObserver | None, run: JobRun) -> None:
    """Files that could not even be read: their incidents failed without a request."""
    by_id = {i.id: i for i in stage.incidents}
    for outcome in batches.unreadable:
        run.outcomes[outcome.incident_id] = outcome
        if observer is not None:
            observer.incident_done(by_id[outcome.incident_id], outcome)


def _status_map(run: JobRun, stage: Stage) -> dict[str, Status]:
    """Every incident of the stage (settled before or not) with the status it has now."""
    original = next(s for s in run.stages if s.id == stage.id)
    statuses: dict[str, Status] = {}
    for incident in original.incidents:
        status = run.status_of(incident.id)
        if status is not None:
            statuses[incident.id] = status
    return statuses


async def _execute(
    job: Job,
    options: RunOptions,
    ui: Ui,
    session: RunSession,
    choice: ModelChoice,
    prompts: PromptBuilder,
    stages: list[Stage],
    first: dict[str, RunBatches],
    provider: Provider | None,
    context: JobContext,
    pacing: Pacing,
    handle: RunHandle | None = None,
) -> None:
    """Run the stages in order; `provider` is None when no stage has anything to send."""
    run, hooks = context.run, context.hooks
    limits = options.limits
    # Rate-limit buckets, AIMD concurrency, our own retries and cache warm-up (engine/adaptive.py).
    paced = (
        wrap_provider(
            provider,
            limits=limits.rate_limits,
            max_in_flight=limits.batch.parallelism,
            buckets=limits.shared_buckets,
            time_scale=pacing.time_scale,
            calibration=pacing.calibration,
            # Retries give up when the run's time limit passes (429s and 5xx would go on for ever).
            deadline_seconds=None if limits.max_minutes is None else limits.max_minutes * 60.0,
        )
        if provider is not None
        else None
    )
    if paced is not None:
        _announce_rate_limit_waits(paced, run)
    control = RunControl()
    guard = CostGuard(limits.max_cost, choice.price)  # one budget across every stage
    stage_observer: RunObserver | None = None
    live_views: list[RunObserver] = []
    driver = (
        _batch_driver(
            options,
            ui,
            session,
            choice,
            prompts,
            paced,
            guard,
            control,
            run,
            lambda: stage_observer,
            live_views,
        )
        if paced is not None and options.batch_api.enabled
        else None
    )
    if driver is not None:
        run.batch = driver.report
    started = time.monotonic()
    session.attach(control)
    if handle is not None:
        handle._bind(session.interrupt)
    try:
        progress = ui.progress() if paced is not None else contextlib.nullcontext(RunObserver())
        with progress as display:
            run.wait_observers.append(display)
            live_views.append(display)
            shown: list[RunObserver] = [display, _Written(run)]
            if paced is not None:
                context.engine = RunContext(
                    provider=paced,
                    price=choice.price,
                    guard=guard,
                    observer=ObserverGroup(*shown),
                    input_dir=options.input_dir,
                    prompts=prompts,
                    max_retries=limits.max_retries,
                    confidence=options.confidence,
                    control=control,
                    # --batch-api: the first pass's replies come from the batch driver
                    replies=driver if driver is not None else session.replies(),
                    tree_lock=context.tree_lock if hooks else None,
                    history=session.history(),
                    calibration=pacing.calibration,
                )
            for hook in hooks:
                await hook.started(context)
            for number, stage in enumerate(stages):
                context.stage = stage
                stage_observer = job.stage_observer(stage)
                if context.engine is not None:
                    with_stage = [*shown, *([stage_observer] if stage_observer is not None else [])]
                    context.engine = dataclasses.replace(context.engine, observer=ObserverGroup(*with_stage))
                # The first stage was batched up front; later ones again now, from the files as the
                # earlier stages left them (windows and line numbers follow their edits).
                batches = (
                    first[stage.id]
                    if number == 0 or paced is None
                    else plan_batches(stage.incidents, options.input_dir, options.limits.batch, prompts)
                )
                _record_unreadable(batches, stage, stage_observer, run)
                waiting = False
                if paced is not None and batches.request_count:
                    observers: list[RunObserver] = [*shown, *session.observers()]
                    if stage_observer is not None:
                        observers.append(stage_observer)
                    assert context.engine is not None
                    ctx = dataclasses.replace(context.engine, observer=ObserverGroup(*observers))

                    async def after_file(path: PurePosixPath, stage: Stage = stage) -> None:
                        for hook in hooks:
                            await hook.file_finished(context, stage, str(path))

                    async def run_engine(
                        planned: RunBatches,
                        ctx: RunContext = ctx,
                        after_file: Callable[[PurePosixPath], Awaitable[None]] = after_file,
                    ) -> None:
                        parallelism = limits.batch.parallelism
                        so_far = _SoFar()
                        ctx = dataclasses.replace(ctx, observer=ObserverGroup(ctx.observer, so_far))
                        try:
                            if hooks:
                                result = await execute_batches(
                                    planned, ctx, parallelism, after_file=after_file
                                )
                            else:
                                result = await execute_batches(planned, ctx, parallelism)
                        except asyncio.CancelledError:
                            so_far.keep(run)  # a second Ctrl-C: run_job ends the run with it
                            raise
                        run.outcomes.update(result.outcomes)
                        run.outcomes.update(run.hook_outcomes)
                        run.records.extend(result.records)
                        for record in result.records:
                            run.totals.add(record)
                        run.totals.seconds += result.totals.seconds
                        run.performance = result.performance
                        run.aborted = run.aborted or result.aborted

                    if driver is not None:
                        waiting = not await driver.run_stage(stage, batches, run_engine)
                        run.aborted = run.aborted or control.fatal_error
                    else:
                        await run_engine(batches)
                if not waiting:  # a stage with requests still at a batch API is not checked yet
                    for hook in hooks:
                        await hook.stage_checked(context, stage)
                stopped = control.stop.is_set() and not control.fatal_error and not run.halted
                interrupted = stopped or waiting
                job.stage_finished(stage, _status_map(run, stage), interrupted=interrupted)
                if control.stop.is_set() or waiting:
                    break
                done = [s.id for s in stages[: number + 1]]
                for hook in hooks:
                    hook.stage_finished(session, run, stage, done)
            context.stage = None
            for hook in hooks:
                await hook.finished(context)
    finally:
        if handle is not None:
            handle._unbind()
        session.detach()
        if driver is not None:
            # The run's time is the wall time, waiting for batches included (not the engine's share).
            run.totals.seconds = time.monotonic() - started
            await driver.client.aclose()
        if paced is not None:
            await paced.aclose()


def _batch_driver(
    options: RunOptions,
    ui: Ui,
    session: RunSession,
    choice: ModelChoice,
    prompts: PromptBuilder,
    paced: Provider,
    guard: CostGuard,
    control: RunControl,
    run: JobRun,
    stage_observer: Callable[[], RunObserver | None],
    live_views: list[RunObserver],
) -> BatchDriver:
    """`--batch-api`: the driver that sends the run's first pass through the provider's batch API."""
    assert session.run_id is not None

    def record(request: RequestRecord) -> None:  # a batch result, at batch prices
        run.records.append(request)
        run.totals.add(request)
        for view in live_views:  # the live view counts its tokens and cost
            view.request_finished(request)

    def decided(incident: Incident, outcome: IncidentOutcome) -> None:  # not sent (budget, refused)
        run.outcomes[incident.id] = outcome
        observer = stage_observer()
        if observer is not None:
            observer.incident_done(incident, outcome)

    return BatchDriver(
        client=choice.open_batch_client(),
        ledger=BatchLedger(session.open()),
        run_id=session.run_id,
        choice=choice,
        fingerprint_as=(paced.name, paced.model),
        prompts=prompts,
        settings=options.limits.batch,
        options=options.batch_api,
        input_dir=options.input_dir,
        guard=guard,
        control=control,
        ui=ui,
        outcomes=run.outcomes,
        fallback=session.replies(),
        fresh=options.history.fresh,
        on_record=record,
        on_decided=decided,
    )
