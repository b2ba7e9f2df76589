from __future__ import annotations

# The store tests' fixtures: the scripted fake provider, and an environment that never reaches a real one.
from tests.store.conftest import _provider_env, fake

__all__ = ["_provider_env", "fake"]
