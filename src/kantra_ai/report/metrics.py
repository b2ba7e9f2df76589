"""Performance metrics of a run, from its request records: what the roadmap asked us to track.

Tokens by kind and cost are in the summary already; this adds how well the prompt cache worked,
how many incidents each request carried, how often each file went over the wire, throughput, and
how the adaptive limiter paced the run. `performance_metrics` only needs the request records (the
run store keeps the same per-request usage), so a stored run yields the same numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from kantra_ai.engine.outcomes import RequestRecord
from kantra_ai.providers.pricing import Usage


def _ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def performance_metrics(
    records: Sequence[RequestRecord],
    *,
    incidents: int,
    fixed: int,
    seconds: float,
    cost: float | None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`run` is `RunResult.performance` (pacing, cache warming, read-ahead), when available."""
    usage = sum((r.usage for r in records), Usage())
    sends = Counter(path for r in records for path in r.paths)
    first_sends = Counter(path for r in records if r.attempt == 0 for path in r.paths)
    minutes = seconds / 60 if seconds else 0.0
    all_input = usage.input_tokens + usage.cache_write_tokens + usage.cache_read_tokens
    written_or_read = usage.cache_write_tokens + usage.cache_read_tokens
    metrics: dict[str, Any] = {
        "tokens": {
            "input": usage.input_tokens,
            "cache_write": usage.cache_write_tokens,
            "cache_write_1h": usage.cache_write_1h_tokens,
            "cache_read": usage.cache_read_tokens,
            "output": usage.output_tokens,
        },
        # Share of all input tokens served from the cache (file contents are never cacheable).
        "cache_hit_ratio": _ratio(usage.cache_read_tokens, all_input),
        # Of the prefix tokens that went through the cache, the share read rather than written.
        "prefix_cache_read_ratio": _ratio(usage.cache_read_tokens, written_or_read),
        "requests": len(records),
        "failed_requests": sum(1 for r in records if r.error),
        "retry_requests": sum(1 for r in records if r.attempt > 0),
        # Replies that reached max_tokens: each was continued from what arrived whole, or asked again.
        "cut_off_replies": sum(1 for r in records if r.stop_reason == "max_tokens" and not r.error),
        "incidents_per_request": _ratio(incidents, len(records), 2),
        "files": len(sends),
        "times_each_file_was_sent": {
            "mean": _ratio(sum(sends.values()), len(sends), 2),
            "max": max(sends.values(), default=0),
            "files_sent_once": sum(1 for n in sends.values() if n == 1),
            "files_split_into_several_requests": sum(1 for n in first_sends.values() if n > 1),
        },
        "incidents_per_minute": round(incidents / minutes, 1) if minutes else None,
        "cost_usd": cost,
        "cost_per_fixed_incident_usd": (cost / fixed) if cost is not None and fixed else None,
        # Output room asked for (max_tokens, which rate limits reserve) per output token used.
        "max_tokens_per_output_token": _ratio(
            sum(r.max_tokens for r in records if not r.error), usage.output_tokens, 2
        ),
        "seconds": round(seconds, 2),
    }
    if run:
        warming = run.get("prefix_warming") or {}
        cacheable = int(warming.get("cacheable_prefix_tokens") or 0)
        # Of the shared-prefix tokens long enough to be cached, the share that was read from cache.
        metrics["cacheable_prefix_read_ratio"] = _ratio(min(usage.cache_read_tokens, cacheable), cacheable)
        metrics["run"] = dict(run)
    return metrics


def metric_rows(perf: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value rows for the people-facing summary table."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    sends = perf["times_each_file_was_sent"]
    rows = [
        (
            "cache hit ratio (all input / shared prefix)",
            f"{pct(perf['cache_hit_ratio'])} / {pct(perf['prefix_cache_read_ratio'])}",
        ),
        ("incidents per request", str(perf["incidents_per_request"] or "n/a")),
        ("times each file was sent (mean / max)", f"{sends['mean'] or 0} / {sends['max']}"),
        ("incidents per minute", str(perf["incidents_per_minute"] or "n/a")),
        ("replies cut off at max_tokens (continued or asked again)", str(perf.get("cut_off_replies", 0))),
    ]
    pacing = (perf.get("run") or {}).get("pacing")
    if pacing:
        rows.append(
            (
                "429 / 529 answered (all retried)",
                f"{pacing['rate_limited_429']} / {pacing['overloaded_529']}",
            )
        )
    return rows
