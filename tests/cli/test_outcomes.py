"""Outcomes that do not mislead: a wrong --input is refused before anything is created, missing files
are named, an unknown model is questioned, a run that never started leaves nothing to continue,
and figures describe what was sent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.cli.helpers import analysis_of, copy_example, remediate_json, run

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, RunTotals, Status
from kantra_ai.providers.pricing import Usage
from kantra_ai.report.summary import run_summary
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.faults import Fault, FaultPlan
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


@pytest.mark.parametrize(("below", "levels"), [("src", "one level"), ("src/main", "2 levels")])
def test_an_input_below_the_analyzed_application_is_refused_and_the_expected_folder_named(
    below: str, levels: str, tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its Java files map (the analysis seems to match) but pom.xml is lost, and the store, the
    reports and the incident ids would belong to the wrong folder."""
    app = copy_example(EXAMPLE, tmp_path)
    pristine = {p: p.read_bytes() for p in app.rglob("*") if p.is_file()}
    code = run(
        "remediate", "-a", analysis_of(EXAMPLE), "-i", app / below, "--base-url", fake.anthropic_base_url
    )
    assert code == 2
    err = _one_line_error(capsys)
    assert f"--input {app / below} is {levels} below the analyzed application" in err
    assert f"the analysis expects the folder {app.resolve()}; pass --input {app.resolve()}" in err
    assert f"--source-root /opt/input/source/{below}" in err  # the way to insist
    assert {p: p.read_bytes() for p in app.rglob("*") if p.is_file()} == pristine  # no .kantra-ai/
    assert fake.request_count == 0


def test_an_input_below_the_application_is_accepted_with_the_root_the_user_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    args = ["remediate", "-a", analysis_of(EXAMPLE), "-i", app / "src", "--dry-run", "--json"]
    assert run(*args, "--source-root", "/opt/input/source/src") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["requests"] and all(r["file"].startswith("main/") for r in plan["requests"])


@pytest.mark.parametrize("command", ["remediate", "plan"])
def test_a_source_root_no_incident_is_under_is_refused_instead_of_doing_nothing(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    plan = ["--planner", "deterministic", "-o", tmp_path / "p"]
    extra = ["-p", "simulated"] if command == "remediate" else plan
    code = run(command, "-a", analysis_of(EXAMPLE), "-i", app, "--source-root", "/nonexistent/root", *extra)
    assert code == 2
    err = _one_line_error(capsys)
    assert err.startswith("kantra-ai: error: --source-root /nonexistent/root: the files of 19 of 19 selected")
    assert "(the analysis names file:///opt/input/source/" in err
    assert not (app / ".kantra-ai").exists() and not (tmp_path / "p").exists()


def test_an_input_above_the_analyzed_application_is_refused_though_its_files_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kantra was given a folder named `source`: with --input one level above it, every path maps
    through the root /opt/input (source/...) and nothing looks missing."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    copy_example(EXAMPLE, tmp_path / "copy").rename(checkout / "source")
    code = run("plan", "-a", analysis_of(EXAMPLE), "-i", checkout, "--planner", "deterministic",
               "-o", tmp_path / "plan")  # fmt: skip
    assert code == 2
    err = _one_line_error(capsys)
    assert f"--input {checkout} is one level above the analyzed application" in err
    assert f"pass --input {(checkout / 'source').resolve()}" in err
    assert not (tmp_path / "plan").exists() and not (checkout / ".kantra-ai").exists()


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
    # Exit 2 is "nothing changed": on a fresh tree not even the run store's folder is made.
    assert not (app / ".kantra-ai").exists()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-0000")
    code, summary = remediate_json(EXAMPLE, app, fake)
    assert code == 0
    err = capsys.readouterr().err
    assert "continuing run" not in err and "crashed" not in err
    assert summary["store"]["run"] == 1 and summary["store"]["continues_run"] is None


def test_a_run_the_provider_refused_before_answering_is_not_continued_by_the_next_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A revoked key: 401 on every request. The run is kept for `status` as "refused", and the next
    run starts afresh instead of "continuing run #1 (aborted)"."""
    app = copy_example(EXAMPLE, tmp_path)
    args = ["remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--no-progress"]
    with FakeProviderServer(respond, faults=FaultPlan.every_request(Fault.status(401), 1000)) as refusing:
        assert run(*args, "--base-url", refusing.anthropic_base_url) == 3
    out = capsys.readouterr().out
    assert "the provider refused the run before answering anything: nothing was done" in out
    assert "--retry-failed" not in out  # nothing was answered: the next run asks again anyway
    assert run("status", "-i", app, "--json") == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["run"], r["state"]) for r in runs] == [(1, "refused")]
    with FakeProviderServer(respond) as server:
        code, summary = remediate_json(EXAMPLE, app, server)
    assert code == 0
    assert "continuing run" not in capsys.readouterr().err
    assert summary["store"]["run"] == 2 and summary["store"]["continues_run"] is None
    assert summary["incidents"]["fixed"] == 19


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


def test_a_dry_run_counts_the_incidents_it_would_not_send_in_words_that_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)  # one incident in a dependency: nothing in the tree to edit
    assert (
        run("remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--provider", "simulated", "--dry-run") == 0
    )
    said = " ".join(capsys.readouterr().out.split())
    assert "1 incident is not applicable and would not be sent." in said


def test_counts_of_one_read_in_the_singular_in_the_dry_run_and_the_next_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'1 requests for 2 incidents in 1 files' and '1 incidents failed: see why'."""
    app = copy_example("multi-violation", tmp_path)
    base = ("remediate", "-a", analysis_of("multi-violation"), "-i", app, "--provider", "simulated")
    one_file = ("--include", "DataSources.java")  # its one incident is left for a human
    assert run(*base, *one_file, "--dry-run") == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "1 request for 1 incident in 1 file;" in said, said
    assert run(*base, *one_file, "--no-progress") == 1
    said = " ".join(capsys.readouterr().out.split())
    assert "1 incident failed: see why in the report" in said, said


def test_incidents_left_out_by_the_filters_are_counted_so_the_rows_add_up(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --include, the summary's rows added up to 18 of the analysis' 32 incidents, and nothing
    said where the other 14 went."""
    app = copy_example(EXAMPLE, tmp_path)
    base = (
        "remediate",
        "-a",
        analysis_of(EXAMPLE),
        "-i",
        app,
        "--provider",
        "simulated",
        "--include",
        "*.xml",
    )
    assert run(*base, "--dry-run") == 0
    assert "14 incidents are left out by your filters" in " ".join(capsys.readouterr().out.split())
    code, summary = remediate_json(EXAMPLE, app, fake, "--include", "*.xml")
    assert code == 0
    incidents = summary["incidents"]
    assert incidents["filtered_out"] == 14
    assert incidents["selected"] + incidents["not_applicable"] + incidents["informational"] + 14 == 32


def test_incidents_of_a_file_that_could_not_be_read_are_not_pointed_to_retry_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing was asked about a file that could not be read (here: binary bytes where the source
    was), so the next run plans its incidents again by itself; the closing lines said "ask the model
    again with ... --retry-failed", which would not even be needed."""
    app = copy_example(EXAMPLE, tmp_path)
    (app / "src/main/java/com/example/inventory/model/Product.java").write_bytes(b"\x00\x01binary\x00")
    with FakeProviderServer(respond) as server:
        assert (
            run("remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--base-url", server.anthropic_base_url)
            == 1
        )
    out = capsys.readouterr().out
    assert "--retry-failed" not in out
    assert re.search(r"\d+ incidents? got no answer \(not sent, or no reply\): the next run asks again", out)
