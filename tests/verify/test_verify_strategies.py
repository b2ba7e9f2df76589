"""Every strategy ends the bundled example in the same tree: a check after each file, per violation,
per phase of `execute` (between phases), or once at the end with bisection of what broke it; and a
check that hangs is killed and its fix reverted."""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.helpers import run, tree_differences
from tests.verify.helpers import CSV_EXPORT, CSV_IMPORT, SUMMARY, compiles, example, javac, remediate, rows

from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = example("utf8-reports")


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    return app


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "csv_import"),
    [
        # CsvImport's fix belongs to the violation whose group (with CsvExport) took a repair round.
        ("per-violation", "repaired in 1 round"),
        # At the end, files are the groups; bisection finds Summary among them.
        ("at-end", "verified"),
    ],
)
def test_every_strategy_reaches_the_same_tree(
    tmp_path: Path, fake: FakeProviderServer, strategy: str, csv_import: str
) -> None:
    app = _app(tmp_path)
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake,
        "--verify", "build", "--verify-command", javac(tmp_path / "c"), "--verify-strategy", strategy,
    )  # fmt: skip
    assert tree_differences(app, EXAMPLE / "expected") == []
    states = {path: row["verification"].split(":")[0] for path, row in rows(summary).items()}
    assert states == {CSV_EXPORT: "repaired in 1 round", CSV_IMPORT: csv_import, SUMMARY: "reverted"}
    assert summary["verification"]["strategy"] == strategy
    assert code == 1


@pytest.mark.slow
def test_execute_verifies_each_phase_before_the_next(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = _app(tmp_path)
    out = tmp_path / "plan"
    analysis = EXAMPLE / "output.yaml"
    assert (
        run("plan", "--analysis", analysis, "--input", app, "--output", out, "--planner", "deterministic")
        == 0
    )
    plan_file = out / "plan.yaml"
    data: dict[str, Any] = yaml.safe_load(plan_file.read_text())
    phase = data["phases"][0]
    second = dict(phase, id="phase-2", name="java.util", order=2)
    second["violations"] = [v for v in phase["violations"] if v["violation_id"] == "utf-8-by-default-00010"]
    phase["violations"] = [v for v in phase["violations"] if v["violation_id"] != "utf-8-by-default-00010"]
    data["phases"].append(second)
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))
    code = run(
        "execute", "--plan", plan_file, "--input", app, "--base-url", fake.anthropic_base_url,
        "--no-progress", "--verify", "build", "--verify-command", javac(tmp_path / "c"),
    )  # fmt: skip
    assert code == 1
    assert tree_differences(app, EXAMPLE / "expected") == []
    state = yaml.safe_load((out / "state.yaml").read_text())
    # Phase 1 builds (after one repair); phase 2's fix never does: reverted, the phase failed.
    assert {p["phase_id"]: p["status"] for p in state["phases"]} == {
        "phase-1": "completed",
        "phase-2": "failed",
    }


def test_a_check_that_hangs_before_any_edit_stops_the_run_before_anything_changes(
    tmp_path: Path,
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _app(tmp_path)
    scratch = tmp_path / "tmp"  # the system's temporary folder, for this run alone
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code, summary = remediate(
        EXAMPLE / "output.yaml",
        app,
        fake,
        "--verify",
        "build",
        "--verify-command",
        "sleep 60",
        "--verify-timeout",
        "1",
    )
    assert (code, summary) == (2, {})
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(
        "kantra-ai: error: verification: the baseline check `sleep 60` did not finish within 1 s"
    )
    assert fake.request_count == 0
    assert tree_differences(app, EXAMPLE / "app") == []
    assert list(scratch.iterdir()) == []  # the check's scratch folder went with the failed run


@pytest.mark.slow  # two checks wait for the timeout
def test_a_fix_that_makes_the_check_hang_is_reverted(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = _app(tmp_path)
    # The check hangs once Summary holds its fix (an endless test, a deadlocked build): it is killed
    # at the timeout, and bisection on a copy shows which fix makes it hang.
    hangs = f"if grep -q 'Formatter(text, Standard' {SUMMARY}; then sleep 60; fi; {javac(tmp_path / 'c')}"
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake,
        "--verify", "build", "--verify-command", hangs, "--verify-timeout", "15", "--max-repair-rounds", "0",
        "--batch-parallelism", "1",
    )  # fmt: skip
    reverted = rows(summary)[SUMMARY]
    assert reverted["status"] == "failed"
    assert "did not finish in time" in reverted["reason"]
    assert (app / SUMMARY).read_text() == (EXAMPLE / "app" / SUMMARY).read_text()
    assert compiles(app, tmp_path / "check")
    assert code == 1


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("no-such-check-xyz", "cannot run (command not found, exit 127"),
        ("./build.sh", "cannot run (not executable, exit 126"),
        ("echo 'Could not resolve host: repo.maven.apache.org'; exit 1", "names no problem"),
        # Maven offline, coloured even when piped: its reason, not its closing colour reset ('[0m').
        (
            "printf '[\\033[1;31mERROR\\033[m] Failed to execute goal: Could not resolve dependencies\\n"
            "[\\033[1;31mERROR\\033[m] [Help 1] http://cwiki.apache.org/x\\n\\033[0m\\033[0m'; exit 1",
            "(exit 1: [ERROR] Failed to execute goal: Could not resolve dependencies)",
        ),
    ],
    ids=["not-found", "not-executable", "names-nothing", "maven-colours"],
)
def test_a_check_that_cannot_tell_a_fix_from_its_own_failure_stops_the_run_before_anything_changes(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str], command: str, said: str
) -> None:
    # Failing before any edit with output that names no problem, every later failure would read the
    # same as the baseline's: no fix could fail its check, and every one would be "verified".
    app = _app(tmp_path)
    (app / "build.sh").write_text("#!/bin/sh\nexit 0\n")  # not executable
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", command
    )
    assert (code, summary) == (2, {})
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("kantra-ai: error: verification: the check") and said in err, err
    assert "(nothing was changed)" in err
    assert fake.request_count == 0
    assert tree_differences(app, EXAMPLE / "app") == ["build.sh"]


def test_a_blip_that_names_nothing_excuses_no_later_fix(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = _app(tmp_path)
    count = tmp_path / "checks"
    # The second and third checks fail as a network blip does (the first file's check and its probe
    # on a copy): that file's fix is kept as failing. Summary's fix then makes the check fail with
    # output that names nothing either: it is a new failure, not the blip again.
    check = tmp_path / "check.sh"
    check.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}\n"
        f"if grep -q 'Formatter(text, Standard' {SUMMARY}; then echo 'BUILD FAILURE'; exit 1; fi\n"
        "if [ $n -ge 2 ] && [ $n -le 3 ]; then echo 'Could not resolve host'; exit 1; fi\n"
    )
    check.chmod(0o755)
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", str(check),
        "--batch-parallelism", "1", "--max-repair-rounds", "0",
    )  # fmt: skip
    assert rows(summary)[CSV_EXPORT]["verification"].startswith(
        "failing: fails without kantra-ai's edits too"
    )
    assert rows(summary)[SUMMARY]["status"] == "failed"
    assert (app / SUMMARY).read_text() == (EXAMPLE / "app" / SUMMARY).read_text()
    assert code == 1


def test_a_repair_never_writes_through_a_link_the_check_put_in_place_of_a_fixed_file(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = _app(tmp_path)
    outside, kept, marker = tmp_path / "outside.java", tmp_path / "outside.orig", tmp_path / "marker"
    # The first check after Summary's fix swaps the file for a link to a file outside the tree (a
    # build script gone wrong), then reports a compile error in it: repair rounds follow.
    check = tmp_path / "check.sh"
    check.write_text(
        "#!/bin/sh\n"
        f"if [ ! -e {marker} ] && grep -q StandardCharsets {SUMMARY}; then\n"
        f"  touch {marker}; cp {SUMMARY} {outside}; cp {SUMMARY} {kept}; ln -sf {outside} {SUMMARY}\n"
        "fi\n"
        f"if grep -q 'Formatter(text, Standard' {SUMMARY}; then\n"
        f"  echo '{SUMMARY}:18: error: no suitable constructor found for Formatter(StringBuilder,Charset)'\n"
        "  exit 1\n"
        "fi\n"
    )
    check.chmod(0o755)
    remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", str(check),
        "--batch-parallelism", "1", "--max-repair-rounds", "1",  # (a second round would swap it back)
    )  # fmt: skip
    assert marker.exists()  # the swap happened
    assert outside.read_bytes() == kept.read_bytes()  # nothing of ours went through the link


def test_a_check_that_puts_a_fixed_file_back_verifies_nothing_and_stops_the_run(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # A check that restores the files it checks (`git checkout .` in a build script) passes the
    # original code, not the fix: nothing it passed may be called verified.
    app = _app(tmp_path)
    original = tmp_path / "original.java"
    shutil.copy(app / SUMMARY, original)
    check = tmp_path / "check.sh"
    check.write_text(f"#!/bin/sh\ncp {original} {SUMMARY}\n")
    check.chmod(0o755)
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", str(check),
        "--batch-parallelism", "1",
    )  # fmt: skip
    assert code == 1
    block = summary["verification"]
    assert block["halted"].startswith(f"the check `{check}` changed what it checks while it ran: {SUMMARY}")
    # Files checked before Summary's fix was written were checked as written; Summary's was not.
    assert rows(summary)[SUMMARY]["verification"] is None
    verified = [row["file"] for row in summary["outcomes"] if row["verification"] == "verified"]
    assert block["incidents"]["verified"] == len(verified) and SUMMARY not in verified
    assert f"{SUMMARY} was changed" in capsys.readouterr().err


def test_a_check_that_deletes_the_run_store_is_refused_before_anything_is_sent(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # `git clean -fdx` in a build script: the run would go on writing to a deleted store, and
    # `status` and `undo` would know nothing of what it did.
    app = _app(tmp_path)
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", "rm -rf .kantra-ai"
    )
    assert (code, summary) == (2, {})
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the run store" in err and "was deleted or replaced" in err and err.endswith("(nothing was sent)")
    assert fake.request_count == 0
    assert tree_differences(app, EXAMPLE / "app") == []


def _running(word: str) -> bool:
    """Whether a process of this machine has `word` on its command line."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if word.encode() in cmdline.read_bytes():
                return True
    return False


def test_sigterm_during_the_baseline_check_kills_the_check_with_the_run(tmp_path: Path) -> None:
    app = _app(tmp_path)
    seconds = f"{random.randint(100, 999)}.{random.randint(1, 9)}"  # a sleep no other process runs
    started = tmp_path / "started"
    argv = [
        sys.executable, "-m", "kantra_ai.cli.app", "remediate", "--analysis", str(EXAMPLE / "output.yaml"),
        "--input", str(app), "--provider", "simulated", "--no-progress",
        "--verify", "build", "--verify-command", f"touch {started}; sleep {seconds}",
    ]  # fmt: skip
    run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    assert run.stderr is not None
    for line in run.stderr:
        if "baseline check before any edit" in line:
            break
    deadline = time.monotonic() + 30
    while not (started.exists() and _running(f"sleep {seconds}")):
        assert time.monotonic() < deadline, "the check never started"
        time.sleep(0.05)
    # Signalled while the check runs: not while the process is being started, a window of the
    # event loop where the check's pid is not known yet.
    time.sleep(1.0)
    run.send_signal(signal.SIGTERM)
    assert run.wait(30) == 130
    # Before the run began, nothing else says it: typer alone would have exited 130 without a word.
    assert run.stderr.read().strip().splitlines()[-1] == "kantra-ai: interrupted"
    assert not _running(f"sleep {seconds}")  # not left behind, orphaned
    assert tree_differences(app, EXAMPLE / "app") == []


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (("--verify-timeout", "inf"), "--verify-timeout: must be a positive number of seconds, not inf"),
        (("--verify-strategy", "sometimes"), "--verify-strategy: expected one of"),
        (("--max-repair-rounds", "-1"), "--max-repair-rounds"),
    ],
)
def test_verification_flags_that_cannot_work_are_one_line_before_anything_runs(
    tmp_path: Path,
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
    said: str,
) -> None:
    app = _app(tmp_path)
    code, _ = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", "true", *flags
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and said in err and len(err.splitlines()) == 1, err
    assert fake.request_count == 0
    assert tree_differences(app, EXAMPLE / "app") == []


def _fails_while_summary_holds_its_fix(tmp_path: Path) -> Path:
    """A check that fails, naming nothing, whenever Summary holds the fix that does not compile."""
    check = tmp_path / "check.sh"
    check.write_text(
        f"#!/bin/sh\nif grep -q 'Formatter(text, Standard' {SUMMARY}; then echo 'BUILD FAILURE'; exit 1; fi\n"
    )
    check.chmod(0o755)
    return check


def test_the_last_progress_line_counts_a_reverted_fix_as_failed(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(tmp_path)
    check = _fails_while_summary_holds_its_fix(tmp_path)
    code = run(
        "remediate", "--analysis", EXAMPLE / "output.yaml", "--input", app,
        "--base-url", fake.anthropic_base_url,
        "--verify", "build", "--verify-command", str(check), "--max-repair-rounds", "0",
    )  # fmt: skip
    assert code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if "progress:" in line]
    assert "(fixed 2, failed 1)" in lines[-1], lines[-1]


def test_fail_fast_stops_at_the_first_fix_that_fails_and_every_row_has_the_same_fields(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = _app(tmp_path)
    check = _fails_while_summary_holds_its_fix(tmp_path)
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", str(check),
        "--max-repair-rounds", "0", "--verify-fail-fast", "--batch-parallelism", "1",
    )  # fmt: skip
    assert code == 1
    by_file = rows(summary)
    assert by_file[SUMMARY]["status"] == "failed"  # reverted, and the run stopped there
    assert by_file[CSV_IMPORT]["status"] == "skipped"  # never sent
    assert (app / CSV_IMPORT).read_text() == (EXAMPLE / "app" / CSV_IMPORT).read_text()
    # The skipped incident carries the verification fields too, as null: one shape for every row.
    fields = {"verification", "verification_state", "repair_rounds"}
    assert all(fields <= row.keys() for row in summary["outcomes"])
    assert by_file[CSV_IMPORT]["verification"] is None


def _job(app: Path) -> dict[str, Any]:
    """What the run store says of the job, as `report` (run.json) and `status --json` show it."""
    record: dict[str, Any] = json.loads((app / ".kantra-ai" / "run.json").read_text())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run("status", "-i", app, "--json") == 0
    return {"report": record, "status": json.loads(out.getvalue())}


def _counting_check(tmp_path: Path, body: str) -> tuple[Path, Path]:
    """A check script that counts its runs in a file (`$n`: the runs before this one), then runs
    `body`; (the script, the count file)."""
    count = tmp_path / "checks"
    check = tmp_path / "check.sh"
    check.write_text(f"#!/bin/sh\nn=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}\n{body}")
    check.chmod(0o755)
    return check, count


def test_a_fix_kept_while_the_check_fails_without_our_edits_too_is_never_counted_fixed(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    # From its second run on the check fails whatever the tree holds, naming a file we did not touch
    # (the test database went away): the first fix checked cannot be blamed, so it stays in the tree,
    # but no check ever passed with it: it is no fix anyone may count as done.
    app = _app(tmp_path)
    check, _ = _counting_check(
        tmp_path,
        'if [ "$n" -gt 0 ]; then\n'
        '  echo "src/main/java/com/example/reports/Sale.java:1: error: no test database"; exit 1\n'
        "fi\n",
    )
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", str(check),
        "--batch-parallelism", "1", "--max-repair-rounds", "0",
    )  # fmt: skip
    assert code == 1
    kept = [row for row in summary["outcomes"] if row["verification_state"] == "failing"]
    assert len(kept) == 1, summary["outcomes"]
    (row,) = kept
    assert row["verification"].startswith("failing: fails without kantra-ai's edits too")
    assert (row["status"], row["reason"]) == ("failed", f"verification: {row['verification'][9:]}")
    assert (app / row["file"]).read_text() != (EXAMPLE / "app" / row["file"]).read_text()  # kept
    verified = summary["verification"]["incidents"]["verified"]
    assert verified == 2 and summary["incidents"]["fixed"] == verified
    assert summary["incidents"]["failed"] == 1
    job = _job(app)
    stored = next(i for i in job["report"]["incidents"] if i["id"] == row["id"])
    assert (stored["status"], stored["reason"]) == ("failed", row["reason"])
    assert job["report"]["totals"]["statuses"] == {"fixed": verified, "failed": 1}
    assert (job["status"]["incidents"]["fixed"], job["status"]["incidents"]["failed"]) == (verified, 1)


def test_the_checks_reported_are_the_checks_run_bisection_probes_included(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = _app(tmp_path)
    # At the end, Summary's fix breaks the check; which of the three files did it is found by
    # bisection on a copy of the tree: every probe there is a run of the check too.
    check, count = _counting_check(
        tmp_path,
        f"if grep -q 'Formatter(text, Standard' {SUMMARY}; then\n"
        f"  echo '{SUMMARY}:18: error: no suitable constructor found for Formatter(StringBuilder,Charset)'\n"
        "  exit 1\n"
        "fi\n",
    )
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", str(check),
        "--verify-strategy", "at-end", "--max-repair-rounds", "0",
    )  # fmt: skip
    assert code == 1
    assert rows(summary)[SUMMARY]["verification_state"] == "reverted"
    ran = int(count.read_text())
    assert ran > 2  # the baseline, the check at the end, and the probes
    assert summary["verification"]["checks"] == ran
    assert _job(app)["report"]["verification"]["checks"] == ran


def test_a_fix_verification_reverted_counts_once_as_failed_in_the_runs_outcomes(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Summary's fix breaks the check and is reverted: the run decided it twice (fixed, then failed).
    app = _app(tmp_path)
    check, _ = _counting_check(
        tmp_path,
        f"if grep -q 'Formatter(text, Standard' {SUMMARY}; then\n"
        f"  echo '{SUMMARY}:18: error: no suitable constructor found for Formatter(StringBuilder,Charset)'\n"
        "  exit 1\n"
        "fi\n",
    )
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", str(check),
        "--max-repair-rounds", "0",
    )  # fmt: skip
    assert code == 1
    assert rows(summary)[SUMMARY]["verification_state"] == "reverted"
    assert (summary["incidents"]["fixed"], summary["incidents"]["failed"]) == (2, 1)
    # One outcome per incident of the run, its last: the reverted fix is a failure, not also a fix.
    job = _job(app)
    assert job["status"]["runs"][0]["outcomes"] == {"fixed": 2, "failed": 1}
    assert job["report"]["runs"][0]["outcomes"] == {"fixed": 2, "failed": 1}
    capsys.readouterr()
    assert run("status", "-i", app) == 0
    assert "1 failed, 2 fixed" in capsys.readouterr().out
