"""The run store's record of delivery through git: per job, its base, its branches, commits and
pull requests (schema version 4).

A *job* is a run together with the runs that continue it (`runs.resumes`): a run killed after its
commits and continued by the next one delivers once, under the first run's id.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from kantra_ai.store.codec import dump
from kantra_ai.store.run_store import RunStore


@dataclass(frozen=True)
class DeliveryRow:
    run_id: int
    base_sha: str
    base_branch: str
    branch: str
    state: str
    note: str


@dataclass(frozen=True)
class CommitRow:
    branch: str
    unit: str
    sha: str
    title: str
    files: tuple[str, ...]
    incidents: tuple[str, ...]
    position: int


@dataclass(frozen=True)
class BranchRow:
    name: str
    kind: str  # job | review
    group_key: str
    pr_base: str
    stacked_on: str
    tip: str
    remote: str
    pushed: str
    pr_number: int | None
    pr_url: str


_UNDO_UNIT = "undo:"


def undo_unit(undo_run: int) -> str:
    """The unit of `undo`'s revert commit on a job's branch (its trailer, its row here)."""
    return f"{_UNDO_UNIT}{undo_run}"


def job_root(store: RunStore, run_id: int) -> int:
    """The first run of the job `run_id` belongs to (following what each run continued)."""
    seen = {run_id}
    current = run_id
    while True:
        rows = store.query("SELECT resumes FROM runs WHERE tree=? AND id=?", (store.tree, current))
        if not rows or rows[0][0] is None or int(rows[0][0]) in seen:
            return current
        current = int(rows[0][0])
        seen.add(current)


def job_runs(store: RunStore, root: int) -> list[int]:
    """Every run of the job that starts at `root`, in order."""
    rows = store.query("SELECT id, resumes FROM runs WHERE tree=? ORDER BY id", (store.tree,))
    members = {root}
    for run_id, resumes in rows:
        if resumes is not None and int(resumes) in members:
            members.add(int(run_id))
    return sorted(members)


def delivery(store: RunStore, root: int) -> DeliveryRow | None:
    rows = store.query(
        "SELECT run_id, base_sha, base_branch, branch, state, note FROM deliveries WHERE tree=? AND run_id=?",
        (store.tree, root),
    )
    return DeliveryRow(int(rows[0][0]), *(str(v) for v in rows[0][1:])) if rows else None


def start_delivery(store: RunStore, root: int, base_sha: str, base_branch: str, branch: str) -> DeliveryRow:
    """The job's delivery row, made on its first run (a continuing run finds the one it has)."""
    with store.tx() as db:
        db.execute(
            "INSERT OR IGNORE INTO deliveries (tree, run_id, base_sha, base_branch, branch, state,"
            " updated_at) VALUES (?,?,?,?,?,'started',?)",
            (store.tree, root, base_sha, base_branch, branch, time.time()),
        )
    found = delivery(store, root)
    assert found is not None
    return found


def unfinished_deliveries(store: RunStore, but: int) -> list[int]:
    """Jobs other than `but` whose delivery did not finish (a forge error, a kill after the run)."""
    rows = store.query(
        "SELECT run_id FROM deliveries WHERE tree=? AND state != 'delivered' AND run_id != ? ORDER BY run_id",
        (store.tree, but),
    )
    return [int(r[0]) for r in rows]


def set_delivery_state(store: RunStore, root: int, state: str, note: str = "") -> None:
    with store.tx() as db:
        db.execute(
            "UPDATE deliveries SET state=?, note=?, updated_at=? WHERE tree=? AND run_id=?",
            (state, note, time.time(), store.tree, root),
        )


def record_commit(store: RunStore, root: int, row: CommitRow) -> None:
    with store.tx() as db:
        db.execute(
            "INSERT OR REPLACE INTO delivered_commits (tree, run_id, branch, unit, sha, title, files,"
            " incidents, position, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                store.tree,
                root,
                row.branch,
                row.unit,
                row.sha,
                row.title,
                dump(list(row.files)),
                dump(list(row.incidents)),
                row.position,
                time.time(),
            ),
        )


def commits(store: RunStore, root: int | None = None) -> list[CommitRow]:
    sql = (
        "SELECT branch, unit, sha, title, files, incidents, position FROM delivered_commits WHERE tree=?"
        + (" AND run_id=?" if root is not None else "")
        + " ORDER BY run_id, branch, position"
    )
    params: tuple[object, ...] = (store.tree, root) if root is not None else (store.tree,)
    return [
        CommitRow(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            str(r[3]),
            tuple(json.loads(str(r[4]))),
            tuple(json.loads(str(r[5]))),
            int(r[6]),
        )
        for r in store.query(sql, params)
    ]


def record_branch(store: RunStore, root: int, row: BranchRow) -> None:
    with store.tx() as db:
        db.execute(
            "INSERT OR REPLACE INTO delivered_branches (tree, run_id, name, kind, group_key, pr_base,"
            " stacked_on, tip, remote, pushed, pr_number, pr_url, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                store.tree,
                root,
                row.name,
                row.kind,
                row.group_key,
                row.pr_base,
                row.stacked_on,
                row.tip,
                row.remote,
                row.pushed,
                row.pr_number,
                row.pr_url,
                time.time(),
            ),
        )


def branches(store: RunStore, root: int | None = None) -> list[BranchRow]:
    sql = (
        "SELECT name, kind, group_key, pr_base, stacked_on, tip, remote, pushed, pr_number, pr_url"
        " FROM delivered_branches WHERE tree=?"
        + (" AND run_id=?" if root is not None else "")
        + " ORDER BY run_id, kind, name"
    )
    params: tuple[object, ...] = (store.tree, root) if root is not None else (store.tree,)
    return [
        BranchRow(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            str(r[3]),
            str(r[4]),
            str(r[5]),
            str(r[6]),
            str(r[7]),
            None if r[8] is None else int(r[8]),
            str(r[9]),
        )
        for r in store.query(sql, params)
    ]


def _commit_dict(c: CommitRow) -> dict[str, Any]:
    return {
        "sha": c.sha,
        "branch": c.branch,
        "title": c.title,
        "files": list(c.files),
        "incidents": list(c.incidents),
    }


def _branch_dict(b: BranchRow) -> dict[str, Any]:
    return {
        "name": b.name,
        "kind": b.kind,
        "holds": b.group_key,
        "pr_base": b.pr_base,
        "stacked_on": b.stacked_on,
        "tip": b.tip,
        "pushed": b.pushed,
        "remote": b.remote,
        "pr_number": b.pr_number,
        "pr_url": b.pr_url,
    }


def git_view(store: RunStore) -> list[dict[str, Any]]:
    """Every job's delivery, newest first, for `status` and the report. `reverted_by`: the undos
    committed on the job's branch (the run of each, its revert commit); the job's `state` stays
    that of its delivery (what was made and pushed is still there)."""
    rows = store.query(
        "SELECT run_id, base_sha, base_branch, branch, state, note FROM deliveries WHERE tree=?"
        " ORDER BY run_id DESC",
        (store.tree,),
    )
    view = []
    for r in rows:
        made = commits(store, int(r[0]))
        view.append(
            {
                "run": int(r[0]),
                "base": {"sha": str(r[1]), "branch": str(r[2])},
                "branch": str(r[3]),
                "state": str(r[4]),
                "note": str(r[5]),
                "commits": [_commit_dict(c) for c in made],
                "branches": [_branch_dict(b) for b in branches(store, int(r[0]))],
                "reverted_by": [
                    {"run": int(c.unit.removeprefix(_UNDO_UNIT)), "commit": c.sha}
                    for c in made
                    if c.unit.startswith(_UNDO_UNIT)
                ],
            }
        )
    return view
