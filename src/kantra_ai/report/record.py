"""report.html and run.json: the job's record (report/job.py), written next to each other.

`remediate` and `execute` write them when a run ends; `kantra-ai report` writes them again from the
run store at any time (or renders a saved run.json elsewhere). A rerun that does nothing still
shows the whole job: the report is built from the store, never from one invocation.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from kantra_ai._fs import folder_problem, write_atomic
from kantra_ai.redact import redact_obj
from kantra_ai.report.job import RECORD_VERSION, job_record
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import TOOL_DIR, open_store

RUN_RECORD_NAME = "run.json"
REPORT_NAME = "report.html"


class RecordError(ValueError):
    """The saved record or the run store cannot be read; one line."""


def default_report_path(input_dir: Path) -> Path:
    return input_dir / TOOL_DIR / REPORT_NAME


# How the files we write begin: a file already there is replaced only when it is one of ours.
_REPORT_MARK = re.compile(rb"<title>kantra-ai job report</title>")
_RECORD_MARK = re.compile(rb'\A\{"version":\d+,"kind":"')
PORTFOLIO_REPORT_MARK = re.compile(rb"<title>kantra-ai portfolio</title>")


def report_path_problem(path: Path) -> str | None:
    """Why report.html (and run.json beside it) cannot be written at `path`, or None: checked before
    a run, so that a run does not fix files and then fail on its report. A file of the user's there
    (`--report pom.xml`, a run.json of their own) is never written over."""
    if path.is_dir():
        return "a folder: name the report file (report.html)"
    if path.parent.name != TOOL_DIR:  # INPUT/.kantra-ai is ours, whatever a repository planted there
        for existing, mark in ((path, _REPORT_MARK), (path.parent / RUN_RECORD_NAME, _RECORD_MARK)):
            problem = not_ours_problem(existing, mark)
            if problem:
                return problem
    return folder_problem(path.parent)


def not_ours_problem(
    existing: Path,
    mark: re.Pattern[bytes],
    what: str = "a kantra-ai report",
    instead: str = "name another file (report.html in a folder of its own)",
) -> str | None:
    """Why a report (or a plan: `what`) must not be written at `existing`: a file is there that is
    not one we wrote (its beginning does not hold `mark`); None when nothing or one of ours is there."""
    if os.path.lexists(existing) and not _begins_like(existing, mark):
        return f"{existing} is there and is not {what}: it would be written over; {instead}"
    return None


def _begins_like(path: Path, mark: re.Pattern[bytes]) -> bool:
    try:
        with path.open("rb") as file:
            return mark.search(file.read(2048)) is not None
    except OSError:
        return False


def save_record(record: dict[str, Any], path: Path, *, root: Path | None = None) -> None:
    text = json.dumps(redact_obj(record), ensure_ascii=False, separators=(",", ":")) + "\n"
    write_atomic(path, text, root=root)


def load_record(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RecordError(
            f"{path}: no run record here (run `kantra-ai remediate` or `execute` first)"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: cannot read the run record: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION or "incidents" not in data:
        raise RecordError(
            f"{path}: not a kantra-ai job record (version {RECORD_VERSION}); "
            "rebuild it from the run store with `kantra-ai report --input DIR`"
        )
    return data


def write_report(record: dict[str, Any], report_path: Path, *, root: Path | None = None) -> Path:
    """Save the record next to report.html (`run.json`) and render report.html; returns its path.

    `root`: the tree the report is written into as a file of it (`_fs.write_atomic`), or None."""
    from kantra_ai.report.html import render_report_html

    record = redact_obj(record)  # no secret leaves the process (kantra_ai.redact)
    problem = report_path_problem(report_path)
    if problem:
        raise RecordError(f"{report_path}: cannot write the report: {problem}")
    try:
        save_record(record, report_path.parent / RUN_RECORD_NAME, root=root)
        write_atomic(report_path, render_report_html(record), root=root)
    except OSError as exc:  # a folder swapped in meanwhile, a full disk
        raise RecordError(f"{report_path}: cannot write the report: {exc.strerror or exc}") from exc
    return report_path


def write_job_report(
    input_dir: Path,
    state: Path | None,
    report_path: Path | None = None,
    *,
    store_url: str | None = None,
    store_key: str | None = None,
) -> Path:
    """Build the job's record from the tree's run store (the SQLite file `state`, or the database
    at `store_url`) and write report.html and run.json."""
    try:
        store = open_store(input_dir, state, create=False, store=store_url, key=store_key)
    except StoreError as exc:
        raise RecordError(str(exc)) from None
    try:
        record = job_record(store, input_dir)
    except StoreError as exc:
        raise RecordError(str(exc)) from None
    finally:
        store.close()
    target = report_path or default_report_path(input_dir)
    return write_report(record, target, root=input_dir if _inside(target, input_dir) else None)


def _inside(path: Path, tree: Path) -> bool:
    """Whether `path` names a place in `tree` (as written; INPUT/.kantra-ai/report.html, the default):
    then the report is a file of the tree, written through no symbolic link."""
    tree_abs = os.path.abspath(tree)
    return os.path.abspath(path).startswith(tree_abs.rstrip(os.sep) + os.sep)
