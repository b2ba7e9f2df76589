"""`undo` of a job delivered through git, and what comes after it: the next run is a job of its own
(its own branch and trailers), never a continuation of the undo or of the run it took back."""

from __future__ import annotations

import re
import sys

import pytest
from tests.cli.helpers import run
from tests.delivery.helpers import Checkout, files_differing, git, log
from tests.delivery.runs import remediate, remediate_process
from tests.store.helpers import store_rows


def _trailer_runs(repo: Checkout, revisions: str) -> set[str]:
    return {
        m.group(1) for _, message, _ in log(repo.app, revisions)
        if (m := re.search(r"^Kantra-AI-Run: (.+)$", message, re.M))
    }  # fmt: skip


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
