"""`remediate --verify build` on the bundled example whose first fixes break the build, compiled by
the real JDK: what broke is repaired by the model when it can be, reverted with its diagnostic when
it cannot, the tree ends up building, and nothing of the user's is touched.

The scripted model (simulated/recipes.py) answers the utf8-reports example the way a hurried model
would: `StandardCharsets.UTF_8` passed without importing it (CsvExport: the repair imports it), an
import already there (CsvImport: verified at once), and a `Formatter` overload that does not exist
(Summary: each repair guesses another wrong one, so it is reverted after the last round).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from tests.cli.helpers import run, tree_differences
from tests.verify.helpers import (
    CSV_EXPORT,
    CSV_IMPORT,
    SUMMARY,
    compiles,
    example,
    git,
    javac,
    remediate,
    rows,
)

from kantra_ai.simulated.contract import FakeReply, FakeRequest
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer

# Real compiler runs (the JDK): run once, by scripts/test.sh, not again in the lowest-versions run.
pytestmark = pytest.mark.slow

EXAMPLE = example("utf8-reports")
ANALYSIS = EXAMPLE / "output.yaml"
USER_LINE = "// the user's own work in progress\n"


def _verify(tmp_path: Path) -> tuple[str, ...]:
    return ("--verify", "build", "--verify-command", javac(tmp_path / "classes"))


def _checkout(tmp_path: Path) -> Path:
    """The example as a git checkout with the user's uncommitted work: a changed file, a staged
    change and a new file none of the fixes touch."""
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    git(app, "init", "-q")
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "before the migration")
    with open(app / "src/main/java/com/example/reports/ReportApp.java", "a") as handle:
        handle.write(USER_LINE)
    (app / "NOTES.md").write_text("todo: ask about the EMEA totals\n")
    (app / "pom.xml").write_text((app / "pom.xml").read_text().replace("Sales reports", "Sales reports 2"))
    git(app, "add", "pom.xml")
    return app


def test_remediate_verify_build_ends_with_a_tree_that_builds_and_the_users_work_untouched(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = _checkout(tmp_path)
    head = git(app, "rev-parse", "HEAD")
    status_before = git(app, "status", "--porcelain")
    code, summary = remediate(
        ANALYSIS, app, fake, "--verify", "build", "--verify-command", javac(tmp_path / "c")
    )

    assert code == 1  # one incident could not be kept
    assert compiles(app, tmp_path / "check")
    # Every incident is verified, repaired or reverted with its diagnostic.
    by_file = rows(summary)
    assert by_file[CSV_IMPORT]["verification"] == "verified"
    assert by_file[CSV_EXPORT]["verification"] == "repaired in 1 round"
    assert by_file[CSV_EXPORT]["status"] == "fixed"
    reverted = by_file[SUMMARY]
    assert reverted["status"] == "failed"
    assert reverted["reason"].startswith(
        f"verification: {SUMMARY}:19: no suitable constructor found for Formatter(StringBuilder,String)"
    )
    assert reverted["verification"].startswith("reverted: ")
    block = summary["verification"]
    assert block["incidents"] == {"verified": 1, "repaired": 1, "reverted": 1, "failing": 0}
    assert block["baseline"]["passed"] is True
    assert block["repair_requests"] == 3  # CsvExport once, Summary twice
    assert {f["path"]: f["rounds"] for f in block["files"]} == {CSV_EXPORT: 1, CSV_IMPORT: 0, SUMMARY: 2}
    assert summary["requests"] == 3 + 3  # the fixes and the repairs, paid alike
    assert summary["changed_files"] == [CSV_EXPORT, CSV_IMPORT]  # Summary is back as it was
    # The fixes equal the expected tree; the user's changes are all still there, git untouched.
    differences = tree_differences(app, EXAMPLE / "expected")
    assert differences == [".git", "NOTES.md", "pom.xml", "src/main/java/com/example/reports/ReportApp.java"]
    assert (app / "src/main/java/com/example/reports/ReportApp.java").read_text().endswith(USER_LINE)
    assert git(app, "rev-parse", "HEAD") == head
    # git sees the user's changes as before, plus our two fixes (Summary reverted to what was committed).
    after = set(git(app, "status", "--porcelain").splitlines())
    assert after == set(status_before.splitlines()) | {f" M {CSV_EXPORT}", f" M {CSV_IMPORT}"}
    # The report and the store say the same.
    report = (app / ".kantra-ai" / "report.html").read_text()
    assert "repaired in 1 round" in report and "reverted: " in report
    db = sqlite3.connect(app / ".kantra-ai" / "state.db")
    assert db.execute("SELECT count(*) FROM requests WHERE purpose='repair'").fetchone() == (3,)
    assert dict(db.execute("SELECT path, verification FROM incidents")) == {
        CSV_EXPORT: "repaired",
        CSV_IMPORT: "verified",
        SUMMARY: "reverted",
    }


def test_status_shows_what_verification_decided(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    remediate(ANALYSIS, app, fake, "--verify", "build", "--verify-command", javac(tmp_path / "c"))
    capsys.readouterr()
    assert run("status", "--input", app) == 0
    out = " ".join(capsys.readouterr().out.split())  # however the console wrapped it
    assert "verification: 1 verified, 1 repaired, 1 reverted; 3 repair requests" in out
    assert f"{SUMMARY} utf-8-by-default-00010: {SUMMARY}:19: no suitable constructor" in out
    assert run("status", "--input", app, "--json") == 0
    view = json.loads(capsys.readouterr().out)["verification"]
    assert view["incidents"] == {"verified": 1, "repaired": 1, "reverted": 1}
    assert [(r["file"], r["rule"]) for r in view["not_kept"]] == [(SUMMARY, "utf-8-by-default-00010")]
    assert view["repair_requests"] == 3 and view["repair_cost_usd"] > 0


def _with_user_edit(path: Path, line: str) -> object:
    """The scripted model, plus a user who edits `path` while the first repair request for it is
    being answered."""
    edited = False

    def responder(request: FakeRequest) -> FakeReply:
        nonlocal edited
        text = request.last_user_text()
        if not edited and "## Problems" in text and f"## File: {SUMMARY}" in text:
            edited = True
            with open(path, "a") as handle:
                handle.write(line)
        return respond(request)

    return responder


def test_a_file_the_user_edits_during_the_run_is_never_reverted_over_their_edit(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    line = "// added by the user while kantra-ai was running\n"
    with FakeProviderServer(_with_user_edit(app / SUMMARY, line)) as server:  # type: ignore[arg-type]
        code, summary = remediate(
            ANALYSIS, app, server, "--verify", "build", "--verify-command", javac(tmp_path / "c")
        )
    assert code == 1
    text = (app / SUMMARY).read_text()
    # Our fix of Summary is gone (reverted by a three-way merge); the user's line stayed.
    assert text == (EXAMPLE / "app" / SUMMARY).read_text() + line
    assert rows(summary)[SUMMARY]["verification"].startswith("reverted: ")
    assert compiles(app, tmp_path / "check")


def test_a_build_that_already_fails_counts_only_new_problems(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    broken = app / "src/main/java/com/example/reports/Draft.java"
    broken.write_text("package com.example.reports;\n\nclass Draft {\n    int total = missing();\n}\n")
    code, summary = remediate(
        ANALYSIS, app, fake, "--verify", "build", "--verify-command", javac(tmp_path / "c")
    )
    block = summary["verification"]
    assert block["baseline"]["passed"] is False
    assert block["baseline"]["problems"] == [
        "src/main/java/com/example/reports/Draft.java:4: cannot find symbol"
    ]
    # The draft's error was there before: it neither blocks nor reverts a fix.
    assert block["incidents"] == {"verified": 1, "repaired": 1, "reverted": 1, "failing": 0}
    assert tree_differences(app, EXAMPLE / "expected") == ["src/main/java/com/example/reports/Draft.java"]
    assert code == 1


def test_no_repair_rounds_reverts_what_broke_at_once(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    code, summary = remediate(
        ANALYSIS, app, fake, "--verify", "build", "--verify-command", javac(tmp_path / "c"),
        "--max-repair-rounds", "0",
    )  # fmt: skip
    assert summary["verification"]["repair_requests"] == 0
    assert summary["verification"]["incidents"] == {"verified": 1, "repaired": 0, "reverted": 2, "failing": 0}
    assert (app / CSV_EXPORT).read_text() == (EXAMPLE / "app" / CSV_EXPORT).read_text()
    assert rows(summary)[CSV_EXPORT]["reason"].startswith(
        f"verification: {CSV_EXPORT}:13: cannot find symbol"
    )
    assert compiles(app, tmp_path / "check")
    assert code == 1
