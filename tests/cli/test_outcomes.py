"""Outcomes that do not mislead: a wrong --input is refused before anything is created, missing files
are named, an unknown model is questioned, a run that never started leaves nothing to continue,
and figures describe what was sent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.cli.helpers import analysis_of, copy_example, remediate_json, run

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, RunTotals, Status
from kantra_ai.providers.pricing import Usage
from kantra_ai.report.summary import run_summary
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kantra-ai: error:"), err
    return err


def test_an_empty_input_folder_is_refused_before_anything_is_created(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code = run("remediate", "-a", analysis_of(EXAMPLE), "-i", empty, "--base-url", fake.anthropic_base_url)
    assert code == 2
    err = _one_line_error(capsys)
    assert f"--input {empty} does not look like the analyzed application" in err
    assert "19 of 19 selected incidents" in err
    assert "pom.xml and src/main/java/com/example/inventory/cdi/Resources.java" in err  # two examples
    assert "analyzer root /opt/input/source" in err and "--source-root" in err
    assert list(empty.iterdir()) == []  # no .kantra-ai/, no store, no report
    assert fake.request_count == 0


@pytest.mark.parametrize("command", ["remediate", "plan"])
def test_an_input_one_level_too_high_is_refused_and_the_right_folder_named(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path / "checkout")
    extra = ["--dry-run"] if command == "remediate" else ["--planner", "deterministic", "-o", tmp_path / "p"]
    assert run(command, "-a", analysis_of(EXAMPLE), "-i", tmp_path / "checkout", *extra) == 2
    err = _one_line_error(capsys)
    assert f"(the files are under {app.resolve()})" in err
    assert not (tmp_path / "checkout" / ".kantra-ai").exists()


def test_a_few_missing_files_are_named_in_the_summary_and_json(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    gone = "src/main/java/com/example/inventory/cdi/Resources.java"
    (app / gone).unlink()
    code, summary = remediate_json(EXAMPLE, app, fake)
    assert code == 0
    assert summary["missing_files"] == [gone]
    again = copy_example(EXAMPLE, tmp_path / "again")
    (again / gone).unlink()
    assert run("remediate", "-a", analysis_of(EXAMPLE), "-i", again, "--base-url", fake.anthropic_base_url,
               "--no-progress") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"missing in --input (1 files, not sent): {gone}" in out


def test_an_unknown_model_is_questioned_with_the_closest_known_name(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code, _ = remediate_json(EXAMPLE, app, fake, "--model", "claude-sonet-5-5")
    assert code == 0
    err = capsys.readouterr().err
    warning = next(line for line in err.splitlines() if "warning:" in line)
    assert "no price is known for model 'claude-sonet-5-5' (closest known: claude-sonnet-5-5" in warning
    assert "--prices FILE" in warning and "cost shows as unknown" in warning


def test_max_cost_without_a_price_is_refused_and_says_how_to_give_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code = run(
        "remediate", "-a", analysis_of(EXAMPLE), "-i", app, "-m", "claude-sonet-5-5", "--max-cost", "1"
    )
    assert code == 2
    err = _one_line_error(capsys)
    assert "closest known: claude-sonnet-5-5" in err
    assert "--prices FILE" in err and "claude-sonet-5-5: {input: X, output: Y}" in err


def test_a_run_stopped_by_a_missing_key_is_not_continued_by_the_next_one(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert run("remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--no-progress") == 2
    assert "ANTHROPIC_API_KEY" in _one_line_error(capsys)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-0000")
    code, summary = remediate_json(EXAMPLE, app, fake)
    assert code == 0
    err = capsys.readouterr().err
    assert "continuing run" not in err and "crashed" not in err
    assert summary["store"]["run"] == 1 and summary["store"]["continues_run"] is None


def test_a_no_op_rerun_says_cost_per_fixed_incident_is_not_applicable(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    args = ["remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--base-url", fake.anthropic_base_url,
            "--no-progress"]  # fmt: skip
    assert run(*args) == 0
    capsys.readouterr()
    assert run(*args) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "cost per fixed incident" in line)
    assert "n/a" in row and "unknown" not in row


def _incident(n: int) -> Incident:
    violation = Violation("rs", "rule", "a rule", Category.MANDATORY, 1)
    from pathlib import PurePosixPath

    return Incident(f"id{n}", violation, f"file:///src/F{n}.java", PurePosixPath(f"F{n}.java"), 1, "m")


def test_figures_of_a_run_cut_short_count_only_the_incidents_it_sent() -> None:
    """After Ctrl-C 3 of 19 incidents went out in 2 requests: 1.5 per request, not 19 / 2."""
    selected = [_incident(n) for n in range(19)]
    usage = Usage(1000, 100)
    records = [
        RequestRecord("F0.java", ("id0", "id1"), 0, usage, 0.01, "end_turn", seconds=1.0),
        RequestRecord("F2.java", ("id2",), 0, usage, 0.01, "end_turn", seconds=1.0),
    ]
    outcomes = {f"id{n}": IncidentOutcome(f"id{n}", Status.FIXED) for n in range(3)}
    outcomes |= {
        f"id{n}": IncidentOutcome(f"id{n}", Status.SKIPPED, "run stopped before this request")
        for n in range(3, 19)
    }
    totals = RunTotals(seconds=60.0)
    for record in records:
        totals.add(record)
    summary = run_summary(
        provider="claude", model="m", selected=selected, not_applicable=[], informational=0,
        outcomes=outcomes, totals=totals, records=records,
    )  # fmt: skip
    assert summary["incidents_per_request"] == 1.5
    assert summary["performance"]["incidents_per_request"] == 1.5
    assert summary["incidents_per_minute"] == 3.0
    assert summary["stopped"] == {"reason": "run stopped before this request", "not_sent": 16}


def test_a_run_stopped_by_max_cost_says_why_and_how_to_continue(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code = run("remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--base-url", fake.anthropic_base_url,
               "--no-progress", "--max-cost", "0.02", "--batch-parallelism", "1")  # fmt: skip
    assert code == 1
    out = capsys.readouterr().out
    stopped = next(line for line in out.splitlines() if line.startswith("stopped early"))
    assert "--max-cost $0.0200 would be exceeded" in stopped
    assert re.search(r"\d+ incidents were not sent\. Run the same command again", stopped)
    assert 0 < fake.request_count < 7
