"""`--verify` with `--git-commit` on a real repository: the commits hold only what verification
accepted (fixes verified, fixes with their repairs), never a fix it reverted or one whose check kept
failing, and every message says what the check decided."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from tests.cli.helpers import EXAMPLES
from tests.delivery.conftest import TOKEN
from tests.delivery.helpers import checkout, git, log
from tests.delivery.runs import remediate
from tests.verify.helpers import CSV_EXPORT, CSV_IMPORT, SUMMARY, compiles, javac

from testing.fakeforge import FakeForge

UTF8 = EXAMPLES / "utf8-reports"


def _commits(app: Path) -> dict[str, str]:
    """file -> the message of the one commit that changed it (per-file commits on the job's branch)."""
    found: dict[str, str] = {}
    for _, message, files in log(app, "main..kantra-ai/1"):
        assert len(files) == 1, files
        assert files[0] not in found
        found[files[0]] = message
    return found


@pytest.mark.slow  # real compiler runs (the JDK): run once, by scripts/test.sh
def test_the_commits_hold_the_repaired_fixes_and_not_the_reverted_one(tmp_path: Path) -> None:
    repo = checkout(tmp_path, "utf8-reports")
    check = javac(tmp_path / "classes")
    with FakeForge(token=TOKEN, remote=repo.remote) as forge:
        code, summary = remediate(
            repo.app, "--verify", "build", "--verify-command", check, "--git-commit", "per-file",
            "--create-pr", "--forge-url", forge.github_api, example="utf8-reports",
        )  # fmt: skip
        (pull,) = forge.pulls("acme/inventory")
    assert code == 1  # Summary's fix was reverted
    assert summary["git"]["errors"] == []
    commits = _commits(repo.app)
    # Summary's fix broke the build in every round: reverted, and in no commit.
    assert sorted(commits) == [CSV_EXPORT, CSV_IMPORT]
    # CsvExport's commit holds the fix with its repair (the import), not the fix that did not build.
    assert git(repo.app, "show", f"kantra-ai/1:{CSV_EXPORT}") == (UTF8 / "expected" / CSV_EXPORT).read_text()
    assert git(repo.app, "show", f"kantra-ai/1:{SUMMARY}") == (UTF8 / "app" / SUMMARY).read_text()
    # The branch builds: what was committed is what verification accepted.
    branch = tmp_path / "branch"
    git(repo.app, "worktree", "add", "-q", "--detach", str(branch), "kantra-ai/1")
    assert compiles(branch, tmp_path / "branch-classes")
    # Each message says what the check decided.
    shown = f"build check `{check}`"
    assert f"Verification: passed the {shown}: 1 repaired in 1 round\n" in commits[CSV_EXPORT]
    assert f"Verification: passed the {shown}: 1 verified\n" in commits[CSV_IMPORT]
    assert f"### Verification\n\npassed the {shown}: 1 verified, 1 repaired in 1 round\n" in pull["body"]
    # The working tree is the branch: nothing of ours left over, no fix lost.
    assert git(repo.app, "status", "--porcelain", "--untracked-files=no") == ""


def test_a_fix_whose_check_kept_failing_stays_in_the_tree_but_is_not_committed(tmp_path: Path) -> None:
    """A check that fails from its second run on, whatever the tree holds (the database it needs went
    away, and it says where: a problem with a name): the first file checked cannot be blamed, so its
    fix is kept in the tree as `failing`; the problem is known from then on, so the other files pass.
    Only those are committed. (A failure that names nothing is never taken as known: see
    tests/verify/test_verify_strategies.py.)"""
    repo = checkout(tmp_path)
    count = tmp_path / "checks"
    script = tmp_path / "check.sh"
    script.write_text(
        f"n=$(cat {shlex.quote(str(count))} 2>/dev/null || echo 0)\n"
        f"echo $((n + 1)) > {shlex.quote(str(count))}\n"
        'if [ "$n" -gt 0 ]; then\n'
        '  echo "src/main/java/com/example/inventory/model/StockLevel.java:1: error: no test database"\n'
        "  exit 1\n"
        "fi\n"
    )
    code, summary = remediate(
        repo.app, "--verify", "build", "--verify-command", f"sh {shlex.quote(str(script))}",
        "--max-repair-rounds", "0", "--git-commit", "per-file",
    )  # fmt: skip
    states = {row["file"]: row.get("verification", "") for row in summary["outcomes"]}
    failing = sorted({path for path, state in states.items() if state.startswith("failing")})
    assert len(failing) == 1, states
    (kept,) = failing
    passed = sorted({path for path, state in states.items() if state == "verified"})
    assert passed
    assert code == 0 or code == 1
    # The failing fix is in the tree (not ours to revert: it did not cause the failure) ...
    assert git(repo.app, "diff", "--name-only", "HEAD").split() == [kept]
    # ... and in no commit; every verified one is.
    commits = _commits(repo.app)
    assert sorted(commits) == passed
    assert all("Verification: passed the build check `sh " in m for m in commits.values())
    assert any(
        note.startswith(f"{kept}: not committed: its check decided 'failing'")
        for note in summary["git"]["notes"]
    )


def test_a_secret_in_the_check_command_reaches_no_commit_nor_pull_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "db-password-7f3k2q9x"
    shaped = "sk-ant-api03-Zx9vQ2mN7pL4kR8tY1wE5uI0oP3aS6dF"
    monkeypatch.setenv("DB_PASSWORD", password)
    repo = checkout(tmp_path)
    check = f"DB_PASSWORD={password} ANTHROPIC_KEY={shaped} true"
    with FakeForge(token=TOKEN, remote=repo.remote) as forge:
        code, _ = remediate(
            repo.app, "--verify", "build", "--verify-command", check, "--git-commit", "per-file",
            "--create-pr", "--forge-url", forge.github_api,
        )  # fmt: skip
        pulls = forge.pulls("acme/inventory")
    assert code == 0 and pulls
    messages = git(repo.app, "log", "--all", "--format=%B")
    assert "Verification: passed the build check `DB_PASSWORD=*** ANTHROPIC_KEY=sk-ant-*** true`" in messages
    texts = messages + "".join(f"{p['title']}\n{p['body']}" for p in pulls)
    assert password not in texts and shaped not in texts
