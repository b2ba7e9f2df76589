from __future__ import annotations

from tests.cli.conftest import _provider_env, fake

__all__ = ["_provider_env", "fake"]
