"""`portfolio status` and `portfolio report`: every application of a manifest as its workspace says
(the result its last attempt left, or that it has not finished), and the portfolio's report.html
linking to each application's own report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kantra_ai._fs import write_atomic
from kantra_ai.errors import UserError
from kantra_ai.portfolio.manifest import LoadedManifest
from kantra_ai.portfolio.run import read_state
from kantra_ai.portfolio.unit import (
    RESULT_FILE,
    TREE_DIR,
    AppResult,
    app_folder,
    every_run_cost,
    read_result,
    tree_store_view,
)
from kantra_ai.report.html import render_portfolio_html
from kantra_ai.report.record import PORTFOLIO_REPORT_MARK, not_ours_problem
from kantra_ai.store.history import HistoryOptions
from kantra_ai.store.schema import StoreError

REPORT_FILE = "report.html"
NOT_STARTED = "not started"
UNFINISHED = "unfinished"  # a tree without a result: running now, or stopped; rerun resumes it


def portfolio_view(loaded: LoadedManifest) -> list[dict[str, Any]]:
    rows = []
    history = HistoryOptions(store=loaded.manifest.store)
    for spec in loaded.apps:
        result = read_result(loaded.workspace, spec.name)
        if result is None:
            tree = app_folder(loaded.workspace, spec.name) / TREE_DIR
            result = AppResult(spec.name, UNFINISHED if tree.exists() else NOT_STARTED)
            rows.append(result.as_dict())
            continue
        row = result.as_dict()
        view = _view(result, history)
        if view is not None:
            _as_the_store_says(row, view, app_folder(loaded.workspace, spec.name) / RESULT_FILE)
        rows.append(row)
    return rows


def _view(result: AppResult, history: HistoryOptions) -> dict[str, Any] | None:
    if not result.tree:
        return None
    try:
        return tree_store_view(Path(result.tree), history)
    except (StoreError, OSError):
        return None  # the result as its attempt left it


def _as_the_store_says(row: dict[str, Any], view: dict[str, Any], result_file: Path) -> None:
    """A result is what one attempt ended with. The store knows more: what every run on the tree
    cost (a resumed application's cost is not only its last attempt's), and a later attempt that
    has not finished (running now, or killed): then the result is no longer the application's state."""
    runs = view["runs"]
    cost = every_run_cost(view)
    if runs and cost is not None:
        row["cost"] = cost
    try:
        written = result_file.stat().st_mtime
    except OSError:
        return
    latest = runs[0] if runs else None
    if (
        latest is not None
        and latest["state"] in ("running", "crashed")
        and float(latest["started_at"]) > written
    ):
        row["state"] = UNFINISHED
        row["reason"] = (
            f"run #{latest['run']} on its tree started after this result and is {latest['state']}; "
            "running the portfolio again resumes it"
        )


def write_portfolio_report(loaded: LoadedManifest, output: Path | None = None) -> Path:
    path = output or loaded.workspace / REPORT_FILE
    problem = not_ours_problem(path, PORTFOLIO_REPORT_MARK)  # `-o pom.xml` wrote over the file
    if problem:
        raise UserError(f"cannot write the report: {problem}")
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
