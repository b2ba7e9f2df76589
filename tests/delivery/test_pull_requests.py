"""Pull requests per violation against a real bare remote and the fake forge: each branch holds only
its violation's fixes (stacked when they touch another's lines), merging them all gives the fixed
tree, a rerun creates nothing, `undo` gives the original tree back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.helpers import EXAMPLES, run
from tests.delivery.conftest import TOKEN
from tests.delivery.helpers import Checkout, files_differing, git, log
from tests.delivery.runs import EXAMPLE, remediate

from testing.fakeforge import FakeForge

REPO = "acme/inventory"
SOURCE_ROOT = "file:///opt/input/source/"


def _flags(forge: FakeForge, *extra: str) -> list[str]:
    return [
        "--git-commit", "per-violation", "--create-pr", "--pr-strategy", "per-violation",
        "--forge-url", forge.github_api, *extra,
    ]  # fmt: skip


def _incident_lines() -> dict[str, set[tuple[str, int]]]:
    """Rule id -> (file, line) of its incidents, read from the example's output.yaml."""
    found: dict[str, set[tuple[str, int]]] = {}
    for ruleset in yaml.safe_load((EXAMPLES / EXAMPLE / "output.yaml").read_text()):
        for rule, violation in (ruleset.get("violations") or {}).items():
            for incident in violation.get("incidents", []):
                uri = incident["uri"]
                if uri.startswith(SOURCE_ROOT) and incident.get("lineNumber"):
                    found.setdefault(rule, set()).add((uri[len(SOURCE_ROOT) :], incident["lineNumber"]))
    return found


def _changed_old_lines(remote: Path, base: str, head: str) -> dict[str, set[int]]:
    """File -> lines of `base` that `git diff base head` changes (a pure insertion: the line after)."""
    diff = git(remote, "diff", "-U0", "--no-color", base, head)
    changed: dict[str, set[int]] = {}
    path = ""
    for line in diff.splitlines():
        if line.startswith("--- "):
            continue
        if line.startswith("+++ "):
            path = line[len("+++ b/") :]
        elif line.startswith("@@"):
            match = re.match(r"@@ -(\d+)(?:,(\d+))? ", line)
            assert match
            start, count = int(match.group(1)), int(match.group(2) or "1")
            changed.setdefault(path, set()).update(range(start, start + max(count, 1)))
    return changed


def _rules_of(pull: dict[str, Any]) -> set[str]:
    """The PR's own rule and those it says it also fixes."""
    own = re.match(r"fix\(konveyor\): (\S+) - ", pull["title"])
    assert own, pull["title"]
    also = (
        re.findall(r"`([\w.-]+-\d+)`", (pull["body"] or "").split("Also fixes", 1)[1].split(":", 1)[0])
        if ("Also fixes" in (pull["body"] or ""))
        else []
    )
    return {own.group(1), *also}


def test_one_branch_and_pull_request_per_violation_each_holding_only_its_fixes(
    repo: Checkout, forge: FakeForge, tmp_path: Path
) -> None:
    code, summary = remediate(repo.app, *_flags(forge))
    assert code == 0, summary
    pulls = forge.pulls(REPO)
    lines = _incident_lines()
    fixed_rules = {r for r in lines if r.startswith(("javax", "javaee", "eap8"))} - {
        "javaee-technology-usage-00021"
    }
    # Every violation the run fixed is in exactly one pull request; all but one have their own (the
    # exception: its only change is the same edit as another rule's, and that PR says so).
    owners = [_rules_of(p) for p in pulls]
    assert sorted(r for rules in owners for r in rules) == sorted(fixed_rules)
    assert len(pulls) == len(fixed_rules) - 1
    heads = {p["head"]["ref"] for p in pulls}
    assert len(heads) == len(pulls)
    assert {p["head"]["ref"] for p in pulls} <= set(
        git(repo.remote, "branch", "--format=%(refname:short)").split()
    )
    for pull, rules in zip(pulls, owners, strict=True):
        base, head = pull["base"]["ref"], pull["head"]["ref"]
        # Only its own commits: each names its run and one of the PR's rules.
        commits = log(repo.app, f"origin/{base}..origin/{head}")
        assert commits, head
        for _, message, _ in commits:
            assert re.search(r"^Kantra-AI-Unit: violation:(\S+)$", message, re.M).group(1) in rules  # type: ignore[union-attr]
        # Its diff touches only lines of its rules' incidents (or the line next to one: a
        # dependency's version follows its artifactId).
        allowed = {(f, n + d) for r in rules for f, n in lines[r] for d in (-1, 0, 1)}
        for path, changed in _changed_old_lines(repo.remote, base, head).items():
            assert {(path, n) for n in changed} <= allowed, (head, path, changed)
        if base != "main":  # stacked: the description says on what
            stacked_on = next(p for p in pulls if p["head"]["ref"] == base)
            assert f"**Depends on #{stacked_on['number']}**" in pull["body"]
    assert any(p["base"]["ref"] != "main" for p in pulls)  # the example has touching fixes: stacked
    # Merging every pull request in turn (stacked ones after theirs) gives the fixed tree exactly.
    merged = tmp_path / "merged"
    git(tmp_path, "clone", "-q", "-b", "main", str(repo.remote), str(merged))
    git(merged, "config", "user.email", "reviewer@example.com")
    git(merged, "config", "user.name", "Reviewer")
    for pull in pulls:
        git(merged, "merge", "-q", "--no-ff", "--no-edit", f"origin/{pull['head']['ref']}")
    assert files_differing(merged, EXAMPLES / EXAMPLE / "expected") == []
    # The descriptions link each other.
    assert all(f"#{other['number']}" in p["body"] for p in pulls for other in pulls)


def test_a_rerun_creates_nothing_and_undo_restores_the_original_tree(
    repo: Checkout, forge: FakeForge, capsys: Any
) -> None:
    code, summary = remediate(repo.app, *_flags(forge))
    assert code == 0
    urls = sorted(p["html_url"] for p in forge.pulls(REPO))
    assert sorted(p["url"] for p in summary["git"]["pull_requests"]) == urls
    # status and report.html list the commits, branches and pull requests too.
    report = (repo.app / ".kantra-ai" / "report.html").read_text()
    assert all(url in report for url in urls) and "Delivered through git" in report
    capsys.readouterr()
    assert run("status", "--input", repo.app, "--json") == 0
    (job,) = json.loads(capsys.readouterr().out)["git"]
    assert job["branch"] == "kantra-ai/1" and len(job["commits"]) == 6 + 6  # the job's branch + review ones
    assert sorted(b["pr_url"] for b in job["branches"] if b["pr_url"]) == urls
    assert run("status", "--input", repo.app) == 0
    table = capsys.readouterr().out
    assert "Delivered through git" in table and urls[0] in table.replace("\n", "")
    branches = git(repo.app, "for-each-ref", "--format=%(refname) %(objectname)")
    calls = len(forge.calls)
    pulls = forge.pulls(REPO)
    code, summary = remediate(repo.app, *_flags(forge))
    assert code == 0
    assert git(repo.app, "for-each-ref", "--format=%(refname) %(objectname)") == branches
    assert forge.pulls(REPO) == pulls
    assert [c.method for c in forge.calls[calls:] if c.method != "GET"] == []
    assert git(repo.app, "status", "--porcelain") == ""
    assert run("undo", "--input", repo.app) == 0
    assert files_differing(repo.app, repo.original) == []
    # The job's branch takes the undo as a commit of its own: the checkout is clean, history kept.
    assert git(repo.app, "status", "--porcelain") == ""
    assert (
        git(repo.app, "for-each-ref", "--format=%(refname) %(objectname)", "refs/remotes")
        == "\n".join(line for line in branches.splitlines() if line.startswith("refs/remotes")) + "\n"
    )
    assert "Revert" in git(repo.app, "log", "-1", "--format=%s")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, "401 Unauthorized to open a pull request"), (422, "422 to open a pull request")],
)
def test_a_forge_error_is_one_line_without_the_token_and_the_commits_stay(
    repo: Checkout, forge: FakeForge, capsys: Any, status: int, expected: str
) -> None:
    # The forge echoes the token it was sent (some proxies and self-hosted forges do).
    forge.fail("POST", r"/pulls$", status, {"message": "refused credentials {token}"})
    code, summary = remediate(repo.app, *_flags(forge))
    err = capsys.readouterr().err
    assert code == 1
    errors = summary["git"]["errors"]
    assert len(errors) == 1 and expected in errors[0] and "\n" not in errors[0]
    assert "GITHUB_TOKEN" in errors[0] if status == 401 else "refused credentials ****" in errors[0]
    assert TOKEN not in err and TOKEN not in json.dumps(summary)
    store = (repo.app / ".kantra-ai" / "state.db").read_bytes()
    report = (repo.app / ".kantra-ai" / "report.html").read_text()
    assert TOKEN.encode() not in store and TOKEN not in report
    # The commits and the pushed branches are kept; the next run opens the pull requests.
    assert len(log(repo.app, "main..kantra-ai/1")) == 6
    assert forge.pulls(REPO) == []
    code, summary = remediate(repo.app, *_flags(forge))
    assert code == 0 and len(forge.pulls(REPO)) == 6


def test_rate_limits_are_waited_out_and_an_existing_pull_request_is_reused(
    repo: Checkout, forge: FakeForge
) -> None:
    forge.fail("POST", r"/pulls$", 429, {"message": "API rate limit exceeded"}, headers={"retry-after": "0"})
    forge.fail("GET", r"/pulls$", 403, {"message": "secondary rate limit"}, headers={"retry-after": "0"})
    code, _ = remediate(repo.app, *_flags(forge))
    assert code == 0
    assert [c.status for c in forge.calls_to("POST", r"/pulls$")].count(429) == 1
    assert len(forge.pulls(REPO)) == 6


def test_a_pull_request_the_lookup_missed_is_found_after_422_already_exists(
    repo: Checkout, forge: FakeForge
) -> None:
    # Opened by hand (or by a run killed before it recorded it) while the forge's list lagged.
    git(repo.app, "push", "-q", "origin", "main:kantra-ai/1-eap8-ejb-00001")
    forge.state.pulls[REPO] = [
        {"number": 1, "state": "open", "title": "by hand", "body": "", "html_url": "https://x/1",
         "head": {"ref": "kantra-ai/1-eap8-ejb-00001", "sha": ""}, "base": {"ref": "main", "sha": ""}}
    ]  # fmt: skip
    forge.fail("GET", r"/pulls$", 200, [])
    code, summary = remediate(repo.app, *_flags(forge))
    assert code == 0, summary["git"]
    assert [c.status for c in forge.calls_to("POST", r"/pulls$")].count(422) == 1
    pulls = forge.pulls(REPO)
    assert len(pulls) == 6 and [p["head"]["ref"] for p in pulls].count("kantra-ai/1-eap8-ejb-00001") == 1
    # The branch was pushed over (a fast-forward: it started where kantra-ai's starts), never forced.
    assert git(repo.remote, "rev-parse", "kantra-ai/1-eap8-ejb-00001") == git(
        repo.app, "rev-parse", "kantra-ai/1-eap8-ejb-00001"
    )


def test_inline_comments_mark_fixes_below_the_threshold_once(repo: Checkout, forge: FakeForge) -> None:
    assert remediate(repo.app, *_flags(forge, "--pr-comment-threshold", "0.95"))[0] == 0
    pulls = forge.pulls(REPO)
    imports = next(p for p in pulls if "import-00001" in p["head"]["ref"])
    comments = forge.review_comments(REPO, imports["number"])
    assert len(comments) == 12  # one per incident (the simulated model answers 0.9 for each)
    for comment in comments:
        content = git(repo.remote, "show", f"{comment['commit_id']}:{comment['path']}").splitlines()
        assert "jakarta" in content[comment["line"] - 1] and comment["side"] == "RIGHT"
    assert all(c["body"].count("low confidence (0.90, below 0.95)") == 1 for c in comments)


def test_the_printed_summary_names_the_commits_and_every_pull_request(
    repo: Checkout, forge: FakeForge, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        "remediate", "--analysis", EXAMPLES / EXAMPLE / "output.yaml", "--input", repo.app,
        "--provider", "simulated", "--no-progress", *_flags(forge),
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    pulls = forge.pulls(REPO)
    assert pulls
    for pull in pulls:
        assert f"pull request: {pull['html_url']} ({pull['head']['ref']} into {pull['base']['ref']})" in out
    commits = len(log(repo.app, "main..kantra-ai/1"))
    assert f"git: {commits} commit(s) on kantra-ai/1" in out
    assert f"log -p {git(repo.app, 'rev-parse', 'main').strip()[:12]}..kantra-ai/1" in out
