"""Phase-level execution state of a plan (`state.yaml` next to it): which phases ran and how.

Incident progress is not kept here: `execute` records it in the run store (INPUT/.kantra-ai/state.db,
store/session.py) exactly as `remediate` does, crash-safely, and a rerun skips what the store says
is settled. This file holds what only a plan has: each phase's status (pending, in_progress,
completed, failed), times, fixes and cost, and the plan's hash, so `--resume` against an edited plan
is refused and a run without `--resume` does not silently start over. It is rewritten atomically
after every incident and every phase.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from kantra_ai._fs import write_atomic
from kantra_ai.edits.files import sha256_file
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.plan.model import PlanError

STATE_VERSION = "1.0"

PhaseStatusType = Literal["pending", "in_progress", "completed", "failed"]

# What a phase needs of each of its incidents to be completed.
DONE = frozenset({Status.FIXED, Status.NOT_APPLICABLE})


def phase_status(statuses: Iterable[Status | None], *, interrupted: bool) -> PhaseStatusType:
    """A phase that ran, from its incidents' statuses (None: not decided): completed when each is
    fixed or does not apply; else in progress when its run stopped before deciding them all, failed
    when it did decide. The one rule for state.yaml, the execute summary and the job's report."""
    if all(status in DONE for status in statuses):
        return "completed"
    return "in_progress" if interrupted else "failed"


def _now() -> datetime:
    return datetime.now(UTC)


class PhaseState(BaseModel):
    phase_id: str
    status: PhaseStatusType = "pending"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    fixes_applied: int = 0
    cost: float | None = 0.0  # None: a request's price is unknown, so the phase's cost is too


class ExecutionSummary(BaseModel):
    total_phases: int = 0
    completed_phases: int = 0
    pending_phases: int = 0
    total_cost: float | None = 0.0  # None: some phase's cost is unknown


class ExecutionState(BaseModel):
    version: str = STATE_VERSION
    plan_file: str
    plan_sha256: str = ""
    started_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    execution_summary: ExecutionSummary = Field(default_factory=ExecutionSummary)
    phases: list[PhaseState] = Field(default_factory=list)
    last_failure: dict[str, str] | None = None

    def phase(self, phase_id: str) -> PhaseState:
        for phase in self.phases:
            if phase.phase_id == phase_id:
                return phase
        state = PhaseState(phase_id=phase_id)
        self.phases.append(state)
        return state

    def has_progress(self) -> bool:
        return any(p.status != "pending" for p in self.phases)

    def failed(self, phase_id: str, outcome: IncidentOutcome, file: str) -> None:
        self.last_failure = {
            "phase_id": phase_id,
            "incident_id": outcome.incident_id,
            "file": file,
            "error": outcome.reason,
        }

    def summarize(self) -> None:
        completed = sum(1 for p in self.phases if p.status == "completed")
        self.execution_summary = ExecutionSummary(
            total_phases=len(self.phases),
            completed_phases=completed,
            pending_phases=sum(1 for p in self.phases if p.status in ("pending", "in_progress")),
            total_cost=None
            if any(p.cost is None for p in self.phases)
            else round(sum(p.cost or 0.0 for p in self.phases), 6),
        )
        self.updated_at = _now()


def plan_hash(path: Path) -> str:
    """The version of a plan file (state.yaml records the one it was made from; the web app's
    edits carry the one their page saw): its bytes' hash, as every file's (edits/files.py)."""
    return sha256_file(path)


def save_state(state: ExecutionState, path: Path) -> None:
    state.summarize()
    data: dict[str, Any] = state.model_dump(mode="json", exclude_none=True)
    # An unknown cost is written as null, not left out: a reader must not take it for 0.
    data["execution_summary"]["total_cost"] = state.execution_summary.total_cost
    for written, phase in zip(data["phases"], state.phases, strict=True):
        written["cost"] = phase.cost
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
