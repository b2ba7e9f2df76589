"""`kantra-ai undo`: exactly what a run wrote is taken back, files changed since are never touched,
a later run's fixes survive the undo of an earlier one, and a kill during an undo is settled."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import (
    EXAMPLES,
    copy_example,
    expected_of,
    remediate_json,
    run,
    tree_differences,
)
from tests.store.helpers import store_rows

from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"
SERVICE = "src/main/java/com/example/inventory/service/InventoryService.java"
IMPORTS = "javax-to-jakarta-import-00001"
IDENTITY = "eap8-ejb-00001"  # getCallerIdentity() -> getCallerPrincipal(), line 53 of SERVICE


def _undo(app: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run("undo", "--input", app, "--json", *extra)
    return code, json.loads(out.getvalue()) if out.getvalue().strip() else {}


def _statuses(app: Path) -> dict[str, str]:
    return dict(store_rows(app / ".kantra-ai" / "state.db", "SELECT id, status FROM incidents"))


def test_undo_restores_the_tree_byte_for_byte_and_the_next_run_fixes_it_again(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate_json(EXAMPLE, app, fake)[0] == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    code, report = _undo(app)
    assert code == 0 and report["refused"] == {} and SERVICE in report["reverted"]
    assert tree_differences(app, EXAMPLES / EXAMPLE / "app") == []
    assert set(_statuses(app).values()) == {"skipped"}  # open again, not settled
    nothing = {"run": None, "undo_run": None, "reverted": {}, "refused": {}, "commit": None, "git": ""}
    assert _undo(app) == (0, {**nothing, "report": None})
    assert remediate_json(EXAMPLE, app, fake)[0] == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_a_file_changed_since_the_run_is_left_alone_and_the_others_are_restored(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate_json(EXAMPLE, app, fake)[0] == 0
    edited = (app / SERVICE).read_text() + "// the user's own change\n"
    (app / SERVICE).write_text(edited)
    code, report = _undo(app)
    assert code == 1
    assert report["refused"] == {SERVICE: "changed since kantra-ai wrote it; left as it is"}
    assert (app / SERVICE).read_text() == edited
    assert tree_differences(app, EXAMPLES / EXAMPLE / "app") == [SERVICE]


def test_each_message_of_undo_is_one_line_when_read_by_a_program(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate_json(EXAMPLE, app, fake)[0] == 0
    (app / SERVICE).write_text((app / SERVICE).read_text() + "// the user's own change\n")
    capsys.readouterr()
    assert run("undo", "--input", app) == 1
    lines = capsys.readouterr().err.splitlines()
    # Piped, not a terminal: no line is broken at 80 columns, each path is on its own line whole.
    assert f"left      {SERVICE}: changed since kantra-ai wrote it; left as it is" in lines
    assert all(line.startswith(("restored  ", "left      ", "undid run #")) for line in lines), lines


def test_undoing_an_earlier_run_keeps_what_a_later_run_wrote_to_the_same_file(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate_json(EXAMPLE, app, fake, "--violation-ids", IMPORTS)[0] == 0
    assert remediate_json(EXAMPLE, app, fake, "--violation-ids", IDENTITY)[0] == 0
    code, report = _undo(app, "--run", "1")
    assert code == 0 and report["refused"] == {} and SERVICE in report["reverted"] and report["run"] == 1
    text = (app / SERVICE).read_text()
    original = (EXAMPLES / EXAMPLE / "app" / SERVICE).read_text()
    assert "import javax.ejb.Stateless;" in text and "jakarta" not in text  # run 1 undone...
    assert "getCallerPrincipal()" in text  # ...run 2 kept
    assert text == original.replace("getCallerIdentity()", "getCallerPrincipal()")


def test_an_undo_killed_mid_write_finishes_on_the_next_undo(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate_json(EXAMPLE, app, fake)[0] == 0
    env = {**os.environ, "KANTRA_AI_TEST_KILL_AT": "write-tmp:2"}
    killed = subprocess.run(
        [sys.executable, "-m", "kantra_ai.cli.app", "undo", "--input", str(app)],
        env=env,
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    temps = [p for p in app.rglob("*.kantra-tmp")]
    assert temps  # the kill left a temporary file next to its target
    code, report = _undo(app)
    assert code == 0 and report["refused"] == {}
    assert tree_differences(app, EXAMPLES / EXAMPLE / "app") == []
    assert not list(app.rglob("*.kantra-tmp"))
    states = store_rows(app / ".kantra-ai" / "state.db", "SELECT mode, state FROM runs ORDER BY id")
    assert states[1:] == [("undo", "crashed"), ("undo", "finished")]


@pytest.mark.parametrize("run_id", ["7"])
def test_undo_of_an_unknown_run_is_one_line(
    tmp_path: Path, fake: FakeProviderServer, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate_json(EXAMPLE, app, fake)[0] == 0
    capsys.readouterr()
    assert run("undo", "--input", app, "--run", run_id) == 2
    err = capsys.readouterr().err.strip()
    assert err == "kantra-ai: error: --run 7: no such run on this tree (see `kantra-ai status`)"


def test_undo_on_a_tree_where_nothing_ran_changes_and_makes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert run("undo", "--input", app) == 0
    assert "nothing to undo" in capsys.readouterr().err
    assert not (app / ".kantra-ai").exists()  # no lock, no store made to find there is nothing
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []


def test_undo_of_a_named_run_on_a_tree_where_nothing_ran_is_refused_as_an_unknown_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--run 3` said "nothing to undo" and exit 0 here, while a tree with runs refuses it (exit 2)."""
    app = copy_example(EXAMPLE, tmp_path)
    assert run("undo", "--input", app, "--run", "3") == 2
    err = capsys.readouterr().err.strip()
    assert err == "kantra-ai: error: --run 3: no such run on this tree (nothing has run on it yet)"
    assert not (app / ".kantra-ai").exists()


def test_the_run_after_an_undo_continues_no_run_and_resume_says_why(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate_json(EXAMPLE, app, fake)[0] == 0
    assert _undo(app)[0] == 0  # run 2: the undo; its incidents are open again ("skipped")
    capsys.readouterr()
    assert remediate_json(EXAMPLE, app, fake, "--resume")[0] == 2
    err = capsys.readouterr().err
    assert "nothing to resume on this tree, the last run (#2) was an undo" in err, err
    code, summary = remediate_json(EXAMPLE, app, fake)
    assert code == 0 and summary["store"]["continues_run"] is None
    runs = store_rows(app / ".kantra-ai" / "state.db", "SELECT id, mode, resumes FROM runs ORDER BY id")
    assert runs == [(1, "incremental", None), (2, "undo", None), (3, "incremental", None)]
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_undo_writes_the_job_report_again_without_the_fixes_it_took_back(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate_json(EXAMPLE, app, fake)[0] == 0
    record_path, page_path = app / ".kantra-ai" / "run.json", app / ".kantra-ai" / "report.html"
    assert json.loads(record_path.read_text())["totals"]["statuses"] == {"fixed": 19}
    code, report = _undo(app)
    assert code == 0 and report["report"] == str(page_path)
    record = json.loads(record_path.read_text())
    assert record["totals"]["statuses"] == {"skipped": 19} and record["totals"]["cost_per_fixed"] is None
    assert not [i["id"] for i in record["incidents"] if "hunks" in i]  # no diff shown as a fix
    assert [(r["run"], r["kind"]) for r in record["runs"]] == [(1, "remediate"), (2, "undo")]
    page = page_path.read_text()
    embedded = re.search(r'<script type="application/json" id="job-data">(.*?)</script>', page, re.DOTALL)
    assert embedded is not None
    assert {i["status"] for i in json.loads(embedded.group(1))["incidents"]} == {"skipped"}
    assert "<td>2</td><td>undo</td>" in page  # the runs table names the command
