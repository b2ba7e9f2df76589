"""The throughput benchmark end to end on a tiny workload: one binding setting in both modes, its
section written into a copy of docs/performance.md without touching the others, and kept when the
main benchmark regenerates the file. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.batch_bench import write_section
from bench.markdown import keep_marked_sections
from bench.throughput_bench import BEGIN, END, measure, render, strict_ceiling


@pytest.mark.slow
def test_a_tiny_throughput_run_reports_both_modes_and_writes_only_its_section(tmp_path: Path) -> None:
    figures = measure(4, 8, 60.0, tmp_path / "work", log=False, settings=["output tokens bind"])
    runs = figures["runs"]
    assert [row["mode"] for row in runs.values()] == ["lenient", "strict"]
    for row in runs.values():
        assert row["fixed"] > 0 and row["lost_to_429_529"] == 0
        assert "8,000 OTPM" in row["limits"]
    load = {"cpus": 2, "start": 0.0, "end": 0.0}
    figures.update(bench_seconds=1.0, load=load, command="bench.throughput_bench")
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nkept as it is\n")
    write_section(doc, render(figures), BEGIN, END)
    write_section(doc, render(figures), BEGIN, END)  # again: replaced, not added twice
    text = doc.read_text()
    assert text.startswith("# Performance\n\nkept as it is\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert text.count("| output tokens bind |") == 2
    # The main benchmark regenerating the file keeps the section as it is.
    regenerated = keep_marked_sections(text, "# Performance\n\nnew figures\n")
    assert regenerated.endswith(render(figures))


def test_the_strict_ceiling_is_what_reserving_max_tokens_leaves_of_the_bound() -> None:
    row = {
        "mode": "strict",
        "binding_limit": "output tokens",
        "rate_limit_bound_minutes": 2.0,  # two minutes' output, one of them in the full bucket
        "rate_limit_bound_minutes_with_full_buckets": 1.0,
        "max_tokens_per_output_token": 2.0,  # four minutes of reservations: three after the bucket
    }
    assert strict_ceiling(row) == pytest.approx(1 / 3)
    assert strict_ceiling({**row, "max_tokens_per_output_token": 1.0}) == pytest.approx(1.0)
    assert strict_ceiling({**row, "mode": "lenient"}) is None  # unused output is given back there
    assert strict_ceiling({**row, "binding_limit": "input tokens"}) is None
