"""Runs a plan's phases one after the other with the remediate engine, recording state as it goes.

One `RunContext` spans all phases, so `--max-cost` caps the whole execution. Before each phase the
incidents already done (fixed, or "does not apply") are dropped; after every incident and every
phase the state file is rewritten atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from kantra_ai.analysis.model import Incident
from kantra_ai.engine.batch_runner import RunContext
from kantra_ai.engine.events import ObserverGroup, RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, RunTotals, Status
from kantra_ai.engine.runner import BatchSettings, execute_plan, plan_run
from kantra_ai.plan.incidents import PlanIncidents
from kantra_ai.plan.model import Phase
from kantra_ai.plan.state import ExecutionState, save_state


class StateObserver(RunObserver):
    """Writes the state file after every incident; knows each incident's share of request cost."""

    def __init__(
        self, state: ExecutionState, path: Path, violation_ids: dict[str, str], phase_id: str
    ) -> None:
        self.state, self.path, self.violation_ids, self.phase_id = state, path, violation_ids, phase_id
        self.cost: dict[str, float] = {}

    def request_finished(self, record: RequestRecord) -> None:
        if record.cost and record.incident_ids:
            share = record.cost / len(record.incident_ids)
            for incident_id in record.incident_ids:
                self.cost[incident_id] = self.cost.get(incident_id, 0.0) + share

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        cost = round(self.cost.get(incident.id, 0.0), 6)
        self.state.record(
            self.violation_ids[incident.violation.key], outcome, str(incident.path), incident.line, cost
        )
        phase = self.state.phase(self.phase_id)
        phase.cost = round(phase.cost + cost, 6)
        if outcome.status is Status.FIXED:
            phase.fixes_applied += 1
        if outcome.status.value not in ("fixed", "not_applicable"):
            self.state.last_failure = {**(self.state.last_failure or {}), "phase_id": self.phase_id}
        save_state(self.state, self.path)


@dataclass
class PhasesResult:
    outcomes: dict[str, IncidentOutcome] = field(default_factory=dict)
    totals: RunTotals = field(default_factory=RunTotals)
    records: list[RequestRecord] = field(default_factory=list)
    aborted: str = ""


async def run_phases(
    phases: Sequence[Phase],
    incidents: PlanIncidents,
    state: ExecutionState,
    state_path: Path,
    ctx: RunContext,
    batch: BatchSettings,
    observers: Sequence[RunObserver] = (),
) -> PhasesResult:
    """Run `phases` in order; stops early only when the provider refused the run."""
    run = PhasesResult()
    for phase in phases:
        phase_state = state.phase(phase.id)
        done = state.done_ids()
        todo = [i for i in incidents.by_phase[phase.id] if i.id not in done]
        phase_state.status = "in_progress"
        phase_state.started_at = phase_state.started_at or datetime.now(timezone.utc)
        save_state(state, state_path)
        ids = {v.key: v.violation_id for v in phase.violations}
        observer = StateObserver(state, state_path, ids, phase.id)
        run_plan = plan_run(todo, ctx.input_dir, batch, ctx.system_prompt, use_tools=ctx.use_tools)
        by_id = {i.id: i for i in todo}
        for outcome in run_plan.unreadable:
            observer.incident_done(by_id[outcome.incident_id], outcome)
            run.outcomes[outcome.incident_id] = outcome
        ctx.observer = ObserverGroup(*observers, observer)
        result = await execute_plan(run_plan, ctx, batch.parallelism)
        run.outcomes.update(result.outcomes)
        run.records.extend(result.records)
        for record in result.records:
            run.totals.add(record)
        run.totals.seconds += result.totals.seconds
        run.aborted = run.aborted or result.aborted
        for key, violation_id in ids.items():
            members = [i.id for i in incidents.by_phase[phase.id] if i.violation.key == key]
            state.close_violation(violation_id, members)
        finished = all(i.id in state.done_ids() for i in incidents.by_phase[phase.id])
        phase_state.status = "completed" if finished else "failed"
        phase_state.completed_at = datetime.now(timezone.utc)
        save_state(state, state_path)
        if run.aborted:
            break
    return run
