"""The throughput benchmark end to end on a tiny workload: one binding setting in both modes, its
section written into a copy of docs/performance.md without touching the others, and kept when the
main benchmark regenerates the file. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.batch_bench import write_section
from bench.markdown import keep_marked_sections
from bench.throughput_bench import BEGIN, END, measure, render


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
