"""Helpers shared by the run-store tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.cli.helpers import remediate_json

from kantra_ai.store.run_store import RunStore
from testing.fakeprovider.server import FakeProviderServer


def remediate(
    example: str, app: Path, server: FakeProviderServer, *extra: str | Path
) -> tuple[int, dict[str, Any]]:
    """The CLI in this process with --json; (exit code, summary or {} when nothing was printed)."""
    return remediate_json(example, app, server, *extra)


def store_rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return list(db.execute(sql).fetchall())
    finally:
        db.close()


def one_line_error(err: str) -> str:
    err = err.strip()
    assert err.startswith("kantra-ai: error:"), err
    assert len(err.splitlines()) == 1, err
    return err


def begin_run(store: RunStore, incidents: int = 1) -> int:
    """A run recorded in `store` (an incremental remediate of a scripted model), its id."""
    return store.begin_run(
        mode="incremental",
        analysis="output.yaml",
        provider="scripted",
        model="scripted-model",
        resumes=None,
        selected=incidents,
        planned=incidents,
        skipped_done=0,
    )
