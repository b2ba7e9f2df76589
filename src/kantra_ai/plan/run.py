"""Runs a plan's phases one after the other with the remediate engine, recording state as it goes.

One `RunContext` spans all phases, so `--max-cost` caps the whole execution, and one run in the run
store records them all (the store's observer is among `observers`). Each phase sends only its
incidents in `pending` (what the store did not already settle); the phase state file gets each
phase's status, fixes and cost after every incident and every phase. A Ctrl-C (the context's stop
event) ends the run after the phase it stopped, which stays `in_progress`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

DONE = frozenset({Status.FIXED.value, Status.NOT_APPLICABLE.value})


class StateObserver(RunObserver):
    """Writes the phase state after every incident; knows each incident's share of request cost."""

    def __init__(self, state: ExecutionState, path: Path, phase_id: str) -> None:
        self.state, self.path, self.phase_id = state, path, phase_id
        self.cost: dict[str, float] = {}

    def request_finished(self, record: RequestRecord) -> None:
        if record.cost and record.incident_ids:
            share = record.cost / len(record.incident_ids)
            for incident_id in record.incident_ids:
                self.cost[incident_id] = self.cost.get(incident_id, 0.0) + share

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        cost = round(self.cost.get(incident.id, 0.0), 6)
        phase = self.state.phase(self.phase_id)
        phase.cost = round(phase.cost + cost, 6)
        if outcome.status is Status.FIXED:
            phase.fixes_applied += 1
        if outcome.status.value not in DONE:
            self.state.failed(self.phase_id, outcome, str(incident.path))
        save_state(self.state, self.path)


@dataclass
class PhasesResult:
    outcomes: dict[str, IncidentOutcome] = field(default_factory=dict)
    totals: RunTotals = field(default_factory=RunTotals)
    records: list[RequestRecord] = field(default_factory=list)
    aborted: str = ""
    stopped: bool = False  # Ctrl-C: the phases after the one it stopped did not run


async def run_phases(
    phases: Sequence[Phase],
    incidents: PlanIncidents,
    pending: set[str],
    settled: Mapping[str, str],
    state: ExecutionState,
    state_path: Path,
    ctx: RunContext,
    batch: BatchSettings,
    observers: Sequence[RunObserver] = (),
) -> PhasesResult:
    """Run `phases` in order, sending the incidents in `pending`; `settled` is what earlier runs left
    for the others (incident id -> status). Stops early when the provider refused the run or on Ctrl-C."""
    run = PhasesResult()
    for phase in phases:
        phase_state = state.phase(phase.id)
        todo = [i for i in incidents.by_phase[phase.id] if i.id in pending]
        phase_state.status = "in_progress"
        phase_state.started_at = phase_state.started_at or datetime.now(timezone.utc)
        save_state(state, state_path)
        observer = StateObserver(state, state_path, phase.id)
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
        run.stopped = ctx.stop.is_set() and not run.aborted

        def ended(incident_id: str) -> str:
            outcome = run.outcomes.get(incident_id)
            return outcome.status.value if outcome is not None else settled.get(incident_id, "")

        if all(ended(i.id) in DONE for i in incidents.by_phase[phase.id]):
            phase_state.status = "completed"
        else:
            phase_state.status = "in_progress" if run.stopped else "failed"
        phase_state.completed_at = datetime.now(timezone.utc) if phase_state.status != "in_progress" else None
        save_state(state, state_path)
        if run.aborted or run.stopped:
            break
    return run
