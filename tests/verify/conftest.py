from __future__ import annotations

from collections.abc import Iterator

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
