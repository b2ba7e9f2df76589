"""Runs one planned batch: request, check, apply, retry failed edits, write, decide outcomes.

Nothing reaches the user's file unless the reply was complete (not cut off at max_tokens), parsed,
its edits matched the file as it is, the result passed both gates of `edits/checked.py` (it still
parses where it parsed before; no line changed that no edit named, no lines glued, no used import
removed, line counts the edits explain), and the file on disk is still the one that was read.

Before asking, incidents whose fix is already in the file are settled (`already_fixed.py`); the rest
are shown where they are now (`relocate.py`: earlier batches of the file moved their lines). Edits
made before (earlier attempts, batches and runs) are passed to the edit library as `applied_before`,
so a reply repeating one of them costs no retry. A retry names each edit that failed and why, with
the lines to look at (the candidate places of an ambiguous old_text, the closest lines of one not
found); an incident whose edit fails twice for the same reason is not asked a third time. A reply
that cannot be used (cut off, malformed) is marked so in the store and the retry reaches the model.
How each incident ends is `outcome_rules.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import MAX_OUTPUT_TOKENS, Batch, output_prior
from kantra_ai.edits.anchor import anchor_edits
from kantra_ai.edits.checked import apply_checked
from kantra_ai.edits.files import (
    SourceFile,
    SourceFileError,
    StaleFileError,
    check_inside,
    content_sha256,
    encode_text,
    not_sent_reason,
    read_source,
    write_problem,
    write_source_atomic,
)
from kantra_ai.edits.model import (
    ApplyResult,
    Edit,
    EditStatus,
    FailedEdit,
    Landing,
    ProposedFix,
    VerdictStatus,
)
from kantra_ai.edits.parse import MalformedReply
from kantra_ai.engine.already_fixed import FileNow, already_fixed, source_state, target_state
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.confidence import BatchScreen, ConfidencePolicy
from kantra_ai.engine.continuation import (
    Arrived,
    RestRoom,
    added_input,
    continuable,
    continue_reply,
    named_by,
    pieces,
)
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.history import FileChanges, FileHistory, WriteLog
from kantra_ai.engine.outcome_rules import Evidence, decide
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status
from kantra_ai.engine.relocate import LineMap, relocate_batch
from kantra_ai.engine.replies import ReplySource, request_fingerprint
from kantra_ai.prompts.builder import PromptBuilder, line_count, visible_region
from kantra_ai.providers.base import ModelRequest, ModelResponse, Provider, ProviderError
from kantra_ai.providers.pricing import ModelPrice, PriceTable, Usage
from kantra_ai.tokens import estimate_tokens

# A file changed on disk while its batch ran: re-read it and run the batch again this many times.
STALE_REPLANS = 1
NOT_ASKED_AGAIN = "failed twice for the same reason; not asked again"


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
    what does change lives in `control` and `changes`."""

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
    history: WriteLog | None = None  # what earlier runs wrote to each file (the run store)
    cache_ttl: str = "5m"
    # Reads a file for its first request (the scheduler's read-ahead); None: read it now.
    read_file: Callable[[Path], Awaitable[SourceFile]] | None = None
    # Held while a file of the tree is replaced: verification holds it while a check runs, so a
    # check never sees a write half-way (None: writes need not wait for anything).
    tree_lock: asyncio.Lock | None = None
    # What earlier batches of this run wrote, by path: valid for the batches planned together with
    # them (execute_batches gives every file, or pack of files, its own: the file as it was before
    # the run is held only while its batches run, not for the whole run).
    changes: dict[str, FileChanges] = field(default_factory=dict)
    # What the run's replies taught about output sizes: sizes max_tokens (None: the static budget).
    calibration: Calibration | None = None


class RequestSkipped(Exception):
    """The request was not sent (budget, stop) or failed for good; `status` says which."""

    def __init__(self, reason: str, status: Status = Status.SKIPPED) -> None:
        super().__init__(reason)
        self.status = status


_Skip = RequestSkipped


@dataclass
class _BatchState:
    batch: Batch  # relocated: incidents and window where they are in the file now
    source: SourceFile
    working: str
    region: tuple[int, int] | None  # the characters of `working` the model is shown
    original: str  # the file as analysed (to follow incidents' lines through every change since)
    applied_before: list[Edit] = field(default_factory=list)  # earlier batches and runs
    evidence: dict[str, Evidence] = field(default_factory=dict)  # per incident of the batch
    applied: list[Edit] = field(default_factory=list)  # edits that changed `working`
    already: list[Edit] = field(default_factory=list)  # edits whose change was already there
    landings: list[list[Landing]] = field(default_factory=list)  # each application's, in order
    failure_kinds: dict[str, str] = field(default_factory=dict)  # incident -> its last edit failure
    given_up: set[str] = field(default_factory=set)  # failed twice the same way
    # Incidents a usable reply said nothing about (no edit, no verdict): asked again once, told so.
    unanswered: set[str] = field(default_factory=set)  # by the last reply
    asked_unanswered: set[str] = field(default_factory=set)  # ever asked again for that
    # Low-confidence fixes: which edits to withhold, and what that means for the outcomes.
    screen: BatchScreen = field(default_factory=lambda: BatchScreen(ConfidencePolicy(), ()))

    @property
    def window(self) -> tuple[int, int] | None:
        return self.batch.window

    def of(self, incident_id: str) -> Evidence:
        return self.evidence.setdefault(incident_id, Evidence())


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
        state = _prepare(batch, source, ctx)
        resumed = resume_from_share(state, ctx) if replan == 0 else None
        if resumed is None:
            await _converse(state, ctx)
        elif resumed.pending:
            await _converse(state, ctx, resumed)
        # A file changed on disk since it was read is never overwritten: read it again, plan again.
        outcomes = await _finish(state, ctx, replan_if_stale=replan < STALE_REPLANS)
        if outcomes is not None:
            return outcomes
    raise AssertionError("unreachable: the last pass never asks to re-plan")


def _prepare(batch: Batch, source: SourceFile, ctx: RunContext) -> _BatchState:
    """The batch as it stands in the file now: incidents and window where they are, what was written
    before, and the incidents settled without asking: those whose fix is already there (fixed), and,
    when the file cannot be written (`write_problem`), the rest (failed)."""
    key = str(batch.path)
    history = ctx.history.file_history(key) if ctx.history is not None else FileHistory()
    changes = ctx.changes.get(key)
    # Earlier batches of this run moved lines: incidents and the window follow (relocate.py).
    moved = relocate_batch(batch, source.text, changes.moves if changes is not None else None)
    original = (
        history.original
        if history.original is not None
        else changes.original
        if changes is not None
        else source.text
    )
    before = [edit for write in history.writes for edit in write.edits]
    before += changes.edits if changes is not None else []
    state = _BatchState(
        moved,
        source,
        source.text,
        visible_region(source.text, moved),
        original,
        applied_before=list(dict.fromkeys(before)),
    )
    state.screen = BatchScreen(ctx.confidence, moved.incidents)
    if original != source.text or history.writes:
        file = FileNow(original, source.text)
        for incident in moved.incidents:
            why = already_fixed(incident, history.writes, source.text, file)
            if why:
                state.of(incident.id).settled = IncidentOutcome(incident.id, Status.FIXED, why)
    if (problem := write_problem(source)) is not None:
        # No fix of the file could land (the write would refuse it): the model is not paid to try.
        reason = not_sent_reason(problem)
        for incident in pending_of(state):
            state.of(incident.id).settled = IncidentOutcome(incident.id, Status.FAILED, reason)
    return state


@dataclass
class Resume:
    """Where a batch's conversation stands after a request it shared with other files (a packed
    request, `engine/packed.py`): the incidents to ask again, the edits that failed, the requests
    already made for it."""

    pending: list[Incident]
    failures: list[FailedEdit] = field(default_factory=list)
    attempts_made: int = 1


SEVERAL_FILES = "edit not applied: it names incidents of several files of the request"


def take_share(
    state: _BatchState, part: ProposedFix, pending: list[Incident], across: Iterable[str]
) -> Resume:
    """Apply a file's part of a packed reply (`engine/packed.py`): what is left to ask alone. An
    incident `across` (named by an edit quoting text of several files, applied to none) is asked
    again, unless something else already fixed or declined it."""
    retry, failures = take_reply(state, part, pending)
    again = {i.id for i in retry}
    several = set(across)
    for incident in pending:
        evidence = state.of(incident.id)
        said = evidence.verdict
        declined = said is not None and said.status is not VerdictStatus.FIXED
        if incident.id in several and incident.id not in again and not evidence.landed and not declined:
            evidence.edit_failure = SEVERAL_FILES
            again.add(incident.id)
    now = {i.id: i for i in state.batch.incidents}
    return Resume([now[i.id] for i in pending if i.id in again], failures)


def resume_from_share(state: _BatchState, ctx: RunContext) -> Resume | None:
    """The file's share of a packed reply that a killed run kept (`engine/replies.py`), applied when
    it was made for the file exactly as it is now and for exactly the incidents still to fix: what
    is left to ask. None: there is no such share (ask as usual)."""
    pending = pending_of(state)
    if ctx.replies is None or not pending:
        return None
    share = ctx.replies.pack_share(str(state.batch.path), state.source.sha256)
    if share is None or set(share.incident_ids) != {i.id for i in pending}:
        return None
    # Its incidents keep the numbers the pack gave them: a retry alone asks as the killed run did.
    state.batch = dataclasses.replace(state.batch, handle_offset=share.handle_offset)
    # (counted as a reply reused from the killed run; its incidents as answered)
    ctx.observer.response_reused(str(state.batch.path), share.incident_ids, share.fingerprint)
    return take_share(state, share.reply, pending, share.across)


def pending_of(state: _BatchState) -> list[Incident]:
    """The batch's incidents whose fix is not already in the file."""
    return [i for i in state.batch.incidents if state.of(i.id).settled is None]


def planned_max_tokens(state: _BatchState, pending: Sequence[Incident], ctx: RunContext) -> int:
    """max_tokens for a request for `pending`: from the output seen for their rules, else from their
    lines' shape (`output_prior`), never above the static budget."""
    return shared_max_tokens([(state, pending)], ctx)


Asked = Sequence[tuple["_BatchState", Sequence[Incident]]]
MIN_REST_TOKENS = 16  # the rest of a cut-off reply: at least a short item's room


def request_prior(parts: Asked, ctx: RunContext) -> dict[str, int]:
    """The output each incident of one request is expected to take from its line's shape
    (`output_prior`); the files of a pack share what was already counted."""
    prior: dict[str, int] = {}
    said: set[tuple[str, str]] = set()
    for state, pending in parts:
        lines = state.working.splitlines(keepends=True)
        prior.update(output_prior(pending, lines, full_verdicts=ctx.prompts.full_verdicts, said=said))
    return prior


def rest_room(parts: Asked, ctx: RunContext, prior: dict[str, int], cut_at: int) -> RestRoom:
    """max_tokens for the rest of a cut-off reply to one request. Where output tokens bind (every
    token asked for is one the run may wait for): room for the incidents that none of the items
    that arrived named, and for the item the cut fell in (an incident some of whose answer arrived
    may still have an item to come). Elsewhere unused room costs nothing and another turn costs the
    request's input again: the room the cut-off request had (the rest is less than the whole)."""

    def room(arrived: Arrived) -> int:
        if ctx.calibration is None or not ctx.calibration.output_bound:
            return cut_at
        named = named_by(arrived)
        rest: list[tuple[_BatchState, list[Incident]]] = []
        for state, pending in parts:
            handles = ctx.prompts.handles(state.batch, pending)
            left = {incident_id for handle, incident_id in handles.items() if handle not in named}
            rest.append((state, [i for i in pending if i.id in left]))
        asked = [(state, left) for state, left in rest if left]
        sized = shared_max_tokens(asked, ctx, prior) if asked else 0
        # The item the cut fell in is sent again whole: about as long as the items that arrived.
        shown = arrived if isinstance(arrived, str) else json.dumps(arrived)
        item = math.ceil(estimate_tokens(shown) / pieces(arrived))
        # Never more than the request that was cut off had: the rest is less than the whole.
        return max(min(sized + item, cut_at), MIN_REST_TOKENS)

    return room


def shared_max_tokens(parts: Asked, ctx: RunContext, prior: dict[str, int] | None = None) -> int:
    """max_tokens for one request asking about one file's incidents or several files' (a pack):
    sized once for all of them (one headroom, one floor), never above their static budgets
    together."""
    planned = sum(state.batch.max_output_tokens for state, _ in parts)
    calibration = ctx.calibration
    if calibration is None:
        return planned
    prior = request_prior(parts, ctx) if prior is None else prior
    return calibration.max_tokens_for([i for _, pending in parts for i in pending], planned, prior)


async def _converse(state: _BatchState, ctx: RunContext, resume: Resume | None = None) -> None:
    pending = pending_of(state) if resume is None else resume.pending
    if not pending:
        return  # every incident's fix is already in the file: nothing to ask
    failures: list[FailedEdit] = [] if resume is None else resume.failures
    problem = ""  # why the last reply could not be used, for the retry prompt
    calibration = ctx.calibration
    prior = request_prior([(state, pending)], ctx) if calibration is not None else {}
    max_tokens = shared_max_tokens([(state, pending)], ctx, prior)
    attempts = 1 + ctx.max_retries
    attempt = 0 if resume is None else resume.attempts_made
    while attempt < attempts:
        request = ctx.prompts.request(
            state.batch,
            _visible(state),
            total_lines=line_count(state.working),
            pending=pending,
            failures=failures,
            problem=problem,
            # (after a reply that could not be used, what the one before forgot is beside the point)
            unanswered=not problem and any(i.id in state.unanswered for i in pending),
            max_tokens=max_tokens,
        )
        try:
            response, fingerprint = await _call(request, state.batch, pending, attempt, ctx)
        except _Skip as skip:
            _skipped(state, pending, skip)
            return
        attempt += 1
        path = str(state.batch.path)
        if continuable(response, tool=request.tool is not None):
            try:  # (recorded as the attempt that was cut off: a continuation asks nothing new)
                response, fingerprint = await _continued(
                    request, response, fingerprint, state, pending, attempt - 1, ctx, prior
                )
            except _Skip as skip:
                _skipped(state, pending, skip)
                return
        if response.truncated:
            reason = f"reply cut off at max_tokens ({max_tokens}); nothing applied"
            ctx.observer.reply_rejected(path, fingerprint, reason)
            _reply_problem(state, pending, reason)
            if calibration is not None:
                calibration.observe_truncation(pending)
            bound = calibration is not None and calibration.output_bound
            if max_tokens < state.batch.max_output_tokens and (bound or attempts == 1 + ctx.max_retries):
                # Our evidence-based sizing asked for less than the static budget and was wrong: that
                # costs the incidents no repair round (once per batch; where output binds, each time:
                # the room doubles from the expected output towards the static budget), the next
                # request has the room.
                attempts += 1
            # Same question, more room (where output binds, twice as much: the static budget would
            # be reserved, and waited for, whole).
            room = max_tokens * 2 if bound else max(max_tokens * 2, state.batch.max_output_tokens)
            max_tokens = min(room, MAX_OUTPUT_TOKENS)
            continue
        try:
            proposed: ProposedFix = ctx.prompts.parse(response, state.batch, pending)
        except MalformedReply as exc:
            reason = f"malformed reply: {exc}; nothing applied"
            ctx.observer.reply_rejected(path, fingerprint, reason)
            _reply_problem(state, pending, reason)
            problem = f"it was malformed ({exc})"
            continue
        if calibration is not None:
            # Only an answer in the format asked for says how much output the incidents need (prose
            # instead of a tool call is short, and would size the next requests too small).
            calibration.observe_output(pending, response.usage.output_tokens, prior, proposed)
        problem = ""
        pending, failures = take_reply(state, proposed, pending)
        if not pending:
            return


async def _continued(
    request: ModelRequest,
    response: ModelResponse,
    fingerprint: str,
    state: _BatchState,
    pending: list[Incident],
    attempt: int,
    ctx: RunContext,
    prior: dict[str, int],
) -> tuple[ModelResponse, str]:
    """The reply to `request` continued from its cut-off `response` (`engine/continuation.py`), or
    `response` as it was when it cannot be continued; with the fingerprint of the last request."""
    path = str(state.batch.path)
    # The cut-off reply stays in the store, unused: a run killed meanwhile continues from it again.
    continued = await continue_reply(
        request,
        response,
        continuation=ctx.prompts.continuation,
        send=lambda asked: _call(asked, state.batch, pending, attempt, ctx, added_input(asked, request)),
        rest_room=rest_room([(state, pending)], ctx, prior, request.max_tokens),
        rejected=lambda rejected, why: ctx.observer.reply_rejected(path, rejected, why),
    )
    if continued is None:
        return response, fingerprint
    return continued.response, continued.fingerprint


def take_reply(
    state: _BatchState, proposed: ProposedFix, pending: list[Incident]
) -> tuple[list[Incident], list[FailedEdit]]:
    """Apply a usable reply for `pending`: the incidents to ask again (where they are now) and the
    failed edits to show them. An incident the reply said nothing about is asked again once (a reply
    that forgot one is no answer about it); said nothing twice, it fails for want of a verdict."""
    failed = _apply(state, proposed, pending)
    state.unanswered = {
        i.id
        for i in pending
        if state.of(i.id).verdict is None
        and not state.of(i.id).edit_failure
        and i.id not in state.asked_unanswered
    }
    state.asked_unanswered |= state.unanswered
    now = {i.id: i for i in state.batch.incidents}  # where they are after this reply's edits
    retry = [
        now[i.id]
        for i in pending
        if (state.of(i.id).edit_failure and i.id not in state.given_up) or i.id in state.unanswered
    ]
    retry_ids = {i.id for i in retry}
    failures = [f for f in failed if not f.edit.incident_ids or retry_ids & set(f.edit.incident_ids)]
    return retry, failures


def _visible(state: _BatchState) -> str:
    if state.region is None:
        return state.working
    start, end = state.region
    return state.working[start:end]


def _skipped(state: _BatchState, pending: Sequence[Incident], skip: _Skip) -> None:
    """The request for `pending` was not sent, or failed for good. Edits of earlier attempts stay
    (they are checked and will be written); only the incidents this request was for are affected."""
    for incident in pending:
        evidence = state.of(incident.id)
        if skip.status is Status.SKIPPED:
            if not evidence.edit_failure and not evidence.reply_problem:
                evidence.skipped = str(skip)  # else it failed for a better-known reason
        else:
            evidence.reply_problem = str(skip)


def _reply_problem(state: _BatchState, pending: Sequence[Incident], reason: str) -> None:
    for incident in pending:
        state.of(incident.id).reply_problem = reason


async def _call(
    request: ModelRequest,
    batch: Batch,
    pending: list[Incident],
    attempt: int,
    ctx: RunContext,
    added_input: int = 0,
) -> tuple[ModelResponse, str]:
    """The reply to `request` and the request's fingerprint. `added_input`: tokens the request has
    beyond what its batch is budgeted at (what arrived of a reply it continues)."""
    worst = ctx.guard.worst_case_of(batch, request.max_tokens) + ctx.guard.worst_case(added_input, 0)
    ids = tuple(i.id for i in pending)
    response = await send_request(request, str(batch.path), ids, attempt, worst, ctx)
    return response, request_fingerprint(request, ctx.provider.name, ctx.provider.model)


async def send_request(
    request: ModelRequest,
    path: str,
    ids: tuple[str, ...],
    attempt: int,
    worst_case: float,
    ctx: RunContext,
    shared_with: tuple[str, ...] = (),
) -> ModelResponse:
    """One request, as every request of a run is sent: not after a stop, a stored reply instead of
    paying again, within the budget (`worst_case` reserved first), recorded through the observer
    (the store keeps the reply before it is used). RequestSkipped when it was not sent or failed.
    `shared_with`: the other files of a packed request (recorded under `path`)."""
    if ctx.control.stop.is_set():
        raise _Skip(ctx.control.fatal_error or "run stopped before this request")
    fingerprint = request_fingerprint(request, ctx.provider.name, ctx.provider.model)
    reusable = ctx.replies is not None and fingerprint not in ctx.control.received
    stored = ctx.replies.stored_reply(fingerprint) if reusable and ctx.replies is not None else None
    if stored is not None:  # paid for by a run that was killed before it could apply it
        ctx.control.received.add(fingerprint)
        ctx.observer.response_reused(path, ids, fingerprint)
        return stored
    worst = worst_case
    if not ctx.guard.try_reserve(worst):
        raise _Skip(f"--max-cost ${ctx.guard.max_cost:.4f} would be exceeded by this request")
    started = time.monotonic()
    ctx.observer.request_started(path, ids)
    # The provider reports when the request goes out and when its reply is complete: the store
    # keeps the reply at that moment, before it travels back through pacing and retries.
    events = _WireEvents(ctx.observer, path, fingerprint, ctx.price, ctx.cache_ttl, ctx.guard)
    request = dataclasses.replace(request, events=events)
    try:
        response = await ctx.provider.complete(
            request, on_progress=lambda n: ctx.observer.request_progress(path, n)
        )
    except ProviderError as exc:
        cost = PriceTable.cost(ctx.price, exc.usage, cache_ttl=ctx.cache_ttl)
        ctx.guard.settle(worst + events.extra, cost)
        record = RequestRecord(
            path,
            ids,
            attempt,
            exc.usage,
            cost,
            "error",
            str(exc),
            time.monotonic() - started,
            request.max_tokens,
            shared_with,
        )
        ctx.observer.request_finished(record)
        if exc.fatal:
            ctx.control.abort(f"run aborted: {exc}")
        raise _Skip(f"request failed: {exc}", Status.FAILED) from exc
    cost = PriceTable.cost(ctx.price, response.usage, cache_ttl=ctx.cache_ttl)
    ctx.guard.settle(worst + events.extra, cost)
    record = RequestRecord(
        path,
        ids,
        attempt,
        response.usage,
        cost,
        response.stop_reason,
        "",
        time.monotonic() - started,
        request.max_tokens,
        shared_with,
    )
    ctx.control.received.add(fingerprint)
    ctx.observer.response_received(record, fingerprint, response)  # the store keeps it before use
    ctx.observer.request_finished(record)
    return response


def _tied(edit: Edit, pending_ids: Collection[str]) -> set[str]:
    """The incidents an edit is for: those it names, or every incident of its request if it names none."""
    named = {i for i in edit.incident_ids if i in pending_ids}
    return named if named or edit.incident_ids else set(pending_ids)


@dataclass
class _WireEvents:
    """`RequestEvents` of one request, passed on to the run's observers."""

    observer: RunObserver
    path: str
    fingerprint: str
    price: ModelPrice | None
    cache_ttl: str

    guard: CostGuard | None = None
    extra: float = 0.0  # reserved since for retries: what the failed attempts were billed

    def sent(self) -> None:
        self.observer.request_sent(self.path)

    def may_retry(self, billed: Usage) -> str:
        """A retry keeps a whole attempt's worst case reserved on top of what the failed ones billed."""
        cost = PriceTable.cost(self.price, billed, cache_ttl=self.cache_ttl) or 0.0
        if self.guard is None or cost <= 0:
            return ""
        if not self.guard.try_reserve(cost):
            return f"--max-cost ${self.guard.max_cost:.4f} would be exceeded by a retry"
        self.extra += cost
        return ""

    def completed(self, response: ModelResponse) -> None:
        cost = PriceTable.cost(self.price, response.usage, cache_ttl=self.cache_ttl)
        self.observer.reply_arrived(self.path, self.fingerprint, response, cost)


def _apply(state: _BatchState, proposed: ProposedFix, pending: list[Incident]) -> list[FailedEdit]:
    """Apply one reply for `pending`; update the evidence; return the edits that failed."""
    pending_ids = {i.id for i in pending}
    for incident_id in pending_ids:
        state.of(incident_id).reply_problem = ""  # this reply could be used
    # Where the request showed each incident: an edit may name its lines through them. Placed
    # before screening, so that withheld edits quote their lines like any other; the applier
    # refuses (with the reason) those that could not be placed.
    incident_lines = {i.id: i.line for i in state.batch.incidents}
    findings = {i.id: (i.violation.key, i.message) for i in state.batch.incidents}
    placed, _ = anchor_edits(
        state.working, proposed.edits, incident_lines, region=state.region, findings=findings
    )
    # A placed edit names only the incidents it fixes (anchor.py): one it named and no longer does
    # got no answer from it, and the "fixed" a terse reply implied from the naming is void.
    named = {i for e in placed for i in e.incident_ids}
    dropped = {i for e in proposed.edits for i in e.incident_ids} - named
    for verdict in proposed.verdicts:
        if verdict.incident_id in pending_ids and not (verdict.incident_id in dropped and verdict.implied):
            state.of(verdict.incident_id).verdict = verdict
    reported_fixed = {
        i for i in pending_ids if (v := state.of(i).verdict) is not None and v.status is VerdictStatus.FIXED
    }
    # Verdicts that contradict edits: an edit is for incidents the reply reports fixed, or none.
    kept: list[Edit] = []
    for edit in placed:
        tied = _tied(edit, pending_ids)
        if tied & reported_fixed:
            kept.append(edit)
        else:
            for incident_id in tied:
                state.of(incident_id).withheld = True
    screened = state.screen.screen(ProposedFix(kept, proposed.verdicts), pending)
    before = state.working
    result = apply_checked(
        str(state.batch.path),
        before,
        screened.edits,
        region=state.region,
        applied_before=[*state.applied_before, *state.applied, *state.already],
        incident_lines=incident_lines,
    )
    _take(state, result, before)
    _judge_edits(state, result, pending_ids)
    return list(result.failed)


def _take(state: _BatchState, result: ApplyResult, before: str) -> None:
    """Keep what the reply changed: content, the region and window the model sees, where the
    incidents are now (a retry points at their lines as they are), the landings."""
    state.applied += result.applied
    state.already += result.already_applied
    if result.content == before:
        return
    if state.region is not None:
        start, end = state.region
        state.region = (start, end + len(result.content) - len(before))
    moves = LineMap([tuple(result.landings)])
    window = state.batch.window
    if window is not None:
        window = (window[0], window[1] + line_count(result.content) - line_count(before))
    incidents = tuple(
        dataclasses.replace(i, line=moves.line(i.line)) if i.line is not None else i
        for i in state.batch.incidents
    )
    state.batch = dataclasses.replace(state.batch, incidents=incidents, window=window)
    state.working = result.content
    state.landings.append(list(result.landings))


def _judge_edits(state: _BatchState, result: ApplyResult, pending_ids: set[str]) -> None:
    failed_now: dict[str, str] = {}
    landed_now: set[str] = set()
    for outcome in result.outcomes:
        tied = _tied(outcome.edit, pending_ids)
        if outcome.status is EditStatus.FAILED:
            for incident_id in tied:
                failed_now.setdefault(incident_id, outcome.reason)
        else:
            landed_now |= tied
            quoted = {line.strip() for line in outcome.edit.old_text.split("\n")}
            for incident_id in tied:
                state.of(incident_id).quoted |= quoted
    for incident_id in pending_ids:
        evidence = state.of(incident_id)
        evidence.landed = evidence.landed or incident_id in landed_now
        verdict = evidence.verdict
        if incident_id in failed_now:
            reason = failed_now[incident_id]
            kind = re.sub(r"\d+", "N", reason)
            if state.failure_kinds.get(incident_id) == kind:
                state.given_up.add(incident_id)
                reason = f"{reason} ({NOT_ASKED_AGAIN})"
            state.failure_kinds[incident_id] = kind
            evidence.edit_failure = f"edit not applied: {reason}"
        elif incident_id in landed_now or (verdict is not None and verdict.status is not VerdictStatus.FIXED):
            evidence.edit_failure = ""  # made up for, or the model no longer claims a fix
        # Otherwise an earlier failure stands: this reply sent nothing that made up for it.


def _fixed_without_edit(state: _BatchState) -> None:
    """Rule 8's exception: reported fixed with no edit of its own, but its line (changed by this
    batch's other edits, or before) shows the rule's target state; rule 9: reported fixed with an
    edit that landed, but no edit of its quoted its line, still showing what the rule replaces."""
    file: FileNow | None = None
    for incident in state.batch.incidents:
        evidence = state.of(incident.id)
        verdict = evidence.verdict
        if verdict is None or verdict.status is not VerdictStatus.FIXED:
            continue
        file = file or FileNow(state.original, state.working)
        if evidence.landed:
            evidence.source_shown = source_state(incident, file, evidence.quoted)  # rule 9
        else:
            evidence.target_shown = target_state(incident, file)


async def _finish(
    state: _BatchState, ctx: RunContext, *, replan_if_stale: bool = False
) -> list[IncidentOutcome] | None:
    """Write and report the outcomes; None (nothing reported) when the file changed on disk and
    `replan_if_stale` asks the caller to read it again and redo the batch."""
    batch = state.batch
    _fixed_without_edit(state)
    write_error = ""
    if state.working != state.source.text:
        async with ctx.tree_lock or contextlib.nullcontext():
            written = await _write(state, ctx, replan_if_stale=replan_if_stale)
        if written is None:
            return None
        write_error = written
    await asyncio.to_thread(state.screen.write_review, str(batch.path))  # manual-review-file
    outcomes = []
    for incident in batch.incidents:
        outcome = _decide(state, incident, write_error)
        ctx.observer.incident_done(incident, outcome)
        outcomes.append(outcome)
    ctx.observer.batch_finished(str(batch.path), outcomes)
    return outcomes


async def _write(state: _BatchState, ctx: RunContext, *, replan_if_stale: bool) -> str | None:
    """Write the batch's result: "" when written, else why not; None to re-plan (stale file)."""
    batch = state.batch
    try:
        # The store records the intent (and the outcomes it implies) before the file changes,
        # so a run killed between the write and the bookkeeping knows the write happened.
        planned_bytes = encode_text(state.source, state.working)
        planned_sha = content_sha256(planned_bytes)
        planned = [_decide(state, incident, "") for incident in batch.incidents]
        ctx.observer.write_planned(
            str(batch.path),
            state.source.sha256,
            planned_sha,
            planned,
            (state.source.raw, planned_bytes),
            list(state.applied),
        )
        after_sha = await asyncio.to_thread(
            write_source_atomic, state.source, state.working, tree=ctx.input_dir
        )
        ctx.observer.file_written(str(batch.path), state.source.sha256, after_sha, list(state.applied))
        _remember(state, ctx)
    except StaleFileError:
        if replan_if_stale:
            return None
        return "file changed on disk during the run; not overwritten"
    except (OSError, SourceFileError) as exc:
        return f"cannot write file: {exc}"
    return ""


def _remember(state: _BatchState, ctx: RunContext) -> None:
    """The file was written: later batches of it in this run know the edits and how lines moved."""
    changes = ctx.changes.setdefault(str(state.batch.path), FileChanges(state.source.text))
    changes.edits += [*state.applied, *state.already]
    for landings in state.landings:
        changes.moves.add(landings)


def _decide(state: _BatchState, incident: Incident, write_error: str) -> IncidentOutcome:
    """The incident's outcome (`outcome_rules.decide`), as the confidence policy sees it (withheld
    fixes are skipped)."""
    outcome = decide(incident.id, state.of(incident.id), write_error)
    if state.of(incident.id).settled is not None:
        return outcome
    return state.screen.adjust(incident, outcome)


def _all(batch: Batch, status: Status, reason: str) -> list[IncidentOutcome]:
    return [IncidentOutcome(i.id, status, reason) for i in batch.incidents]
