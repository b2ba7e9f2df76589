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


@pytest.mark.parametrize("target", ["pom.xml", "src/main/resources/META-INF/persistence.xml"])
def test_a_report_path_naming_a_file_of_the_users_is_refused_and_the_file_kept(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--report pom.xml` fixed the tree, then wrote report.html over the pom.xml it had just fixed
    (and run.json beside it); `report -o` did the same to any file."""
    app = copy_example(EXAMPLE, tmp_path)
    args = ("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", "simulated")
    assert run(*args, "--no-progress", "--report", app / target) == 2
    assert f"{app / target} is there and is not a kantra-ai report" in _error(capsys)
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine"), ignore=()) == []
    assert run(*args, "--no-progress") == 0
    fixed = (app / target).read_bytes()
    capsys.readouterr()
    assert run("report", "--input", app, "--output", app / target) == 2
    assert "is not a kantra-ai report" in _error(capsys)
    assert (app / target).read_bytes() == fixed
    # A report of ours, and a run.json of ours beside it, are written again.
    assert run("report", "--input", app, "--output", tmp_path / "out" / "report.html") == 0
    assert run("report", "--input", app, "--output", tmp_path / "out" / "report.html") == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "run.json").write_text('{"my": "own"}\n')
    capsys.readouterr()
    assert run("report", "--input", app, "--output", tmp_path / "mine" / "report.html") == 2
    assert f"{tmp_path / 'mine' / 'run.json'} is there and is not a kantra-ai report" in _error(capsys)
    assert (tmp_path / "mine" / "run.json").read_text() == '{"my": "own"}\n'


def test_a_report_a_repository_planted_in_the_tools_folder_is_written_over_as_ever(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    (app / ".kantra-ai").mkdir()
    (app / ".kantra-ai" / "report.html").write_text("<html>planted</html>\n")
    (app / ".kantra-ai" / "run.json").write_text("{}\n")
    assert run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "-p", "simulated") == 0
    assert b"kantra-ai job report" in (app / ".kantra-ai" / "report.html").read_bytes()


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


@pytest.mark.parametrize("name", ["plan.yaml", "plan.html"])
def test_a_plan_output_holding_a_file_of_the_users_under_a_plans_name_is_refused_and_kept(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan -o .` in a repository whose plan.yaml is a CI pipeline's: it was written over."""
    app = copy_example(EXAMPLE, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("stages:\n  - build\n")
    args = ["plan", "--analysis", analysis_of(EXAMPLE), "--input", app, "--planner", "deterministic"]
    assert run(*args, "--output", out) == 2
    assert _error(capsys) == (
        f"kantra-ai: error: --output {out}: cannot write the plan there: {out / name} is there and is not "
        "a kantra-ai plan: it would be written over; pass another --output folder"
    )
    assert (out / name).read_text() == "stages:\n  - build\n"
    # A plan of ours there (made before, or edited by hand) is made again as ever.
    (out / name).unlink()
    assert run(*args, "--output", out) == 0
    assert run(*args, "--output", out) == 0


def test_a_folder_still_to_be_made_is_writable_where_its_first_existing_parent_is(tmp_path: Path) -> None:
    assert folder_problem(tmp_path / "new" / "deeper") is None
    (tmp_path / "file").write_text("x")
    assert folder_problem(tmp_path / "file" / "deeper") == f"{tmp_path / 'file'} is not a folder"


def test_a_folder_this_user_may_not_write_into_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fs.os, "access", lambda path, mode: Path(path) != tmp_path)
    assert folder_problem(tmp_path / "new") == f"{tmp_path} is not writable"


def test_report_given_both_input_and_a_saved_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--run won and --input was silently unused: the report of another job was written."""
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "-p", "simulated") == 0
    before = (app / ".kantra-ai" / "report.html").read_bytes()
    capsys.readouterr()
    code = run("report", "--input", tmp_path, "--run", app / ".kantra-ai" / "run.json")
    assert code == 2
    assert _error(capsys).endswith("or --run FILE (a saved run.json), not both")
    assert (app / ".kantra-ai" / "report.html").read_bytes() == before
