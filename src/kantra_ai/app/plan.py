"""`plan`: group the selected violations into ordered phases, estimated with the run's own estimator."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from kantra_ai._fs import folder_problem
from kantra_ai.app.model_choice import choose_model
from kantra_ai.app.options import RunOptions
from kantra_ai.app.prepare import load_selection, run_prompts
from kantra_ai.app.run import provider_for, token_model
from kantra_ai.app.ui import Ui
from kantra_ai.collector import collector_paused
from kantra_ai.errors import UserError
from kantra_ai.plan.ai_planner import AiPlan, PlannerFailure, plan_with_model
from kantra_ai.plan.build import build_plan
from kantra_ai.plan.deterministic import RISK_TOLERANCES, RiskTolerance, plan_deterministic
from kantra_ai.plan.model import Plan, PlanMetadata, dump_plan
from kantra_ai.plan.phases import group_incidents
from kantra_ai.report.html import write_plan_html
from kantra_ai.report.record import not_ours_problem
from kantra_ai.store.session import RunSession

PLANNERS = ("ai", "deterministic")


@dataclass(frozen=True)
class PlanRequest:
    planner: str = "ai"  # "ai" (a model groups the violations) or "deterministic"
    risk_tolerance: str = "balanced"
    max_phases: int | None = None
    chunk_tokens: int = 8_000  # AI planner: input tokens per planning request

    def check(self) -> RiskTolerance:
        if self.planner not in PLANNERS:
            raise UserError(f"--planner: unknown planner {self.planner!r}; choose ai or deterministic")
        for tolerance in RISK_TOLERANCES:
            if tolerance == self.risk_tolerance:
                return tolerance
        raise UserError(
            f"--risk-tolerance: unknown value {self.risk_tolerance!r}; "
            "choose conservative, balanced or aggressive"
        )


def make_plan(options: RunOptions, request: PlanRequest, ui: Ui) -> Plan:
    """The plan for the selection (nothing written); phases estimated as `execute` will run them."""
    with collector_paused():  # bounded bulk work: see collector.py
        return _make_plan(options, request, ui)


def _make_plan(options: RunOptions, request: PlanRequest, ui: Ui) -> Plan:
    tolerance = request.check()
    choice = choose_model(options.model)
    if choice.warning:  # as `remediate` and `execute` say it: the plan's costs will read "unknown"
        ui.say(f"warning: {choice.warning}")
    selection = load_selection(options.selection)
    groups = group_incidents(selection.selected)
    if not groups:
        raise UserError(
            "nothing to plan: no fixable incident is selected "
            f"({len(selection.not_applicable)} not applicable, {selection.filtered_out} filtered out, "
            f"{selection.informational} informational)"
        )
    metadata = PlanMetadata(
        provider=choice.provider_name,
        planner=request.planner,
        model=choice.model,
        analysis=str(Path(options.selection.analysis).resolve()),
    )
    if request.planner == "deterministic":
        drafts = plan_deterministic(groups, tolerance=tolerance, max_phases=request.max_phases)
    else:
        hint = "export it, or plan without a model: --planner deterministic"
        with provider_for(choice, ui, needed=True, hint=hint) as provider:
            assert provider is not None

            async def ask() -> AiPlan:
                try:
                    return await plan_with_model(
                        provider,
                        groups,
                        price=choice.price,
                        tolerance=tolerance,
                        max_phases=request.max_phases,
                        chunk_tokens=request.chunk_tokens,
                    )
                finally:
                    await provider.aclose()

            try:
                result = asyncio.run(ask())
            except PlannerFailure as exc:
                raise UserError(f"the provider refused the planning request: {exc}") from exc
        drafts = result.drafts
        metadata.notes = result.notes
        cost = "unknown" if result.cost is None else f"${result.cost:.4f}"
        ui.say(f"AI planner: {result.requests} request(s), planning cost {cost}")
    # Estimated as `execute` will run it: one rule book for the phases it runs, the calibration
    # earlier runs on the tree left.
    by_key = {g.key: g for g in groups}
    executed = [
        i for d in drafts if not d.deferred for key in d.keys for i in by_key[key].incidents if i.fixable
    ]
    calibration = RunSession(options.input_dir, options.history, ui.say).calibration(
        choice.provider_name, choice.model
    )
    prompts = run_prompts(choice, options, executed, token_ratio=calibration.input_ratio)
    return build_plan(
        drafts,
        groups,
        metadata=metadata,
        input_dir=options.input_dir,
        batch=options.limits.batch,
        price=choice.price,
        prompts=prompts,
        tokens=token_model(choice, prompts, calibration),
    )


# How plan.yaml (ours, or one edited by hand: its `version` key at the start of a line) and
# plan.html begin: a file there of another kind is the user's, never written over.
_PLAN_MARKS = (
    ("plan.yaml", re.compile(rb"(?m)^version:")),
    ("plan.html", re.compile(rb"<title>kantra-ai migration plan</title>")),
)


def check_plan_output(output: Path) -> None:
    """Refuse an `--output` the plan cannot be written into, before planning (an AI plan is paid):
    a folder that cannot be written, or one whose plan.yaml or plan.html is a file of the user's."""
    problem = folder_problem(output)
    for name, mark in _PLAN_MARKS:
        problem = problem or not_ours_problem(
            output / name, mark, what="a kantra-ai plan", instead="pass another --output folder"
        )
    if problem:
        raise UserError(f"--output {output}: cannot write the plan there: {problem}")


def save_plan(plan: Plan, output: Path) -> tuple[Path, Path]:
    """Write plan.yaml and plan.html into `output` (atomically); returns their paths."""
    check_plan_output(output)
    try:
        output.mkdir(parents=True, exist_ok=True)
        with collector_paused():
            dump_plan(plan, output / "plan.yaml")
            write_plan_html(plan, output / "plan.html")
    except OSError as exc:  # changed since the check, or a full disk
        raise UserError(f"--output {output}: cannot write the plan: {exc.strerror or exc}") from exc
    return output / "plan.yaml", output / "plan.html"
