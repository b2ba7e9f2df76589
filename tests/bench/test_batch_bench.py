"""bench/batch_bench.py: the batch API against synchronous runs, on both protocols."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.batch_bench import BEGIN, END, keep_section, main, write_section


@pytest.mark.slow
def test_a_small_batch_benchmark_ends_in_the_same_trees_at_half_the_price(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--files", "6", "--no-write", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {(r["workload"], r["protocol"]) for r in rows} == {
        (w, p) for w in ("bundled example", "synthetic, 6 files") for p in ("claude", "openai")
    }
    for row in rows:
        assert row["trees_identical"] and row["submitted_twice"] == 0
        assert row["synchronous_requests_in_batch_run"] == 0 and row["submitted"] == row["requests"] > 0
        assert row["batch_cost_usd"] == pytest.approx(row["same_usage_synchronously_usd"] / 2)
        assert row["unpacked_requests"] >= row["requests"]  # (6 files: too few to be packed)
    assert all(r["expected_tree"] for r in rows if r["workload"] == "bundled example")


def test_the_batch_section_is_replaced_in_place_and_kept_when_the_rest_is_rewritten(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nthe main benchmark\n", encoding="utf-8")
    write_section(doc, f"{BEGIN}\nfirst\n{END}\n")
    write_section(doc, f"{BEGIN}\nsecond\n{END}\n")
    text = doc.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and "second" in text and "first" not in text
    assert text.startswith("# Performance\n\nthe main benchmark\n")
    rewritten = keep_section(doc, "# Performance\n\nnew figures\n")
    assert rewritten.startswith("# Performance\n\nnew figures\n") and f"{BEGIN}\nsecond\n{END}" in rewritten
    assert keep_section(tmp_path / "missing.md", "fresh\n") == "fresh\n"
