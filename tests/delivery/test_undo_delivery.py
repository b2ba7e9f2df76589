"""`undo` of a job delivered through git, and what comes after it: the next run is a job of its own
(its own branch and trailers), never a continuation of the undo or of the run it took back."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from typing import Any

import pytest
from tests.cli.helpers import EXAMPLES, run
from tests.delivery.helpers import Checkout, files_differing, git, log
from tests.delivery.runs import EXAMPLE, remediate, remediate_process
from tests.store.helpers import store_rows

EXPECTED = EXAMPLES / EXAMPLE / "expected"


def _trailer_runs(repo: Checkout, revisions: str) -> set[str]:
    return {
        m.group(1) for _, message, _ in log(repo.app, revisions)
        if (m := re.search(r"^Kantra-AI-Run: (.+)$", message, re.M))
    }  # fmt: skip


def _status_json(repo: Checkout) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run("status", "--input", repo.app, "--json") == 0
    return dict(json.loads(out.getvalue()))


def _jobs(repo: Checkout) -> list[tuple[int, str, int | None]]:
    return store_rows(repo.app / ".kantra-ai" / "state.db", "SELECT id, mode, resumes FROM runs ORDER BY id")


def test_the_run_after_an_undo_commits_on_a_branch_and_trailer_of_its_own(repo: Checkout) -> None:
    assert remediate(repo.app, "--git-commit", "per-violation")[0] == 0
    assert run("undo", "--input", repo.app) == 0  # run 2: the undo, committed on kantra-ai/1
    code, summary = remediate(repo.app, "--git-commit", "per-file")
    assert code == 0 and summary["store"]["continues_run"] is None
    assert summary["git"]["branch"] == "kantra-ai/3"
    assert _jobs(repo) == [(1, "incremental", None), (2, "undo", None), (3, "incremental", None)]
    assert git(repo.app, "branch", "--list", "kantra-ai/2") == ""
    # The trailer leads to the run that made the fixes, not to the undo.
    assert _trailer_runs(repo, "kantra-ai/1..kantra-ai/3") == {"3"}
    assert files_differing(repo.app, repo.original) != []  # fixed again


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_run_that_was_undone_is_not_continued_by_the_next_run(repo: Checkout) -> None:
    killed = remediate_process(repo.app, "--git-commit", "per-violation", kill_at="git-committed:3")
    assert killed.returncode == -9, killed.stderr
    assert run("undo", "--input", repo.app) == 0  # the killed run's fixes taken back
    code, summary = remediate(repo.app, "--git-commit", "per-violation")
    assert code == 0 and summary["store"]["continues_run"] is None
    assert [resumes for _, _, resumes in _jobs(repo)] == [None, None, None]
    assert summary["git"]["branch"] == "kantra-ai/3"
    assert _trailer_runs(repo, "main..kantra-ai/3") == {"3"}


def test_status_and_the_report_name_the_undo_that_reverted_a_delivered_job(
    repo: Checkout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert remediate(repo.app, "--git-commit", "per-file")[0] == 0
    fixes = len(log(repo.app, "main..kantra-ai/1"))
    assert run("undo", "--input", repo.app) == 0
    revert = git(repo.app, "rev-parse", "kantra-ai/1").strip()
    assert log(repo.app, "kantra-ai/1~1..kantra-ai/1")[0][1].startswith("Revert kantra-ai run #1")
    job = _status_json(repo)["git"][0]
    assert job["run"] == 1 and job["reverted_by"] == [{"run": 2, "commit": revert}]
    assert len(job["commits"]) == fixes + 1
    assert job["commits"][-1]["sha"] == revert and job["commits"][-1]["title"] == "Revert kantra-ai run #1"
    assert sorted(job["commits"][-1]["files"]) == files_differing(repo.original, EXPECTED)
    capsys.readouterr()
    assert run("status", "--input", repo.app) == 0
    assert f"delivered, reverted by run #2 ({revert[:12]})" in capsys.readouterr().out
    # The report the undo wrote again says so too.
    record = json.loads((repo.app / ".kantra-ai" / "run.json").read_text())
    assert record["git"][0]["reverted_by"] == [{"run": 2, "commit": revert}]
    page = (repo.app / ".kantra-ai" / "report.html").read_text()
    assert f"reverted by run #2 ({revert[:12]})" in page
