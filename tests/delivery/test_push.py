"""A push the remote refuses says why, in one line: git's error, the ref's rejection and what the
remote itself said (a hook's or a protected branch's reason), against a real bare remote."""

from __future__ import annotations

import pytest
from tests.delivery.helpers import Checkout, git

from kantra_ai.delivery.gitrepo import GitError, GitRepo


def test_a_push_a_hook_refuses_names_the_hooks_reason(repo: Checkout) -> None:
    hook = repo.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'rejected by policy: ask the release team' >&2\nexit 1\n")
    hook.chmod(0o755)
    git(repo.app, "branch", "topic")
    found = GitRepo.find(repo.app)
    assert found is not None
    with pytest.raises(GitError) as raised:
        found.push("origin", "topic")
    message = str(raised.value)
    assert len(message.splitlines()) == 1
    assert "failed to push some refs" in message
    assert "pre-receive hook declined" in message
    assert "the remote says: rejected by policy: ask the release team" in message
    assert git(repo.remote, "branch", "--list", "topic") == ""


def test_a_push_the_remote_takes_is_quiet(repo: Checkout) -> None:
    git(repo.app, "branch", "topic")
    found = GitRepo.find(repo.app)
    assert found is not None
    found.push("origin", "topic")
    assert git(repo.remote, "branch", "--list", "topic").strip() == "topic"
