"""A real `kantra-ai` SIGKILLed after a delivery commit, after a push, after a pull request was
opened: the next run finishes the delivery with no commit, branch, pull request or comment twice."""

from __future__ import annotations

import re
import sys
from collections import Counter

import pytest
from tests.delivery.helpers import Checkout, git, log
from tests.delivery.runs import remediate_process

from testing.fakeforge import FakeForge

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
    pytest.mark.slow,  # two real processes per case
]

UNITS = 6  # the example's violations with changes of their own


def _flags(forge: FakeForge) -> list[str]:
    return [
        "--git-commit", "per-violation", "--create-pr", "--pr-strategy", "per-violation",
        "--forge-url", forge.github_api, "--pr-comment-threshold", "0.95",
    ]  # fmt: skip


def _units(repo: Checkout, revisions: str) -> Counter[str]:
    return Counter(
        m.group(1) for _, message, _ in log(repo.app, revisions)
        if (m := re.search(r"^Kantra-AI-Unit: (.+)$", message, re.M))
    )  # fmt: skip


@pytest.mark.parametrize("kill_at", ["git-committed:3", "git-pushed:2", "pr-created:2"])
def test_a_run_killed_during_delivery_finishes_it_on_the_next_run_without_duplicates(
    repo: Checkout, forge: FakeForge, kill_at: str
) -> None:
    killed = remediate_process(repo.app, *_flags(forge), kill_at=kill_at)
    assert killed.returncode == -9, killed.stderr
    # Killed where it says: 3 commits made / 2 branches pushed / 2 pull requests opened.
    made = {
        "git-committed:3": len(_units(repo, "main..kantra-ai/1")),
        "git-pushed:2": len(git(repo.remote, "branch", "--list", "kantra-ai/*").split()),
        "pr-created:2": len(forge.pulls("acme/inventory")),
    }
    assert made[kill_at] == int(kill_at.split(":")[1])
    done = remediate_process(repo.app, *_flags(forge))
    assert done.returncode == 0, done.stderr
    job = _units(repo, "main..kantra-ai/1")
    assert len(job) == UNITS and set(job.values()) == {1}
    pulls = forge.pulls("acme/inventory")
    heads = [p["head"]["ref"] for p in pulls]
    assert len(heads) == len(set(heads)) == UNITS
    for pull in pulls:
        # Each review branch holds its own commits once, and the remote has exactly the local tip.
        units = _units(repo, f"{pull['base']['ref']}..{pull['head']['ref']}")
        assert set(units.values()) == {1}
        assert git(repo.remote, "rev-parse", pull["head"]["ref"]) == git(
            repo.app, "rev-parse", pull["head"]["ref"]
        )
        markers = [
            c["body"].split("<!--")[1] for c in forge.review_comments("acme/inventory", pull["number"])
        ]
        assert len(markers) == len(set(markers)) > 0
    assert git(repo.app, "status", "--porcelain") == ""
    assert git(repo.app, "rev-parse", "--abbrev-ref", "HEAD").strip() == "kantra-ai/1"
