from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder that is also the working directory (where ./.kantra-ai.yaml is read)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
