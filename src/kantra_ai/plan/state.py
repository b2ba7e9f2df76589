"""Execution state of a plan (`state.yaml`), so `execute --resume` continues where it stopped.

The predecessor keyed incidents by URI (one success marked a whole file done) and saved only after
each phase (a crash lost the phase). Here incidents are keyed by their stable id, and the file is
rewritten atomically after every incident and every phase. An incident that ended `fixed` or
`not_applicable` is done and never sent again; `failed` and `skipped` ones are retried on resume.
The state remembers the plan's hash: resuming against an edited plan is refused.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.plan.model import PlanError, write_atomic

STATE_VERSION = "1.0"
DONE = {Status.FIXED.value, Status.NOT_APPLICABLE.value}

PhaseStatusType = Literal["pending", "in_progress", "completed", "failed"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


class IncidentState(BaseModel):
    status: Literal["completed", "failed"]
    outcome: str  # fixed, failed, skipped, not_applicable
    reason: str = ""
    file: str = ""
    line: int | None = None
    cost: float = 0.0
    timestamp: datetime = Field(default_factory=_now)


class ViolationState(BaseModel):
    status: PhaseStatusType = "pending"
    incidents: dict[str, IncidentState] = Field(default_factory=dict)


class PhaseState(BaseModel):
    phase_id: str
    status: PhaseStatusType = "pending"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    fixes_applied: int = 0
    cost: float = 0.0


class ExecutionSummary(BaseModel):
    total_phases: int = 0
    completed_phases: int = 0
    pending_phases: int = 0
    total_cost: float = 0.0


class ExecutionState(BaseModel):
    version: str = STATE_VERSION
    plan_file: str
    plan_sha256: str = ""
    started_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    execution_summary: ExecutionSummary = Field(default_factory=ExecutionSummary)
    phases: list[PhaseState] = Field(default_factory=list)
    violations: dict[str, ViolationState] = Field(default_factory=dict)
    last_failure: dict[str, str] | None = None

    def phase(self, phase_id: str) -> PhaseState:
        for phase in self.phases:
            if phase.phase_id == phase_id:
                return phase
        state = PhaseState(phase_id=phase_id)
        self.phases.append(state)
        return state

    def done_ids(self) -> set[str]:
        return {
            incident_id
            for v in self.violations.values()
            for incident_id, s in v.incidents.items()
            if s.outcome in DONE
        }

    def has_progress(self) -> bool:
        return any(v.incidents for v in self.violations.values())

    def record(
        self, violation_id: str, outcome: IncidentOutcome, file: str, line: int | None, cost: float
    ) -> None:
        status: Literal["completed", "failed"] = "completed" if outcome.status.value in DONE else "failed"
        entry = self.violations.setdefault(violation_id, ViolationState(status="in_progress"))
        entry.incidents[outcome.incident_id] = IncidentState(
            status=status,
            outcome=outcome.status.value,
            reason=outcome.reason,
            file=file,
            line=line,
            cost=cost,
        )
        if status == "failed":
            self.last_failure = {
                "violation_id": violation_id,
                "incident_id": outcome.incident_id,
                "file": file,
                "error": outcome.reason,
            }

    def close_violation(self, violation_id: str, incident_ids: list[str]) -> None:
        """At the end of a phase: a violation is completed when all of its incidents are done."""
        entry = self.violations.setdefault(violation_id, ViolationState())
        done = all(
            incident_id in entry.incidents and entry.incidents[incident_id].outcome in DONE
            for incident_id in incident_ids
        )
        entry.status = "completed" if done else "failed"

    def summarize(self) -> None:
        completed = sum(1 for p in self.phases if p.status == "completed")
        self.execution_summary = ExecutionSummary(
            total_phases=len(self.phases),
            completed_phases=completed,
            pending_phases=sum(1 for p in self.phases if p.status in ("pending", "in_progress")),
            total_cost=round(sum(p.cost for p in self.phases), 6),
        )
        self.updated_at = _now()


def plan_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_state(state: ExecutionState, path: Path) -> None:
    state.summarize()
    data: dict[str, Any] = state.model_dump(mode="json", exclude_none=True)
    write_atomic(path, yaml.safe_dump(data, sort_keys=False, width=100))


def load_state(path: Path) -> ExecutionState:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PlanError(f"{path}: cannot read the execution state: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict) or str(data.get("version")) != STATE_VERSION:
        raise PlanError(f"{path}: not a kantra-ai execution state (version {STATE_VERSION})")
    try:
        return ExecutionState.model_validate({**data, "version": str(data["version"])})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlanError(f"{path}: {where}: {first['msg']}") from exc
