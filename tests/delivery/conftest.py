from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.delivery.helpers import Checkout, checkout

from testing.fakeforge import FakeForge

TOKEN = "ghp-test-secret-4f1d2c"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    # The developer's global git config (signing, hooks paths, default branch) must not matter.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def repo(tmp_path: Path) -> Checkout:
    return checkout(tmp_path)


@pytest.fixture
def forge(repo: Checkout) -> Iterator[FakeForge]:
    with FakeForge(token=TOKEN, remote=repo.remote) as server:
        yield server
