"""Editing a plan on disk (the web planner): every change checked as `execute` checks a plan, saved
atomically, and never over a plan that changed on disk since the editor read it.

The editor hands out the plan with the SHA-256 of the file it came from; a change names the hash it
was made against. If the file holds something else now (edited by hand, another tab, `kantra-ai
plan` again), the change is refused with `PlanConflict` and nothing is written: the person reloads
and sees the plan as it is. A change that passes is validated (`validate_plan`, then the plan's
incidents mapped onto the tree as `execute` maps them), the phases it reshaped are estimated again
with the run's own estimator, and plan.yaml (and plan.html beside it) are written atomically.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kantra_ai.app.model_choice import choose_model
from kantra_ai.app.options import RunOptions
from kantra_ai.app.prepare import run_prompts
from kantra_ai.app.run import token_model
from kantra_ai.edits.files import content_sha256
from kantra_ai.engine.estimate import estimate
from kantra_ai.engine.runner import batch_incidents
from kantra_ai.errors import UserError
from kantra_ai.plan.incidents import PlanIncidents, plan_incidents
from kantra_ai.plan.model import (
    Plan,
    PlanError,
    dump_plan,
    parse_plan,
    plan_document,
    plan_from_text,
    validate_plan,
)
from kantra_ai.plan.state import plan_hash
from kantra_ai.report.html import write_plan_html
from kantra_ai.store.session import RunSession

# A change: edits the plan in place, returns the ids of phases whose estimates it made stale.
Change = Callable[[Plan], Iterable[str]]


class PlanConflict(UserError):
    """The plan file changed on disk since it was read; nothing was written."""


@dataclass(frozen=True)
class LoadedPlan:
    plan: Plan
    sha256: str  # of the file's bytes: what a change must be made against
    path: Path


class PlanEditor:
    def __init__(self, path: Path, options: RunOptions) -> None:
        self.path = path / "plan.yaml" if path.is_dir() else path
        self.options = options
        self._lock = threading.Lock()  # one change at a time (two tabs, two requests)

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> LoadedPlan:
        """The plan as it is on disk (UserError when it cannot be used: one line)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise UserError(f"{self.path}: plan file not found (make one with `kantra-ai plan`)") from None
        except OSError as exc:
            raise UserError(f"{self.path}: cannot read: {exc}") from None
        try:
            plan = plan_from_text(data.decode("utf-8"), str(self.path))
        except UnicodeDecodeError as exc:
            raise UserError(f"{self.path}: cannot read: {exc}") from None
        except PlanError as exc:
            raise UserError(str(exc)) from exc
        return LoadedPlan(plan, content_sha256(data), self.path)

    def change(self, expected_sha256: str, change: Change) -> LoadedPlan:
        """Apply `change` to the plan made from `expected_sha256`; checked, estimated, saved."""
        with self._lock:
            current = self.load()
            if current.sha256 != expected_sha256:
                raise PlanConflict(
                    f"{self.path} changed on disk since this page read it; nothing was saved: "
                    "reload to see the plan as it is now"
                )
            plan = current.plan
            stale = list(dict.fromkeys(change(plan)))
            where = str(self.path)
            try:
                validate_plan(plan, where)
                # The plan must still load as `execute` loads it (a document that round-trips).
                plan = parse_plan(plan_document(plan), where)
                incidents = self._incidents(plan)
            except PlanError as exc:
                raise UserError(str(exc)) from exc
            if stale:
                self._estimate(plan, incidents, stale)
            self.save(plan)
            return self.load()

    def file_sha(self) -> str:
        """The plan file's bytes as a page saw them ("" when there is none): what `replace` checks."""
        try:
            return plan_hash(self.path)
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise UserError(f"{self.path}: cannot read: {exc}") from None

    def replace(self, expected_sha256: str, plan: Plan) -> None:
        """Save a new plan over the file the page saw (`expected_sha256`, "" for none): never over a
        plan edited since (another tab, a terminal), which would be lost without a word."""
        with self._lock:
            if self.file_sha() != expected_sha256:
                raise PlanConflict(
                    f"{self.path} changed on disk since this page read it; the new plan was not saved: "
                    "reload to see the plan as it is now"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.save(plan)

    def save(self, plan: Plan) -> None:
        """plan.yaml atomically; plan.html beside it when the plan is a plan.yaml."""
        dump_plan(plan, self.path)
        if self.path.name == "plan.yaml":
            write_plan_html(plan, self.path.with_name("plan.html"))

    def _incidents(self, plan: Plan) -> PlanIncidents:
        return plan_incidents(
            plan, self.path, self.options.input_dir, source_root=self.options.selection.source_root
        )

    def _estimate(self, plan: Plan, incidents: PlanIncidents, phase_ids: list[str]) -> None:
        """Cost and time of these phases, as `plan` estimates them (the run's batching and estimator)."""
        choice = choose_model(self.options.model)
        # One rule book for the phases `execute` runs, and the calibration earlier runs left, as `plan`.
        executed = [i for p in plan.ordered_phases() if not p.deferred for i in incidents.by_phase[p.id]]
        calibration = RunSession(self.options.input_dir, self.options.history, lambda _: None).calibration(
            choice.provider_name, choice.model
        )
        prompts = run_prompts(choice, self.options, executed, token_ratio=calibration.input_ratio)
        tokens = token_model(choice, prompts, calibration)
        batch = self.options.limits.batch
        for phase_id in phase_ids:
            phase = plan.phase(phase_id)
            batches = batch_incidents(incidents.by_phase[phase_id], self.options.input_dir, batch, prompts)
            expected = estimate(batches, choice.price, batch.parallelism, tokens)
            phase.estimated_cost = round(expected.expected_cost or 0.0, 4)
            phase.estimated_duration_minutes = expected.minutes
