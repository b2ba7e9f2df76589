"""The review benchmark end to end on tiny stores: every query is measured at every size, ratios are
to the smallest store, and rewriting its section of the document leaves the other sections alone.
(Structure only: timings are never asserted in tests.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.review_bench import SECTION, main, write_section


def test_the_review_benchmark_reports_each_query_at_each_size_against_the_smallest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--files", "120", "20", "--repeats", "1", "--no-write"]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    header, rows = table[0], table[1:]
    assert header.startswith("| files | first page | last page | failed |")
    assert [r.split(" | ")[0] for r in rows] == ["| 20", "| 120"]  # smallest first: the base
    assert rows[0].count("(1.0x)") == header.count(" | ")
    assert all(r.count(" ms (") == header.count(" | ") for r in rows)


def test_its_section_is_replaced_and_the_rest_of_the_document_kept(tmp_path: Path) -> None:
    doc = tmp_path / "web-performance.md"
    doc.write_text(f"# Web app performance\n\nintro\n\n{SECTION}\n\nold figures\n\n## Other\n\nkept\n")
    write_section(f"{SECTION}\n\nnew figures\n", doc)
    text = doc.read_text()
    assert "old figures" not in text and "new figures" in text
    assert text.startswith("# Web app performance\n\nintro\n") and text.endswith("## Other\n\nkept\n")
    write_section(f"{SECTION}\n\nnewer\n", tmp_path / "new.md")
    assert (tmp_path / "new.md").read_text().startswith("# Web app performance\n\n" + SECTION)
