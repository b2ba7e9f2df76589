from __future__ import annotations

import pytest
from tests.provider_env import isolate_provider_env


@pytest.fixture(autouse=True)
def _provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_provider_env(monkeypatch)
