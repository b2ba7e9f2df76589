"""The benchmark end to end on a tiny workload: every strategy runs, the report has its structure,
and ours sends fewer tokens than the naive layout. No timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.markdown import render
from bench.run_bench import main
from bench.workloads import real, synthetic

from kantra_ai.analysis.loader import load_analysis
from kantra_ai.analysis.selection import select_incidents


@pytest.mark.slow
def test_a_tiny_benchmark_reports_every_strategy_and_ours_uses_fewer_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "performance.md"
    code = main(
        [
            "--workloads", "synthetic", "--files", "4", "--time-scale", "50", "--baseline-time-scale", "50",
            "--long-run-files", "0",
            "--work-dir", str(tmp_path / "work"), "--out", str(out), "--json", "--quiet",
        ]
    )  # fmt: skip
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    workload = figures["workloads"]["synthetic"]
    rows = workload["strategies"]
    assert set(rows) == {"a", "b", "c"}
    for row in rows.values():
        assert row["incidents"] == rows["c"]["incidents"] > 0
        assert {"input", "cache_write", "cache_read", "output"} == set(row["tokens"])
        assert row["requests"] > 0
    tokens = {key: sum(row["tokens"].values()) for key, row in rows.items()}
    assert tokens["c"] < tokens["a"]
    assert rows["c"]["requests"] < rows["a"]["requests"]
    assert set(workload["targets"]) >= {"cost_per_fixed_vs_naive", "incidents_lost_to_429_529"}
    assert workload["lower_bound"]["input_tokens"] > 0
    text = out.read_text(encoding="utf-8")
    assert "python -m bench.run_bench" in text
    assert "| cost / fixed incident |" in text
    assert text == render(figures)


def test_the_synthetic_workload_is_large_enough_by_default(tmp_path: Path) -> None:
    workload = synthetic(tmp_path)
    assert workload.files >= 200 and workload.incidents >= 1000 and workload.rules >= 3


def test_the_real_workload_rebuilds_a_file_for_every_source_incident(tmp_path: Path) -> None:
    workload = real(tmp_path)
    selection = select_incidents(load_analysis(workload.analysis, workload.app))
    assert len(selection.selected) == workload.incidents > 0
    assert all((workload.app / str(i.path)).is_file() for i in selection.selected)
