"""The run store's record of batch API submissions (`--batch-api`): what was sent, where, and what came
back; the part of the store that lets a batch survive any number of restarts.

The order of commits is what makes a kill at any moment harmless:

1. `record_submission` (durable): the submission and every request in it (its `custom_id`, the
   fingerprint of the exact request, its incidents), in state `submitting`, before anything is sent;
   `sending` (durable) right before the provider is called.
2. The provider accepts the batch; `submitted` (durable) records its id at once.
   A kill in between leaves a `submitting` row: never sent (no `sent_at`), it is abandoned and its
   requests go again; maybe sent, the next run looks for the batch at the provider (`adopt` when
   found, `abandon` once it is clear that it never arrived), and never sends it blindly again.
3. `collect` (durable), once the batch ended: every result in one commit: a succeeded request's
   reply (as a stored reply, found again by its fingerprint) and its usage and cost at batch prices;
   a failed one's reason. Only then are replies applied, by the normal engine, so the paid-for
   result of a request is never lost, whenever the run that applies it happens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kantra_ai.engine.outcomes import RequestRecord
from kantra_ai.providers.base import ModelResponse
from kantra_ai.providers.pricing import Usage
from kantra_ai.store.codec import dump, reply_to_json
from kantra_ai.store.run_store import RunStore

SUBMITTING = "submitting"
OPEN = "open"
COLLECTED = "collected"
ABANDONED = "abandoned"
LIVE_STATES = (SUBMITTING, OPEN)


@dataclass(frozen=True)
class ItemRow:
    """One request of a submission."""

    custom_id: str
    fingerprint: str
    path: str
    incident_ids: tuple[str, ...]
    worst_cost: float | None = None
    state: str = "submitted"
    error: str = ""
    job_id: int = 0


# The note of a submission adopted by time and size after its answer was lost (see JobRow.guessed).
GUESSED_NOTE = "found at the provider by time and size after a lost answer"


@dataclass(frozen=True)
class JobRow:
    """One submission as the store knows it."""

    id: int
    run_id: int
    provider: str
    model: str
    base_url: str | None
    tag: str
    remote_id: str | None
    candidates: tuple[str, ...]
    state: str
    status: str
    counts: dict[str, int]
    requests: int
    created_at: float
    submitted_at: float | None
    cancel_requested_at: float | None
    finished_at: float | None
    note: str = ""
    sent_at: float | None = None  # None: certainly never sent (the run died before sending it)
    polled_at: float | None = None

    @property
    def remote_ids(self) -> list[str]:
        """Every provider batch that may hold this submission's requests."""
        return [i for i in (self.remote_id, *self.candidates) if i]

    @property
    def guessed(self) -> bool:
        """Adopted after a lost answer by time and size alone (a provider without metadata): it may
        be a batch of another tree or another user of the key, so it is never cancelled from here."""
        return self.note.startswith(GUESSED_NOTE)


@dataclass(frozen=True)
class Collected:
    """One result to record: a reply (`response`, `record`) or why there is none (`error`)."""

    custom_id: str
    kind: str  # succeeded, errored, expired, canceled
    response: ModelResponse | None = None
    record: RequestRecord | None = None  # usage and cost (batch prices) of a succeeded request
    error: str = ""


@dataclass
class CollectSummary:
    succeeded: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # kind -> requests
    foreign: int = 0  # result lines that are not ours (a candidate batch of someone else)


_JOB_COLUMNS = (
    "id, run_id, provider, model, base_url, tag, remote_id, candidates, state, status, counts, requests,"
    " created_at, submitted_at, cancel_requested_at, finished_at, note, sent_at, polled_at"
)


def _job(row: Sequence[Any]) -> JobRow:
    return JobRow(
        id=int(row[0]),
        run_id=int(row[1]),
        provider=str(row[2]),
        model=str(row[3]),
        base_url=row[4],
        tag=str(row[5]),
        remote_id=row[6],
        candidates=tuple(json.loads(str(row[7]))),
        state=str(row[8]),
        status=str(row[9]),
        counts={str(k): int(v) for k, v in json.loads(str(row[10])).items()},
        requests=int(row[11]),
        created_at=float(row[12]),
        submitted_at=row[13],
        cancel_requested_at=row[14],
        finished_at=row[15],
        note=str(row[16]),
        sent_at=row[17],
        polled_at=row[18],
    )


def _item(row: Sequence[Any]) -> ItemRow:
    return ItemRow(
        custom_id=str(row[0]),
        fingerprint=str(row[1]),
        path=str(row[2]),
        incident_ids=tuple(json.loads(str(row[3]))),
        worst_cost=row[4],
        state=str(row[5]),
        error=str(row[6]),
        job_id=int(row[7]),
    )


_ITEM_COLUMNS = "custom_id, fingerprint, path, incident_ids, worst_cost, state, error, job_id"


class BatchLedger:
    """Batch submissions of one tree, in the tree's run store."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.tree = store.tree

    # -- reading ---------------------------------------------------------------------------------

    def jobs(self, *, states: Sequence[str] | None = None, limit: int | None = None) -> list[JobRow]:
        """Submissions of this tree, newest first (only those in `states` when given)."""
        sql = f"SELECT {_JOB_COLUMNS} FROM batch_jobs WHERE tree=?"
        params: list[object] = [self.tree]
        if states is not None:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            params += list(states)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_job(r) for r in self.store.query(sql, params)]

    def live_jobs(self) -> list[JobRow]:
        """Submissions not collected yet (or whose answer was lost), oldest first."""
        return list(reversed(self.jobs(states=LIVE_STATES)))

    def job(self, job_id: int) -> JobRow:
        rows = self.store.query(f"SELECT {_JOB_COLUMNS} FROM batch_jobs WHERE id=?", (job_id,))
        return _job(rows[0])

    def items(self, job_id: int) -> list[ItemRow]:
        rows = self.store.query(f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE job_id=?", (job_id,))
        return [_item(r) for r in rows]

    def latest_items(self, fingerprints: Iterable[str]) -> dict[str, ItemRow]:
        """The newest request submitted with each fingerprint (of those ever submitted)."""
        wanted = set(fingerprints)
        found: dict[str, ItemRow] = {}
        rows = self.store.query(
            f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE tree=? AND state != 'abandoned' ORDER BY job_id",
            (self.tree,),
        )
        for row in rows:
            item = _item(row)
            if item.fingerprint in wanted:
                found[item.fingerprint] = item
        return found

    def submitted_groups(self) -> list[tuple[str, ...]]:
        """The incidents of every request submitted for this tree (abandoned submissions aside),
        newest first: which incidents were asked together."""
        rows = self.store.query(
            "SELECT incident_ids FROM batch_items WHERE tree=? AND state != 'abandoned' ORDER BY job_id DESC",
            (self.tree,),
        )
        return [tuple(json.loads(str(row[0]))) for row in rows]

    def failures(self, fingerprint: str) -> int:
        """How often a request with this fingerprint came back from a batch without a reply."""
        rows = self.store.query(
            "SELECT count(*) FROM batch_items WHERE tree=? AND fingerprint=?"
            " AND state IN ('errored', 'expired', 'canceled')",
            (self.tree, fingerprint),
        )
        return int(rows[0][0])

    def known_remote_ids(self) -> set[str]:
        rows = self.store.query(
            "SELECT remote_id, candidates FROM batch_jobs WHERE tree=? AND remote_id IS NOT NULL",
            (self.tree,),
        )
        found = {str(r[0]) for r in rows}
        for _, candidates in rows:
            found.update(json.loads(str(candidates)))
        return found

    # -- writing ---------------------------------------------------------------------------------

    def record_submission(
        self,
        *,
        run_id: int,
        provider: str,
        model: str,
        base_url: str | None,
        tag: str,
        items: Sequence[ItemRow],
    ) -> int:
        """Step 1: the submission and its requests, durable, before anything is sent."""
        now = time.time()
        with self.store.tx() as db:
            cursor = db.execute(
                "INSERT INTO batch_jobs (tree, run_id, provider, model, base_url, tag, state, requests,"
                " created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (self.tree, run_id, provider, model, base_url, tag, SUBMITTING, len(items), now),
            )
            job_id = cursor.lastrowid
            assert job_id is not None
            db.executemany(
                "INSERT INTO batch_items (tree, custom_id, job_id, fingerprint, path, incident_ids,"
                " worst_cost, state) VALUES (?,?,?,?,?,?,?,'submitted')",
                [
                    (
                        self.tree,
                        i.custom_id,
                        job_id,
                        i.fingerprint,
                        i.path,
                        dump(list(i.incident_ids)),
                        i.worst_cost,
                    )
                    for i in items
                ],
            )
        return job_id

    def sending(self, job_id: int) -> None:
        """Step 1b, right before the request goes out: from now on the provider may have it."""
        with self.store.tx() as db:
            db.execute("UPDATE batch_jobs SET sent_at=? WHERE id=?", (time.time(), job_id))

    def submitted(self, job_id: int, remote_id: str) -> None:
        """Step 2: the provider took it; durable before anything else happens."""
        with self.store.tx() as db:
            db.execute(
                "UPDATE batch_jobs SET remote_id=?, state=?, submitted_at=? WHERE id=?",
                (remote_id, OPEN, time.time(), job_id),
            )

    def adopt(self, job_id: int, remote_ids: Sequence[str], note: str) -> None:
        """A submission whose answer was lost, found at the provider (several candidates: all kept,
        their results matched by custom_id)."""
        with self.store.tx() as db:
            db.execute(
                "UPDATE batch_jobs SET remote_id=?, candidates=?, state=?, submitted_at=?, note=? WHERE id=?",
                (remote_ids[0], dump(list(remote_ids[1:])), OPEN, time.time(), note, job_id),
            )

    def abandon(self, job_id: int, note: str) -> None:
        """The provider never took this submission: its requests are free to go again."""
        with self.store.tx() as db:
            db.execute(
                "UPDATE batch_jobs SET state=?, note=?, finished_at=? WHERE id=?",
                (ABANDONED, note, time.time(), job_id),
            )
            db.execute("UPDATE batch_items SET state='abandoned', error=? WHERE job_id=?", (note, job_id))

    def polled(self, job_id: int, status: str, counts: dict[str, int]) -> None:
        # Not durable: what the provider said last is only shown by `status`; the next poll repeats it.
        with self.store.tx(durable=False) as db:
            db.execute(
                "UPDATE batch_jobs SET status=?, counts=?, polled_at=? WHERE id=?",
                (status, dump(counts), time.time(), job_id),
            )

    def cancel_requested(self, job_id: int) -> None:
        with self.store.tx() as db:
            db.execute("UPDATE batch_jobs SET cancel_requested_at=? WHERE id=?", (time.time(), job_id))

    def collect(
        self, job: JobRow, run_id: int, results: Iterable[Collected], *, missing: str, missing_error: str
    ) -> CollectSummary:
        """Step 3: every result of an ended submission, in one durable commit. Requests the provider
        returned nothing for end as `missing` (the batch expired, was cancelled or refused)."""
        items = {i.custom_id: i for i in self.items(job.id)}
        summary = CollectSummary()
        now = time.time()
        seen: set[str] = set()
        with self.store.tx() as db:
            for result in results:
                item = items.get(result.custom_id)
                if item is None or result.custom_id in seen:
                    summary.foreign += 1  # not ours (a candidate batch of another client), or repeated
                    continue
                seen.add(result.custom_id)
                if result.response is not None and result.record is not None:
                    request_id = self._insert_request(db, run_id, job, item, result.record, "ok")
                    db.execute(
                        "INSERT OR REPLACE INTO replies (tree, fingerprint, request_id, body, state,"
                        " created_at) VALUES (?,?,?,?,'unused',?)",
                        (self.tree, item.fingerprint, request_id, reply_to_json(result.response), now),
                    )
                    state, error = "succeeded", ""
                    summary.succeeded += 1
                else:
                    failed = RequestRecord(item.path, item.incident_ids, 0, Usage(), 0.0, "", result.error)
                    request_id = self._insert_request(db, run_id, job, item, failed, "error")
                    state, error = result.kind, result.error
                    summary.failed[state] = summary.failed.get(state, 0) + 1
                db.execute(
                    "UPDATE batch_items SET state=?, error=?, request_id=? WHERE tree=? AND custom_id=?",
                    (state, error, request_id, self.tree, item.custom_id),
                )
            for custom_id, item in items.items():
                if custom_id in seen:
                    continue
                failed = RequestRecord(item.path, item.incident_ids, 0, Usage(), 0.0, "", missing_error)
                request_id = self._insert_request(db, run_id, job, item, failed, "error")
                db.execute(
                    "UPDATE batch_items SET state=?, error=?, request_id=? WHERE tree=? AND custom_id=?",
                    (missing, missing_error, request_id, self.tree, custom_id),
                )
                summary.failed[missing] = summary.failed.get(missing, 0) + 1
            db.execute("UPDATE batch_jobs SET state=?, finished_at=? WHERE id=?", (COLLECTED, now, job.id))
        return summary

    def _insert_request(
        self, db: Any, run_id: int, job: JobRow, item: ItemRow, record: RequestRecord, status: str
    ) -> int:
        """A requests row for a result: usage and cost as the synchronous path records them."""
        cursor = db.execute(
            "INSERT INTO requests (run_id, path, incident_ids, status, fingerprint, started_at, batch_job,"
            " attempt, stop_reason, error, input_tokens, output_tokens, cache_write_tokens,"
            " cache_read_tokens, cost, seconds, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                item.path,
                dump(list(item.incident_ids)),
                status,
                item.fingerprint if status == "ok" else None,
                job.submitted_at or job.created_at,
                job.id,
                *self.store._usage_columns(record),
            ),
        )
        request_id = cursor.lastrowid
        assert request_id is not None
        return int(request_id)


def batch_view(store: RunStore, *, recent: int = 10) -> list[dict[str, Any]]:
    """Submissions for `kantra-ai status`: every live one and the most recent others, newest first,
    with the provider's counts as last polled (status makes no network call)."""
    ledger = BatchLedger(store)
    live = ledger.jobs(states=LIVE_STATES)
    shown = {job.id for job in live}
    others = [job for job in ledger.jobs(limit=recent) if job.id not in shown]
    rows = []
    for job in sorted([*live, *others], key=lambda j: -j.id)[: max(recent, len(live))]:
        rows.append(
            {
                "submission": job.id,
                "batch": job.remote_id,
                "provider": job.provider,
                "model": job.model,
                "state": job.state,
                "status": job.status,
                "requests": job.requests,
                "counts": job.counts,
                "submitted_at": job.submitted_at or job.created_at,
                "polled_at": job.polled_at,
                "note": job.note,
            }
        )
    return rows
