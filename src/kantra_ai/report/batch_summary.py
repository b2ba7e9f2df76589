"""The `--batch-api` lines of the summary and the dry run: the batch price next to the normal one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _money(cost: float | None) -> str:
    if cost is None:
        return "unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


def print_batch_summary(summary: Mapping[str, Any], console: Console) -> None:
    """What went through the batch API, what it cost against the same run sent synchronously,
    what came back without a reply and what still waits."""
    batch = summary.get("batch_api")
    if not batch:
        return
    table = Table(title="Batch API", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    submitted = batch["submitted"]
    if submitted:
        requests = sum(s["requests"] for s in submitted)
        table.add_row("submitted now", f"{requests} requests in {len(submitted)} batches")
    results = batch["results"]
    table.add_row("results applied now", ", ".join(f"{n} {k}" for k, n in results.items() if n) or "none")
    table.add_row(
        "cost (results at batch prices + synchronous requests)",
        f"{_money(batch['results_cost_usd'])} + {_money(batch['synchronous_requests_cost_usd'])}"
        f" = {_money(batch['cost_usd'])}",
    )
    table.add_row("the same run synchronously", _money(batch["same_run_synchronously_usd"]))
    table.add_row("saved", _money(batch["saved_usd"]))
    waiting = batch["waiting"]
    if waiting["incidents"]:
        table.add_row(
            "[yellow]waiting[/]",
            f"{waiting['incidents']} incidents in {', '.join(escape(b) for b in waiting['batches'])}",
        )
    if batch["skipped_for_budget"]:
        table.add_row("not submitted (--max-cost)", f"{batch['skipped_for_budget']} incidents")
    console.print(table)
    failures = batch["failures"]
    if failures:
        detail = Table(title="Batch requests without a reply")
        for column in ("file", "incident", "kind", "reason", "then"):
            detail.add_column(column, overflow="fold")
        for row in failures[:50]:
            detail.add_row(row["file"], row["incident"], row["kind"], row["error"], row["action"])
        console.print(detail)
        if len(failures) > 50:
            console.print(f"… and {len(failures) - 50} more (see --json)")
    console.print(batch["note"], highlight=False, markup=False)
    for other in batch["other_open_batches"]:
        console.print(
            f"batch {other} was submitted with another provider or model: run with those to apply it",
            highlight=False,
            markup=False,
        )


def print_batch_dry_run(totals: Mapping[str, Any], console: Console) -> None:
    batch = totals.get("batch_api")
    if not batch:
        return
    console.print(
        f"Through the batch API: estimated cost {_money(batch['expected_cost_usd'])} (at most "
        f"{_money(batch['worst_case_cost_usd'])}) instead of {_money(totals.get('expected_cost_usd'))}; "
        "answered within 24 hours; retries run synchronously at the normal price.",
        highlight=False,
        markup=False,
    )
