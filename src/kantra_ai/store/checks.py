"""What verification keeps in the run store: its checks, the repair rounds files are done with, and
each incident's verification result.

A verification loop is driven by these records, so a run killed at any moment of it resumes where it
was: the last check of a scope says how many repair rounds were done and which diagnostics the next
round repairs; a round is done for a file once its repair write happened (`writes.scope/round`) or a
`round-done` row says the round left it as it was. Diagnostics are kept as JSON (the verify layer
reads them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kantra_ai.edits.model import Edit
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.store.codec import Decided, dump, edits_from_json, outcomes_from_json
from kantra_ai.store.run_store import RunStore, StoreConnection


@dataclass(frozen=True)
class CheckRow:
    id: int
    run_id: int
    kind: str  # baseline, check, probe (a check of a scratch copy, by bisection)
    scope: str
    round: int
    command: str
    exit_code: int | None
    timed_out: bool
    seconds: float
    diagnostics: list[dict[str, Any]]
    new: list[dict[str, Any]]
    tail: str


_COLUMNS = "id, run_id, kind, scope, round, command, exit_code, timed_out, seconds, diagnostics, new, tail"


def _row(r: Sequence[Any]) -> CheckRow:
    return CheckRow(
        int(r[0]),
        int(r[1]),
        str(r[2]),
        str(r[3]),
        int(r[4]),
        str(r[5]),
        None if r[6] is None else int(r[6]),
        bool(r[7]),
        float(r[8]),
        json.loads(str(r[9])),
        json.loads(str(r[10])),
        str(r[11]),
    )


def run_chain(store: RunStore, run_id: int) -> list[int]:
    """This run and the unfinished runs it continues, newest first (each `resumes` the next)."""
    chain = [run_id]
    while True:
        rows = store.query("SELECT resumes FROM runs WHERE tree=? AND id=?", (store.tree, chain[-1]))
        if not rows or rows[0][0] is None or int(rows[0][0]) in chain:
            return chain
        chain.append(int(rows[0][0]))


def _in(runs: Sequence[object]) -> str:
    """The placeholders of `run_id IN (...)`. No runs: `IN (NULL)`, which matches no row in SQLite
    and PostgreSQL alike (`IN ()` is SQLite's only: PostgreSQL refuses it as a syntax error)."""
    return ",".join("?" * len(runs)) or "NULL"


def record_check(
    store: RunStore,
    run_id: int,
    *,
    kind: str,
    scope: str,
    round: int,
    command: str,
    exit_code: int | None,
    timed_out: bool,
    seconds: float,
    diagnostics: Sequence[dict[str, Any]],
    new: Sequence[dict[str, Any]],
    tail: str,
) -> int:
    with store.tx() as db:
        cursor = db.execute(
            "INSERT INTO checks (run_id, tree, kind, scope, round, command, exit_code, timed_out, seconds,"
            " diagnostics, new, tail, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                store.tree,
                kind,
                scope,
                round,
                command,
                exit_code,
                int(timed_out),
                seconds,
                dump(list(diagnostics)),
                dump(list(new)),
                tail,
                time.time(),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def record_accepted(store: RunStore, run_id: int, problems: Sequence[dict[str, Any]]) -> None:
    """Problems verification keeps in the tree (a group kept although it fails): known from now on."""
    with store.tx() as db:
        db.execute(
            "INSERT INTO checks (run_id, tree, kind, scope, new, created_at) VALUES (?,?,'accepted','',?,?)",
            (run_id, store.tree, dump(list(problems)), time.time()),
        )


def accepted_problems(store: RunStore, runs: Sequence[int]) -> list[dict[str, Any]]:
    rows = store.query(
        f"SELECT new FROM checks WHERE tree=? AND kind='accepted' AND run_id IN ({_in(runs)}) ORDER BY id",
        (store.tree, *runs),
    )
    return [d for r in rows for d in json.loads(str(r[0]))]


def find_baseline(store: RunStore, runs: Sequence[int]) -> CheckRow | None:
    """The baseline recorded by the newest of `runs` that has one."""
    rows = store.query(
        f"SELECT {_COLUMNS} FROM checks WHERE tree=? AND kind='baseline' AND run_id IN ({_in(runs)})"
        " ORDER BY id DESC LIMIT 1",
        (store.tree, *runs),
    )
    return _row(rows[0]) if rows else None


def last_check(store: RunStore, scope: str, runs: Sequence[int]) -> CheckRow | None:
    rows = store.query(
        f"SELECT {_COLUMNS} FROM checks WHERE tree=? AND kind='check' AND scope=? AND run_id IN ({_in(runs)})"
        " ORDER BY id DESC LIMIT 1",
        (store.tree, scope, *runs),
    )
    return _row(rows[0]) if rows else None


def checks_of(store: RunStore, runs: Sequence[int]) -> list[CheckRow]:
    """Every run of the check command `runs` recorded: the baseline, the checks of the tree and
    bisection's probes on a copy of it (so their number is the number of checks run)."""
    rows = store.query(
        f"SELECT {_COLUMNS} FROM checks WHERE tree=? AND kind IN ('baseline', 'check', 'probe')"
        f" AND run_id IN ({_in(runs)}) ORDER BY id",
        (store.tree, *runs),
    )
    return [_row(r) for r in rows]


def round_done_paths(store: RunStore, scope: str, round: int, runs: Sequence[int]) -> set[str]:
    """Files whose repair in this round is over: written, or recorded as done without a write."""
    written = store.query(
        f"SELECT path FROM writes WHERE tree=? AND kind='repair' AND scope=? AND round=? AND state='written'"
        f" AND run_id IN ({_in(runs)})",
        (store.tree, scope, round, *runs),
    )
    done = store.query(
        f"SELECT path FROM checks WHERE tree=? AND kind='round-done' AND scope=? AND round=?"
        f" AND run_id IN ({_in(runs)})",
        (store.tree, scope, round, *runs),
    )
    return {str(r[0]) for r in written} | {str(r[0]) for r in done}


def mark_round_done(
    store: RunStore, run_id: int, scope: str, round: int, path: str, fingerprints: Iterable[str]
) -> None:
    """A file's repair round ended without a write; the replies it used are used (never re-applied)."""
    with store.tx() as db:
        db.execute(
            "INSERT INTO checks (run_id, tree, kind, scope, round, path, created_at)"
            " VALUES (?,?,'round-done',?,?,?,?)",
            (run_id, store.tree, scope, round, path, time.time()),
        )
        store.use_replies(db, fingerprints)


def set_verification(
    store: RunStore,
    incident_ids: Iterable[str],
    status: str,
    rounds: int,
    detail: str = "",
    *,
    failed: tuple[int, str] | None = None,
) -> None:
    """The incidents' verification result. `failed` (run id, reason): their fixes stay in the tree
    although the check fails, so they are not fixed: they become failed for that reason in the same
    transaction (a kill never leaves a failing fix counted as fixed), keeping the model's word."""
    ids = list(incident_ids)
    rows = [(status, rounds, detail, time.time(), store.tree, i) for i in ids]
    with store.tx() as db:
        db.executemany(
            "UPDATE incidents SET verification=?, repair_rounds=?, verification_detail=?, updated_at=?"
            " WHERE tree=? AND id=?",
            rows,
        )
        if failed is not None:
            _fail(db, store, failed[0], ids, failed[1])


def fail_fixes(store: RunStore, run_id: int, incident_ids: Iterable[str], reason: str) -> None:
    """Fixes a later look found not to hold (re-analysis still reports the incident): failed for
    `reason`, keeping the model's word, so that `status`, the report and the next run say so too."""
    with store.tx() as db:
        _fail(db, store, run_id, list(incident_ids), reason)


def _fail(db: StoreConnection, store: RunStore, run_id: int, ids: list[str], reason: str) -> None:
    found: list[Any] = []
    for start in range(0, len(ids), 500):  # under every SQLite's limit of bound values
        chunk = ids[start : start + 500]
        found += db.execute(
            "SELECT id, confidence, explanation, threshold FROM incidents"
            f" WHERE tree=? AND id IN ({_in(chunk)})",
            (store.tree, *chunk),
        ).fetchall()
    decided = [
        Decided(IncidentOutcome(str(r[0]), Status.FAILED, reason, r[1], str(r[2] or ""), r[3]), True)
        for r in found
    ]
    store.record_outcomes(db, run_id, decided)


def verification_of(store: RunStore, incident_ids: Iterable[str]) -> dict[str, tuple[str, int, str]]:
    """incident id -> (verification, repair rounds, detail), for those the store knows."""
    wanted = set(incident_ids)
    rows = store.query(
        "SELECT id, verification, repair_rounds, verification_detail FROM incidents WHERE tree=?",
        (store.tree,),
    )
    return {str(r[0]): (str(r[1]), int(r[2]), str(r[3])) for r in rows if str(r[0]) in wanted}


def repair_rounds_by_path(store: RunStore) -> dict[str, int]:
    """Per file of the tree: the repair rounds that wrote it (every run)."""
    rows = store.query(
        "SELECT path, count(DISTINCT scope || '#' || round) FROM writes WHERE tree=? AND kind='repair'"
        " AND state='written' GROUP BY path",
        (store.tree,),
    )
    return {str(r[0]): int(r[1]) for r in rows}


def repair_costs(store: RunStore, runs: Sequence[int]) -> dict[str, tuple[int, float | None]]:
    """Per file: repair requests and their cost (None when a price was unknown)."""
    rows = store.query(
        f"SELECT path, count(*), sum(coalesce(cost, 0)), sum(cost IS NULL AND status IN ('ok','error'))"
        f" FROM requests WHERE purpose='repair' AND run_id IN ({_in(runs)}) GROUP BY path",
        tuple(runs),
    )
    return {str(r[0]): (int(r[1]), None if r[3] else float(r[2] or 0.0)) for r in rows}


@dataclass(frozen=True)
class PendingWrite:
    """A write of ours that happened, is not undone and no check has decided yet."""

    id: int
    run_id: int
    path: str
    kind: str  # fix, repair
    fixed: tuple[str, ...]  # the incidents it fixed (a repair fixes none of its own)
    incidents: tuple[str, ...]  # every incident its batch decided (fixed or not)
    edits: tuple[Edit, ...]
    scope: str
    round: int


def pending_writes(store: RunStore, runs: Sequence[int]) -> list[PendingWrite]:
    """Writes of `runs` (fixes and repairs) that happened, are live and not yet verified, oldest first."""
    rows = store.query(
        "SELECT id, run_id, path, kind, outcomes, edits, scope, round FROM writes"
        " WHERE tree=? AND state='written' AND kind IN ('fix', 'repair') AND reverted_by IS NULL"
        f" AND verified='' AND run_id IN ({_in(runs)}) ORDER BY id",
        (store.tree, *runs),
    )
    found = []
    for r in rows:
        decided = outcomes_from_json(str(r[4]))
        found.append(
            PendingWrite(
                int(r[0]),
                int(r[1]),
                str(r[2]),
                str(r[3]),
                tuple(d.outcome.incident_id for d in decided if d.outcome.status is Status.FIXED),
                tuple(d.outcome.incident_id for d in decided),
                tuple(edits_from_json(str(r[5]))),
                str(r[6]),
                int(r[7]),
            )
        )
    return found


def live_write_paths(store: RunStore, runs: Sequence[int]) -> set[str]:
    """Files holding a write of `runs` (a fix or a repair) that is not undone."""
    rows = store.query(
        "SELECT DISTINCT path FROM writes WHERE tree=? AND state='written' AND kind IN ('fix', 'repair')"
        f" AND reverted_by IS NULL AND run_id IN ({_in(runs)})",
        (store.tree, *runs),
    )
    return {str(r[0]) for r in rows}


def writing_paths(store: RunStore) -> set[str]:
    """Files a write is under way for (its intent recorded, its result not yet): another worker's."""
    rows = store.query("SELECT DISTINCT path FROM writes WHERE tree=? AND state='intent'", (store.tree,))
    return {str(r[0]) for r in rows}


def unrecorded_reverts(store: RunStore, runs: Sequence[int], prefix: str) -> list[tuple[str, str, int]]:
    """Incidents a verification revert of `runs` failed (reason starting with `prefix`) whose result
    a kill kept from being recorded: (incident id, the diagnostic, repair rounds of its file)."""
    rows = store.query(
        f"SELECT id, path, reason FROM incidents WHERE tree=? AND status='failed' AND verification=''"
        f" AND run_id IN ({_in(runs)})",
        (store.tree, *runs),
    )
    found = []
    for incident_id, path, reason in rows:
        if not str(reason).startswith(prefix):
            continue
        rounds = store.query(
            f"SELECT count(DISTINCT round) FROM writes WHERE tree=? AND kind='repair' AND path=?"
            f" AND run_id IN ({_in(runs)})",
            (store.tree, path, *runs),
        )[0][0]
        found.append((str(incident_id), str(reason)[len(prefix) :], int(rounds)))
    return found


def mark_writes(store: RunStore, write_ids: Iterable[int], verdict: str) -> None:
    """What the check decided about these writes (they are no longer pending)."""
    with store.tx() as db:
        db.executemany("UPDATE writes SET verified=? WHERE id=?", [(verdict, w) for w in write_ids])
