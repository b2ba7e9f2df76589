"""Changes a person makes to a plan (the web planner): approve, defer, reorder, rename, move a
violation, split and merge phases.

Each operation changes the `Plan` in place and leaves it valid by `validate_plan` or raises
`PlanError` with one line; what a phase's violations imply (risk, category, effort range) is
recomputed the way the planners compute it. Estimated cost and time depend on the files and the
model: `app/plan_editor.py` estimates the phases a change touched again.
"""

from __future__ import annotations

import unicodedata

from kantra_ai.analysis.complexity import Complexity
from kantra_ai.plan.model import RISK_ORDER, Phase, Plan, PlanError, PlannedViolation, Risk

MAX_NAME = 200

# As plan/phases.py maps a violation's migration complexity to the risk of its phase.
_RISK_OF: dict[str, Risk] = {
    Complexity.TRIVIAL.value: "low",
    Complexity.LOW.value: "low",
    Complexity.MEDIUM.value: "medium",
    Complexity.HIGH.value: "high",
    Complexity.EXPERT.value: "high",
}


def violation_risk(violation: PlannedViolation) -> Risk:
    """The risk a violation brings to its phase (unknown complexity: medium, as the planners say)."""
    return _RISK_OF.get((violation.migration_complexity or "").lower(), "medium")


def refresh_phase(phase: Phase) -> None:
    """Risk, category and effort range from the phase's violations (after its violations changed)."""
    if not phase.violations:
        return
    phase.risk = max((violation_risk(v) for v in phase.violations), key=RISK_ORDER.__getitem__)
    categories = {v.category for v in phase.violations}
    phase.category = categories.pop() if len(categories) == 1 else "mixed"
    efforts = [v.effort for v in phase.violations]
    phase.effort_range = (min(efforts), max(efforts))


def _renumber(plan: Plan, ordered: list[Phase]) -> None:
    for number, phase in enumerate(ordered, 1):
        phase.order = number
    plan.phases = ordered


def set_deferred(plan: Plan, phase_id: str, deferred: bool) -> None:
    plan.phase(phase_id).deferred = deferred


def reorder(plan: Plan, phase_ids: list[str]) -> None:
    """Put the phases in this order; every phase exactly once."""
    known = [p.id for p in plan.phases]
    if sorted(phase_ids) != sorted(known) or len(set(phase_ids)) != len(phase_ids):
        raise PlanError(f"a new order must name every phase once: {', '.join(known)}")
    _renumber(plan, [plan.phase(pid) for pid in phase_ids])


def move_phase(plan: Plan, phase_id: str, steps: int) -> None:
    """Move a phase up (negative) or down (positive) in the order, stopping at either end."""
    ids = [p.id for p in plan.ordered_phases()]
    index = ids.index(plan.phase(phase_id).id)
    target = min(max(index + steps, 0), len(ids) - 1)
    ids.insert(target, ids.pop(index))
    reorder(plan, ids)


def rename(plan: Plan, phase_id: str, name: str) -> None:
    text = " ".join(name.split())
    if not text:
        raise PlanError("a phase needs a name")
    if len(text) > MAX_NAME:
        raise PlanError(f"a phase name has at most {MAX_NAME} characters")
    # Control and format characters (NUL, a right-to-left override) would show the name as
    # something else in the terminal, the page and plan.yaml's readers.
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in text):
        raise PlanError("a phase name cannot hold control or formatting characters")
    plan.phase(phase_id).name = text


def _violation(plan: Plan, key: str) -> tuple[Phase, PlannedViolation]:
    for phase in plan.phases:
        for violation in phase.violations:
            if violation.key == key:
                return phase, violation
    raise PlanError(f"no violation {key!r} in the plan")


def move_violation(plan: Plan, key: str, to_phase_id: str) -> tuple[str, str]:
    """Move a violation (by its key, ruleset/rule-id) to another phase; (from, to) phase ids.
    The phase it leaves must keep at least one violation (merge phases to empty one)."""
    source, violation = _violation(plan, key)
    target = plan.phase(to_phase_id)
    if target is source:
        return source.id, target.id
    if len(source.violations) == 1:
        raise PlanError(f"phase {source.id} would have no violations left; merge it into {target.id} instead")
    source.violations.remove(violation)
    target.violations.append(violation)
    refresh_phase(source)
    refresh_phase(target)
    return source.id, target.id


def _new_id(plan: Plan) -> str:
    taken = {p.id for p in plan.phases}
    number = len(plan.phases) + 1
    while f"phase-{number}" in taken:
        number += 1
    return f"phase-{number}"


def split(plan: Plan, phase_id: str, keys: list[str]) -> str:
    """Move the named violations of a phase into a new phase right after it; the new phase's id."""
    phase = plan.phase(phase_id)
    chosen = [v for v in phase.violations if v.key in set(keys)]
    if not chosen:
        raise PlanError(f"choose the violations of {phase.id} to split off")
    if len(chosen) == len(phase.violations):
        raise PlanError(f"a split leaves at least one violation in {phase.id}")
    unknown = set(keys) - {v.key for v in chosen}
    if unknown:
        raise PlanError(f"not in {phase.id}: {', '.join(sorted(unknown))}")
    phase.violations = [v for v in phase.violations if v not in chosen]
    new = Phase(
        id=_new_id(plan),
        name=f"{phase.name} (split)"[:MAX_NAME],
        explanation=f"Split off {phase.id} in the planner.",
        deferred=phase.deferred,
        violations=chosen,
    )
    refresh_phase(phase)
    refresh_phase(new)
    ordered = plan.ordered_phases()
    ordered.insert(ordered.index(phase) + 1, new)
    _renumber(plan, ordered)
    return new.id


def merge(plan: Plan, phase_id: str, other_id: str) -> None:
    """Merge `other_id` into `phase_id` (which keeps its place in the order)."""
    phase, other = plan.phase(phase_id), plan.phase(other_id)
    if phase is other:
        raise PlanError("choose another phase to merge with")
    phase.violations = phase.violations + other.violations
    phase.name = f"{phase.name} + {other.name}"[:MAX_NAME]
    phase.explanation = " ".join(t for t in (phase.explanation, other.explanation) if t)
    phase.deferred = phase.deferred and other.deferred
    phase.estimated_cost = round(phase.estimated_cost + other.estimated_cost, 4)
    phase.estimated_duration_minutes += other.estimated_duration_minutes
    refresh_phase(phase)
    _renumber(plan, [p for p in plan.ordered_phases() if p is not other])
