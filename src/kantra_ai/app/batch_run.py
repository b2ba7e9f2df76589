"""`--batch-api`: a run's first pass through the provider's batch API, at half the price.

The requests are planned exactly as for the normal path (`plan_batches`, the same request builder,
the same cache layout with the 1 h TTL, the same budget), and their results are applied by the
normal engine: a result is stored in the run store as the reply to its request's fingerprint, and
the engine, finding a stored reply for the request it is about to send, applies it through the same
parsing, checks and gates instead of paying for it again. Retries, repair rounds and the requests a
batch returned without a reply (with `--batch-retry sync`) go through the normal, synchronous API.

A stage runs in rounds:

1. look at every submission still with the provider: one whose answer was lost is found again (or,
   once certainly lost, released); one that ended has all its results stored, in one commit;
2. plan the stage's remaining incidents from the files as they are now; for each file, its next
   request (a file's later requests depend on how the earlier ones changed it) is
   - answered: a stored result -> applied by the engine now,
   - waiting: in a submitted batch,
   - failed in a batch (errored, expired, cancelled) -> sent again synchronously or in the next
     batch (`--batch-retry`), or
   - new -> submitted (split by the provider's limits and by `--max-cost`, at batch prices);
3. after applying, plan again (the next requests of those files may now be known); when only
   waiting ones are left: with `--wait` poll until a batch ends, else stop (exit 75); the same
   command run again continues where this one stopped.

Submissions and results are recorded in the store in the order described in `store/batches.py`:
a kill at any moment never submits a request twice and never loses a paid-for result.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kantra_ai.analysis.model import Incident
from kantra_ai.app.model_choice import ModelChoice
from kantra_ai.app.options import BatchApiOptions, BatchRetry
from kantra_ai.app.prepare import Stage, plan_batches
from kantra_ai.app.ui import Ui
from kantra_ai.batching.batches import Batch, FileBatches
from kantra_ai.batching.packing import PackSettings, choose_packs, group_files
from kantra_ai.edits.files import SourceFile, SourceFileError, read_source, write_problem
from kantra_ai.engine.batch_runner import RunControl
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.estimate import Estimate
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status
from kantra_ai.engine.relocate import relocate_batch
from kantra_ai.engine.replies import PackShare, ReplySource, request_fingerprint
from kantra_ai.engine.runner import BatchSettings, RunBatches
from kantra_ai.errors import UserError
from kantra_ai.killpoints import killpoint
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.base import ModelRequest, ModelResponse
from kantra_ai.providers.batch_api import (
    BATCH_CACHE_TTL,
    CANCELED,
    ERRORED,
    EXPIRED,
    FAILED_KINDS,
    SUCCEEDED,
    BatchApiError,
    BatchClient,
    BatchEntry,
    BatchGone,
    BatchResult,
    RemoteBatch,
)
from kantra_ai.providers.pricing import PriceTable, Usage
from kantra_ai.store.batches import (
    GUESSED_NOTE,
    OPEN,
    SUBMITTING,
    BatchLedger,
    Collected,
    ItemRow,
    JobRow,
)

# A submission that may have reached the provider (its answer was lost) and is not listed there:
# how long to keep looking before it is taken as never arrived and its requests are sent again.
LOST_GRACE_SECONDS = 120.0
CLOCK_SKEW_SECONDS = 600.0  # between our clock and the provider's, when matching creation times
# A request that came back from batches this often without a reply goes synchronously next time.
MAX_BATCH_FAILURES = 2
FIRST_POLL_SECONDS = 0.5
POLL_GROWTH = 1.5
SYNC_NOTE = (
    "retries, repair rounds and requests a batch returned without a reply (--batch-retry sync) "
    "ran through the normal synchronous API at the normal price"
)

Engine = Callable[[RunBatches], Awaitable[None]]
Decided = Callable[[Incident, IncidentOutcome], None]


@dataclass(frozen=True)
class Planned:
    """A file's next request in this round, or the request of a pack of small files (several
    batches, one per file: `batching/packing.py`), exactly as the engine will build it."""

    batches: tuple[Batch, ...]
    request: ModelRequest
    fingerprint: str

    @property
    def incidents(self) -> list[Incident]:
        return [i for batch in self.batches for i in batch.incidents]


@dataclass
class _Round:
    ready: list[Planned] = field(default_factory=list)  # a stored result answers it
    sync: list[Planned] = field(default_factory=list)  # to send synchronously now
    waiting: list[tuple[Planned, ItemRow]] = field(default_factory=list)  # in a submitted batch
    unsent: list[Planned] = field(default_factory=list)  # to submit


@dataclass(frozen=True)
class BatchFailure:
    """A request a batch returned without a reply, and what was done about it."""

    path: str
    incident_ids: tuple[str, ...]
    kind: str  # errored, expired, canceled
    error: str
    action: str
    # Each incident's own file, where the request packed several (`path` is the first of them).
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class BatchReport:
    """What the batch API did in this run, for the summary."""

    provider: str
    submitted: list[tuple[str, int]] = field(default_factory=list)  # (batch id, requests) sent now
    results: Counter[str] = field(default_factory=Counter)  # collected now, by kind
    cost: float | None = 0.0  # of the results collected now, at batch prices
    synchronous_cost: float | None = 0.0  # the same usage at the normal price
    result_records: list[RequestRecord] = field(default_factory=list)
    failures: list[BatchFailure] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # incident id -> batch id still answering it
    budget_skipped: int = 0
    elsewhere: list[str] = field(default_factory=list)  # open batches of another provider or model

    @property
    def pending(self) -> bool:
        return bool(self.waiting)

    def add_cost(self, batch: float | None, synchronous: float | None) -> None:
        self.cost = None if self.cost is None or batch is None else self.cost + batch
        self.synchronous_cost = (
            None
            if self.synchronous_cost is None or synchronous is None
            else self.synchronous_cost + synchronous
        )

    def as_dict(self, total_cost: float | None) -> dict[str, Any]:
        """The `batch_api` block of the summary; `total_cost`: the run's, synchronous requests included."""
        sync_requests = None if total_cost is None or self.cost is None else total_cost - self.cost
        same_run_sync = (
            None
            if self.synchronous_cost is None or sync_requests is None
            else self.synchronous_cost + sync_requests
        )
        return {
            "provider": self.provider,
            "submitted": [{"batch": b, "requests": n} for b, n in self.submitted],
            "results": {k: self.results.get(k, 0) for k in (SUCCEEDED, ERRORED, EXPIRED, CANCELED)},
            "results_cost_usd": _round(self.cost),
            "results_synchronous_cost_usd": _round(self.synchronous_cost),
            "synchronous_requests_cost_usd": _round(sync_requests),
            "cost_usd": _round(total_cost),
            "same_run_synchronously_usd": _round(same_run_sync),
            "saved_usd": _round(
                None if same_run_sync is None or total_cost is None else same_run_sync - total_cost
            ),
            "waiting": {
                "incidents": len(self.waiting),
                "batches": sorted(set(self.waiting.values())),
            },
            "failures": [
                {
                    "file": f.files.get(incident, f.path),
                    "incident": incident,
                    "kind": f.kind,
                    "error": f.error,
                    "action": f.action,
                }
                for f in self.failures
                for incident in f.incident_ids
            ],
            "skipped_for_budget": self.budget_skipped,
            "other_open_batches": self.elsewhere,
            "note": SYNC_NOTE,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 8)


class BatchDriver(ReplySource):
    """Runs the stages of one run through the batch API (see the module docstring)."""

    def __init__(
        self,
        *,
        client: BatchClient,
        ledger: BatchLedger,
        run_id: int,
        choice: ModelChoice,
        fingerprint_as: tuple[str, str],  # (provider name, model) as the engine fingerprints requests
        prompts: PromptBuilder,
        settings: BatchSettings,
        options: BatchApiOptions,
        input_dir: Path,
        guard: CostGuard,
        control: RunControl,
        ui: Ui,
        outcomes: Mapping[str, IncidentOutcome],  # the run's outcomes so far (read, never written)
        fallback: ReplySource | None,  # other stored replies (a killed synchronous run's)
        fresh: bool,
        on_record: Callable[[RequestRecord], None],
        on_decided: Decided,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.run_id = run_id
        self.choice = choice
        self.fingerprint_as = fingerprint_as
        self.prompts = prompts
        self.settings = settings
        self.options = options
        self.input_dir = input_dir
        self.guard = guard
        self.control = control
        self.ui = ui
        self.outcomes = outcomes
        self.fallback = fallback
        self.fresh = fresh
        self.on_record = on_record
        self.on_decided = on_decided
        self.report = BatchReport(choice.provider_name)
        self._ready: set[str] = set()  # fingerprints a stored batch result answers
        self._served: set[str] = set()  # of those, the ones the engine has had
        self._reserved: dict[str, float] = {}  # custom_id -> budget reserved by this run
        self._reported: set[str] = set()  # custom_ids whose failure is in the report
        self._submitted_jobs: set[int] = set()  # submissions made by this run
        self._last_progress = ""

    # -- ReplySource: the engine asks before it sends ---------------------------------------------

    def stored_reply(self, fingerprint: str) -> ModelResponse | None:
        """A batch result answers its request once: a retry of the same request (after a malformed
        reply) goes to the provider, not back to the reply that failed."""
        if fingerprint in self._served:
            return None
        if fingerprint in self._ready:
            self._served.add(fingerprint)
            return self.ledger.store.stored_reply(fingerprint)
        return self.fallback.stored_reply(fingerprint) if self.fallback is not None else None

    def pack_share(self, path: str, content_sha: str) -> PackShare | None:
        """A file's share of a packed reply, kept by a run killed before the file was finished."""
        return None if self.fresh else self.ledger.store.pack_share(path, content_sha)

    # -- a stage -------------------------------------------------------------------------------

    async def run_stage(self, stage: Stage, batches: RunBatches, engine: Engine) -> bool:
        """Rounds until the stage has nothing left; False when requests are still with the provider
        (without --wait) or the run was stopped."""
        # Whether small files are packed is decided once, on the stage's first plan: later rounds
        # plan fewer files each, too few to be packed by the run's rule, and yet a pack planned
        # before whose files are still to do must still be packed as it was.
        packing = batches.packing
        if choose_packs(batches.files, packing):
            packing = dataclasses.replace(packing, min_files=0)
        while not self.control.stop.is_set():
            await self.poll()
            turn = self._classify(batches, packing)
            self.report.waiting.clear()  # what still waits is what this round found waiting
            runnable = turn.ready + turn.sync
            if runnable:
                await engine(
                    RunBatches(
                        files=[FileBatches(b.path, [b]) for p in runnable for b in p.batches],
                        packs=[[b.path for b in p.batches] for p in runnable if len(p.batches) > 1],
                    )
                )
            elif turn.unsent:
                await self._submit(turn.unsent)
            elif not turn.waiting:
                return True
            else:
                self._note_waiting(turn.waiting)
                if not self.options.wait:
                    return False
                await self._wait()
            if self.control.stop.is_set():
                break
            batches = self._replan(stage)
        # Stopped (Ctrl-C, a fatal error): what was submitted stays with the provider.
        self._note_waiting(
            self._classify(self._replan(stage), packing).waiting if not self.control.fatal_error else []
        )
        return False

    def _replan(self, stage: Stage) -> RunBatches:
        """The stage's incidents not decided in this run, planned from the files as they are now."""
        todo = [i for i in stage.incidents if i.id not in self.outcomes]
        batches = plan_batches(todo, self.input_dir, self.settings, self.prompts)
        by_id = {i.id: i for i in todo}
        for outcome in batches.unreadable:
            self.on_decided(by_id[outcome.incident_id], outcome)
        return batches

    def _first_request(self, batch: Batch) -> Planned | None:
        """The request the engine will send first for `batch`: built by the same builder from the
        file as the engine will read it (`run_batch`), so the fingerprints agree."""
        text = self._read(batch)
        if text is None:
            return None
        request = self.prompts.first_request(relocate_batch(batch, text), text)
        return Planned((batch,), request, request_fingerprint(request, *self.fingerprint_as))

    def _pack_request(self, batches: Sequence[Batch]) -> Planned | None:
        """The request the engine will send first for a pack of whole small files (`run_pack`: their
        incidents numbered across the pack, in its order), None when one of them cannot be read."""
        offsets = self.prompts.pack_offsets(batches)
        numbered = [dataclasses.replace(b, handle_offset=n) for b, n in zip(batches, offsets, strict=True)]
        texts = [self._read(batch) for batch in numbered]
        if any(text is None for text in texts):
            return None
        read = [text for text in texts if text is not None]
        moved = [relocate_batch(batch, text) for batch, text in zip(numbered, read, strict=True)]
        request = self.prompts.first_pack_request(moved, read)
        return Planned(tuple(batches), request, request_fingerprint(request, *self.fingerprint_as))

    def _holds_share(self, batch: Batch) -> bool:
        source = self._source(batch)
        return source is not None and self.pack_share(str(batch.path), source.sha256) is not None

    def _read(self, batch: Batch) -> str | None:
        source = self._source(batch)
        return None if source is None else source.text

    def _source(self, batch: Batch) -> SourceFile | None:
        """The file as it is now; None when it cannot be read, or written back (a read-only folder):
        the engine then fails its incidents without sending anything."""
        try:
            source = read_source(self.input_dir / batch.path)
        except (OSError, SourceFileError):
            return None
        return None if write_problem(source) else source

    def _units(self, batches: RunBatches, packing: PackSettings) -> list[list[FileBatches]]:
        """This round's requests by file: small files packed as `packing` says, except that a pack
        already submitted stays as it was while all of its files are still to do, so that its result
        answers the request the engine makes (packed again another way, its files would be asked and
        paid for again)."""
        paths = {i.id: f.path for f in batches.files for b in f.batches for i in b.incidents}
        kept: list[list[PurePosixPath]] = []
        for ids in self.ledger.submitted_groups():
            files = list(dict.fromkeys(paths.get(i) for i in ids))
            if len(files) >= 2 and None not in files:
                kept.append([f for f in files if f is not None])
        return group_files(batches.files, choose_packs(batches.files, packing, kept))

    def _classify(self, batches: RunBatches, packing: PackSettings) -> _Round:
        turn = _Round()
        planned: list[Planned] = []
        # A file holding its share of a packed reply (a run was killed before it was finished): the
        # engine applies the share, nothing is submitted for it.
        holding = set() if self.fresh else self.ledger.store.pack_share_paths()
        shared = [f for f in batches.files if str(f.path) in holding and self._holds_share(f.batches[0])]
        for file_batches in shared:
            turn.sync.append(Planned((file_batches.batches[0],), _NO_REQUEST, ""))
        if shared:
            held = {f.path for f in shared}
            batches = dataclasses.replace(batches, files=[f for f in batches.files if f.path not in held])
        for unit in self._units(batches, packing):
            first = self._pack_request([f.batches[0] for f in unit]) if len(unit) > 1 else None
            if first is not None:
                planned.append(first)
                continue
            for file_batches in unit:  # alone (or in a pack with a file that cannot be read now)
                single = self._first_request(file_batches.batches[0])
                if single is None:  # unreadable now: the engine reports it without sending anything
                    turn.sync.append(Planned((file_batches.batches[0],), _NO_REQUEST, ""))
                    continue
                planned.append(single)
        latest = self.ledger.latest_items(p.fingerprint for p in planned)
        store = self.ledger.store
        for p in planned:
            item = latest.get(p.fingerprint)
            answered = store.stored_reply(p.fingerprint) is not None
            if answered and (not self.fresh or (item is not None and item.state == SUCCEEDED)):
                self._ready.add(p.fingerprint)
                turn.ready.append(p)
            elif item is not None and item.state == "submitted":
                turn.waiting.append((p, item))
            elif item is not None and item.state in FAILED_KINDS:
                again_sync = (
                    self.options.retry is BatchRetry.SYNC
                    or self.ledger.failures(p.fingerprint) >= MAX_BATCH_FAILURES
                )
                self._report_failure(item, "retried synchronously" if again_sync else "submitted again", p)
                (turn.sync if again_sync else turn.unsent).append(p)
            elif item is not None and item.state == SUCCEEDED and item.job_id in self._submitted_jobs:
                # Answered in this run, and yet asked again (its reply could not be used): never
                # around the batch loop twice in one run; the engine sends it and says why.
                turn.sync.append(p)
            else:
                turn.unsent.append(p)
        return turn

    def _report_failure(self, item: ItemRow, action: str, planned: Planned) -> None:
        if item.custom_id in self._reported:
            return
        self._reported.add(item.custom_id)
        files = {i.id: str(batch.path) for batch in planned.batches for i in batch.incidents}
        self.report.failures.append(
            BatchFailure(item.path, item.incident_ids, item.state, item.error, action, files)
        )

    def _note_waiting(self, waiting: Sequence[tuple[Planned, ItemRow]]) -> None:
        remote = {job.id: job.remote_id or f"submission #{job.id} (being confirmed)" for job in self._live()}
        for planned, item in waiting:
            for incident in planned.incidents:
                self.report.waiting[incident.id] = remote.get(item.job_id, f"submission #{item.job_id}")

    # -- submitting ------------------------------------------------------------------------------

    async def _submit(self, planned: Sequence[Planned]) -> None:
        """Submit `planned`, each request's worst case at batch prices reserved first: what does not
        fit the budget is not sent (skipped), so no submission can take the run past --max-cost."""
        price = self.choice.batch_price
        fitting: list[tuple[Planned, float]] = []
        for p in planned:
            worst = sum(self.guard.worst_case_of(batch, price=price) for batch in p.batches)
            if not self.guard.try_reserve(worst):
                reason = (
                    f"--max-cost ${self.guard.max_cost:.4f} would be exceeded by this request "
                    "(at batch prices)"
                )
                self._decide_all(p, Status.SKIPPED, reason)
                self.report.budget_skipped += len(p.incidents)
                continue
            fitting.append((p, worst))
        for chunk in self._chunks(fitting):
            await self._submit_one(chunk)
            if self.control.stop.is_set():
                return

    def _chunks(self, fitting: list[tuple[Planned, float]]) -> list[list[tuple[Planned, float]]]:
        """Submissions within the provider's request and size limits (and --batch-max-requests)."""
        most = min(self.client.max_requests, self.options.max_requests or self.client.max_requests)
        chunks: list[list[tuple[Planned, float]]] = []
        size = 0
        for p, worst in fitting:
            entry_size = self.client.entry_bytes(BatchEntry("x" * 18, p.request))
            if not chunks or len(chunks[-1]) >= most or size + entry_size > self.client.max_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append((p, worst))
            size += entry_size
        return chunks

    async def _submit_one(self, chunk: list[tuple[Planned, float]]) -> None:
        tag = f"kai{uuid.uuid4().hex[:12]}"
        entries = [BatchEntry(f"{tag}-{n:05d}", p.request) for n, (p, _) in enumerate(chunk, 1)]
        items = [
            ItemRow(
                e.custom_id, p.fingerprint, str(p.batches[0].path), tuple(i.id for i in p.incidents), worst
            )
            for e, (p, worst) in zip(entries, chunk, strict=True)
        ]
        job_id = self.ledger.record_submission(
            run_id=self.run_id,
            provider=self.choice.provider_name,
            model=self.choice.model,
            base_url=self.choice.base_url,
            tag=tag,
            items=items,
        )
        self._submitted_jobs.add(job_id)
        killpoint("batchapi-intent")
        try:
            remote = await self.client.submit(entries, tag=tag, sending=lambda: self.ledger.sending(job_id))
        except BatchApiError as exc:
            if exc.accepted is False:
                self.ledger.abandon(job_id, f"refused: {exc}")
                for p, worst in chunk:
                    self.guard.settle(worst, 0.0)
                    self._decide_all(p, Status.FAILED, f"the batch API refused the submission: {exc}")
                if exc.status in (401, 403):
                    self.control.abort(f"run aborted: {exc}")
            else:
                self.ui.say(
                    f"submission #{job_id} of {len(entries)} requests: {exc}; whether the provider took it "
                    "is not known: it is looked for at the provider, and sent again only once it is "
                    "certain that it never arrived"
                )
            return
        killpoint("batchapi-unsaved")
        self.ledger.submitted(job_id, remote)
        killpoint("batchapi-submitted")
        self._reserved.update({e.custom_id: worst for e, (_, worst) in zip(entries, chunk, strict=True)})
        self.report.submitted.append((remote, len(entries)))
        self.ui.say(
            f"submitted batch {remote} to {self.choice.provider_name}: {len(entries)} requests "
            "at batch prices (answered within 24 hours, usually much sooner)"
        )

    def _decide_all(self, planned: Planned, status: Status, reason: str) -> None:
        for incident in planned.incidents:
            self.on_decided(incident, IncidentOutcome(incident.id, status, reason))

    # -- polling and collecting ------------------------------------------------------------------

    def _live(self) -> list[JobRow]:
        """Live submissions this run can look after (same provider and model)."""
        mine = []
        for job in self.ledger.live_jobs():
            if job.provider == self.choice.provider_name and job.model == self.choice.model:
                mine.append(job)
            elif job.remote_id and job.remote_id not in self.report.elsewhere:
                self.report.elsewhere.append(job.remote_id)
        return mine

    async def poll(self) -> bool:
        """Look at every live submission once; True when one ended (or was released)."""
        changed = False
        try:
            for job in self._live():
                if job.state == SUBMITTING:
                    changed = await self._settle_lost(job) or changed
            for job in self._live():
                if job.state != OPEN:
                    continue
                try:
                    remotes = [await self.client.retrieve(r) for r in job.remote_ids]
                except BatchGone as exc:  # deleted, or lost by the provider: it will never answer
                    self.ledger.abandon(job.id, f"gone at the provider: {exc}")
                    self.ui.say(f"submission #{job.id}: {exc}; its requests are sent again")
                    changed = True
                    continue
                self.ledger.polled(job.id, remotes[0].status, _merged_counts(remotes))
                if all(r.ended for r in remotes):
                    await self._collect(job, remotes)
                    changed = True
        except BatchApiError as exc:
            if exc.status in (401, 403):
                self.control.abort(f"run aborted: {exc}")
            else:
                self.ui.say(
                    f"looking at the submitted batches failed ({exc}); they are looked at again later"
                )
        return changed

    async def _settle_lost(self, job: JobRow) -> bool:
        """A submission whose provider answer was never recorded: adopt it where the provider has it,
        release its requests where it certainly never arrived, else look again later."""
        if job.sent_at is None:
            self.ledger.abandon(job.id, "never sent: the run stopped before sending it")
            return True
        recent = await self.client.recent(job.created_at - CLOCK_SKEW_SECONDS)
        known = self.ledger.known_remote_ids()
        tagged = [r for r in recent if r.tag == job.tag]
        # Providers without metadata (Anthropic): a batch of ours is unknown to the store, created
        # after the submission was sent, with as many requests; its results are matched by custom_id,
        # so a foreign batch taken for ours by mistake gives nothing away and takes nothing.
        matches = tagged or [
            r
            for r in recent
            if not r.tag
            and r.id not in known
            and r.total == job.requests
            and r.created_at >= job.sent_at - CLOCK_SKEW_SECONDS
        ]
        if matches:
            ids = [m.id for m in matches]
            how = "found at the provider after a lost answer" if tagged else GUESSED_NOTE
            self.ledger.adopt(job.id, ids, f"{how}: {', '.join(ids)}")
            self.ui.say(
                f"submission #{job.id}, whose answer was lost, is batch {', '.join(ids)}: not sent again"
            )
            return False
        if time.time() - job.sent_at > LOST_GRACE_SECONDS:
            self.ledger.abandon(job.id, "never arrived at the provider")
            self.ui.say(f"submission #{job.id} never arrived at the provider: its requests are sent again")
            return True
        return False

    async def _collect(self, job: JobRow, remotes: Sequence[RemoteBatch]) -> None:
        """Every result of an ended submission, stored in one commit before any is applied."""
        items = {i.custom_id: i for i in self.ledger.items(job.id)}
        lines = [result for remote in remotes async for result in _results(self.client, remote)]
        collected: list[Collected] = []
        synchronous: dict[str, float | None] = {}
        for result in lines:
            item = items.get(result.custom_id)
            if item is None:
                continue  # not ours: the store counts it as foreign
            if result.kind == SUCCEEDED and result.response is not None:
                usage = result.response.usage
                cost = PriceTable.cost(self.choice.batch_price, usage, cache_ttl=BATCH_CACHE_TTL)
                synchronous[item.custom_id] = PriceTable.cost(
                    self.choice.price, usage, cache_ttl=BATCH_CACHE_TTL
                )
                record = RequestRecord(
                    item.path, item.incident_ids, 0, usage, cost, result.response.stop_reason
                )
                collected.append(Collected(result.custom_id, SUCCEEDED, result.response, record))
            else:
                collected.append(Collected(result.custom_id, result.kind, error=result.error))
        reported = sum(r.counts.get(SUCCEEDED, 0) for r in remotes)
        if len(collected) < reported:
            # Every answer the provider counts as succeeded has a line (and was billed): a download
            # short of them is cut, not an answer that failed. Sent again, they would be paid twice.
            raise BatchApiError(
                f"the results of {', '.join(job.remote_ids)} hold {len(collected)} lines for the {reported} "
                "answers the provider reports (kantra-ai batches cancel lets them go)"
            )
        missing, missing_error = _missing(remotes[0])
        self.ledger.collect(job, self.run_id, collected, missing=missing, missing_error=missing_error)
        killpoint("batchapi-collected")
        kinds: Counter[str] = Counter()
        by_custom_id = {c.custom_id: c for c in collected}
        for custom_id, item in items.items():
            done = by_custom_id.get(custom_id)
            if done is not None and done.record is not None:
                record = done.record
                self.report.add_cost(record.cost, synchronous[custom_id])
                self.report.result_records.append(record)
                kinds[SUCCEEDED] += 1
            else:
                kind = done.kind if done is not None else missing
                error = done.error if done is not None else missing_error
                record = RequestRecord(item.path, item.incident_ids, 0, Usage(), 0.0, "", error or kind)
                kinds[kind] += 1
            reserved = self._reserved.pop(custom_id, None)
            if reserved is not None:
                self.guard.settle(reserved, record.cost)
            self.on_record(record)
        self.report.results.update(kinds)
        counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        self.ui.say(f"batch {', '.join(job.remote_ids)} ended: {counts}")

    async def _wait(self) -> None:
        """Poll (more and more slowly, up to --poll-interval) until a submission ends or Ctrl-C."""
        delay = min(FIRST_POLL_SECONDS, self.options.poll_seconds)
        while not self.control.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.control.stop.wait(), timeout=delay)
            if self.control.stop.is_set() or await self.poll():
                return
            self._show_progress()
            delay = min(delay * POLL_GROWTH, self.options.poll_seconds)

    def _show_progress(self) -> None:
        parts = []
        for job in self._live():
            done = sum(n for k, n in job.counts.items() if k != "processing")
            name = job.remote_id or f"#{job.id}"
            parts.append(f"{name} {job.status or 'submitted'} ({done}/{job.requests} answered)")
        line = "waiting for batch " + "; ".join(parts) if parts else ""
        if line and line != self._last_progress:
            self._last_progress = line
            self.ui.say(line)


_NO_REQUEST = ModelRequest(system="", guidance="", prompt="", max_tokens=1)


async def _results(client: BatchClient, remote: RemoteBatch) -> AsyncIterator[BatchResult]:
    if remote.failed:
        return
    async for result in client.results(remote.id):
        yield result


def _merged_counts(remotes: Sequence[RemoteBatch]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for remote in remotes:
        counts.update(remote.counts)
    return dict(counts)


def _missing(remote: RemoteBatch) -> tuple[str, str]:
    """What happened to requests an ended batch returned nothing for."""
    if remote.failed:
        return ERRORED, f"the provider refused the batch: {remote.error or remote.status}"
    if remote.status == "expired":
        return EXPIRED, "the batch expired before the request was processed"
    if remote.status in ("cancelled", "cancelling", "canceling"):
        return CANCELED, "the batch was cancelled before the request was processed"
    return ERRORED, "the provider returned no result for it"


async def probe_batch_api(choice: ModelChoice) -> None:
    """Refuse, before the run begins, an endpoint without a batch API (or a key it does not take)."""
    client = choice.open_batch_client()
    try:
        await client.probe()
    except BatchApiError as exc:
        raise UserError(f"--batch-api: {exc}") from exc
    finally:
        await client.aclose()


def add_batch_summary(
    summary: dict[str, Any],
    report: BatchReport | None,
    *,
    selected: Sequence[Incident],
    outcomes: Mapping[str, IncidentOutcome],
    records: Sequence[RequestRecord],
) -> None:
    """The summary's `batch_api` block; incidents still with the provider listed as waiting (not as
    skipped, and not as what a run that stopped short left unsent)."""
    if report is None:
        return
    summary["batch_api"] = report.as_dict(summary.get("cost_usd"))
    summary["incidents"]["waiting_in_batches"] = len(report.waiting)
    for row in summary.get("outcomes", []):
        batch = report.waiting.get(row["id"])
        if batch is not None and row["status"] == Status.SKIPPED.value and row["reason"] == "not attempted":
            row["status"], row["reason"] = "waiting", f"in batch {batch}: run the same command again to apply"
    # As report/summary.py counts what a run stopped short of sending, less what is with the provider.
    sent = {incident_id for r in records for incident_id in r.incident_ids}
    unsent = Counter(
        outcomes[i.id].reason if i.id in outcomes else "not attempted"
        for i in selected
        if i.id not in sent
        and i.id not in report.waiting
        and (i.id not in outcomes or outcomes[i.id].status is Status.SKIPPED)
    )
    summary["stopped"] = (
        {"reason": unsent.most_common(1)[0][0], "not_sent": sum(unsent.values())} if unsent else None
    )


def batch_dry_run(totals: dict[str, Any], batch_total: Estimate | None) -> None:
    """The dry run's `batch_api` totals: the same requests at batch prices."""
    if batch_total is None:
        return
    totals["batch_api"] = {
        "expected_cost_usd": batch_total.expected_cost,
        "worst_case_cost_usd": batch_total.worst_case_cost,
        "note": "half of every rate; answered within 24 hours; retries run synchronously at the normal price",
    }
