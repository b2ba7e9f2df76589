"""What a job changed, from the run store's write log: its writes as hunks, and a file's content with
any chosen set of those hunks.

Only writes that happened and were not undone count (a fix reverted after a failed verification, or
by `undo`, is delivered by nobody; with `--verify`, neither is a write its check has not accepted).
Verification's repairs are delivered with the fixes they repaired. The bytes come from the store
(what kantra-ai wrote), never from the working tree: a change someone made to a file after
kantra-ai wrote it is theirs and is never committed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from kantra_ai.delivery.hunks import Hunk, HunkEdit, diff_hunks, splice
from kantra_ai.store.revert import merge_file
from kantra_ai.store.run_store import RunStore


@dataclass(frozen=True)
class WriteChange:
    id: int
    path: str  # relative to --input
    before: bytes
    after: bytes
    hunks: tuple[Hunk, ...]
    stage: str  # the stage (execute: phase) whose batch made it
    fixed: tuple[str, ...]  # the incidents the write fixed


Picks = Mapping[int, frozenset[int]]  # write id -> indices of the hunks chosen from it


def job_writes(
    store: RunStore,
    run_ids: Sequence[int],
    stage_of: Mapping[str, str],
    default_stage: str,
    *,
    accepted: Collection[str] | None = None,
) -> tuple[list[WriteChange], list[str]]:
    """The job's live writes, oldest first, and a note for each write that cannot be delivered.

    `accepted`: verification's verdicts a write must have to be delivered (`--verify`: verified,
    repaired); None takes every live write. A repair (verification's) is delivered as part of the
    write it repaired: it continues that write's content, so the two are one change of the same
    incidents (a repair following another repair of the file continues the same change)."""
    if not run_ids:
        return [], []
    marks = ",".join("?" * len(run_ids))
    rows = store.query(
        "SELECT id, path, before_sha, after_sha, outcomes, edits, kind, verified FROM writes WHERE tree=?"
        " AND state='written' AND kind IN ('fix', 'repair') AND reverted_by IS NULL"
        f" AND run_id IN ({marks}) ORDER BY id",
        (store.tree, *run_ids),
    )
    found: list[WriteChange] = []
    notes: list[str] = []
    latest: dict[str, tuple[int, str, list[HunkEdit]]] = {}  # path -> (index in found, after sha, edits)
    for write_id, path, before_sha, after_sha, outcomes_json, edits_json, kind, verified in rows:
        if accepted is not None and verified not in accepted:
            note = f"{path}: not committed: its check " + (
                f"decided {verified!r}" if verified else "has not passed yet (run the same command again)"
            )
            if note not in notes:
                notes.append(note)
            continue
        before, after = store.content(str(before_sha)), store.content(str(after_sha))
        if before is None or after is None:
            notes.append(f"{path}: written by an older kantra-ai that kept no content; not committed")
            continue
        edits = [
            HunkEdit(e["old_text"], e["new_text"], tuple(e.get("incident_ids", ())))
            for e in json.loads(str(edits_json))
        ]
        earlier = latest.get(str(path))
        if kind == "repair" and earlier is not None and earlier[1] == str(before_sha):
            index, _, earlier_edits = earlier
            repaired = found[index]
            edits = earlier_edits + edits
            found[index] = dataclasses.replace(
                repaired, after=after, hunks=tuple(diff_hunks(repaired.before, after, edits, repaired.fixed))
            )
            latest[str(path)] = (index, str(after_sha), edits)
            continue
        if kind == "repair":  # the write it repaired is not delivered here: the file's incidents own it
            fixed = tuple(i for w in found if w.path == str(path) for i in w.fixed)
            stage = next((w.stage for w in found if w.path == str(path)), default_stage)
        else:
            outcomes = json.loads(str(outcomes_json))
            fixed = tuple(o["id"] for o in outcomes if o["status"] == "fixed")
            stages = [stage_of[o["id"]] for o in outcomes if o["id"] in stage_of]
            stage = stages[0] if stages else default_stage
        latest[str(path)] = (len(found), str(after_sha), edits)
        found.append(
            WriteChange(
                int(write_id),
                str(path),
                before,
                after,
                tuple(diff_hunks(before, after, edits, fixed)),
                stage,
                fixed,
            )
        )
    return found, notes


def file_content(start: bytes, writes: Iterable[WriteChange], picks: Picks) -> bytes | None:
    """`start` (the file as a branch's parent has it) with the chosen hunks of each write applied in
    order; None when a write's chosen hunks cannot be taken without hunks left out (they touch).

    A write whose `before` is the content so far is applied by splicing its hunks; otherwise
    (hunks of an earlier write left out, or a change made outside kantra-ai in between) by a
    three-way merge of exactly those hunks, so nothing but kantra-ai's chosen changes is carried.
    """
    content = start
    for write in writes:
        chosen = picks.get(write.id, frozenset())
        if not chosen:
            continue
        target = splice(write.before, (h for h in write.hunks if h.index in chosen))
        if content == write.before:
            content = target
            continue
        merged = merge_file(content, write.before, target)
        if merged is None:
            return None
        content = merged
    return content


def union(*picks: Picks) -> dict[int, frozenset[int]]:
    merged: dict[int, frozenset[int]] = {}
    for p in picks:
        for write_id, indices in p.items():
            merged[write_id] = merged.get(write_id, frozenset()) | indices
    return merged
