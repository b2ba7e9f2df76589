"""plan + execute end to end: the real CLI, the fake provider over loopback, real files."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.helpers import analysis_of, copy_example, expected_of, run, tree_differences
from tests.store.helpers import store_rows

import kantra_ai.app.run as app_run
from kantra_ai.batching.packing import NO_PACKING
from kantra_ai.engine.batch_runner import RunContext
from kantra_ai.engine.events import ObserverGroup, RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome
from kantra_ai.engine.runner import RunBatches, RunResult, execute_batches
from kantra_ai.plan.model import load_plan
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.faults import Fault, FaultPlan
from testing.fakeprovider.server import FakeProviderServer

PHASE_ONE = {"javax-to-jakarta-import-00001"}  # the Java imports; everything else goes to phase two


def _plan(app: Path, out: Path, example: str = "javaee-inventory", *extra: str) -> Path:
    code = run(
        "plan",
        "--analysis",
        analysis_of(example),
        "--input",
        app,
        "--output",
        out,
        "--planner",
        "deterministic",
        *extra,
    )
    assert code == 0
    return out / "plan.yaml"


def _two_phases(plan_file: Path) -> None:
    """Hand-edit the one-phase plan of the example into two phases, as a user would."""
    data: dict[str, Any] = yaml.safe_load(plan_file.read_text())
    phase = data["phases"][0]
    second = dict(phase, id="phase-2", name="Descriptors and the rest", order=2)
    second["violations"] = [v for v in phase["violations"] if v["violation_id"] not in PHASE_ONE]
    phase["violations"] = [v for v in phase["violations"] if v["violation_id"] in PHASE_ONE]
    data["phases"].append(second)
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))


def _execute(plan_file: Path, app: Path, fake: FakeProviderServer, *extra: str) -> int:
    return run(
        "execute",
        "--plan",
        plan_file,
        "--input",
        app,
        "--base-url",
        fake.anthropic_base_url,
        "--no-progress",
        *extra,
    )


def test_plan_writes_a_valid_plan_and_html_covering_every_selected_violation(tmp_path: Path) -> None:
    app = copy_example("multi-violation", tmp_path)
    plan = load_plan(_plan(app, tmp_path / "out", "multi-violation", "--risk-tolerance", "conservative"))
    assert (tmp_path / "out" / "plan.html").read_text().startswith("<!DOCTYPE html>")
    ids = [v.violation_id for p in plan.phases for v in p.violations]
    assert len(ids) == len(set(ids)) == plan.metadata.total_violations
    assert sum(p.incident_count for p in plan.phases) == 28  # every actionable incident of the example
    assert all(p.estimated_cost > 0 and p.estimated_duration_minutes >= 1 for p in plan.phases)


def test_interrupted_execute_resumes_after_phase_one_and_ends_with_the_expected_tree(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    plan_file = _plan(app, tmp_path / "plan")
    _two_phases(plan_file)
    real_execute_plan = app_run.execute_batches
    calls = 0

    async def interrupt_at_phase_two(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return await real_execute_plan(*args, **kwargs)

    monkeypatch.setattr(app_run, "execute_batches", interrupt_at_phase_two)
    assert _execute(plan_file, app, fake) == 130
    state = yaml.safe_load((tmp_path / "plan" / "state.yaml").read_text())
    assert {p["phase_id"]: p["status"] for p in state["phases"]} == {
        "phase-1": "completed",
        "phase-2": "in_progress",
    }
    # Incident progress is in the tree's run store now (state.yaml keeps phase status only).
    db = app / ".kantra-ai" / "state.db"
    assert {
        rule for (rule,) in store_rows(db, "SELECT DISTINCT rule FROM incidents WHERE status = 'fixed'")
    } == PHASE_ONE
    phase_one_requests = fake.request_count
    assert phase_one_requests > 0

    monkeypatch.setattr(app_run, "execute_batches", real_execute_plan)
    assert _execute(plan_file, app, fake) == 2  # progress exists: refuses to start over silently
    assert _execute(plan_file, app, fake, "--resume") == 0
    assert tree_differences(app, expected_of("javaee-inventory")) == []
    # Phase one was not sent again: no request of the resumed run is for a phase-one incident.
    done = {
        i for (i,) in store_rows(db, "SELECT incident_id FROM outcomes WHERE run_id = 1 AND status = 'fixed'")
    }
    assert done
    later = fake.requests[phase_one_requests:]
    assert later and not any(i in r.last_user_text() for r in later for i in done)
    final = yaml.safe_load((tmp_path / "plan" / "state.yaml").read_text())
    assert final["execution_summary"]["completed_phases"] == 2
    record = json.loads((app / ".kantra-ai" / "run.json").read_text())
    assert {r["status"] for r in record["incidents"]} == {"fixed"} and len(record["incidents"]) == 19


def test_execute_skips_deferred_phases_and_runs_one_phase_on_request(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    plan_file = _plan(app, tmp_path / "plan")
    _two_phases(plan_file)
    data = yaml.safe_load(plan_file.read_text())
    data["phases"][1]["deferred"] = True
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))
    capsys.readouterr()  # the plan table
    assert _execute(plan_file, app, fake, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in summary["phases"]] == ["phase-1"]
    assert {o["rule"] for o in summary["outcomes"]} == PHASE_ONE
    assert (app / "pom.xml").read_text() == (
        copy_example("javaee-inventory", tmp_path / "orig") / "pom.xml"
    ).read_text()
    assert _execute(plan_file, app, fake, "--phase", "phase-2", "--resume") == 0
    assert tree_differences(app, expected_of("javaee-inventory")) == []


def test_a_model_without_a_price_is_planned_and_executed_with_its_cost_unknown_never_zero(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    typo = "claude-sonet-5-5"  # a price is known for claude-sonnet-*, not for this
    plan_file = _plan(app, tmp_path / "plan", "javaee-inventory", "--model", typo)
    shown = capsys.readouterr()
    assert f"no price is known for model {typo!r}" in shown.err
    assert "unknown" in shown.out and "$0.0000" not in shown.out
    _plan(app, tmp_path / "plan", "javaee-inventory", "--model", typo, "--json")
    document = json.loads(capsys.readouterr().out)
    assert document["cost_known"] is False
    assert [p["estimated_cost"] for p in document["phases"]] == [None]
    assert _execute(plan_file, app, fake, "--model", typo) == 0
    state = yaml.safe_load((tmp_path / "plan" / "state.yaml").read_text())
    assert [p["cost"] for p in state["phases"]] == [None]
    assert state["execution_summary"]["total_cost"] is None


def test_a_rerun_that_fixes_nothing_has_no_cost_per_fixed_incident(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # execute lists every incident of its phases, earlier runs' fixes included; its cost per fixed
    # incident is this run's cost over this run's fixes, not over the job's.
    app = copy_example("javaee-inventory", tmp_path)
    plan_file = _plan(app, tmp_path / "plan")
    assert _execute(plan_file, app, fake) == 0
    capsys.readouterr()
    assert _execute(plan_file, app, fake, "--resume", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["incidents"]["fixed"], summary["requests"]) == (19, 0)
    assert summary["cost_per_fixed_incident_usd"] is None
    assert _execute(plan_file, app, fake, "--resume") == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "cost per fixed incident" in line)
    assert row.split()[-2] == "n/a", row


def test_a_failure_an_earlier_run_settled_keeps_the_reason_that_run_gave(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("multi-violation", tmp_path)
    plan_file = _plan(app, tmp_path / "plan", "multi-violation")
    capsys.readouterr()
    _execute(plan_file, app, fake, "--json")
    first = {o["id"]: o for o in json.loads(capsys.readouterr().out)["outcomes"]}
    failed = {i: o["reason"] for i, o in first.items() if o["status"] == "failed"}
    assert failed  # the example holds a finding the model says needs a human
    _execute(plan_file, app, fake, "--resume", "--json")
    again = {o["id"]: o for o in json.loads(capsys.readouterr().out)["outcomes"]}
    for incident_id, reason in failed.items():
        assert again[incident_id]["reason"] == f"settled by an earlier run: {reason}"


def test_the_phase_costs_of_state_yaml_add_up_to_the_run_stores_cost(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("multi-violation", tmp_path)
    plan_file = _plan(app, tmp_path / "plan", "multi-violation")
    _execute(plan_file, app, fake)
    capsys.readouterr()
    assert run("status", "--input", app, "--json") == 0
    stored = json.loads(capsys.readouterr().out)["cost_usd"]
    state = yaml.safe_load((plan_file.parent / "state.yaml").read_text())
    assert stored > 0 and state["execution_summary"]["total_cost"] == stored


def test_resuming_a_plan_that_never_ran_or_was_edited_since_says_what_to_do(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    plan_file = _plan(app, tmp_path / "plan")
    _two_phases(plan_file)
    capsys.readouterr()
    assert _execute(plan_file, app, fake, "--resume") == 2  # nothing to resume: not a silent full run
    assert "--resume: nothing to resume" in capsys.readouterr().err
    assert fake.request_count == 0
    assert _execute(plan_file, app, fake, "--phase", "phase-1") == 0
    plan_file.write_text(plan_file.read_text().replace("Descriptors and the rest", "The rest"))
    capsys.readouterr()
    assert _execute(plan_file, app, fake, "--resume") == 2
    error = capsys.readouterr().err
    # The advice that keeps the store's history comes first: --fresh would pay for phase one again.
    assert "the plan changed since this state was written; remove the state file to start" in error
    (tmp_path / "plan" / "state.yaml").unlink()
    db = app / ".kantra-ai" / "state.db"
    fixed = {i for (i,) in store_rows(db, "SELECT id FROM incidents WHERE status = 'fixed'")}
    sent = fake.request_count
    assert fixed and sent
    assert _execute(plan_file, app, fake) == 0
    assert tree_differences(app, expected_of("javaee-inventory")) == []
    later = fake.requests[sent:]
    assert later and not any(i in r.last_user_text() for r in later for i in fixed)


def test_the_summary_counts_add_up_to_the_selected_incidents_when_the_run_stops_in_its_first_phase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused at its first request: phase two never started, and its incidents are skipped, not
    # left out of every count.
    app = copy_example("javaee-inventory", tmp_path)
    plan_file = _plan(app, tmp_path / "plan")
    _two_phases(plan_file)
    capsys.readouterr()
    with FakeProviderServer(respond, faults=FaultPlan.every_request(Fault.status(401), 1000)) as refusing:
        assert _execute(plan_file, app, refusing, "--json") == 3
    counts = json.loads(capsys.readouterr().out)["incidents"]
    settled = counts["fixed"] + counts["failed"] + counts["not_applicable_by_model"]
    assert (counts["selected"], settled + counts["skipped"]) == (19, 19)


def test_execute_dry_run_calls_no_model_and_writes_no_state(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    plan_file = _plan(app, tmp_path / "plan")
    _two_phases(plan_file)
    capsys.readouterr()  # the plan table
    assert _execute(plan_file, app, fake, "--dry-run", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["phase"] for r in result["phases"]] == ["phase-1", "phase-2"]
    assert result["totals"]["incidents"] == 19
    assert fake.request_count == 0 and not (tmp_path / "plan" / "state.yaml").exists()
    assert tree_differences(app, copy_example("javaee-inventory", tmp_path / "orig")) == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(version="2.0"), "unsupported plan version '2.0'"),
        (lambda d: d["phases"].append(dict(d["phases"][0])), "duplicate phase id 'phase-1'"),
        (
            lambda d: d["phases"].append(dict(d["phases"][0], id="phase-9")),
            "appears in phases phase-1 and phase-9",
        ),
        (
            lambda d: d["phases"][0]["violations"][0].update(incident_count=99),
            "has incident_count 99 but lists",
        ),
        # Emptied by hand, the count left alone: its incidents would silently never be fixed.
        (lambda d: d["phases"][0]["violations"][0].update(incidents=[]), "but lists 0 incidents"),
        (
            lambda d: d["phases"][0]["violations"][0].update(incidents=[], incident_count=0),
            "lists no incidents; remove the violation",
        ),
        (lambda d: d["metadata"].update(total_violations=3), "metadata.total_violations is 3"),
        (lambda d: d["phases"][0].update(risk="extreme"), "phases[0].risk (phase phase-1)"),
    ],
)
def test_a_broken_hand_edited_plan_is_refused_with_one_line(
    edit: Any, message: str, tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    plan_file = _plan(app, tmp_path / "plan")
    data = yaml.safe_load(plan_file.read_text())
    edit(data)
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))
    capsys.readouterr()
    assert _execute(plan_file, app, fake) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert fake.request_count == 0


@pytest.mark.parametrize("uri", ["file:///../../etc/passwd", "/etc/passwd", "../outside/Secret.java"])
def test_a_plan_naming_a_file_outside_the_input_is_refused_before_anything_is_sent_or_written(
    uri: str, tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """An analysis may name files outside the tree (dependencies: not applicable); a plan names only
    the tree's files it chose to fix, so one outside it was edited by hand (or by someone else)."""
    app = copy_example("javaee-inventory", tmp_path / "app")
    plan_file = _plan(app, tmp_path / "plan")
    data = yaml.safe_load(plan_file.read_text())
    incident = data["phases"][0]["violations"][0]["incidents"][0]
    incident["uri"] = uri
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))
    capsys.readouterr()
    assert _execute(plan_file, app, fake) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"{plan_file}: " in line and f"incident {uri!r}" in line and "outside --input" in line
    assert fake.request_count == 0
    assert tree_differences(app, copy_example("javaee-inventory", tmp_path / "pristine")) == []
    assert not (app / ".kantra-ai").exists() and not (plan_file.parent / "state.yaml").exists()


def test_an_unknown_violation_is_refused_when_checked_against_the_analysis(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    plan_file = _plan(app, tmp_path / "plan")
    data = yaml.safe_load(plan_file.read_text())
    data["phases"][0]["violations"][0]["violation_id"] = "javax-to-jakarta-imprt-00001"
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))
    capsys.readouterr()
    code = _execute(plan_file, app, fake, "--analysis", analysis_of("javaee-inventory"))
    assert code == 2
    assert "unknown violation 'javax-to-jakarta-imprt-00001'" in capsys.readouterr().err


def test_a_plan_executed_on_another_application_is_refused_before_anything_is_sent(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `remediate` and `plan` refuse it: a plan made for one application, run on another."""
    plan_file = _plan(copy_example("javaee-inventory", tmp_path / "inventory"), tmp_path / "plan")
    other = copy_example("utf8-reports", tmp_path / "reports")
    capsys.readouterr()
    assert _execute(plan_file, other, fake) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"--input {other} does not look like the analyzed application" in line
    assert fake.request_count == 0
    assert tree_differences(other, copy_example("utf8-reports", tmp_path / "pristine")) == []
    assert not (other / ".kantra-ai").exists()


def test_interactive_planning_defers_the_phases_the_user_defers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    app = copy_example("multi-violation", tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("d\na\n"))
    plan = load_plan(
        _plan(app, tmp_path / "out", "multi-violation", "--risk-tolerance", "conservative", "--interactive")
    )
    phases = plan.ordered_phases()
    assert len(phases) >= 2
    assert phases[0].deferred is True and phases[1].deferred is False


class _CtrlCAfterFirstBatch(RunObserver):
    """Presses Ctrl-C (a real SIGINT to this process) once the first batch has been recorded."""

    def __init__(self) -> None:
        self.pressed = False

    def batch_finished(self, path: str, outcomes: list[IncidentOutcome]) -> None:
        if not self.pressed:
            self.pressed = True
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_execute_interrupted_in_phase_one_resumes_from_the_run_store_without_asking_again(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    plan_file = _plan(app, tmp_path / "plan")
    _two_phases(plan_file)
    real_execute_plan = execute_batches

    async def ctrl_c_in_first_phase(plan: RunBatches, ctx: RunContext, parallelism: int) -> RunResult:
        ctx = dataclasses.replace(ctx, observer=ObserverGroup(ctx.observer, _CtrlCAfterFirstBatch()))
        # One request per file, so that the stop falls between two requests of phase one (packed, its
        # small files would all come back in the one reply that was paid for, and be applied).
        plan = dataclasses.replace(plan, packing=NO_PACKING)
        return await real_execute_plan(plan, ctx, parallelism)

    monkeypatch.setattr(app_run, "execute_batches", ctrl_c_in_first_phase)
    assert _execute(plan_file, app, fake, "--batch-parallelism", "1") == 130
    shown = capsys.readouterr()
    assert "again with --resume" in shown.err
    # The lines after the summary say it too: without --resume the same command is refused.
    assert "interrupted: run the same command again with --resume to continue where it stopped" in shown.out
    state = yaml.safe_load((tmp_path / "plan" / "state.yaml").read_text())
    assert {p["phase_id"]: p["status"] for p in state["phases"]} == {
        "phase-1": "in_progress",
        "phase-2": "pending",
    }
    db = app / ".kantra-ai" / "state.db"
    fixed = {i for (i,) in store_rows(db, "SELECT id FROM incidents WHERE status = 'fixed'")}
    unfixed_phase_one = store_rows(
        db,
        "SELECT count(*) FROM incidents WHERE status != 'fixed' AND rule = 'javax-to-jakarta-import-00001'",
    )
    assert fixed and unfixed_phase_one[0][0] > 0  # stopped in the middle of phase one
    first_run_requests = fake.request_count

    monkeypatch.setattr(app_run, "execute_batches", real_execute_plan)
    assert _execute(plan_file, app, fake, "--resume") == 0
    assert tree_differences(app, expected_of("javaee-inventory")) == []
    later = fake.requests[first_run_requests:]
    assert later and not any(i in r.last_user_text() for r in later for i in fixed)
    final = yaml.safe_load((tmp_path / "plan" / "state.yaml").read_text())
    assert {p["phase_id"]: p["status"] for p in final["phases"]} == {
        "phase-1": "completed",
        "phase-2": "completed",
    }

    capsys.readouterr()
    assert run("status", "--input", app, "--json") == 0
    runs = json.loads(capsys.readouterr().out)["runs"]  # newest first
    assert [(r["mode"], r["state"]) for r in runs] == [
        ("execute incremental", "finished"),
        ("execute incremental", "interrupted"),
    ]
    assert runs[0]["skipped_as_done"] == len(fixed)


def test_the_reports_phases_are_every_phase_the_job_ran_in_the_words_of_state_yaml(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    # Phase by phase with --resume, then a remediate that asks again about the failed incident: the
    # report keeps every phase any run ran (not the last run's alone, nor none after a remediate),
    # each with the state state.yaml gives it and its incidents' latest statuses.
    app = copy_example("multi-violation", tmp_path)
    plan_file = _plan(app, tmp_path / "plan", "multi-violation")
    assert _execute(plan_file, app, fake, "--phase", "phase-1") == 0
    assert _execute(plan_file, app, fake, "--phase", "phase-2", "--resume") == 1  # its incident fails
    assert _execute(plan_file, app, fake, "--phase", "phase-4", "--resume") == 0
    retry = ("--base-url", fake.anthropic_base_url, "--no-progress", "--retry-failed")
    assert run("remediate", "--analysis", analysis_of("multi-violation"), "--input", app, *retry) == 1
    state = yaml.safe_load((tmp_path / "plan" / "state.yaml").read_text())
    ran = {p["phase_id"]: p["status"] for p in state["phases"] if p["status"] != "pending"}
    assert ran == {"phase-1": "completed", "phase-2": "failed", "phase-4": "completed"}
    record = json.loads((app / ".kantra-ai" / "run.json").read_text())
    assert record["kind"] == "remediate"
    assert {p["id"]: p["status"] for p in record["phases"]} == ran
    assert {p["id"]: p["counts"] for p in record["phases"]} == {
        "phase-1": {"fixed": 25},
        "phase-2": {"failed": 1},  # asked again by the remediate, still the phase's
        "phase-4": {"fixed": 1},
    }
    report = (app / ".kantra-ai" / "report.html").read_text()
    assert all(f'data-phase-id="{phase}"' in report for phase in ran)
