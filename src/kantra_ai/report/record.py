"""The run record behind report.html: what every incident ended as and what changed, as JSON.

`RunCapture` follows a run through the engine's observer hooks: it reads a file's content before
the first request for it (before anything can be written) and again when the engine wrote it, and
keeps each incident's outcome and the edits attributed to it. `build_record` turns that into one
JSON-able document; `kantra-ai report` re-renders report.html from the saved copy (`run.json`
next to it) until the run store can provide the same data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kantra_ai._fs import write_atomic
from kantra_ai.analysis.model import Incident
from kantra_ai.edits.files import SourceFileError, read_source
from kantra_ai.edits.model import Edit
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status

RECORD_VERSION = 1
RUN_RECORD_NAME = "run.json"
REPORT_NAME = "report.html"


class RecordError(ValueError):
    """The saved run record cannot be read; one line."""


class RunCapture(RunObserver):
    """Captures before/after file contents, per-incident edits and request records."""

    def __init__(self, input_dir: Path) -> None:
        self.input_dir = input_dir
        self.before: dict[str, str] = {}
        self.after: dict[str, str] = {}
        self.edits: dict[str, list[Edit]] = {}
        self.requests: list[RequestRecord] = []

    def _read(self, path: str) -> str | None:
        try:
            return read_source(self.input_dir / path).text
        except (OSError, SourceFileError):
            return None

    def request_started(self, path: str, incident_ids: tuple[str, ...]) -> None:
        if path not in self.before:
            text = self._read(path)
            if text is not None:
                self.before[path] = text

    def request_finished(self, record: RequestRecord) -> None:
        self.requests.append(record)

    def file_written(self, path: str, before_sha: str, after_sha: str, edits: list[Edit]) -> None:
        text = self._read(path)
        if text is not None:
            self.after[path] = text
        for edit in edits:
            for incident_id in edit.incident_ids:
                self.edits.setdefault(incident_id, []).append(edit)

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        pass


def _incident_row(
    incident: Incident, outcome: IncidentOutcome | None, edits: Sequence[Edit], phase: str | None
) -> dict[str, Any]:
    v = incident.violation
    return {
        "id": incident.id,
        "violation": v.key,
        "rule_id": v.rule_id,
        "description": v.description,
        "category": v.category.value,
        "effort": v.effort,
        "file": str(incident.path) if incident.path is not None else incident.uri,
        "line": incident.line,
        "message": incident.message,
        "status": outcome.status.value if outcome else Status.SKIPPED.value,
        "reason": outcome.reason if outcome else "not attempted",
        "confidence": outcome.confidence if outcome else None,
        "threshold": outcome.threshold if outcome else None,
        "explanation": outcome.explanation if outcome else "",
        "edits": [{"old": e.old_text, "new": e.new_text} for e in edits],
        "phase": phase,
    }


def _request_row(record: RequestRecord) -> dict[str, Any]:
    return {
        "path": record.path,
        "incident_ids": list(record.incident_ids),
        "attempt": record.attempt,
        "input_tokens": record.usage.input_tokens,
        "output_tokens": record.usage.output_tokens,
        "cache_write_tokens": record.usage.cache_write_tokens,
        "cache_read_tokens": record.usage.cache_read_tokens,
        "cost": record.cost,
        "stop_reason": record.stop_reason,
        "error": record.error,
        "seconds": round(record.seconds, 3),
    }


def build_record(
    *,
    kind: str,
    summary: dict[str, Any],
    incidents: Sequence[Incident],
    outcomes: dict[str, IncidentOutcome],
    capture: RunCapture,
    input_dir: Path,
    phase_of: dict[str, str] | None = None,
    phases: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    phase_of = phase_of or {}
    files = [
        {"path": path, "before": capture.before.get(path, ""), "after": after}
        for path, after in sorted(capture.after.items())
        if capture.before.get(path) != after
    ]
    return {
        "version": RECORD_VERSION,
        "kind": kind,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_dir": str(input_dir),
        "summary": summary,
        "incidents": [
            _incident_row(i, outcomes.get(i.id), capture.edits.get(i.id, []), phase_of.get(i.id))
            for i in incidents
        ],
        "files": files,
        "requests": [_request_row(r) for r in capture.requests],
        "phases": phases or [],
    }


def merge_records(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A resumed run's record: the newer outcome per incident, the oldest `before` per file."""
    incidents = {row["id"]: row for row in old.get("incidents", [])}
    for row in new["incidents"]:
        if row["status"] != Status.SKIPPED.value or row["id"] not in incidents:
            incidents[row["id"]] = row
    files = {f["path"]: dict(f) for f in old.get("files", [])}
    for f in new["files"]:
        if f["path"] in files:
            files[f["path"]]["after"] = f["after"]
        else:
            files[f["path"]] = f
    merged = dict(new)
    merged["incidents"] = list(incidents.values())
    merged["files"] = [files[p] for p in sorted(files)]
    merged["requests"] = old.get("requests", []) + new["requests"]
    return merged


def save_record(record: dict[str, Any], path: Path) -> None:
    write_atomic(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")


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
        raise RecordError(f"{path}: not a kantra-ai run record (version {RECORD_VERSION})")
    return data


def default_report_path(input_dir: Path) -> Path:
    return input_dir / ".kantra-ai" / REPORT_NAME


def write_report(record: dict[str, Any], report_path: Path) -> Path:
    """Save the run record next to report.html (`run.json`) and render report.html; returns its path."""
    from kantra_ai.report.html import render_report_html

    save_record(record, report_path.parent / RUN_RECORD_NAME)
    write_atomic(report_path, render_report_html(record))
    return report_path


def write_run_report(
    *,
    kind: str,
    summary: dict[str, Any],
    incidents: Sequence[Incident],
    outcomes: dict[str, IncidentOutcome],
    capture: RunCapture,
    input_dir: Path,
    report_path: Path | None = None,
) -> Path:
    """Build the run record and write run.json + report.html (default: INPUT/.kantra-ai/)."""
    record = build_record(
        kind=kind,
        summary=summary,
        incidents=incidents,
        outcomes=outcomes,
        capture=capture,
        input_dir=input_dir,
    )
    return write_report(record, report_path or default_report_path(input_dir))
