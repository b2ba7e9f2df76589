"""An output the user names that cannot be written (a folder for a file, a file for a folder) is one
line before the work whose result it holds: no run fixes files and then fails on its report, no
plan is paid for and then lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.helpers import analysis_of, copy_example, run, tree_differences

from kantra_ai import _fs
from kantra_ai._fs import folder_problem
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    [line] = capsys.readouterr().err.strip().splitlines()  # one line, no traceback
    return line


def test_a_report_path_that_is_a_folder_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    (tmp_path / "reports").mkdir()
    code = run(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", "simulated",
        "--no-progress", "--report", tmp_path / "reports",
    )  # fmt: skip
    assert code == 2
    assert _error(capsys) == (
        f"kantra-ai: error: --report {tmp_path / 'reports'}: cannot write the report there: "
        "a folder: name the report file (report.html)"
    )
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []
    assert not (app / ".kantra-ai").exists()


def test_report_output_under_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "-p", "simulated") == 0
    (tmp_path / "notes").write_text("a file")
    capsys.readouterr()
    code = run("report", "--input", app, "--output", tmp_path / "notes" / "report.html")
    assert code == 2
    assert _error(capsys).endswith(f"cannot write the report: {tmp_path / 'notes'} is not a folder")


def test_a_plan_output_that_is_a_file_is_refused_before_the_model_plans(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    (tmp_path / "plan").write_text("a file")
    code = run(
        "plan", "--analysis", analysis_of(EXAMPLE), "--input", app, "--planner", "ai",
        "--base-url", fake.anthropic_base_url, "--output", tmp_path / "plan",
    )  # fmt: skip
    assert code == 2
    assert _error(capsys) == (
        f"kantra-ai: error: --output {tmp_path / 'plan'}: cannot write the plan there: "
        f"{tmp_path / 'plan'} is not a folder"
    )
    assert (tmp_path / "plan").read_text() == "a file"
    assert fake.request_count == 0  # nothing paid for a plan that could not be kept


def test_a_folder_still_to_be_made_is_writable_where_its_first_existing_parent_is(tmp_path: Path) -> None:
    assert folder_problem(tmp_path / "new" / "deeper") is None
    (tmp_path / "file").write_text("x")
    assert folder_problem(tmp_path / "file" / "deeper") == f"{tmp_path / 'file'} is not a folder"


def test_a_folder_this_user_may_not_write_into_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fs.os, "access", lambda path, mode: Path(path) != tmp_path)
    assert folder_problem(tmp_path / "new") == f"{tmp_path} is not writable"
