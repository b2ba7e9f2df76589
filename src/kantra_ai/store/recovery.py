"""What a run does first, under the tree lock: settle whatever a killed run left behind.

- A run still marked "running" died (nobody else can hold the lock: `session.left_running_died`,
  which `status` asks without taking it): it becomes "crashed"; its
  requests still in flight become "lost" (their cost is unknown: the reply never arrived). Only
  requests that went out are recorded at all (one waiting for its turn is not), so "lost" counts
  what the server received. A request whose reply was kept (`received`) is not lost: it becomes
  `ok` with the reply's tokens and cost, and its reply is applied on the next run.
- A write intent that never got its result recorded is checked against the file on disk:
  - the file has the intended new content: the write happened; the outcomes recorded with the
    intent are committed now, and its replies are marked used (nothing is applied twice);
  - the file still has the old content: the write never happened; the intent is dropped and the
    replies stay unused, so the next run applies them again without a new request;
  - anything else: someone changed the file since; its incidents are planned again from the file
    as it is now, never overwritten with content computed from the old one.
  A temporary file a kill left next to the target (mid-write) is removed.
- Incidents still "in flight" are pending again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from kantra_ai.edits.files import sha256_file
from kantra_ai.store.codec import outcomes_from_json
from kantra_ai.store.run_store import RunState, RunStore


@dataclass
class Recovery:
    crashed_runs: list[int] = field(default_factory=list)
    lost_requests: int = 0
    completed_writes: list[str] = field(default_factory=list)  # written before the kill: recorded now
    undone_writes: list[str] = field(default_factory=list)  # never written: replies will be reused
    changed_outside: list[str] = field(default_factory=list)  # someone else changed them: re-planned
    temp_files_removed: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(
            self.crashed_runs
            or self.lost_requests
            or self.completed_writes
            or self.undone_writes
            or self.changed_outside
            or self.temp_files_removed
        )

    def describe(self) -> str:
        parts = []
        if self.crashed_runs:
            runs = ", ".join(f"#{r}" for r in self.crashed_runs)
            parts.append(f"run {runs} did not finish")
        if self.completed_writes:
            parts.append(f"{len(self.completed_writes)} file writes it made are now recorded")
        if self.undone_writes:
            parts.append(f"{len(self.undone_writes)} paid-for replies will be applied with no new request")
        if self.changed_outside:
            parts.append(f"{len(self.changed_outside)} files changed outside kantra-ai will be planned again")
        if self.lost_requests:
            parts.append(
                f"{self.lost_requests} requests had been sent and not answered yet (their replies are lost)"
            )
        return "; ".join(parts)


def recover(store: RunStore, input_dir: Path) -> Recovery:
    """Settle what a killed run left; call with the tree lock held."""
    result = Recovery()
    tree = store.tree
    now = time.time()
    with store.tx() as db:
        result.crashed_runs = [
            int(r[0])
            for r in db.execute(
                "SELECT id FROM runs WHERE tree=? AND state=?", (tree, RunState.RUNNING.value)
            ).fetchall()
        ]
        db.execute(
            "UPDATE runs SET state=?, finished_at=? WHERE tree=? AND state=?",
            (RunState.CRASHED.value, now, tree, RunState.RUNNING.value),
        )
        db.execute(
            "UPDATE requests SET status='ok' WHERE status='received'"
            " AND run_id IN (SELECT id FROM runs WHERE tree=?)",
            (tree,),
        )
        lost = db.execute(
            "UPDATE requests SET status='lost', finished_at=? WHERE status='in_flight'"
            " AND run_id IN (SELECT id FROM runs WHERE tree=?)",
            (now, tree),
        )
        result.lost_requests = lost.rowcount
    intents = store.query(
        "SELECT id, run_id, path, before_sha, after_sha, outcomes, fingerprints FROM writes"
        " WHERE tree=? AND state='intent' ORDER BY id",
        (tree,),
    )
    for write_id, run_id, path, before_sha, after_sha, outcomes, fingerprints in intents:
        target = Path(os.path.realpath(input_dir / str(path)))
        try:
            current = sha256_file(target)
        except OSError:
            current = ""
        # Before the intent is settled: a kill in between must not strand a temporary file.
        result.temp_files_removed += _remove_temp_files(target)
        with store.tx() as db:
            if current == after_sha:
                decided = outcomes_from_json(str(outcomes))
                store.record_outcomes(db, int(str(run_id)), decided, recovered=True)
                store.use_replies(db, json.loads(fingerprints))
                store.close_pack_shares(db, str(path))
                store.settle_revert(db, int(write_id))  # a revert: the writes it undoes are undone
                state = "written"
                result.completed_writes.append(str(path))
            elif current == before_sha:
                state = "abandoned"
                result.undone_writes.append(str(path))
            else:
                state = "changed-outside"
                result.changed_outside.append(str(path))
            db.execute("UPDATE writes SET state=?, finished_at=? WHERE id=?", (state, now, write_id))
    with store.tx() as db:
        db.execute(
            "UPDATE incidents SET status='pending', updated_at=? WHERE tree=? AND status='in_flight'",
            (now, tree),
        )
    return result


def _remove_temp_files(target: Path) -> list[str]:
    """The temporary files `write_source_atomic` creates next to `target` (`.NAME.*.kantra-tmp`)."""
    removed: list[str] = []
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    for name in names:
        if name.startswith(f".{target.name}.") and name.endswith(".kantra-tmp"):
            with contextlib.suppress(OSError):
                (target.parent / name).unlink()
                removed.append(str(target.parent / name))
    return removed
