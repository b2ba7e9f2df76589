"""The end-of-run summary: one dict for `--json`, rendered as tables for people."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kantra_ai.analysis.model import Applicability, Incident
from kantra_ai.engine.confidence import APPLIED_BELOW_THRESHOLD, ConfidencePolicy, confidence_summary
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, RunTotals, Status
from kantra_ai.providers.pricing import ModelPrice, describe_price
from kantra_ai.report.metrics import metric_rows, performance_metrics


def _money(cost: float | None) -> str:
    if cost is None:
        return "unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


def price_line(model: str, price: Mapping[str, Any] | None) -> str:
    """One line: the rates a cost was computed with and where they came from."""
    if price is None:
        return f"prices: none known for {model}: cost unknown (give one with --prices FILE)"
    rates = price["usd_per_million_tokens"]
    where = price["from"] + (f", {price['date']}" if price.get("date") else "")
    return (
        f"prices for {model} (USD per million tokens): input {rates['input']:g}, output {rates['output']:g}, "
        f"cache read {rates['cache_read']:g}, cache write {rates['cache_write_5m']:g} "
        f"(1 h: {rates['cache_write_1h']:g}); from {where}"
    )


def run_summary(
    *,
    provider: str,
    model: str,
    selected: Sequence[Incident],
    not_applicable: Sequence[Incident],
    informational: int,
    outcomes: dict[str, IncidentOutcome],
    totals: RunTotals,
    filtered_out: int = 0,
    aborted: str = "",
    confidence: ConfidencePolicy | None = None,
    records: Sequence[RequestRecord] = (),
    performance: Mapping[str, Any] | None = None,
    price: ModelPrice | None = None,
    settled_earlier: Collection[str] = (),
) -> dict[str, Any]:
    """`settled_earlier`: incidents among `outcomes` that earlier runs settled (execute lists every
    incident of its phases): counted, but not divided into this run's cost."""
    counts = Counter(outcomes[i.id].status.value for i in selected if i.id in outcomes)
    # Incidents that went out in a request: a run cut short (Ctrl-C, --max-cost) sent fewer than
    # it selected, and its per-request and per-minute figures are about what it sent.
    sent_ids = {incident_id for r in records for incident_id in r.incident_ids}
    sent = len(sent_ids)
    # Why a run stopped short (--max-cost, Ctrl-C, a refused key): the incidents it never sent.
    unsent = Counter(
        outcomes[i.id].reason if i.id in outcomes else "not attempted"
        for i in selected
        if i.id not in sent_ids and (i.id not in outcomes or outcomes[i.id].status is Status.SKIPPED)
    )
    by_violation: dict[str, Counter[str]] = {}
    for incident in selected:
        outcome = outcomes.get(incident.id)
        status = outcome.status.value if outcome else Status.SKIPPED.value
        by_violation.setdefault(incident.violation.rule_id, Counter())[status] += 1
    fixed = counts.get(Status.FIXED.value, 0)
    fixed_now = sum(
        1
        for i in selected
        if i.id not in settled_earlier and i.id in outcomes and outcomes[i.id].status is Status.FIXED
    )
    usage = totals.usage
    cost = totals.cost if totals.cost_known else None
    cacheable = usage.cache_read_tokens + usage.cache_write_tokens + usage.input_tokens
    minutes = totals.seconds / 60 if totals.seconds else 0.0
    return {
        "provider": provider,
        "model": model,
        "incidents": {
            "selected": len(selected),
            "fixed": fixed,
            "failed": counts.get(Status.FAILED.value, 0),
            # Never attempted (a stop, the budget, a refused run) is skipped too: the rows add up.
            "skipped": counts.get(Status.SKIPPED.value, 0) + sum(1 for i in selected if i.id not in outcomes),
            "not_applicable_by_model": counts.get(Status.NOT_APPLICABLE.value, 0),
            "not_applicable": len(not_applicable),
            "not_applicable_reasons": dict(Counter(i.applicability.value for i in not_applicable)),
            # Build output and vendored code, left alone unless --include-generated: which files.
            "generated_files": sorted(
                {str(i.path) for i in not_applicable if i.applicability is Applicability.GENERATED}
            ),
            "informational": informational,
            # Left out by --violation-ids, --categories, --max-effort, --include, --exclude.
            "filtered_out": filtered_out,
            "sent": sent,
        },
        # Files the analysis names that are not in the tree (by name, so a wrong --input shows).
        "missing_files": sorted(
            {str(i.path) for i in not_applicable if i.applicability is Applicability.MISSING_FILE}
        ),
        "requests": totals.requests,
        "failed_requests": totals.failed_requests,
        "tokens": {
            "input": usage.input_tokens,
            "cache_write": usage.cache_write_tokens,
            "cache_read": usage.cache_read_tokens,
            "output": usage.output_tokens,
        },
        "cache_hit_ratio": round(usage.cache_read_tokens / cacheable, 4) if cacheable else 0.0,
        "cost_usd": cost,
        "price": describe_price(price),  # the rates and their source (providers/pricing.py)
        # This run's cost over the incidents this run fixed: a rerun that fixed nothing has none.
        "cost_per_fixed_incident_usd": (cost / fixed_now) if cost is not None and fixed_now else None,
        "incidents_per_request": round(sent / totals.requests, 2) if totals.requests else 0.0,
        "incidents_per_minute": round(sent / minutes, 1) if minutes and sent else None,
        "seconds": round(totals.seconds, 2),
        "aborted": aborted or None,
        "stopped": {"reason": unsent.most_common(1)[0][0], "not_sent": sum(unsent.values())}
        if unsent
        else None,
        "by_violation": {k: dict(v) for k, v in sorted(by_violation.items())},
        "confidence": confidence_summary(selected, outcomes, confidence or ConfidencePolicy()),
        # Caching, batching, throughput and pacing (report/metrics.py); from the request records.
        "performance": performance_metrics(
            records, incidents=sent, fixed=fixed, seconds=totals.seconds, cost=cost, run=performance
        )
        if records
        else None,
        "outcomes": [
            {
                "id": i.id,
                "rule": i.violation.rule_id,
                "file": str(i.path),
                "line": i.line,
                "status": outcomes[i.id].status.value if i.id in outcomes else Status.SKIPPED.value,
                "reason": outcomes[i.id].reason if i.id in outcomes else "not attempted",
                "confidence": outcomes[i.id].confidence if i.id in outcomes else None,
                "threshold": outcomes[i.id].threshold if i.id in outcomes else None,
            }
            for i in selected
        ],
    }


def _per_fixed(summary: dict[str, Any]) -> str:
    """ "unknown" means no price; with nothing fixed there is nothing to divide by: "n/a"."""
    if summary["cost_usd"] is None:
        return "unknown"
    if summary["cost_per_fixed_incident_usd"] is None:
        return "n/a"
    return _money(summary["cost_per_fixed_incident_usd"])


def print_summary(summary: dict[str, Any], console: Console) -> None:
    inc = summary["incidents"]
    table = Table(title=f"kantra-ai: {summary['provider']} / {summary['model']}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("incidents selected", str(inc["selected"]))
    settled = _settled_earlier(summary)
    if settled:  # a rerun: what it did not send, said where its counts are (not only on stderr)
        table.add_row("settled by earlier runs (not sent)", settled)
    table.add_row("[green]fixed[/]", str(inc["fixed"]))
    table.add_row("[red]failed[/]", str(inc["failed"]))
    table.add_row("[yellow]skipped[/]", str(inc["skipped"]))
    table.add_row("does not apply (model)", str(inc["not_applicable_by_model"]))
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(inc["not_applicable_reasons"].items()))
    table.add_row(
        "not applicable (not sent)", f"{inc['not_applicable']}" + (f" ({reasons})" if reasons else "")
    )
    table.add_row("informational (not sent)", str(inc["informational"]))
    if inc.get("filtered_out"):  # else the rows do not add up to the analysis, and nothing says why
        table.add_row("left out by your filters", str(inc["filtered_out"]))
    table.add_row("requests", f"{summary['requests']} ({summary['failed_requests']} failed)")
    tokens = summary["tokens"]
    table.add_row(
        "tokens in / cache write / cache read / out",
        f"{tokens['input']:,} / {tokens['cache_write']:,} / {tokens['cache_read']:,} / {tokens['output']:,}",
    )
    table.add_row("cost", _money(summary["cost_usd"]))
    table.add_row("cost per fixed incident", _per_fixed(summary))
    if summary.get("price"):
        table.add_row("prices from", escape(_price_source(summary["price"])))
    table.add_row("time", f"{summary['seconds']:.1f} s")
    for label, value in metric_rows(summary["performance"]) if summary.get("performance") else []:
        table.add_row(label, value)
    console.print(table)
    missing = summary.get("missing_files") or []
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        console.print(f"[yellow]missing in --input[/] ({len(missing)} files, not sent): {escape(shown)}")
    _print_confidence(summary, console)
    _print_not_fixed(summary, console)
    if summary["aborted"]:
        console.print(f"[red]{escape(summary['aborted'])}[/]")


def _settled_earlier(summary: dict[str, Any]) -> str:
    """The incidents earlier runs settled, which this run left alone: "19 (17 fixed, 2 failed)"."""
    skipped = (summary.get("store") or {}).get("skipped") or {}
    counts = {name.replace("_", " "): int(n) for name, n in skipped.items() if n}
    if not counts:
        return ""
    return f"{sum(counts.values())} ({', '.join(f'{n} {name}' for name, n in counts.items())})"


def _print_not_fixed(summary: dict[str, Any], console: Console, limit: int = 12) -> None:
    """Incidents not fixed, one row per reason (a stopped run leaves many for the same reason)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in summary["outcomes"]:
        if row["status"] in ("failed", "skipped"):
            groups.setdefault((row["status"], row["reason"]), []).append(row)
    if not groups:
        return
    detail = Table(title="Not fixed, by reason")
    for column in ("incidents", "status", "reason", "where"):
        detail.add_column(column, overflow="fold", justify="right" if column == "incidents" else "left")
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    for (status, reason), rows in ordered[:limit]:
        places = [f"{r['file']}:{r['line']}" if r["line"] else r["file"] for r in rows]
        where = ", ".join(places[:2]) + (f" (+{len(places) - 2} more)" if len(places) > 2 else "")
        detail.add_row(str(len(rows)), status, escape(reason), escape(where))
    console.print(detail)
    if len(ordered) > limit:
        rest = sum(len(rows) for _, rows in ordered[limit:])
        console.print(
            f"… and {rest} more incidents for {len(ordered) - limit} other reasons (see the report)"
        )


def _print_confidence(summary: dict[str, Any], console: Console) -> None:
    """Counts per complexity and the fixes applied below threshold, when filtering was on."""
    conf = summary.get("confidence") or {}
    if not conf.get("enabled"):
        return
    table = Table(title=f"Confidence by migration complexity (below threshold: {conf['action']})")
    for column in ("complexity", "threshold", "incidents", "fixed", "below threshold"):
        table.add_column(column, justify="left" if column == "complexity" else "right")
    for name, row in conf["by_complexity"].items():
        counts = (str(row["incidents"]), str(row["fixed"]), str(row["below_threshold"]))
        table.add_row(name, f"{row['threshold']:.2f}", *counts)
    console.print(table)
    applied = [
        row
        for row in summary["outcomes"]
        if row["status"] == "fixed" and row["reason"].startswith(APPLIED_BELOW_THRESHOLD)
    ]
    if applied:
        # One warning for all of them (warn-and-apply), with the files to look at first.
        files = Counter(row["file"] for row in applied)
        shown = ", ".join(f"{f} ({n})" for f, n in files.most_common(3))
        more = f" and {len(files) - 3} more files" if len(files) > 3 else ""
        console.print(
            f"[yellow]warning:[/] {len(applied)} fixes were applied below their confidence threshold, "
            f"in {escape(shown)}{more}: review them first (the report lists them under low confidence)"
        )
    below = sum(row["below_threshold"] for row in conf["by_complexity"].values())
    if conf.get("review_file") and below:
        console.print(f"Withheld fixes were saved for manual review in {conf['review_file']}")


def _price_source(price: Mapping[str, Any]) -> str:
    return str(price["from"]) + (f" ({price['date']})" if price.get("date") else "")


def dry_run_summary(rows: list[dict[str, Any]], totals: dict[str, Any]) -> dict[str, Any]:
    return {"dry_run": True, "requests": rows, "totals": totals}


def print_dry_run(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="Dry run: requests that would be sent (no model is called)")
    for column in ("#", "file", "lines", "incid.", "in tokens", "max out"):
        table.add_column(column, justify="right" if column != "file" else "left", overflow="fold")
    for n, row in enumerate(summary["requests"], 1):
        lines = f"{row['window'][0]}-{row['window'][1]}" if row["window"] else "all"
        table.add_row(
            str(n),
            row["file"],
            lines,
            str(row["incidents"]),
            f"{row['input_tokens']:,}",
            f"{row['max_output_tokens']:,}",
        )
    console.print(table)
    t = summary["totals"]
    console.print(
        f"{count_of(t['requests'], 'request')} for {count_of(t['incidents'], 'incident')} in "
        f"{count_of(t['files'], 'file')}; "
        f"estimated {t['input_tokens']:,} input tokens, ~{t['expected_output_tokens']:,} output tokens "
        f"(at most {t['max_output_tokens']:,}); estimated cost {_money(t['expected_cost_usd'])} "
        f"(at most {_money(t['worst_case_cost_usd'])}) with {t['model']}."
    )
    console.print(price_line(t["model"], t.get("price")), highlight=False)
    for count, why in (
        (t["not_applicable"], "not applicable"),
        (t.get("filtered_out"), "left out by your filters"),
    ):
        if count:
            console.print(
                f"{count_of(count, 'incident')} {'is' if count == 1 else 'are'} {why} and would not be sent."
            )


def count_of(n: int, noun: str) -> str:
    """`1 request`, `7 requests`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
