"""`portfolio status` and `portfolio report`: every application of a manifest as its workspace says
(the result its last attempt left, or that it has not finished), and the portfolio's report.html
linking to each application's own report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kantra_ai._fs import write_atomic
from kantra_ai.portfolio.manifest import LoadedManifest
from kantra_ai.portfolio.run import read_state
from kantra_ai.portfolio.unit import TREE_DIR, AppResult, app_folder, read_result
from kantra_ai.report.html import render_portfolio_html

REPORT_FILE = "report.html"
NOT_STARTED = "not started"
UNFINISHED = "unfinished"  # a tree without a result: running now, or stopped; rerun resumes it


def portfolio_view(loaded: LoadedManifest) -> list[dict[str, Any]]:
    rows = []
    for spec in loaded.apps:
        result = read_result(loaded.workspace, spec.name)
        if result is None:
            tree = app_folder(loaded.workspace, spec.name) / TREE_DIR
            result = AppResult(spec.name, UNFINISHED if tree.exists() else NOT_STARTED)
        rows.append(result.as_dict())
    return rows


def write_portfolio_report(loaded: LoadedManifest, output: Path | None = None) -> Path:
    path = output or loaded.workspace / REPORT_FILE
    rows = portfolio_view(loaded)
    for row in rows:
        report = row.get("report")
        row["report_link"] = (
            Path(os.path.relpath(report, path.parent.resolve())).as_posix()
            if report and Path(report).is_file()
            else None
        )
    state = read_state(loaded.workspace)
    meta = {"manifest": str(loaded.path), "engine": state.get("engine", "")}
    write_atomic(path, render_portfolio_html(meta, rows))
    return path
