"""Helpers shared by the run-store tests."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from tests.cli.helpers import analysis_of, run

from kantra_ai.fakeprovider.server import FakeProviderServer


def remediate(
    example: str, app: Path, server: FakeProviderServer, *extra: str | Path
) -> tuple[int, dict[str, Any]]:
    """The CLI in this process with --json; (exit code, summary or {} when nothing was printed)."""
    out = io.StringIO()
    real = sys.stdout
    sys.stdout = out
    try:
        code = run(
            "remediate",
            "--analysis",
            analysis_of(example),
            "--input",
            app,
            "--base-url",
            server.anthropic_base_url,
            "--json",
            "--no-progress",
            *extra,
        )
    finally:
        sys.stdout = real
    text = out.getvalue()
    return code, (json.loads(text) if text.strip() else {})


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
