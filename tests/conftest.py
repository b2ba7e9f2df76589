"""Fixtures for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# `pytest --hypothesis-profile=fuzz tests/edits/test_edit_drift.py`: the long fidelity fuzz run (the
# default profile keeps the suite fast; tests that scale with it read `settings.default`).
settings.register_profile("fuzz", max_examples=20_000, deadline=None)


@pytest.fixture(autouse=True)
def user_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs with an empty home: the developer's own ~/.kantra-ai.yaml (or the XDG one)
    must never change what a test sees. Returns that home for tests that put a user config there."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home
