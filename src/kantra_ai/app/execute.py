"""`execute`: a plan's phases as the stages of one job, with each phase's status in `state.yaml`.

Incident progress goes to the run store exactly as for `remediate` (one store run spans every
phase, `--max-cost` caps them all). Phase status goes to `state.yaml` next to the plan: once it holds
progress, a rerun needs `--resume` (continue) or `--fresh` (start over), and a resume refuses a plan
edited since. The state file is checked before the tree is locked and first written once the run
has begun, so a run refused at start leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kantra_ai.analysis.loader import AnalysisError, load_analysis
from kantra_ai.analysis.model import Incident
from kantra_ai.analysis.selection import Selection
from kantra_ai.app.batch_run import add_batch_summary, batch_dry_run
from kantra_ai.app.options import RunOptions
from kantra_ai.app.prepare import Stage, check_input_dir, check_tree
from kantra_ai.app.remediate import add_job_report
from kantra_ai.app.run import DryRun, JobRun, abandoned_block, add_hook_results, doubtful_not_applicable
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status
from kantra_ai.errors import UserError
from kantra_ai.plan.incidents import PlanIncidents, check_against_analysis, plan_incidents
from kantra_ai.plan.model import Phase, Plan, PlanError, load_plan
from kantra_ai.plan.state import DONE, ExecutionState, load_state, phase_status, plan_hash, save_state
from kantra_ai.providers.pricing import describe_price
from kantra_ai.report.summary import run_summary

EXECUTE_RESUME_HINT = "interrupted: run the same command again with --resume to continue"


@dataclass(frozen=True)
class ExecuteRequest:
    plan: Path  # plan.yaml, or the folder holding it
    phase: str | None = None  # --phase: only this one, deferred or not
    resume: bool = False  # --resume: continue the phases state.yaml records
    analysis: Path | None = None  # --analysis: check the plan's violations against it first
    # Start the phase state over (the plan changed since it was written) while the run store still
    # skips what earlier runs settled: what `--fresh` does to state.yaml, without forgetting history.
    restart: bool = False

    @property
    def plan_path(self) -> Path:
        return self.plan / "plan.yaml" if self.plan.is_dir() else self.plan


class PhaseStateObserver(RunObserver):
    """Writes the phase state after every incident; knows each incident's share of request cost."""

    def __init__(self, state: ExecutionState, path: Path, phase_id: str) -> None:
        self.state, self.path, self.phase_id = state, path, phase_id
        self.cost: dict[str, float | None] = {}  # None: a request of the incident had no price
        # The phase's cost as earlier runs left it, plus this run's shares, summed unrounded: rounded
        # once when shown, it is the store's figure (a rounding per incident drifts from it).
        self.earlier: float | None = state.phase(phase_id).cost
        self.added = 0.0

    def request_finished(self, record: RequestRecord) -> None:
        for incident_id in record.incident_ids:
            if record.cost is None:
                self.cost[incident_id] = None
            else:
                share = record.cost / len(record.incident_ids)
                spent = self.cost.get(incident_id, 0.0)
                self.cost[incident_id] = None if spent is None else spent + share

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        cost = self.cost.get(incident.id, 0.0)
        phase = self.state.phase(self.phase_id)
        if cost is None or self.earlier is None or phase.cost is None:
            phase.cost = None
        else:
            self.added += cost
            phase.cost = round(self.earlier + self.added, 6)
        if outcome.status is Status.FIXED:
            phase.fixes_applied += 1
        if outcome.status not in DONE:
            self.state.failed(self.phase_id, outcome, str(incident.path))
        save_state(self.state, self.path)


class ExecuteJob:
    command = "execute"
    resume_hint = EXECUTE_RESUME_HINT
    again = "run the same command again with --resume"  # state.yaml holds progress from now on
    verify_strategy = "per-phase"

    def __init__(self, request: ExecuteRequest) -> None:
        self.request = request
        self.analysis = request.plan_path
        self.plan: Plan | None = None
        self.incidents: PlanIncidents | None = None
        self.phases: list[Phase] = []
        self.state = ExecutionState(plan_file=str(request.plan_path))
        self.state_path = request.plan_path.parent / "state.yaml"

    # -- Job --------------------------------------------------------------------------------------

    def load(self, options: RunOptions) -> list[Stage]:
        check_input_dir(options.input_dir)
        path = self.request.plan_path
        source_root = options.selection.source_root
        try:
            plan = load_plan(path)
            if self.request.analysis is not None:
                try:
                    analysis = load_analysis(
                        self.request.analysis, options.input_dir, source_root=source_root
                    )
                except AnalysisError as exc:
                    raise UserError(str(exc)) from exc
                check_against_analysis(plan, analysis, str(path))
            incidents = plan_incidents(
                plan,
                path,
                options.input_dir,
                source_root=source_root,
                include_generated=options.selection.include_generated,
            )
        except PlanError as exc:
            raise UserError(str(exc)) from exc
        self.plan, self.incidents = plan, incidents
        self.phases = self._chosen_phases(plan)
        everything = Selection(
            selected=[i for p in plan.phases for i in incidents.by_phase[p.id]],
            not_applicable=[i for p in plan.phases for i in incidents.not_applicable[p.id]],
        )
        check_tree(incidents.analysis, everything, options.input_dir, source_root)
        return [
            Stage(
                p.id,
                p.name,
                Selection(
                    selected=list(incidents.by_phase[p.id]), not_applicable=incidents.not_applicable[p.id]
                ),
            )
            for p in self.phases
        ]

    def _chosen_phases(self, plan: Plan) -> list[Phase]:
        if self.request.phase is not None:
            try:
                return [plan.phase(self.request.phase)]
            except PlanError as exc:
                raise UserError(f"--phase: {exc}") from exc
        return [p for p in plan.ordered_phases() if not p.deferred]

    def check(self, options: RunOptions) -> None:
        """The phase state: refused before the tree is locked or anything is written."""
        path, digest = self.state_path, plan_hash(self.request.plan_path)
        self.state = ExecutionState(plan_file=str(self.request.plan_path), plan_sha256=digest)
        if self.request.resume and not path.exists() and not options.history.fresh:
            raise UserError(
                f"--resume: nothing to resume: {path} does not exist (no phase of this plan has run); "
                "run without --resume"
            )
        if not path.exists() or options.history.fresh or self.request.restart:
            return
        try:
            state = load_state(path)
        except PlanError as exc:
            raise UserError(str(exc)) from exc
        if self.request.resume:
            if state.plan_sha256 and state.plan_sha256 != digest:
                raise UserError(
                    f"{path}: the plan changed since this state was written; remove the state file to "
                    "start its phases over (what runs fixed stays skipped), or pass --fresh to ask "
                    "everything again"
                )
            self.state = state
        elif state.has_progress():
            raise UserError(
                f"{path}: holds progress of an earlier run: pass --resume to continue, or remove it to "
                "start the phases over (what runs fixed stays skipped), or pass --fresh to ask "
                "everything again"
            )

    def started(self, stages: Sequence[Stage]) -> None:
        assert self.plan is not None
        for phase in self.plan.ordered_phases():
            self.state.phase(phase.id)
        save_state(self.state, self.state_path)

    def stage_observer(self, stage: Stage) -> RunObserver | None:
        phase = self.state.phase(stage.id)
        if phase.status != "in_progress":
            phase.status = "in_progress"
            phase.started_at = phase.started_at or datetime.now(UTC)
            save_state(self.state, self.state_path)
        return PhaseStateObserver(self.state, self.state_path, stage.id)

    def stage_finished(self, stage: Stage, outcome_of: Mapping[str, Status], interrupted: bool) -> None:
        assert self.incidents is not None
        phase = self.state.phase(stage.id)
        statuses = [outcome_of.get(i.id) for i in self.incidents.by_phase[stage.id]]
        phase.status = phase_status(statuses, interrupted=interrupted)
        phase.completed_at = datetime.now(UTC) if phase.status != "in_progress" else None
        save_state(self.state, self.state_path)

    # -- results ----------------------------------------------------------------------------------

    def phase_rows(self) -> list[dict[str, Any]]:
        return [{"id": p.id, "name": p.name, "status": self.state.phase(p.id).status} for p in self.phases]


def execute_summary(job: ExecuteJob, run: JobRun, options: RunOptions) -> dict[str, Any]:
    """The `--json` document of an execute run (every incident of the chosen phases, earlier runs'
    included), with the job's report written (every run on the tree, from the store)."""
    selected = run.selected
    earlier = {
        incident_id: IncidentOutcome(incident_id, Status(status), _settled_reason(run, incident_id))
        for incident_id, status in run.settled.items()
    }
    outcomes = {**earlier, **run.outcomes}
    summary = run_summary(
        provider=run.choice.provider_name,
        model=run.choice.model,
        selected=selected,
        not_applicable=run.not_applicable,
        informational=0,
        outcomes=outcomes,
        totals=run.totals,
        aborted=run.aborted,
        confidence=options.confidence,
        records=run.records,
        price=run.choice.price,
        settled_earlier=earlier.keys() - run.outcomes.keys(),
    )
    add_batch_summary(summary, run.batch, selected=selected, outcomes=outcomes, records=run.records)
    phase_rows = job.phase_rows()
    summary["phases"] = phase_rows
    summary["store"] = run.store
    summary["abandoned"] = abandoned_block(run)
    summary["doubtful_not_applicable"] = doubtful_not_applicable(run, options.input_dir)
    add_hook_results(run, summary, "outcomes")
    summary["changed_files"] = sorted(run.changed_files)
    if run.delivery is not None:
        summary["git"] = run.delivery
    add_job_report(summary, options)
    return summary


def _settled_reason(run: JobRun, incident_id: str) -> str:
    """An outcome an earlier run settled: said to be earlier, with the reason that run gave."""
    reason = run.settled_reasons.get(incident_id)
    return f"settled by an earlier run: {reason}" if reason else "settled by an earlier run"


def execute_dry_run(dry: DryRun) -> dict[str, Any]:
    """The dry run's document: what each phase would send and cost."""
    rows: list[dict[str, Any]] = []
    for stage in dry.stages:
        est = dry.estimates[stage.id]
        rows.append(
            {
                "phase": stage.id,
                "name": stage.name,
                "requests": est.requests,
                "incidents": est.incidents,
                "input_tokens": est.input_tokens,
                "expected_output_tokens": est.expected_output_tokens,
                "expected_cost_usd": None if est.expected_cost is None else round(est.expected_cost, 4),
                "minutes": est.minutes,
            }
        )
    costs = [r["expected_cost_usd"] for r in rows]
    totals = {
        "phases": len(rows),
        "requests": sum(r["requests"] for r in rows),
        "incidents": sum(r["incidents"] for r in rows),
        "expected_cost_usd": None if None in costs else round(sum(costs), 4),
        "model": dry.choice.model,
        "price": describe_price(dry.choice.price),
    }
    batch_dry_run(totals, dry.batch_total)
    document: dict[str, Any] = {"dry_run": True, "phases": rows, "totals": totals}
    if dry.verification is not None:
        document["verification"] = dry.verification
    return document
