from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.provider_env import isolate_provider_env

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(respond) as server:
        yield server


@pytest.fixture(autouse=True)
def _provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_provider_env(monkeypatch)


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
