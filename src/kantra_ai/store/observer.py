"""Records a run in the store as it happens, in the order that makes a kill at any moment harmless.

For one batch (one file, sent once, maybe retried) the commits are (a request packing several small
files is recorded under its first file; `reply_shared` ties its reply to the others):

1. `request_sent`: the request, in flight, as it goes out (not while it waits for its turn: a
   killed run counts as lost only requests the server received); its incidents in flight, one
   more attempt each.
2. `reply_arrived`: the raw reply, the moment its last event is in, from inside the provider call
   (no other task runs in between). A kill after this costs nothing: the next run finds the reply
   by the request's fingerprint and applies it without a new request.
   `response_received`: its usage and cost, before anything is applied (the reply is kept already;
   a provider that does not report `completed` gets it kept here).
   A reply that turns out unusable (it does not parse, or was cut off) is marked so at once
   (`reply_rejected`): it never stands in for its request again, so the retry reaches the model.
   `pack_split` (a packed request): each file's share of the reply, in one commit, before any is
   applied; a file's share is spent with its step 4 (or by recovery, once its write is found done).
3. `write_planned`: the intent to replace the file: old and new content hashes and the outcomes
   the write will decide. A kill between this and step 4 is settled by `store/recovery.py`, which
   looks at the file to tell whether the write happened.
4. `batch_finished`: the outcomes, the write's result and the edits, and the replies marked used,
   in one transaction.

Between 3 and 4 the file itself is replaced atomically (`edits/files.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kantra_ai.edits.model import Edit
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord
from kantra_ai.engine.replies import PackShare
from kantra_ai.killpoints import killpoint
from kantra_ai.providers.base import ModelResponse
from kantra_ai.store.checks import mark_round_done
from kantra_ai.store.codec import Decided
from kantra_ai.store.run_store import RunStore


@dataclass
class _Batch:
    fingerprints: list[str] = field(default_factory=list)  # replies this batch used
    answered: set[str] = field(default_factory=set)  # incidents a reply covered
    write_id: int | None = None
    written: list[Edit] | None = None  # set once the file was replaced


class StoreObserver(RunObserver):
    """One per run. The engine runs at most one batch per file at a time, so state is per path."""

    def __init__(self, store: RunStore, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self.reused_replies = 0
        self._requests: dict[str, int] = {}  # path -> the request in flight for it
        self._pending: dict[str, tuple[str, ...]] = {}  # path -> incidents of a request not sent yet
        self._kept: set[str] = set()  # paths whose reply the store has kept already
        self._batches: dict[str, _Batch] = {}

    def _batch(self, path: str) -> _Batch:
        return self._batches.setdefault(path, _Batch())

    def in_flight(self) -> list[int]:
        """Requests started and not finished (a cancelled run leaves them)."""
        return list(self._requests.values())

    def request_started(self, path: str, incident_ids: tuple[str, ...]) -> None:
        self._pending[path] = incident_ids  # recorded once it is sent: it may wait for its turn

    def request_sent(self, path: str) -> None:
        if path in self._requests:
            return  # a retry of a request already recorded
        self._requests[path] = self.store.request_started(self.run_id, path, self._pending.pop(path, ()))
        killpoint("request-started")

    def _request_id(self, path: str) -> int:
        """The request's row, recorded now if the provider never reported sending it."""
        if path not in self._requests:
            self.request_sent(path)
        return self._requests[path]

    def reply_arrived(
        self, path: str, fingerprint: str, response: ModelResponse, cost: float | None = None
    ) -> None:
        killpoint("reply-arrived")
        self.store.keep_reply(self._request_id(path), fingerprint, response, cost=cost)
        self._kept.add(path)
        killpoint("reply-kept")

    def response_received(self, record: RequestRecord, fingerprint: str, response: ModelResponse) -> None:
        killpoint("response-unsaved")
        request_id = self._request_id(record.path)
        del self._requests[record.path]
        kept = record.path in self._kept
        self._kept.discard(record.path)
        self.store.response_received(request_id, record, fingerprint, response, reply_kept=kept)
        batch = self._batch(record.path)
        batch.fingerprints.append(fingerprint)
        batch.answered.update(record.incident_ids)
        killpoint("response-saved")

    def request_finished(self, record: RequestRecord) -> None:
        if not record.error:
            return  # recorded with its reply by response_received
        self._pending.pop(record.path, None)
        self._kept.discard(record.path)
        request_id = self._requests.pop(record.path, None)
        if request_id is not None:  # None: it never went out
            self.store.request_failed(request_id, record)

    def response_reused(self, path: str, incident_ids: tuple[str, ...], fingerprint: str) -> None:
        batch = self._batch(path)
        batch.fingerprints.append(fingerprint)
        batch.answered.update(incident_ids)
        self.reused_replies += 1

    def reply_shared(self, path: str, incident_ids: tuple[str, ...], fingerprint: str) -> None:
        # The file's outcomes are decided by (and mark used) the reply of a request recorded under
        # another file of its pack.
        batch = self._batch(path)
        batch.fingerprints.append(fingerprint)
        batch.answered.update(incident_ids)

    def pack_split(self, shares: Sequence[PackShare]) -> None:
        self.store.keep_pack_shares(self.run_id, shares)
        killpoint("pack-split")

    def reply_rejected(self, path: str, fingerprint: str, reason: str) -> None:
        self.store.reject_reply(fingerprint)

    def write_planned(
        self,
        path: str,
        before_sha: str,
        after_sha: str,
        outcomes: list[IncidentOutcome],
        contents: tuple[bytes, bytes] | None = None,
        edits: Sequence[Edit] = (),
    ) -> None:
        batch = self._batch(path)
        decided = [Decided(o, o.incident_id in batch.answered) for o in outcomes]
        batch.write_id = self.store.write_intent(
            self.run_id,
            path,
            before_sha,
            after_sha,
            decided,
            batch.fingerprints,
            contents=contents,
            edits=edits,
        )
        batch.written = None
        killpoint("write-intent")

    def file_written(self, path: str, before_sha: str, after_sha: str, edits: list[Edit]) -> None:
        killpoint("file-written")
        self._batch(path).written = list(edits)

    def batch_finished(self, path: str, outcomes: list[IncidentOutcome]) -> None:
        batch = self._batches.pop(path, None) or _Batch()
        decided = [Decided(o, o.incident_id in batch.answered) for o in outcomes]
        self.store.finish_batch(
            self.run_id, decided, batch.fingerprints, batch.write_id, batch.written, path=path
        )
        killpoint("batch-saved")


class RepairObserver(StoreObserver):
    """Records the requests and writes of one repair round of a verification scope.

    The same commits in the same order as a fix (request, reply before use, write intent, result),
    with three differences: the request is marked `repair` and leaves its incidents as they are
    (fixed: only their file is being repaired), the write is of kind `repair` and carries the scope
    and round it belongs to (what a resumed run counts its rounds by), and nothing about the
    incidents is decided here (verification records its own results).
    """

    def __init__(self, store: RunStore, run_id: int, scope: str, round: int) -> None:
        super().__init__(store, run_id)
        self.scope = scope
        self.round = round

    def request_started(self, path: str, incident_ids: tuple[str, ...]) -> None:
        self._requests[path] = self.store.request_started(self.run_id, path, incident_ids, purpose="repair")
        killpoint("repair-request-started")

    def response_received(self, record: RequestRecord, fingerprint: str, response: ModelResponse) -> None:
        super().response_received(record, fingerprint, response)
        killpoint("repair-response-saved")

    def write_planned(
        self,
        path: str,
        before_sha: str,
        after_sha: str,
        outcomes: list[IncidentOutcome],
        contents: tuple[bytes, bytes] | None = None,
        edits: Sequence[Edit] = (),
    ) -> None:
        batch = self._batch(path)
        batch.write_id = self.store.write_intent(
            self.run_id,
            path,
            before_sha,
            after_sha,
            [],
            batch.fingerprints,
            contents=contents,
            edits=edits,
            kind="repair",
            scope=self.scope,
            round=self.round,
        )
        batch.written = None
        killpoint("write-intent")

    def file_written(self, path: str, before_sha: str, after_sha: str, edits: list[Edit]) -> None:
        killpoint("repair-written")
        self._batch(path).written = list(edits)

    def batch_finished(self, path: str, outcomes: list[IncidentOutcome]) -> None:
        """The file's round is over: its write (if any) settled and its replies used."""
        batch = self._batches.pop(path, None) or _Batch()
        if batch.write_id is not None and batch.written is not None:
            self.store.finish_batch(self.run_id, [], batch.fingerprints, batch.write_id, batch.written)
        else:
            if batch.write_id is not None:  # the write did not happen (the file changed meanwhile)
                self.store.finish_batch(self.run_id, [], [], batch.write_id, None)
            mark_round_done(self.store, self.run_id, self.scope, self.round, path, batch.fingerprints)
        killpoint("repair-saved")
