"""Performance metrics from request records: file sends, incidents per request, cache ratios."""

from __future__ import annotations

from kantra_ai.engine.outcomes import RequestRecord
from kantra_ai.providers.pricing import Usage
from kantra_ai.report.metrics import metric_rows, performance_metrics


def _record(path: str, ids: int, usage: Usage, attempt: int = 0, stop: str = "tool_use") -> RequestRecord:
    return RequestRecord(path, tuple(f"{path}-{n}" for n in range(ids)), attempt, usage, 0.01, stop)


def test_metrics_count_file_sends_cache_reads_and_throughput() -> None:
    records = [
        _record("A.java", 3, Usage(input_tokens=900, cache_write_tokens=1000, output_tokens=300)),
        _record(
            "B.java", 2, Usage(input_tokens=600, cache_read_tokens=1000, output_tokens=200), stop="max_tokens"
        ),
        _record("B.java", 1, Usage(input_tokens=600, cache_read_tokens=1000, output_tokens=90), attempt=1),
        _record("C.java", 4, Usage(input_tokens=700, cache_read_tokens=1000, output_tokens=400)),
    ]
    perf = performance_metrics(
        records,
        incidents=9,
        fixed=8,
        seconds=30.0,
        cost=0.04,
        run={"prefix_warming": {"cacheable_prefix_tokens": 4000}},
    )
    assert perf["times_each_file_was_sent"] == {
        "mean": 1.33,
        "max": 2,
        "files_sent_once": 2,
        "files_split_into_several_requests": 0,
    }
    assert perf["retry_requests"] == 1
    assert perf["incidents_per_request"] == 2.25
    assert perf["prefix_cache_read_ratio"] == 0.75
    assert perf["cacheable_prefix_read_ratio"] == 0.75
    assert perf["incidents_per_minute"] == 18.0
    assert perf["cost_per_fixed_incident_usd"] == 0.005
    assert perf["cut_off_replies"] == 1
    assert dict(metric_rows(perf))["incidents per request"] == "2.25"
    assert dict(metric_rows(perf))["replies cut off at max_tokens (continued or asked again)"] == "1"


def test_no_requests_means_no_ratios_rather_than_a_division_by_zero() -> None:
    perf = performance_metrics([], incidents=0, fixed=0, seconds=0.0, cost=0.0)
    assert perf["cache_hit_ratio"] is None
    assert perf["incidents_per_minute"] is None
    assert perf["cost_per_fixed_incident_usd"] is None
