"""The provider environment every test that runs the command line starts from."""

from __future__ import annotations

import pytest

TEST_ANTHROPIC_KEY = "sk-ant-test-secret-0000"
TEST_OPENAI_KEY = "sk-openai-test-secret-0000"


def isolate_provider_env(
    monkeypatch: pytest.MonkeyPatch,
    *,
    anthropic_key: str = TEST_ANTHROPIC_KEY,
    openai_key: str | None = TEST_OPENAI_KEY,
) -> None:
    """Tests must never reach a real provider, whatever the developer's shell exports: no base URL
    or token of theirs, test keys (which the redaction tests look for), no kill point left set."""
    for name in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "KANTRA_AI_TEST_KILL_AT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", anthropic_key)
    if openai_key is not None:
        monkeypatch.setenv("OPENAI_API_KEY", openai_key)
