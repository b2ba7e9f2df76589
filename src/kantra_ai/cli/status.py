"""`kantra-ai status`: what the run store knows about a tree; and the run-store flags of `remediate`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kantra_ai.config.cli import ConfigOpt
from kantra_ai.errors import UserError
from kantra_ai.store.history import HistoryOptions
from kantra_ai.store.queries import STATUSES, store_view
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import open_store

StateOpt = Annotated[
    Path | None,
    typer.Option("--state", help="The run store (SQLite) of this tree; default: INPUT/.kantra-ai/state.db."),
]


def history_options(
    *, state: Path | None, resume: bool, retry_failed: bool, fresh: bool, wait_lock: bool
) -> HistoryOptions:
    try:
        return HistoryOptions(state, resume, retry_failed, fresh, wait_lock)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def status(
    input_dir: Annotated[
        Path, typer.Option("--input", help="The application's source tree.", show_default=False)
    ],
    state: StateOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the store's view as JSON.")] = False,
    runs: Annotated[int, typer.Option(min=1, help="Show the last N runs.")] = 10,
    config_file: ConfigOpt = None,  # paths.input from .kantra-ai.yaml
) -> None:
    """Show the run store's view of a tree: runs, incidents per violation and status, cost so far."""
    if not input_dir.is_dir():
        raise UserError(f"--input {input_dir}: not a directory")
    try:
        store = open_store(input_dir, state, create=False)
        try:
            view = store_view(store, runs=runs)
        finally:
            store.close()
    except StoreError as exc:
        raise UserError(str(exc)) from None
    if json_output:
        sys.stdout.write(json.dumps(view, indent=2) + "\n")
    else:
        print_view(view, Console())


_SHORT = {"not_applicable": "n/a", "in_flight": "in flight"}


def _money(cost: float | None) -> str:
    if cost is None:
        return "unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


def _when(stamp: float | None) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(stamp)) if stamp else ""


def print_view(view: dict[str, Any], console: Console) -> None:
    inc = view["incidents"]
    console.print(f"run store: {view['store']}", markup=False, highlight=False)
    console.print(
        "incidents: "
        + ", ".join(f"{inc[s]} {s.replace('_', ' ')}" for s in STATUSES if inc[s] or s in ("fixed", "failed"))
        + f"; requests {view['requests']}; cost so far {_money(view['cost_usd'])}",
        markup=False,
        highlight=False,
    )
    if view["unapplied_replies"] or view["unsettled_writes"]:
        console.print(
            f"{view['unapplied_replies']} paid-for replies not applied yet and {view['unsettled_writes']} "
            "unsettled writes: the next run settles them without new requests",
            markup=False,
            highlight=False,
        )
    runs = Table(title="Runs (newest first)")
    for column in ("#", "started", "state", "mode", "planned", "skipped", "requests", "outcomes"):
        runs.add_column(column, overflow="fold")
    runs.add_column("cost", justify="right", no_wrap=True)
    for r in view["runs"]:
        outcomes = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(r["outcomes"].items()))
        requests = f"{r['requests']}" + (f" ({r['failed_requests']} failed)" if r["failed_requests"] else "")
        runs.add_row(
            str(r["run"]),
            _when(r["started_at"]),
            r["state"],
            r["mode"],
            str(r["planned"]),
            str(r["skipped_as_done"]),
            requests,
            outcomes,
            _money(r["cost_usd"]),
        )
    console.print(runs)
    violations = Table(title="Incidents per violation")
    violations.add_column("rule", overflow="fold")
    for s in STATUSES:
        violations.add_column(_SHORT.get(s, s), justify="right")
    for rule, counts in view["by_violation"].items():
        violations.add_row(rule, *(str(counts[s]) for s in STATUSES))
    console.print(violations)
