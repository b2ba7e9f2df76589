"""`kantra-ai status`: what the run store knows about a tree; and the run-store flags of `remediate`."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.box import HEAVY_HEAD, SIMPLE, Box
from rich.console import Console
from rich.table import Table

from kantra_ai import bounds
from kantra_ai.cli.help import HISTORY, OUTPUT, READ_EXIT_CODES, epilog
from kantra_ai.cli.run_options import InputOpt
from kantra_ai.config.cli import ConfigOpt
from kantra_ai.errors import UserError
from kantra_ai.store.history import HistoryOptions
from kantra_ai.store.postgres import display_url, is_postgres_url
from kantra_ai.store.queries import STATUSES, fixes_gone_from, store_view
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import open_store

StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        metavar="PATH",
        help="The run store (SQLite) of this tree; default: INPUT/.kantra-ai/state.db.",
        rich_help_panel=HISTORY,
    ),
]

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        envvar="KANTRA_AI_STORE",
        show_envvar=True,
        help="The run store in PostgreSQL (postgresql://USER@HOST/DB; password in PGPASSWORD or "
        "~/.pgpass, never on the command line), shared by machines; default: the SQLite file (--state).",
        rich_help_panel=HISTORY,
    ),
]


def check_store_url(store: str | None) -> str | None:
    if store and not is_postgres_url(store):
        raise UserError(f"--store {display_url(store)}: not a postgresql:// URL (the SQLite file is --state)")
    return store or None


def history_options(
    *,
    state: Path | None,
    resume: bool,
    retry_failed: bool,
    fresh: bool,
    wait_lock: bool,
    store: str | None = None,
) -> HistoryOptions:
    try:
        return HistoryOptions(state, resume, retry_failed, fresh, wait_lock, check_store_url(store))
    except ValueError as exc:
        raise UserError(str(exc)) from None


EPILOG = epilog(
    "kantra-ai status -i ./my-app",
    "kantra-ai status -i ./my-app --json | jq '.runs[0]'",
    exit_codes=READ_EXIT_CODES,
)


def status(
    input_dir: InputOpt,
    state: StateOpt = None,
    store_url: StoreOpt = None,
    json_output: Annotated[
        bool,
        typer.Option("--json", metavar="", help="Print the store's view as JSON.", rich_help_panel=OUTPUT),
    ] = False,
    runs: Annotated[
        int,
        typer.Option(
            min=1,
            max=bounds.RUNS_SHOWN.high,
            metavar="N",
            help="Show the last N runs.",
            rich_help_panel=OUTPUT,
        ),
    ] = 10,
    config_file: ConfigOpt = None,  # paths.input from .kantra-ai.yaml
) -> None:
    """Show the run store's view of a tree: runs, incidents per violation and status, cost so far."""
    if not input_dir.is_dir():
        raise UserError(f"--input {input_dir}: not a directory")
    try:
        store = open_store(input_dir, state, create=False, store=check_store_url(store_url))
        try:
            view = store_view(store, input_dir, runs=runs)
            # "Fixed" only where it still is: a file restored since (`git checkout`) lost its fixes.
            view["fixes_gone"] = fixes_gone_from(store, input_dir)
        finally:
            store.close()
    except StoreError as exc:
        raise UserError(str(exc)) from None
    if json_output:
        sys.stdout.write(json.dumps(json_view(view), indent=2) + "\n")
    else:
        # Piped (`| less`, `| grep`): no terminal width to fit, so no column is folded.
        console = Console(highlight=False) if sys.stdout.isatty() else Console(width=400, highlight=False)
        print_view(view, console)


def iso_time(stamp: float | None) -> str | None:
    """ISO 8601 in UTC, to the second: what JSON readers parse."""
    if not stamp:
        return None
    return datetime.fromtimestamp(stamp, tz=UTC).isoformat(timespec="seconds")


def round_cost(cost: float | None) -> float | None:
    return None if cost is None else round(cost, 6)


def json_view(view: dict[str, Any]) -> dict[str, Any]:
    """The store's view for `--json`: ISO 8601 times and costs rounded to a millionth of a dollar."""
    runs = [
        {
            **r,
            "started_at": iso_time(r["started_at"]),
            "finished_at": iso_time(r["finished_at"]),
            "cost_usd": round_cost(r["cost_usd"]),
        }
        for r in view["runs"]
    ]
    batches = [
        {**b, "submitted_at": iso_time(b["submitted_at"]), "polled_at": iso_time(b["polled_at"])}
        for b in view.get("batches", [])
    ]
    return {**view, "cost_usd": round_cost(view["cost_usd"]), "runs": runs, "batches": batches}


_SHORT = {"not_applicable": "n/a", "in_flight": "in flight"}
_RUN_STATES = {"waiting": "waiting for batch"}  # --batch-api, exit 75: run the same command again


def _money(cost: float | None) -> str:
    if cost is None:
        return "unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


def _unanswered(lost: int) -> str:
    """Requests sent and never answered (lost in a killed run, abandoned by a second Ctrl-C): the
    provider may bill them, for an amount nobody knows, so the cost is said to leave them out."""
    return f" (not counting {lost} requests lost in flight: their cost is unknown)" if lost else ""


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else ""


def print_view(view: dict[str, Any], console: Console) -> None:
    inc = view["incidents"]
    console.print(f"run store: {view['store']}", markup=False, highlight=False)
    console.print(
        "incidents: "
        + ", ".join(f"{inc[s]} {s.replace('_', ' ')}" for s in STATUSES if inc[s] or s in ("fixed", "failed"))
        + f"; requests {view['requests']}; cost so far {_money(view['cost_usd'])}"
        + _unanswered(view.get("lost_requests", 0)),
        markup=False,
        highlight=False,
    )
    gone = view.get("fixes_gone") or {}
    if gone:
        files = ", ".join(list(gone)[:3]) + (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
        console.print(
            f"{sum(gone.values())} of the fixed incidents are no longer fixed in their files (restored or "
            f"changed since: {files}): the next run fixes them again",
            markup=False,
            highlight=False,
        )
    not_sent = view.get("not_sent") or {}
    if not_sent:
        reasons = ", ".join(f"{reason} {n}" for reason, n in not_sent.items())
        console.print(
            f"not applicable (not sent, as of the last run): {sum(not_sent.values())} ({reasons})",
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
    checked = view.get("verification") or {}
    if checked.get("incidents"):
        counts = checked["incidents"]
        states = [s for s in ("verified", "repaired", "reverted", "failing") if s in counts]
        console.print(
            "verification: "
            + ", ".join(f"{counts[s]} {s}" for s in states)
            + f"; {checked['repair_requests']} repair requests, {_money(checked['repair_cost_usd'])}",
            markup=False,
            highlight=False,
        )
        for row in checked["not_kept"][:20]:
            console.print(f"  {row['file']} {row['rule']}: {row['detail']}", markup=False, highlight=False)
    box = HEAVY_HEAD if console.is_terminal else SIMPLE  # plain rules when piped
    runs = Table(title="Runs (newest first)", box=box)
    for column in ("#", "started", "state", "mode", "planned", "skipped", "requests", "outcomes"):
        runs.add_column(column, overflow="fold")
    runs.add_column("cost", justify="right", no_wrap=True)
    for r in view["runs"]:
        outcomes = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(r["outcomes"].items()))
        not_ok = {"failed": r["failed_requests"], "lost": r["lost_requests"]}
        notes = ", ".join(f"{n} {word}" for word, n in not_ok.items() if n)
        requests = f"{r['requests']}" + (f" ({notes})" if notes else "")
        runs.add_row(
            str(r["run"]),
            _when(r["started_at"]),
            _RUN_STATES.get(r["state"], r["state"]),
            r["mode"],
            str(r["planned"]),
            str(r["skipped_as_done"]),
            requests,
            outcomes,
            _money(r["cost_usd"]),
        )
    console.print(runs)
    _print_batches(view.get("batches") or [], console, box)
    violations = Table(title="Incidents per violation", box=box)
    violations.add_column("rule", overflow="fold")
    for s in STATUSES:
        violations.add_column(_SHORT.get(s, s), justify="right")
    for rule, counts in view["by_violation"].items():
        violations.add_row(rule, *(str(counts[s]) for s in STATUSES))
    console.print(violations)
    _print_git(view.get("git", []), console)


def _print_git(jobs: list[dict[str, Any]], console: Console) -> None:
    """Commits, branches and pull requests of the jobs delivered through git."""
    if not jobs:
        return
    table = Table(title="Delivered through git")
    for column in ("run", "branch", "state", "commits", "pull requests"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        pulls = [f"{b['pr_url']} ({b['name']})" for b in job["branches"] if b["pr_url"]]
        state = job["state"] + (f": {job['note']}" if job["note"] else "")
        state += "".join(f", reverted by run #{u['run']} ({u['commit'][:12]})" for u in job["reverted_by"])
        table.add_row(
            str(job["run"]), job["branch"], state, str(len(job["commits"])), "\n".join(pulls) or "-"
        )
    console.print(table)


def _age(stamp: float | None) -> str:
    if not stamp:
        return ""
    seconds = max(0, int(time.time() - stamp))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def _print_batches(rows: list[dict[str, Any]], console: Console, box: Box) -> None:
    """`--batch-api` submissions: id, provider, requests, counts by state (as last polled), age."""
    if not rows:
        return
    table = Table(title="Batch API submissions (counts as last polled; newest first)", box=box)
    for column in ("batch", "provider / model", "state", "requests", "counts", "age"):
        table.add_column(column, overflow="fold")
    for row in rows:
        counts = ", ".join(f"{n} {k}" for k, n in row["counts"].items() if n) or "-"
        state = row["state"] + (f" ({row['status']})" if row["status"] else "")
        table.add_row(
            row["batch"] or f"#{row['submission']} (being confirmed)",
            f"{row['provider']} / {row['model']}",
            state,
            str(row["requests"]),
            counts,
            _age(row["submitted_at"]),
        )
    console.print(table)
