"""What a job changed, from the run store's write log: its writes as hunks, and a file's content with
any chosen set of those hunks.

Only writes that happened and were not undone count (a fix reverted after a failed verification, or
by `undo`, is delivered by nobody). The bytes come from the store (what kantra-ai wrote), never from
the working tree: a change someone made to a file after kantra-ai wrote it is theirs and is never
committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
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
    store: RunStore, run_ids: Sequence[int], stage_of: Mapping[str, str], default_stage: str
) -> tuple[list[WriteChange], list[str]]:
    """The job's live writes, oldest first, and a note for each write that cannot be delivered."""
    if not run_ids:
        return [], []
    marks = ",".join("?" * len(run_ids))
    rows = store.query(
        "SELECT id, path, before_sha, after_sha, outcomes, edits FROM writes WHERE tree=? AND state='written'"
        f" AND kind='fix' AND reverted_by IS NULL AND run_id IN ({marks}) ORDER BY id",
        (store.tree, *run_ids),
    )
    found: list[WriteChange] = []
    notes: list[str] = []
    for write_id, path, before_sha, after_sha, outcomes_json, edits_json in rows:
        before, after = store.content(str(before_sha)), store.content(str(after_sha))
        if before is None or after is None:
            notes.append(f"{path}: written by an older kantra-ai that kept no content; not committed")
            continue
        outcomes = json.loads(str(outcomes_json))
        fixed = tuple(o["id"] for o in outcomes if o["status"] == "fixed")
        edits = [
            HunkEdit(e["old_text"], e["new_text"], tuple(e.get("incident_ids", ())))
            for e in json.loads(str(edits_json))
        ]
        stages = [stage_of[o["id"]] for o in outcomes if o["id"] in stage_of]
        found.append(
            WriteChange(
                int(write_id),
                str(path),
                before,
                after,
                tuple(diff_hunks(before, after, edits, fixed)),
                stages[0] if stages else default_stage,
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
