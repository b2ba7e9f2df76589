from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(respond) as server:
        yield server


@pytest.fixture(autouse=True)
def _provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must never reach a real provider, whatever the developer's shell exports.
    for name in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "KANTRA_AI_TEST_KILL_AT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-0000")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test-secret-0000")


StoreAt = Callable[[str], "Path | str"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> StoreAt:
    """Where a test's run store lives, on both backends: a name -> an SQLite file in tmp_path, or
    (for PostgreSQL) a schema of its own per name on the session's server."""
    urls: dict[str, str] = {}

    def at(name: str) -> Path | str:
        if request.param == "sqlite":
            return tmp_path / name
        if name not in urls:
            urls[name] = request.getfixturevalue("postgres_server").fresh_url()
        return urls[name]

    return at
