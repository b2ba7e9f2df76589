"""The run store: every run, request, reply, file write and incident decision on a source tree.

All writes go through short `BEGIN IMMEDIATE` transactions that commit before the run moves on, in
the order that makes a kill at any moment recoverable (see `store/observer.py` for the order and
`store/recovery.py` for what a restart does with what it finds).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from kantra_ai._fs import file_identity
from kantra_ai.analysis.complexity import complexity_of
from kantra_ai.analysis.model import Incident
from kantra_ai.edits.files import decode_text
from kantra_ai.edits.model import Edit
from kantra_ai.engine.history import EarlierWrite, FileHistory
from kantra_ai.engine.outcomes import RequestRecord, Status
from kantra_ai.engine.replies import PackShare
from kantra_ai.providers.base import ModelResponse
from kantra_ai.redact import redact
from kantra_ai.store.codec import (
    Decided,
    dump,
    edits_from_json,
    edits_to_json,
    outcomes_from_json,
    outcomes_to_json,
    reply_from_json,
    reply_to_json,
    share_from_json,
    share_to_json,
)
from kantra_ai.store.postgres import PostgresConnection, PostgresError, is_postgres_url
from kantra_ai.store.schema import StoreError, connect, connect_url

StoreConnection = sqlite3.Connection | PostgresConnection
_ERRORS = (sqlite3.Error, PostgresError)


class RunState(str, Enum):
    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # Ctrl-C: stopped cleanly
    ABORTED = "aborted"  # the provider refused the run (bad key, unknown model) after answering some of it
    REFUSED = "refused"  # the provider refused it before answering anything: nothing to continue
    CRASHED = "crashed"  # found still "running" by a later run: the process died
    # --batch-api (exit 75): it ended with requests still with the provider; the same command run
    # again collects them. Not "finished" (its incidents are not settled), nor "unfinished" in the
    # sense of a stopped run: the next run takes it up as one that stopped short (`unattempted`).
    WAITING = "waiting"

    @property
    def unfinished(self) -> bool:
        return self in (RunState.INTERRUPTED, RunState.ABORTED, RunState.CRASHED)


UNDO_MODE = "undo"  # the mode of a run `kantra-ai undo` recorded (app/undo.py)


@dataclass(frozen=True)
class RunRow:
    id: int
    state: RunState
    mode: str
    analysis: str
    provider: str
    model: str
    started_at: float
    finished_at: float | None

    @property
    def is_undo(self) -> bool:
        return self.mode == UNDO_MODE


@dataclass(frozen=True)
class Known:
    """The store's current view of one incident."""

    status: str  # pending, in_flight, fixed, failed, skipped, not_applicable
    answered: bool  # a model reply covered it: asking again costs money
    low_confidence: bool = False  # skipped by the confidence filter (held to a threshold it missed)
    reason: str = ""  # why it ended so ("" for a fix)


class RunStore:
    """One tree's view of a store: an SQLite file, or a PostgreSQL database (`--store URL`) that
    takes the same statements (`store/postgres.py`)."""

    def __init__(self, db: StoreConnection, path: Path | str, tree: str) -> None:
        self.db = db
        self.path = path  # the file, or the database's URL without its password
        self.tree = tree
        self._synchronous = "FULL"  # as `connect` leaves it
        # The SQLite file as opened: one deleted or replaced under an open connection takes what is
        # written from then on with it (`git clean -fdx`, `rm -r .kantra-ai` during a run).
        self._identity = file_identity(path) if isinstance(path, Path) else None

    @classmethod
    def open(cls, location: Path | str, tree: str, *, create: bool = True) -> RunStore:
        """`location`: the SQLite file, or a `postgresql://` URL."""
        if is_postgres_url(location):
            db = connect_url(str(location), create=create)
            return cls(db, db.location, tree)
        return cls(connect(Path(location), create=create), Path(location), tree)

    def take_lease(self, holder: str) -> int | None:
        """Make this the only attempt that may write for the tree (PostgreSQL: a fencing token that
        every later write transaction checks; an earlier attempt's writes are refused from now on).
        SQLite: None, the tree lock (`store/lock.py`) keeps other runs out."""
        if isinstance(self.db, PostgresConnection):
            try:
                return self.db.take_lease(self.tree, holder)
            except PostgresError as exc:
                raise StoreError(f"run store {self.path}: {exc}") from None
        return None

    def gone(self) -> bool:
        """Whether the store's file was deleted or replaced since it was opened: what was written
        through this connection is then in no file anyone will open (never for PostgreSQL)."""
        return self._identity is not None and file_identity(Path(self.path)) != self._identity

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def tx(self, *, durable: bool = True) -> Iterator[StoreConnection]:
        """One transaction; any SQLite failure becomes a one-line StoreError.

        `durable`: on disk (fsync) before this returns. Otherwise the commit is durable against a
        killed process at once and against a power cut with the next durable commit (WAL frames are
        synced in order): for records whose loss recovery can make up for.
        """
        wanted = "FULL" if durable else "NORMAL"
        try:
            if wanted != self._synchronous:
                self.db.execute(f"PRAGMA synchronous = {wanted}")
                self._synchronous = wanted
            self.db.execute("BEGIN IMMEDIATE")
        except _ERRORS as exc:
            raise StoreError(f"run store {self.path}: {exc}") from None
        try:
            yield self.db
        except BaseException as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if isinstance(exc, _ERRORS):
                raise StoreError(f"run store {self.path}: {exc}") from None
            raise
        try:
            self.db.execute("COMMIT")
        except _ERRORS as exc:
            raise StoreError(f"run store {self.path}: {exc}") from None

    def query(self, sql: str, params: Sequence[object] | Mapping[str, object] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self.db.execute(sql, params).fetchall())
        except _ERRORS as exc:
            raise StoreError(f"run store {self.path}: {exc}") from None

    # -- runs ------------------------------------------------------------------------------------

    def begin_run(
        self,
        *,
        mode: str,
        analysis: str,
        provider: str,
        model: str,
        resumes: int | None,
        selected: int,
        planned: int,
        skipped_done: int,
    ) -> int:
        row = (self.tree, RunState.RUNNING.value, mode, resumes, analysis, provider, model, os.getpid())
        with self.tx() as db:
            cursor = db.execute(
                "INSERT INTO runs (tree, state, mode, resumes, analysis, provider, model, pid, selected,"
                " planned, skipped_done, started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (*row, selected, planned, skipped_done, time.time()),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def next_run_id(self) -> int | None:
        """The id `begin_run` will give next (SQLite hands out one past the largest, and the tree's
        lock keeps other runs of the tree out meanwhile); None for PostgreSQL, whose sequence is
        shared by every tree and not known before it is drawn."""
        if isinstance(self.db, PostgresConnection):
            return None
        rows = self.query("SELECT COALESCE(MAX(id), 0) + 1 FROM runs")
        return int(rows[0][0])

    def finish_run(self, run_id: int, state: RunState, *, reused_replies: int = 0, note: str = "") -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE runs SET state=?, finished_at=?, reused_replies=?, note=? WHERE id=?",
                (state.value, time.time(), reused_replies, note, run_id),
            )
            if state is RunState.FINISHED:
                # Every planned request ran: a reply still unused will never match a request again.
                db.execute(
                    "UPDATE replies SET state='orphaned' WHERE tree=? AND state='unused'", (self.tree,)
                )

    def last_run(self) -> RunRow | None:
        """The last run a new one may continue: a run the provider refused outright did nothing, so
        the one before it is still the one to continue (or none)."""
        rows = self.query(
            "SELECT id, state, mode, analysis, provider, model, started_at, finished_at FROM runs"
            " WHERE tree=? AND state != ? ORDER BY id DESC LIMIT 1",
            (self.tree, RunState.REFUSED.value),
        )
        return RunRow(rows[0][0], RunState(rows[0][1]), *rows[0][2:]) if rows else None

    def answered_anything(self, run_id: int) -> bool:
        """Whether any request of the run got a reply (paid for, kept), the run wrote any file, or it
        handed work to a provider's batch API (answers may still come)."""
        rows = self.query(
            "SELECT EXISTS (SELECT 1 FROM requests WHERE run_id=? AND status IN ('ok', 'received'))"
            " OR EXISTS (SELECT 1 FROM writes WHERE run_id=?)"
            " OR EXISTS (SELECT 1 FROM batch_jobs WHERE run_id=?)",
            (run_id, run_id, run_id),
        )
        return bool(rows[0][0])

    # -- incidents -------------------------------------------------------------------------------

    def known(self) -> dict[str, Known]:
        """Every incident recorded for this tree, by id."""
        rows = self.query(
            "SELECT id, status, answered, status = 'skipped' AND threshold IS NOT NULL, reason FROM incidents"
            " WHERE tree=?",
            (self.tree,),
        )
        return {str(r[0]): Known(str(r[1]), bool(r[2]), bool(r[3]), str(r[4] or "")) for r in rows}

    def unsettled(self) -> set[str]:
        """Incidents still pending or in flight."""
        rows = self.query(
            "SELECT id FROM incidents WHERE tree=? AND status IN ('pending', 'in_flight')", (self.tree,)
        )
        return {str(r[0]) for r in rows}

    def unattempted(self) -> int:
        """Incidents no model reply has covered yet: pending, in flight, or skipped before sending."""
        rows = self.query(
            "SELECT count(*) FROM incidents WHERE tree=? AND (status IN ('pending', 'in_flight')"
            " OR (status = 'skipped' AND answered = 0))",
            (self.tree,),
        )
        return int(rows[0][0])

    def register(
        self, run_id: int, incidents: Iterable[Incident], stages: Mapping[str, str] | None = None
    ) -> None:
        """Record the incidents this run will work on as pending (new ones are added), with what the
        report shows of them: the analyzer's message, the stage (phase), the rule's description."""
        now = time.time()
        stages = stages or {}
        incidents = list(incidents)
        rows = [
            (
                self.tree,
                i.id,
                i.violation.ruleset,
                i.violation.rule_id,
                str(i.path),
                i.line,
                run_id,
                now,
                i.message,
                stages.get(i.id, ""),
            )
            for i in incidents
        ]
        violations = {i.violation.key: i.violation for i in incidents}
        with self.tx() as db:
            db.executemany(
                "INSERT INTO incidents (tree, id, ruleset, rule, path, line, status, run_id, updated_at,"
                " message, stage) VALUES (?,?,?,?,?,?,'pending',?,?,?,?) ON CONFLICT (tree, id) DO UPDATE SET"
                " status='pending', reason='', answered=0, confidence=NULL, threshold=NULL, explanation='',"
                " verification='', repair_rounds=0, verification_detail='',"
                " line=excluded.line, run_id=excluded.run_id, updated_at=excluded.updated_at,"
                " message=excluded.message,"
                # A run without phases (remediate, --retry-failed) leaves an incident in the phase
                # of the plan that ran it: the report's phases keep counting it.
                " stage=CASE WHEN excluded.stage != '' THEN excluded.stage ELSE incidents.stage END",
                rows,
            )
            db.executemany(
                "INSERT OR REPLACE INTO violations (tree, ruleset, rule, description, category, effort,"
                " complexity) VALUES (?,?,?,?,?,?,?)",
                [
                    (
                        self.tree,
                        v.ruleset,
                        v.rule_id,
                        v.description,
                        v.category.value,
                        v.effort,
                        complexity_of(v).value,
                    )
                    for v in violations.values()
                ],
            )

    def set_run_details(self, run_id: int, details: Mapping[str, Any]) -> None:
        """What the report needs of a run beyond its rows: what it left out, its settings."""
        with self.tx(durable=False) as db:
            db.execute("UPDATE runs SET details=? WHERE id=?", (dump(dict(details)), run_id))

    def record_outcomes(
        self, db: StoreConnection, run_id: int, decided: Sequence[Decided], *, recovered: bool = False
    ) -> None:
        """Inside a transaction: each incident's new status, plus a line of history."""
        now = time.time()
        db.executemany(
            "UPDATE incidents SET status=?, reason=?, answered=?, confidence=?, explanation=?, threshold=?,"
            " run_id=?, updated_at=? WHERE tree=? AND id=?",
            [
                (
                    d.outcome.status.value,
                    d.outcome.reason,
                    int(d.answered),
                    d.outcome.confidence,
                    d.outcome.explanation,
                    d.outcome.threshold,
                    run_id,
                    now,
                    self.tree,
                    d.outcome.incident_id,
                )
                for d in decided
            ],
        )
        db.executemany(
            "INSERT INTO outcomes (run_id, incident_id, status, reason, confidence, explanation, recovered,"
            " at, threshold) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    run_id,
                    d.outcome.incident_id,
                    d.outcome.status.value,
                    d.outcome.reason,
                    d.outcome.confidence,
                    d.outcome.explanation,
                    int(recovered),
                    now,
                    d.outcome.threshold,
                )
                for d in decided
            ],
        )

    # -- requests and replies --------------------------------------------------------------------

    def request_started(
        self, run_id: int, path: str, incident_ids: Sequence[str], *, purpose: str = "fix"
    ) -> int:
        """A request in flight; a fix request puts its incidents in flight too (a repair request
        leaves them as they are: they stay fixed while their file is repaired)."""
        # Not durable: lost in a power cut, the request would only be missing from the statistics.
        with self.tx(durable=False) as db:
            cursor = db.execute(
                "INSERT INTO requests (run_id, path, incident_ids, status, started_at, purpose)"
                " VALUES (?,?,?,'in_flight',?,?)",
                (run_id, path, dump(list(incident_ids)), time.time(), purpose),
            )
            request_id = cursor.lastrowid
            assert request_id is not None
            if purpose != "fix":
                return request_id
            db.executemany(
                "UPDATE incidents SET status='in_flight', attempts=attempts+1, request_id=?"
                " WHERE tree=? AND id=?",
                [(request_id, self.tree, i) for i in incident_ids],
            )
        return request_id

    def _usage_columns(self, record: RequestRecord) -> tuple[object, ...]:
        u = record.usage
        return (
            record.attempt,
            record.stop_reason,
            record.error,
            u.input_tokens,
            u.output_tokens,
            u.cache_write_tokens,
            u.cache_read_tokens,
            record.cost,
            record.seconds,
            time.time(),
        )

    _FINISH_REQUEST = (
        "UPDATE requests SET status=?, fingerprint=?, attempt=?, stop_reason=?, error=?, input_tokens=?,"
        " output_tokens=?, cache_write_tokens=?, cache_read_tokens=?, cost=?, seconds=?, finished_at=?"
        " WHERE id=?"
    )

    def _insert_reply(
        self, db: StoreConnection, request_id: int, fingerprint: str, response: ModelResponse
    ) -> None:
        """A reply holding something secret-shaped is stored masked (as everything the store keeps)
        and marked `masked`: applying the masked copy would write `***` into the file, so it is
        never reused (a run killed before applying it asks again)."""
        body = reply_to_json(response)
        state = "unused" if redact(body) == body else "masked"
        db.execute(
            "INSERT OR REPLACE INTO replies (tree, fingerprint, request_id, body, state, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (self.tree, fingerprint, request_id, body, state, time.time()),
        )

    def keep_reply(
        self, request_id: int, fingerprint: str, response: ModelResponse, *, cost: float | None = None
    ) -> None:
        """The reply, the moment it is complete, with what it cost (None: no price known): the
        request is `received` until `response_received` records it whole; recovery turns a
        `received` request into `ok`, its cost counted.

        Safe against a killed process at once; not fsynced on its own (an fsync here would stall
        the event loop, and with it every other reply still to be read: the replies a kill loses
        are those not read yet). It reaches the disk with the next durable commit, at the latest
        its own write intent, which precedes any change to the file: a power cut before that
        costs the request again, never a wrong file."""
        u = response.usage
        with self.tx(durable=False) as db:
            db.execute(
                "UPDATE requests SET status='received', fingerprint=?, stop_reason=?, input_tokens=?,"
                " output_tokens=?, cache_write_tokens=?, cache_read_tokens=?, cost=?, finished_at=?"
                " WHERE id=?",
                (
                    fingerprint,
                    response.stop_reason,
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_write_tokens,
                    u.cache_read_tokens,
                    cost,
                    time.time(),
                    request_id,
                ),
            )
            self._insert_reply(db, request_id, fingerprint, response)

    def response_received(
        self,
        request_id: int,
        record: RequestRecord,
        fingerprint: str,
        response: ModelResponse,
        *,
        reply_kept: bool = False,
    ) -> None:
        """What the request cost, and the reply unless `keep_reply` has it already, before anything
        is applied. Durable only when the reply is new here: a kept reply is safe on disk."""
        with self.tx(durable=not reply_kept) as db:
            db.execute(self._FINISH_REQUEST, ("ok", fingerprint, *self._usage_columns(record), request_id))
            if not reply_kept:
                self._insert_reply(db, request_id, fingerprint, response)

    def request_failed(self, request_id: int, record: RequestRecord) -> None:
        with self.tx() as db:
            db.execute(self._FINISH_REQUEST, ("error", None, *self._usage_columns(record), request_id))

    def stored_reply(self, fingerprint: str) -> ModelResponse | None:
        """A reply received for this request and neither applied nor found unusable."""
        rows = self.query(
            "SELECT body FROM replies WHERE tree=? AND fingerprint=? AND state='unused'",
            (self.tree, fingerprint),
        )
        return reply_from_json(str(rows[0][0])) if rows else None

    def keep_pack_shares(self, run_id: int, shares: Sequence[PackShare]) -> None:
        """Every file's share of a packed reply, in one commit, before any of them is applied. A
        share holding something secret-shaped is kept masked and never applied (as a reply is)."""
        rows = []
        now = time.time()
        for share in shares:
            body = share_to_json(share)
            state = "open" if redact(body) == body else "masked"
            rows.append(
                (self.tree, share.path, share.fingerprint, run_id, share.content_sha, body, state, now)
            )
        with self.tx(durable=False) as db:
            db.executemany(
                "INSERT OR REPLACE INTO pack_shares"
                " (tree, path, fingerprint, run_id, content_sha, share, state, created_at)"
                " VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )

    def close_pack_shares(self, db: StoreConnection, path: str) -> None:
        """The file is finished (its outcomes recorded): its shares of packed replies are spent."""
        db.execute(
            "UPDATE pack_shares SET state='done' WHERE tree=? AND path=? AND state='open'", (self.tree, path)
        )

    def pack_share_paths(self) -> set[str]:
        """The files holding a share of a packed reply not applied yet."""
        rows = self.query("SELECT DISTINCT path FROM pack_shares WHERE tree=? AND state='open'", (self.tree,))
        return {str(row[0]) for row in rows}

    def pack_share(self, path: str, content_sha: str) -> PackShare | None:
        """The newest share of a packed reply kept for `path`, made for these bytes, not applied."""
        rows = self.query(
            "SELECT fingerprint, share FROM pack_shares WHERE tree=? AND path=? AND content_sha=?"
            " AND state='open' ORDER BY created_at DESC LIMIT 1",
            (self.tree, path, content_sha),
        )
        if not rows:
            return None
        return share_from_json(path, str(rows[0][0]), content_sha, str(rows[0][1]))

    def reject_reply(self, fingerprint: str) -> None:
        """The reply cannot be used (it did not parse, or was cut off): never serve it again, so the
        retry of the same request reaches the model."""
        with self.tx(durable=False) as db:
            db.execute(
                "UPDATE replies SET state='unusable' WHERE tree=? AND fingerprint=? AND state='unused'",
                (self.tree, fingerprint),
            )

    def file_history(self, path: str) -> FileHistory:
        """The writes of ours to `path` that still stand (not undone), oldest first, and the file's
        text before the first write of ours (when the store kept it: since schema version 2)."""
        rows = self.query(
            "SELECT edits, outcomes, reverted_by, before_sha FROM writes WHERE tree=? AND path=?"
            " AND state='written' AND kind='fix' ORDER BY id",
            (self.tree, path),
        )
        writes = tuple(
            EarlierWrite(
                tuple(edits_from_json(str(edits))),
                frozenset(
                    d.outcome.incident_id
                    for d in outcomes_from_json(str(outcomes))
                    if d.outcome.status is Status.FIXED
                ),
            )
            for edits, outcomes, reverted_by, _ in rows
            if reverted_by is None
        )
        raw = self.content(str(rows[0][3])) if rows else None
        return FileHistory(writes, decode_text(raw) if raw is not None else None)

    # -- writes and batches ----------------------------------------------------------------------

    def write_intent(
        self,
        run_id: int,
        path: str,
        before_sha: str,
        after_sha: str,
        decided: Sequence[Decided],
        fingerprints: Sequence[str],
        *,
        contents: tuple[bytes, bytes] | None = None,
        edits: Sequence[Edit] = (),
        kind: str = "fix",
        reverts: Sequence[int] = (),
        scope: str = "",
        round: int = 0,
    ) -> int:
        """Before a file is replaced: what it is, what it will be, and what that decides.

        `contents` (the bytes before and after) are kept by hash, so the write can be undone exactly.
        `kind`: fix, revert, or repair (then `scope` and `round` say which repair round wrote it).
        `edits` are kept with the intent, so a write that recovery finds done still has them.
        """
        with self.tx() as db:
            db.execute(
                "UPDATE writes SET state='abandoned', finished_at=?"
                " WHERE tree=? AND path=? AND state='intent'",
                (time.time(), self.tree, path),
            )
            if contents is not None:
                db.executemany(
                    "INSERT OR IGNORE INTO blobs (sha, content) VALUES (?,?)",
                    [(before_sha, contents[0]), (after_sha, contents[1])],
                )
            cursor = db.execute(
                "INSERT INTO writes (run_id, tree, path, before_sha, after_sha, state, outcomes,"
                " fingerprints, created_at, kind, reverts, scope, round, edits)"
                " VALUES (?,?,?,?,?,'intent',?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    self.tree,
                    path,
                    before_sha,
                    after_sha,
                    outcomes_to_json(decided),
                    dump(list(fingerprints)),
                    time.time(),
                    kind,
                    dump(list(reverts)),
                    scope,
                    round,
                    edits_to_json(edits),
                ),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def content(self, sha: str) -> bytes | None:
        """The bytes a write recorded under `sha` (None: not recorded, e.g. by an older version)."""
        rows = self.query("SELECT content FROM blobs WHERE sha=?", (sha,))
        return bytes(rows[0][0]) if rows else None

    def settle_revert(self, db: StoreConnection, write_id: int) -> None:
        """A revert write happened: the writes it undoes are marked as undone by it."""
        rows = db.execute("SELECT reverts FROM writes WHERE id=?", (write_id,)).fetchall()
        undone = json.loads(str(rows[0][0])) if rows else []
        db.executemany("UPDATE writes SET reverted_by=? WHERE id=?", [(write_id, w) for w in undone])

    def finish_batch(
        self,
        run_id: int,
        decided: Sequence[Decided],
        fingerprints: Sequence[str],
        write_id: int | None,
        written: list[Edit] | None,
        path: str | None = None,
    ) -> None:
        """A batch's outcomes, its write's result and its replies marked used (and, with `path`, the
        file's shares of packed replies), in one commit.

        Not durable: lost in a power cut, the write intent is still open and recovery decides the
        same outcomes from the file's content hash."""
        with self.tx(durable=False) as db:
            self.record_outcomes(db, run_id, decided)
            if path is not None:
                self.close_pack_shares(db, path)
            if write_id is not None:
                if written is not None:
                    self.settle_revert(db, write_id)
                db.execute(
                    "UPDATE writes SET state=?, edits=?, finished_at=? WHERE id=?",
                    (
                        "written" if written is not None else "abandoned",
                        edits_to_json(written or []),
                        time.time(),
                        write_id,
                    ),
                )
            self.use_replies(db, fingerprints)

    def use_replies(self, db: StoreConnection, fingerprints: Iterable[str]) -> None:
        db.executemany(
            "UPDATE replies SET state='used' WHERE tree=? AND fingerprint=? AND state='unused'",
            [(self.tree, fp) for fp in fingerprints],
        )
