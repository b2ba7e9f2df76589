from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must never reach a real provider, whatever the developer's shell exports.
    for name in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "KANTRA_AI_TEST_KILL_AT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-0000")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test-secret-0000")
