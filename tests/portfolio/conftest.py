from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.portfolio.helpers import API_KEY, TOKEN, write_git_config

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer


@pytest.fixture
def git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A global git config of the test's own (identity, insteadOf for the apps' remotes)."""
    path = tmp_path / "gitconfig"
    write_git_config(path)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    for name in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "GH_TOKEN", "GITLAB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(respond) as fake:
        yield fake
