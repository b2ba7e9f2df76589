"""The portfolio benchmark end to end on a tiny portfolio: its section is written into
docs/performance.md (a copy) without touching the other sections; no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.portfolio_bench import END, START, keeping_section, main


@pytest.mark.slow
def test_a_tiny_portfolio_bench_writes_its_section_and_keeps_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\n## Throughput on a long run\n\nkept as it is\n")
    args = ["--apps", "3", "--files", "4", "--rpm", "6", "--headroom", "0.9", "--out", str(doc), "--json"]
    assert main(args) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["parallel"]["sum_of_app_seconds"] > figures["parallel"]["wall_seconds"] > 0
    limited = figures["rate_limited"]
    assert limited["binds"] and limited["requests"] > 6 and limited["rate_limited_429"] == 0
    text = doc.read_text()
    assert text.startswith("# Performance\n\n## Throughput on a long run\n\nkept as it is\n")
    assert text.count(START) == 1 and "## Portfolio runs" in text
    main(args)  # again: the section is replaced, not added twice
    assert doc.read_text().count(START) == 1


def test_the_main_benchmark_keeps_the_portfolio_section(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(f"# old\n\n{START}\n## Portfolio runs\nfigures\n{END}\n")
    text = keeping_section(doc, "# Performance\n\nnew figures\n")
    assert text == f"# Performance\n\nnew figures\n\n{START}\n## Portfolio runs\nfigures\n{END}\n"
