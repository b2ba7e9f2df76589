"""`--git-commit` strategies read back from the real history, and the user's work left alone: dirty
files refuse the run, unrelated ones are never committed, staged work stays staged, an edit made
during the run stays the user's."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.helpers import EXAMPLES, run
from tests.delivery.helpers import Checkout, checkout, files_differing, git, log
from tests.delivery.runs import EXAMPLE, remediate
from tests.store.helpers import store_rows

from kantra_ai.simulated.contract import FakeReply, FakeRequest
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer

EXPECTED = EXAMPLES / EXAMPLE / "expected"
POM = "pom.xml"
SERVICE = "src/main/java/com/example/inventory/service/InventoryService.java"


def _messages_and_files(app: Path) -> list[tuple[str, list[str]]]:
    return [(message, files) for _, message, files in log(app, "main..kantra-ai/1")]


def _unit(message: str) -> str:
    found = re.search(r"^Kantra-AI-Unit: (.+)$", message, re.M)
    assert found, message
    return found.group(1)


def _the_branch_holds_the_fixed_tree(repo: Checkout, tmp_path: Path) -> None:
    tree = tmp_path / "branch"
    git(repo.app, "worktree", "add", "-q", "--detach", str(tree), "kantra-ai/1")
    try:
        assert files_differing(tree, EXPECTED) == []
    finally:
        git(repo.app, "worktree", "remove", "--force", str(tree))


def test_per_incident_commits_each_carry_one_incident_and_its_lines(repo: Checkout, tmp_path: Path) -> None:
    assert remediate(repo.app, "--git-commit", "per-incident")[0] == 0
    commits = _messages_and_files(repo.app)
    assert len({_unit(m) for m, _ in commits}) == len(commits) > 7
    for message, files in commits:
        assert _unit(message).startswith("incident:")
        listed = re.findall(r"^- (\S+):(\d+) ", message, re.M)
        assert sorted({path for path, _ in listed}) == files  # the files it names, no other
        sha = next(s for s, m, _ in log(repo.app, "main..kantra-ai/1") if m == message)
        diff = git(repo.app, "diff", "-U0", f"{sha}~1", sha)
        changed = {int(n) for n in re.findall(r"^@@ -(\d+)", diff, re.M)}
        lines = {int(n) for _, n in listed}
        assert all(min(abs(c - n) for n in lines) <= 1 for c in changed), (message, changed)
    _the_branch_holds_the_fixed_tree(repo, tmp_path)
    assert git(repo.app, "rev-parse", "--abbrev-ref", "HEAD").strip() == "kantra-ai/1"
    assert git(repo.app, "status", "--porcelain") == ""


def test_per_file_commits_each_change_one_file(repo: Checkout, tmp_path: Path) -> None:
    assert remediate(repo.app, "--git-commit", "per-file")[0] == 0
    commits = _messages_and_files(repo.app)
    assert sorted(f for _, files in commits for f in files) == files_differing(repo.original, EXPECTED)
    assert all(len(files) == 1 and _unit(m) == f"file:{files[0]}" for m, files in commits)
    _the_branch_holds_the_fixed_tree(repo, tmp_path)


PRODUCT = "src/main/java/com/example/inventory/model/Product.java"


@pytest.mark.parametrize(
    ("link", "points_to", "real"),
    [
        (PRODUCT, "../../../../../../../shared/Product.java", "shared/Product.java"),
        (str(Path(PRODUCT).parent), "../../../../../../shared/model", "shared/model/Product.java"),
    ],
    ids=["the file", "its folder"],
)
def test_a_fix_reached_through_a_symbolic_link_is_said_and_left_uncommitted_and_the_rest_committed(
    link: str, points_to: str, real: str, repo: Checkout, tmp_path: Path
) -> None:
    # The application keeps Product.java elsewhere in the tree, a link in its place (or its folder's).
    (repo.app / "shared").mkdir()
    shutil.move(repo.app / link, repo.app / "shared" / Path(link).name)
    (repo.app / link).symlink_to(points_to)
    git(repo.app, "add", "-A")
    git(repo.app, "commit", "-q", "-m", "The model shared")
    base = git(repo.app, "rev-parse", "HEAD").strip()
    code, summary = remediate(repo.app, "--git-commit", "per-file")
    assert code == 0, summary
    # Fixed through the link as every in-tree link is; delivered honestly: no "cannot be separated".
    assert summary["incidents"]["fixed"] == 19 and summary["git"]["errors"] == []
    [note] = [n for n in summary["git"]["notes"] if "symbolic link" in n]
    assert note.startswith(f"{PRODUCT}: a symbolic link (or under one) to {real}: not committed")
    commits = _messages_and_files(repo.app)
    committed = sorted(f for _, files in commits for f in files)
    assert committed == [f for f in files_differing(repo.original, EXPECTED) if f != PRODUCT]
    assert git(repo.app, "diff", "--name-only", base, "kantra-ai/1", "--", link, real) == ""
    assert git(repo.app, "ls-tree", "kantra-ai/1", link).split()[0] == "120000"  # still the link
    assert (repo.app / real).read_bytes() == (EXPECTED / PRODUCT).read_bytes()  # the fix, uncommitted
    assert git(repo.app, "status", "--porcelain").split() == ["M", real]


def test_at_end_makes_one_commit_in_the_predecessors_style(repo: Checkout) -> None:
    assert remediate(repo.app, "--git-commit", "at-end")[0] == 0
    ((message, files),) = _messages_and_files(repo.app)
    assert files == files_differing(repo.original, EXPECTED)
    title, _, body = message.partition("\n\n")
    assert title == "fix(konveyor): 19 incident(s) of 7 rules in 7 file(s)"
    assert f"- {SERVICE}:53 eap8-ejb-00001" in body
    for line in ("Model: simulated/simulated-model", "Cost: $0.0000", "Verification: not run"):
        assert line in body
    assert body.rstrip().endswith("Kantra-AI-Run: 1\nKantra-AI-Unit: all")
    assert (
        git(repo.app, "log", "-1", "--format=%an <%ae>", "kantra-ai/1").strip()
        == "Dev Eloper <dev@example.com>"
    )


def test_a_run_that_would_change_a_dirty_file_is_refused_and_changes_nothing(
    repo: Checkout, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo.app / POM).write_text((repo.app / POM).read_text() + "<!-- my work in progress -->\n")
    code, summary = remediate(repo.app, "--git-commit", "per-violation")
    assert code == 2 and summary == {}
    err = capsys.readouterr().err.strip()
    assert err.startswith("kantra-ai: error: uncommitted changes in files this run would fix: pom.xml;")
    assert "git stash" in err and len(err.splitlines()) == 1
    assert files_differing(repo.app, repo.original) == [POM]
    assert git(repo.app, "branch", "--format=%(refname:short)").split() == ["main"]


def test_unrelated_dirty_and_staged_files_are_left_alone_and_never_committed(repo: Checkout) -> None:
    (repo.app / "NOTES.txt").write_text("todo\n")
    readme = repo.app / "src/main/webapp/WEB-INF/web.xml"
    readme.write_text(readme.read_text() + "<!-- staged -->\n")
    git(repo.app, "add", "src/main/webapp/WEB-INF/web.xml")
    staged = git(repo.app, "diff", "--cached")
    code, _ = remediate(repo.app, "--git-commit", "per-violation", "--exclude", "src/main/webapp/**")
    assert code == 0
    committed = {f for _, files in _messages_and_files(repo.app) for f in files}
    assert "NOTES.txt" not in committed and "src/main/webapp/WEB-INF/web.xml" not in committed
    assert git(repo.app, "diff", "--cached") == staged  # still staged, exactly as it was
    assert git(repo.app, "status", "--porcelain").splitlines() == [
        "M  src/main/webapp/WEB-INF/web.xml",
        "?? NOTES.txt",
    ]


@pytest.fixture
def editing_server(repo: Checkout, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviderServer]:
    """A provider whose first answer comes while the user adds a line to pom.xml (a file the run
    fixes too) and to a file it does not touch."""
    edited: list[str] = []

    def respond_while_editing(request: FakeRequest) -> FakeReply:
        if not edited:
            edited.append("done")
            with (repo.app / POM).open("a") as pom:
                pom.write("<!-- added by the user during the run -->\n")
            (repo.app / "NOTES.txt").write_text("written during the run\n")
        return respond(request)

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    with FakeProviderServer(respond_while_editing) as server:
        yield server


def test_a_user_edit_during_the_run_is_never_committed(
    repo: Checkout, editing_server: FakeProviderServer
) -> None:
    code, summary = remediate(
        repo.app, "--provider", "claude", "--base-url", editing_server.anthropic_base_url,
        "--batch-parallelism", "1", "--git-commit", "per-violation",
    )  # fmt: skip
    assert summary["git"]["errors"] == []
    committed_pom = git(repo.app, "show", f"kantra-ai/1:{POM}")
    assert committed_pom == (EXPECTED / POM).read_text()
    assert "added by the user" in (repo.app / POM).read_text()
    diff = git(repo.app, "diff", "-U0", "HEAD", "--", POM)
    assert [
        line
        for line in diff.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ] == ["+<!-- added by the user during the run -->"]
    assert "NOTES.txt" in git(repo.app, "status", "--porcelain")
    assert code in (0, 1)


def test_a_user_edit_next_to_a_fix_while_its_request_is_in_flight_leaves_that_file_alone_and_commits_the_rest(
    repo: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user puts a line between the two imports the fix of a file changes while its request is
    in flight: the fix is written onto that line and cannot be committed without it. That file
    stays in the working tree, uncommitted (fix and line), with a note; every other file is
    committed. Before: the delivery stopped at that file, saying that the same command would
    finish it, and the same command said the same again, the files after it never committed."""
    target = "src/main/java/com/example/inventory/rest/ProductResource.java"
    edited: list[str] = []

    def respond_while_editing(request: FakeRequest) -> FakeReply:
        if target in request.last_user_text() and not edited:
            edited.append("done")
            path = repo.app / target
            text = path.read_text()
            path.write_text(text.replace("import javax.ws.rs.*;", "// my note\nimport javax.ws.rs.*;", 1))
        return respond(request)

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    with FakeProviderServer(respond_while_editing) as server:
        code, summary = remediate(
            repo.app,
            "--provider",
            "claude",
            "--base-url",
            server.anthropic_base_url,
            "--git-commit",
            "per-file",
        )
    assert edited
    assert summary["git"]["errors"] == []
    assert [
        note for note in summary["git"]["notes"] if note.startswith(f"{target}: changed outside kantra-ai")
    ]
    committed = {f for _, _, files in log(repo.app, "main..kantra-ai/1") for f in files}
    assert target not in committed and len(committed) == 6
    now = (repo.app / target).read_text()
    assert "import jakarta.inject.Inject;\n// my note\nimport jakarta.ws.rs.*;" in now
    assert code == 0


@pytest.mark.parametrize(
    ("setup", "flags", "message"),
    [
        ("no-git", ("--git-commit", "at-end"), "is not in a git repository"),
        ("no-commit", ("--git-commit", "at-end"), "the repository has no commit yet"),
        ("clean", ("--create-pr",), "set GITHUB_TOKEN or GH_TOKEN"),
        ("clean", ("--create-pr", "--remote", "upstream"), "has no remote 'upstream'"),
        ("clean", ("--git-commit", "at-end", "--branch", "bad..name"), "not a valid branch name"),
    ],
)
def test_git_options_that_cannot_work_are_refused_before_anything_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    flags: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    if setup in ("no-git", "no-commit"):
        app = tmp_path / "app"
        shutil.copytree(EXAMPLES / EXAMPLE / "app", app)
        if setup == "no-commit":
            git(app, "init", "-q")
    else:
        app = checkout(tmp_path).app
    before = files_differing(app, EXAMPLES / EXAMPLE / "app")
    code, _ = remediate(app, *flags)
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert files_differing(app, EXAMPLES / EXAMPLE / "app") == before
    db = app / ".kantra-ai" / "state.db"
    assert not db.exists() or store_rows(db, "SELECT count(*) FROM runs") == [(0,)]  # no run recorded


def test_the_config_file_chooses_the_strategy_and_branch_prefix_and_a_flag_wins(
    repo: Checkout, tmp_path: Path
) -> None:
    config = tmp_path / "team.yaml"
    config.write_text("git:\n  commit-strategy: per-violation\n  branch-prefix: migration\n")
    assert remediate(repo.app, "--config", config, "--violation-ids", "eap8-ejb-00001")[0] == 0
    assert [_unit(m) for _, m, _ in log(repo.app, "main..migration/1")] == ["violation:eap8-ejb-00001"]
    assert remediate(repo.app, "--config", config, "--git-commit", "at-end", "--violation-ids",
                     "javax-to-jakarta-dependencies-00006")[0] == 0  # fmt: skip
    assert [_unit(m) for _, m, _ in log(repo.app, "migration/1..migration/2")] == ["all"]


def test_a_tree_inside_a_larger_repository_commits_its_paths_under_its_folder(tmp_path: Path) -> None:
    monorepo = tmp_path / "mono"
    app = monorepo / "services" / "inventory"
    app.parent.mkdir(parents=True)
    shutil.copytree(EXAMPLES / EXAMPLE / "app", app)
    (monorepo / "README.md").write_text("other services\n")
    git(monorepo, "init", "-q", "-b", "main")
    git(monorepo, "add", "-A")
    git(monorepo, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "init")
    (monorepo / "README.md").write_text("other services, edited\n")  # dirty, but not this run's
    assert remediate(app, "--git-commit", "at-end")[0] == 0
    ((_, _, files),) = log(monorepo, "main..kantra-ai/1")
    assert files == [f"services/inventory/{f}" for f in files_differing(EXAMPLES / EXAMPLE / "app", EXPECTED)]
    assert git(monorepo, "status", "--porcelain") == " M README.md\n"


WEB_XML = "src/main/webapp/WEB-INF/web.xml"


def _diverge(app: Path) -> None:
    """`other` and `main` change the same line of one file the run does not fix: they conflict."""
    git(app, "checkout", "-q", "-b", "other")
    (app / WEB_XML).write_text((app / WEB_XML).read_text() + "<!-- other -->\n")
    git(app, "commit", "-q", "-am", "other")
    git(app, "checkout", "-q", "main")
    (app / WEB_XML).write_text((app / WEB_XML).read_text() + "<!-- main -->\n")
    git(app, "commit", "-q", "-am", "main")


def _mid_merge(app: Path) -> None:
    _diverge(app)
    subprocess.run(["git", "merge", "-q", "other"], cwd=app, capture_output=True, check=False)


def _mid_rebase(app: Path) -> None:
    _diverge(app)
    git(app, "checkout", "-q", "other")
    subprocess.run(["git", "rebase", "main"], cwd=app, capture_output=True, check=False)


def _mid_bisect(app: Path) -> None:
    git(app, "bisect", "start")


def _index_held(app: Path) -> None:
    (app / ".git" / "index.lock").touch()


@pytest.mark.parametrize(
    ("state", "phrase"),
    [
        (_mid_merge, "a merge is in progress"),
        (_mid_rebase, "a rebase is in progress"),
        (_mid_bisect, "a bisect is in progress"),
        (_index_held, "holds the index (.git/index.lock)"),
    ],
    ids=["merge", "rebase", "bisect", "index-lock"],
)
def test_a_repository_in_the_middle_of_an_operation_is_refused_before_head_moves(
    repo: Checkout, capsys: pytest.CaptureFixture[str], state: object, phrase: str
) -> None:
    state(repo.app)  # type: ignore[operator]
    head = git(repo.app, "rev-parse", "--symbolic-full-name", "HEAD")
    status = git(repo.app, "status", "--porcelain")
    code, _ = remediate(repo.app, "--git-commit", "per-file")
    err = capsys.readouterr().err.strip()
    assert code == 2 and phrase in err and len(err.splitlines()) == 1, err
    # HEAD stays where the user's operation put it: moving it would hand their merge or rebase to
    # the job's branch.
    assert git(repo.app, "rev-parse", "--symbolic-full-name", "HEAD") == head
    assert git(repo.app, "status", "--porcelain") == status
    assert git(repo.app, "branch", "--list", "kantra-ai/*") == ""


def test_undo_waits_while_the_index_is_held_and_then_commits_the_undo(
    repo: Checkout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert remediate(repo.app, "--git-commit", "per-file")[0] == 0
    tip = git(repo.app, "rev-parse", "kantra-ai/1")
    fixed = (repo.app / POM).read_bytes()
    _index_held(repo.app)
    capsys.readouterr()
    assert run("undo", "--input", repo.app) == 2
    err = capsys.readouterr().err.strip()
    assert "holds the index" in err and len(err.splitlines()) == 1, err
    # Nothing restored, nothing committed: a commit after the branch moved would leave the index
    # holding the fixes, and the user's next commit would make them again.
    assert (repo.app / POM).read_bytes() == fixed
    assert git(repo.app, "rev-parse", "kantra-ai/1") == tip
    (repo.app / ".git" / "index.lock").unlink()
    assert run("undo", "--input", repo.app) == 0
    assert files_differing(repo.app, repo.original) == []
    assert git(repo.app, "status", "--porcelain") == ""


@pytest.mark.parametrize("flags", [(), ("--branch", "other")], ids=["default-name", "branch-flag"])
def test_a_branch_name_taken_by_other_work_is_refused_before_anything_is_sent(
    repo: Checkout, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...]
) -> None:
    # A branch of that name that does not start from HEAD: left by a store since removed (the
    # default kantra-ai/1), or another line of work named with --branch.
    taken = flags[1] if flags else "kantra-ai/1"
    _diverge(repo.app)
    git(repo.app, "branch", "-f", taken, "other")
    before = git(repo.app, "rev-parse", taken)
    code, _ = remediate(repo.app, "--git-commit", "at-end", *flags)
    err = capsys.readouterr().err.strip()
    assert code == 2 and f"branch {taken} exists and does not start from" in err, err
    assert len(err.splitlines()) == 1
    # Refused before any request: no fix is left uncommitted in the working tree.
    assert git(repo.app, "status", "--porcelain") == ""
    assert git(repo.app, "rev-parse", taken) == before
    # The way out it names works.
    code, summary = remediate(repo.app, "--git-commit", "at-end", "--branch", "kantra-ai/elsewhere")
    assert code == 0 and summary["git"]["errors"] == []


def _crlf_checkout(repo: Checkout, how: str) -> None:
    """The working tree's files in CRLF while the repository stores them in LF: a checkout made
    with `core.autocrlf=true` (Git for Windows' default), or files in CRLF that git stores as LF
    without a checkout writing them so (`* text=auto`, committed after they were)."""
    if how == "autocrlf":
        git(repo.app, "config", "core.autocrlf", "true")
        for path in repo.app.rglob("*"):
            if path.is_file() and ".git" not in path.relative_to(repo.app).parts:
                path.unlink()
        git(repo.app, "checkout", "--", ".")
    else:
        (repo.app / ".gitattributes").write_text("* text=auto\n")
        git(repo.app, "add", ".gitattributes")
        git(repo.app, "commit", "-q", "-m", "Normalise line endings")
        for path in repo.app.rglob("*"):
            if path.is_file() and not {".git", ".gitattributes"} & set(path.relative_to(repo.app).parts):
                path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
        git(repo.app, "add", "-A")  # only refreshes the index: git stores each file as it was
    assert b"\r\n" in (repo.app / SERVICE).read_bytes()
    assert git(repo.app, "status", "--porcelain") == ""


@pytest.mark.parametrize("how", ["autocrlf", "crlf-files-git-stores-as-lf"])
def test_fixes_in_crlf_files_of_a_repository_that_stores_lf_are_committed_as_git_add_would(
    repo: Checkout, how: str
) -> None:
    # The store's writes are the working tree's CRLF bytes; the repository's blobs are LF. The
    # commit holds the fixed lines in the repository's form (nothing else changes), the working
    # tree keeps its CRLF, and git sees nothing left to commit.
    _crlf_checkout(repo, how)
    code, summary = remediate(repo.app, "--git-commit", "at-end")
    assert code == 0 and summary["incidents"]["fixed"] == 19
    ((_, files),) = _messages_and_files(repo.app)
    assert files == files_differing(repo.original, EXPECTED)
    for name in files:
        committed = subprocess.run(
            ["git", "cat-file", "blob", f"kantra-ai/1:{name}"], cwd=repo.app, capture_output=True, check=True
        ).stdout
        assert committed == (EXPECTED / name).read_bytes()
        assert (repo.app / name).read_bytes() == (EXPECTED / name).read_bytes().replace(b"\n", b"\r\n")
    assert git(repo.app, "status", "--porcelain") == ""


def test_the_undo_of_fixes_committed_in_crlf_files_commits_the_files_as_they_were(repo: Checkout) -> None:
    _crlf_checkout(repo, "autocrlf")
    assert remediate(repo.app, "--git-commit", "at-end")[0] == 0
    assert run("undo", "--input", repo.app) == 0
    assert git(repo.app, "diff", "--stat", "main", "kantra-ai/1") == ""
    assert git(repo.app, "status", "--porcelain") == ""
