"""Fixtures for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from testing.postgres import PostgresServer

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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Debian's PostgreSQL on loopback, started once for the whole session (the first test that
    needs it pays the ~2 s), stopped at the end."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A run store URL of its own (an empty schema) for one test."""
    return postgres_server.fresh_url()
