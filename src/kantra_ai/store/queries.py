"""The store's view for `kantra-ai status`: runs, incidents by violation and status, money spent.

Read-only: no lock and no recovery, so it can be asked while a run is working on the tree. What a
killed run left (still "running", incidents in flight) is shown as the next run will record it
(crashed; pending again), without writing it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from kantra_ai.store.batches import batch_view
from kantra_ai.store.deliveries import git_view
from kantra_ai.store.run_store import RunState, RunStore
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import left_running_died
from kantra_ai.store.settled import fixes_gone

STATUSES = ("fixed", "failed", "skipped", "not_applicable", "pending", "in_flight")


def died_runs(store: RunStore, input_dir: Path) -> set[int]:
    """The runs the store calls running whose process is gone (nobody holds the tree's lock)."""
    running = "SELECT id FROM runs WHERE tree=? AND state=?"
    if not store.query(running, (store.tree, RunState.RUNNING.value)):
        return set()
    if not left_running_died(input_dir):
        return set()
    # Read again after the look at the lock: a run that closed its row and let go of the lock in
    # between finished; one still "running" now died.
    return {int(str(r[0])) for r in store.query(running, (store.tree, RunState.RUNNING.value))}


def selection_left_out(store: RunStore) -> dict[str, Any]:
    """What the latest run that selected incidents (remediate, execute: an undo selects none) left
    out of its selection as the analysis gave it: `not_applicable`, the incidents not sent because
    nothing in the tree can be edited for them (file, rule, line, reason: dependency, missing-file,
    ...), and the number of `informational` findings. The incidents table holds only what was sent."""
    for (text,) in store.query(
        # An undo or a review's reject is a run that selects nothing (selected 0), with details too.
        "SELECT details FROM runs WHERE tree=? AND selected > 0 AND details NOT IN ('', '{}')"
        " ORDER BY id DESC LIMIT 1",
        (store.tree,),
    ):
        details = json.loads(str(text))
        return {
            "not_applicable": list(details.get("not_applicable", [])),
            "informational": int(details.get("informational", 0)),
        }
    return {"not_applicable": [], "informational": 0}


def shown_status(status: str, died: set[int]) -> str:
    """An incident's status as the next run will record it: in flight when a run died (`died`:
    `died_runs`; no run can be working then) is pending again, as that run's recovery makes it."""
    return "pending" if died and status == "in_flight" else status


def fixes_gone_from(store: RunStore, input_dir: Path) -> dict[str, int]:
    """Per file, the incidents the store records as fixed whose fix is no longer in it (restored,
    or changed since: the look the next run takes before skipping them, store/settled.py). Reads
    those files: asked by `status`, not by every page of the web app."""
    rows = store.query("SELECT id, path FROM incidents WHERE tree=? AND status='fixed'", (store.tree,))
    pairs = [(str(r[0]), str(r[1])) for r in rows if r[1]]
    gone = fixes_gone(store, input_dir, pairs)
    return dict(sorted(Counter(path for incident_id, path in pairs if incident_id in gone).items()))


def store_view(
    store: RunStore, input_dir: Path, *, runs: int = 20, died: set[int] | None = None
) -> dict[str, Any]:
    """`input_dir`: the tree the store is about (its lock tells whether a "running" run died);
    `died`: `died_runs` when the caller asked it already (so both read the same answer)."""
    tree = store.tree
    died = died_runs(store, input_dir) if died is None else died
    in_tree = "SELECT id FROM runs WHERE tree=?"
    usage: dict[int, tuple[Any, ...]] = {
        int(r[0]): r[1:]
        for r in store.query(
            "SELECT run_id, count(*), sum(status='error'), sum(status IN ('lost','cancelled')),"
            " sum(input_tokens), sum(cache_write_tokens), sum(cache_read_tokens), sum(output_tokens),"
            " sum(coalesce(cost, 0)), sum(cost IS NULL AND status IN ('ok','error')), sum(status='in_flight')"
            f" FROM requests WHERE run_id IN ({in_tree}) GROUP BY run_id",
            (tree,),
        )
    }
    # Requests sent and never answered: lost in a killed run (in flight in one that died, as its
    # recovery records them) or abandoned by a second Ctrl-C. The provider may bill what it had
    # produced, which no one can know: their cost is in no sum, and they are counted to say so.
    lost = {run_id: int(u[2] or 0) + (int(u[9] or 0) if run_id in died else 0) for run_id, u in usage.items()}
    # One outcome per incident per run: its last decision in that run. A run can decide an incident
    # twice (verification reverts a fix: `failed` after `fixed`); counting every row would call a
    # reverted fix fixed and count more outcomes than incidents.
    decided: dict[int, Counter[str]] = {}
    for run_id, status, count in store.query(
        "SELECT run_id, status, count(*) FROM (SELECT run_id, status, row_number() OVER"
        " (PARTITION BY run_id, incident_id ORDER BY at DESC, rowid DESC) AS nth"
        f" FROM outcomes WHERE run_id IN ({in_tree})) AS decisions WHERE nth = 1 GROUP BY run_id, status",
        (tree,),
    ):
        decided.setdefault(int(str(run_id)), Counter())[str(status)] = int(str(count))
    run_rows = []
    for row in store.query(
        "SELECT id, state, mode, provider, model, started_at, finished_at, selected, planned, skipped_done,"
        " reused_replies, note FROM runs WHERE tree=? ORDER BY id DESC LIMIT ?",
        (tree, runs),
    ):
        run_id = int(str(row[0]))
        for name, stamp in (("started_at", row[5]), ("finished_at", row[6])):
            if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int | float)):
                shown = f"{name} {str(stamp)[:40]!r}"
                raise StoreError(f"run store {store.path}: damaged: run #{run_id} has {shown}, not a time")
        state = str(row[1])
        if run_id in died:
            state = RunState.CRASHED.value  # the next run on the tree records it so
        u = usage.get(run_id, (0,) * 10)
        run_rows.append(
            {
                "run": run_id,
                "state": state,
                "mode": row[2],
                "provider": row[3],
                "model": row[4],
                "started_at": row[5],
                "finished_at": row[6],
                "selected": row[7],
                "planned": row[8],
                "skipped_as_done": row[9],
                "reused_replies": row[10],
                "note": row[11],
                "requests": int(u[0] or 0),
                "failed_requests": int(u[1] or 0),
                "lost_requests": lost.get(run_id, 0),
                "tokens": {
                    "input": int(u[3] or 0),
                    "cache_write": int(u[4] or 0),
                    "cache_read": int(u[5] or 0),
                    "output": int(u[6] or 0),
                },
                "cost_usd": None if u[8] else float(u[7] or 0.0),
                "outcomes": dict(decided.get(run_id, Counter())),
            }
        )
    by_violation: dict[str, Counter[str]] = {}
    for rule, status, count in store.query(
        "SELECT rule, status, count(*) FROM incidents WHERE tree=? GROUP BY rule, status", (tree,)
    ):
        by_violation.setdefault(str(rule), Counter())[shown_status(str(status), died)] += int(str(count))
    totals: Counter[str] = Counter()
    for counts in by_violation.values():
        totals.update(counts)
    spent = store.query(
        "SELECT count(*), sum(coalesce(cost, 0)), sum(cost IS NULL AND status IN ('ok','error'))"
        f" FROM requests WHERE run_id IN ({in_tree})",
        (tree,),
    )[0]
    verification = {
        str(r[0]): int(r[1])
        for r in store.query(
            "SELECT verification, count(*) FROM incidents WHERE tree=? AND verification != ''"
            " GROUP BY verification",
            (tree,),
        )
    }
    reverted = [
        {"id": str(r[0]), "rule": str(r[1]), "file": str(r[2]), "detail": str(r[3])}
        for r in store.query(
            "SELECT id, rule, path, verification_detail FROM incidents WHERE tree=? AND verification IN"
            " ('reverted', 'failing') ORDER BY path, line",
            (tree,),
        )
    ]
    repairs = store.query(
        "SELECT count(*), sum(coalesce(cost, 0)), sum(cost IS NULL AND status IN ('ok','error'))"
        f" FROM requests WHERE purpose='repair' AND run_id IN ({in_tree})",
        (tree,),
    )[0]
    left_out = selection_left_out(store)
    unused = store.query("SELECT count(*) FROM replies WHERE tree=? AND state='unused'", (tree,))[0][0]
    intents = store.query("SELECT count(*) FROM writes WHERE tree=? AND state='intent'", (tree,))[0][0]
    return {
        "store": str(store.path),
        "tree": tree,
        "incidents": {s: totals.get(s, 0) for s in STATUSES},
        # Not sent, as of the latest run: the analysis's incidents with nothing in the tree to edit
        # (a dependency, a missing file), by reason; never in `incidents`, which counts what was sent.
        "not_sent": dict(sorted(Counter(str(r["reason"]) for r in left_out["not_applicable"]).items())),
        "requests": int(str(spent[0] or 0)),
        "cost_usd": None if spent[2] else float(str(spent[1] or 0.0)),
        "lost_requests": sum(lost.values()),  # their cost is unknown and not in cost_usd
        "unapplied_replies": int(str(unused)),
        "unsettled_writes": int(str(intents)),
        "runs": run_rows,
        # Jobs delivered through git: their branches, commits and pull requests (newest first).
        "git": [job for job in git_view(store) if job["commits"] or job["note"]],
        "batches": batch_view(store),  # --batch-api submissions (live ones and the last few)
        # Verification (--verify): incidents by what their check decided, the reverted or still
        # failing ones with the diagnostic, and the repair requests with their cost.
        "verification": {
            "incidents": verification,
            "not_kept": reverted,
            "repair_requests": int(str(repairs[0] or 0)),
            "repair_cost_usd": None if repairs[2] else float(str(repairs[1] or 0.0)),
        },
        "by_violation": {
            rule: {s: counts.get(s, 0) for s in STATUSES} for rule, counts in sorted(by_violation.items())
        },
    }
