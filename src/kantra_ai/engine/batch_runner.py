"""Runs one planned batch: request, check, apply, retry failed edits, write, decide outcomes.

Nothing reaches the user's file unless the reply was complete (not cut off at max_tokens), parsed,
its edits matched the file as it is, the result still parses where it parsed before, and the file
on disk is still the one that was read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import MAX_OUTPUT_TOKENS, Batch
from kantra_ai.edits.apply import apply_edits
from kantra_ai.edits.files import (
    SourceFile,
    SourceFileError,
    StaleFileError,
    check_inside,
    encode_text,
    read_source,
    write_source_atomic,
)
from kantra_ai.edits.model import Edit, FailedEdit, ProposedFix, Verdict, VerdictStatus
from kantra_ai.edits.parse import MalformedReply
from kantra_ai.edits.syntax import breaks_syntax
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.confidence import BatchScreen, ConfidencePolicy
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status
from kantra_ai.engine.relocate import relocate_batch
from kantra_ai.engine.replies import ReplySource, request_fingerprint
from kantra_ai.prompts.builder import PromptBuilder, line_count, visible_region
from kantra_ai.providers.base import ModelRequest, ModelResponse, Provider, ProviderError
from kantra_ai.providers.pricing import ModelPrice, PriceTable

# A file changed on disk while its batch ran: re-read it and run the batch again this many times.
STALE_REPLANS = 1


class RunControl:
    """The mutable part of a run that every batch shares: the stop signal and why the run aborted.

    Ctrl-C (engine/interrupt.py) and a fatal provider error (a bad key: every further request would
    fail the same way) set `stop`; no request starts after that.
    """

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.fatal_error = ""
        # Fingerprints of the replies this run received: a stored reply is reused only when an
        # earlier, killed run paid for it, never to answer this run's own retry of the same request
        # (a cut-off or malformed reply would come back instead of a new one).
        self.received: set[str] = set()

    def abort(self, reason: str) -> None:
        self.fatal_error = self.fatal_error or reason
        self.stop.set()


@dataclass(frozen=True)
class RunContext:
    """What every batch of a run shares. Frozen: a run's settings never change under its batches;
    what does change lives in `control`."""

    provider: Provider
    price: ModelPrice | None
    guard: CostGuard
    observer: RunObserver
    input_dir: Path
    prompts: PromptBuilder = field(default_factory=PromptBuilder)  # edit format, user templates
    max_retries: int = 1
    confidence: ConfidencePolicy = field(default_factory=ConfidencePolicy)  # off unless enabled
    control: RunControl = field(default_factory=RunControl)
    replies: ReplySource | None = None  # replies paid for by an earlier, killed run (the run store)
    cache_ttl: str = "5m"
    # Reads a file for its first request (the scheduler's read-ahead); None: read it now.
    read_file: Callable[[Path], Awaitable[SourceFile]] | None = None
    # What the run's replies taught about output sizes: sizes max_tokens (None: the static budget).
    calibration: Calibration | None = None


class _Skip(Exception):
    """The request was not sent (budget, stop) or failed for good; `status` says which."""

    def __init__(self, reason: str, status: Status = Status.SKIPPED) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class _BatchState:
    batch: Batch
    source: SourceFile
    working: str
    region: tuple[int, int] | None
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    failed_reason: dict[str, str] = field(default_factory=dict)  # incident id -> why it failed
    skipped_reason: dict[str, str] = field(default_factory=dict)  # incident id -> why it was not tried
    edited: set[str] = field(default_factory=set)  # incidents with at least one applied edit
    unattributed_edit: bool = False  # an edit with no incident ids applied
    applied: list[Edit] = field(default_factory=list)
    # Low-confidence fixes: which edits to withhold, and what that means for the outcomes.
    screen: BatchScreen = field(default_factory=lambda: BatchScreen(ConfidencePolicy(), ()))


async def run_batch(batch: Batch, ctx: RunContext) -> list[IncidentOutcome]:
    path = ctx.input_dir / batch.path
    for replan in range(1 + STALE_REPLANS):
        try:
            if ctx.read_file is not None and replan == 0:
                source = await ctx.read_file(path)
            else:
                source = await asyncio.to_thread(read_source, path)
            check_inside(source, ctx.input_dir)  # a link swapped in since loading: not sent, not written
        except (OSError, SourceFileError) as exc:
            unreadable = _all(batch, Status.FAILED, f"cannot read file: {exc}")
            ctx.observer.batch_finished(str(batch.path), unreadable)
            return unreadable
        # Earlier fixes may have moved the incidents' lines: point the prompt where they are now.
        state = _BatchState(relocate_batch(batch, source.text), source, source.text, None)
        state.screen = BatchScreen(ctx.confidence, batch.incidents)
        state.region = visible_region(source.text, batch)
        await _converse(state, ctx)
        # A file changed on disk since it was read is never overwritten: read it again, plan again.
        outcomes = await _finish(state, ctx, replan_if_stale=replan < STALE_REPLANS)
        if outcomes is not None:
            return outcomes
    raise AssertionError("unreachable: the last pass never asks to re-plan")


async def _converse(state: _BatchState, ctx: RunContext) -> None:
    batch = state.batch
    total_lines = line_count(state.source.text)
    pending: list[Incident] = list(batch.incidents)
    failures: list[FailedEdit] = []
    calibration = ctx.calibration
    max_tokens = batch.max_output_tokens
    if calibration is not None:  # from the output seen for these rules, not above the static budget
        max_tokens = calibration.max_tokens_for(pending, batch.max_output_tokens)
    attempts = 1 + ctx.max_retries
    attempt = 0
    while attempt < attempts:
        request = ctx.prompts.request(
            batch,
            _visible(state),
            total_lines=total_lines,
            pending=pending,
            failures=failures if attempt else (),
            max_tokens=max_tokens,
        )
        try:
            response = await _call(request, batch, pending, attempt, ctx)
        except _Skip as skip:
            # Edits of earlier attempts stay (they are checked and will be written); only the
            # incidents this request was for are affected.
            reasons = state.skipped_reason if skip.status is Status.SKIPPED else state.failed_reason
            for incident in pending:
                if skip.status is Status.SKIPPED and incident.id in state.failed_reason:
                    continue  # it already failed for a better-known reason
                reasons[incident.id] = str(skip)
            return
        attempt += 1
        ids = [i.id for i in pending]
        if response.truncated:
            _fail(state, pending, f"reply cut off at max_tokens ({max_tokens}); nothing applied")
            if calibration is not None:
                calibration.observe_truncation()
            if max_tokens < batch.max_output_tokens and attempts == 1 + ctx.max_retries:
                # Our evidence-based sizing asked for less than the static budget and was wrong: that
                # costs the incidents no repair round (once per batch), the next request has the room.
                attempts += 1
            max_tokens = min(max(max_tokens * 2, batch.max_output_tokens), MAX_OUTPUT_TOKENS)
            failures = []
            continue
        if calibration is not None:
            calibration.observe_output(pending, response.usage.output_tokens)
        try:
            proposed: ProposedFix = ctx.prompts.parse(response, batch, pending)
        except MalformedReply as exc:
            _fail(state, pending, f"malformed reply: {exc}; nothing applied")
            failures = []
            continue
        proposed = state.screen.screen(proposed, pending)  # withholds low-confidence edits
        failures = _apply(state, proposed, pending)
        if not failures:
            return
        retry_ids = {i for f in failures for i in f.edit.incident_ids} or set(ids)
        pending = [i for i in pending if i.id in retry_ids]


def _visible(state: _BatchState) -> str:
    if state.region is None:
        return state.working
    start, end = state.region
    return state.working[start:end]


async def _call(
    request: ModelRequest, batch: Batch, pending: list[Incident], attempt: int, ctx: RunContext
) -> ModelResponse:
    if ctx.control.stop.is_set():
        raise _Skip(ctx.control.fatal_error or "run stopped before this request")
    fingerprint = request_fingerprint(request, ctx.provider.name, ctx.provider.model)
    reusable = ctx.replies is not None and fingerprint not in ctx.control.received
    stored = ctx.replies.stored_reply(fingerprint) if reusable and ctx.replies is not None else None
    if stored is not None:  # paid for by a run that was killed before it could apply it
        ctx.control.received.add(fingerprint)
        ctx.observer.response_reused(str(batch.path), tuple(i.id for i in pending), fingerprint)
        return stored
    worst = ctx.guard.worst_case_of(batch, request.max_tokens)
    if not ctx.guard.try_reserve(worst):
        raise _Skip(f"--max-cost ${ctx.guard.max_cost:.4f} would be exceeded by this request")
    ids = tuple(i.id for i in pending)
    started = time.monotonic()
    ctx.observer.request_started(str(batch.path), ids)
    # The provider reports when the request goes out and when its reply is complete: the store
    # keeps the reply at that moment, before it travels back through pacing and retries.
    request = dataclasses.replace(request, events=_WireEvents(ctx.observer, str(batch.path), fingerprint))
    try:
        response = await ctx.provider.complete(
            request, on_progress=lambda n: ctx.observer.request_progress(str(batch.path), n)
        )
    except ProviderError as exc:
        cost = PriceTable.cost(ctx.price, exc.usage, cache_ttl=ctx.cache_ttl)
        ctx.guard.settle(worst, cost)
        record = RequestRecord(
            str(batch.path),
            ids,
            attempt,
            exc.usage,
            cost,
            "error",
            str(exc),
            time.monotonic() - started,
            request.max_tokens,
        )
        ctx.observer.request_finished(record)
        if exc.fatal:
            ctx.control.abort(f"run aborted: {exc}")
        raise _Skip(f"request failed: {exc}", Status.FAILED) from exc
    cost = PriceTable.cost(ctx.price, response.usage, cache_ttl=ctx.cache_ttl)
    ctx.guard.settle(worst, cost)
    record = RequestRecord(
        str(batch.path),
        ids,
        attempt,
        response.usage,
        cost,
        response.stop_reason,
        "",
        time.monotonic() - started,
        request.max_tokens,
    )
    ctx.control.received.add(fingerprint)
    ctx.observer.response_received(record, fingerprint, response)  # the store keeps it before use
    ctx.observer.request_finished(record)
    return response


@dataclass
class _WireEvents:
    """`RequestEvents` of one request, passed on to the run's observers."""

    observer: RunObserver
    path: str
    fingerprint: str

    def sent(self) -> None:
        self.observer.request_sent(self.path)

    def completed(self, response: ModelResponse) -> None:
        self.observer.reply_arrived(self.path, self.fingerprint, response)


def _apply(state: _BatchState, proposed: ProposedFix, pending: list[Incident]) -> list[FailedEdit]:
    pending_ids = {i.id for i in pending}
    for verdict in proposed.verdicts:
        if verdict.incident_id in pending_ids:
            state.verdicts[verdict.incident_id] = verdict
    before = state.working
    result = apply_edits(before, proposed.edits, region=state.region)
    failures = list(result.failed)
    applied = list(result.applied)
    if applied:
        broken = breaks_syntax(str(state.batch.path), before, result.content)
        if broken:
            # We cannot tell which edit broke the file: drop this attempt's edits and ask again.
            failures += [FailedEdit(e, f"the edited file no longer parses: {broken}") for e in applied]
            applied = []
        else:
            if state.region is not None:
                start, end = state.region
                state.region = (start, end + len(result.content) - len(before))
            state.working = result.content
    for edit in applied:
        state.applied.append(edit)
        if edit.incident_ids:
            state.edited.update(edit.incident_ids)
        else:
            state.unattributed_edit = True
    for incident_id in pending_ids:
        state.failed_reason.pop(incident_id, None)  # this attempt's result replaces the last one's
    for failure in failures:
        for incident_id in failure.edit.incident_ids or tuple(pending_ids):
            if incident_id in pending_ids:
                state.failed_reason[incident_id] = f"edit not applied: {failure.reason}"
    return failures


def _fail(state: _BatchState, pending: list[Incident], reason: str) -> None:
    for incident in pending:
        state.failed_reason[incident.id] = reason


async def _finish(
    state: _BatchState, ctx: RunContext, *, replan_if_stale: bool = False
) -> list[IncidentOutcome] | None:
    """Write and report the outcomes; None (nothing reported) when the file changed on disk and
    `replan_if_stale` asks the caller to read it again and redo the batch."""
    batch = state.batch
    write_error = ""
    if state.working != state.source.text:
        try:
            # The store records the intent (and the outcomes it implies) before the file changes,
            # so a run killed between the write and the bookkeeping knows the write happened.
            planned_bytes = encode_text(state.source, state.working)
            planned_sha = hashlib.sha256(planned_bytes).hexdigest()
            planned = [_decide(state, incident, "") for incident in batch.incidents]
            ctx.observer.write_planned(
                str(batch.path),
                state.source.sha256,
                planned_sha,
                planned,
                (state.source.raw, planned_bytes),
            )
            after_sha = await asyncio.to_thread(
                write_source_atomic, state.source, state.working, tree=ctx.input_dir
            )
            ctx.observer.file_written(str(batch.path), state.source.sha256, after_sha, list(state.applied))
        except StaleFileError:
            if replan_if_stale:
                return None
            write_error = "file changed on disk during the run; not overwritten"
        except (OSError, SourceFileError) as exc:
            write_error = f"cannot write file: {exc}"
    await asyncio.to_thread(state.screen.write_review, str(batch.path))  # manual-review-file
    outcomes = []
    for incident in batch.incidents:
        outcome = _decide(state, incident, write_error)
        ctx.observer.incident_done(incident, outcome)
        outcomes.append(outcome)
    ctx.observer.batch_finished(str(batch.path), outcomes)
    return outcomes


def _decide(state: _BatchState, incident: Incident, write_error: str) -> IncidentOutcome:
    """The incident's outcome, as the confidence policy sees it (withheld fixes are skipped)."""
    return state.screen.adjust(incident, _decide_reply(state, incident, write_error))


def _decide_reply(state: _BatchState, incident: Incident, write_error: str) -> IncidentOutcome:
    verdict = state.verdicts.get(incident.id)
    failed = state.failed_reason.get(incident.id)
    if incident.id in state.skipped_reason and failed is None:
        return IncidentOutcome(incident.id, Status.SKIPPED, state.skipped_reason[incident.id])
    confidence = verdict.confidence if verdict else None
    explanation = verdict.explanation if verdict else ""

    def outcome(status: Status, reason: str = "") -> IncidentOutcome:
        return IncidentOutcome(incident.id, status, reason, confidence, explanation)

    if verdict is None:
        return outcome(Status.FAILED, failed or "the reply gave no verdict for this incident")
    if verdict.status is VerdictStatus.NOT_APPLICABLE:
        return outcome(Status.NOT_APPLICABLE, "model: does not apply")
    if verdict.status is VerdictStatus.CANNOT_FIX:
        return outcome(Status.FAILED, f"model could not fix it: {explanation or 'no reason given'}")
    if failed:
        return outcome(Status.FAILED, failed)
    if incident.id not in state.edited and not state.unattributed_edit:
        return outcome(Status.FAILED, "model said fixed but sent no edit for it")
    if write_error:
        return outcome(Status.FAILED, write_error)
    return outcome(Status.FIXED)


def _all(batch: Batch, status: Status, reason: str) -> list[IncidentOutcome]:
    return [IncidentOutcome(i.id, status, reason) for i in batch.incidents]
