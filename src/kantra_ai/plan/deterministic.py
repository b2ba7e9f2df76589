"""The planner that needs no model: phases by category, migration complexity and risk tolerance.

Same input, same plan, every time. Phases go mandatory before optional before potential, and within
a category from low to high risk, so the simple, certain changes land first and the risky ones
are reviewed against an already-migrated base.

Risk tolerance decides how much goes into one phase:

- `conservative`: one phase per category and complexity (trivial, low, medium, high, expert), at
  most `CONSERVATIVE_PHASE_SIZE` violations each; high-risk phases are planned but *deferred*, so
  `execute` leaves them alone until someone clears the flag;
- `balanced` (default): one phase per category and risk (low, medium, high);
- `aggressive`: one phase per risk level, categories together.

`--max-phases` then merges neighbouring phases, smallest first, until the limit holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from kantra_ai.plan.model import RISK_ORDER
from kantra_ai.plan.phases import (
    CATEGORY_ORDER,
    PhaseDraft,
    ViolationGroup,
    group_order,
    merge_to_max,
)

RiskTolerance = Literal["conservative", "balanced", "aggressive"]
RISK_TOLERANCES: tuple[RiskTolerance, ...] = ("conservative", "balanced", "aggressive")
CONSERVATIVE_PHASE_SIZE = 5

_WHY = {
    "low": "Mechanical changes (renamed packages, namespaces, coordinates) that a model fixes reliably.",
    "medium": "Changes that need some understanding of the surrounding code; review the diffs.",
    "high": "API redesigns and removed features: expect manual review and possibly manual work.",
}


def _key(group: ViolationGroup, tolerance: RiskTolerance) -> tuple[int, int, str]:
    category = CATEGORY_ORDER[group.violation.category.value]
    if tolerance == "conservative":
        return (category, group.complexity.rank, group.complexity.value)
    if tolerance == "aggressive":
        return (0, RISK_ORDER[group.risk], group.risk)
    return (category, RISK_ORDER[group.risk], group.risk)


def _name(groups: Sequence[ViolationGroup], tolerance: RiskTolerance) -> str:
    first = groups[0]
    if tolerance == "aggressive":
        return f"{first.risk.capitalize()}-risk changes"
    category = first.violation.category.value.capitalize()
    if tolerance == "conservative":
        return f"{category}: {first.complexity.value} complexity"
    return f"{category}: {first.risk} risk"


def plan_deterministic(
    groups: Sequence[ViolationGroup],
    *,
    tolerance: RiskTolerance = "balanced",
    max_phases: int | None = None,
) -> list[PhaseDraft]:
    """Phase drafts covering every group exactly once, in a stable order."""
    buckets: dict[tuple[int, int, str], list[ViolationGroup]] = {}
    for group in sorted(groups, key=group_order):
        buckets.setdefault(_key(group, tolerance), []).append(group)
    drafts: list[PhaseDraft] = []
    for key in sorted(buckets):
        members = buckets[key]
        size = CONSERVATIVE_PHASE_SIZE if tolerance == "conservative" else len(members)
        chunks = [members[i : i + size] for i in range(0, len(members), size)]
        for number, chunk in enumerate(chunks, 1):
            risk = max((g.risk for g in chunk), key=lambda r: RISK_ORDER[r])
            name = _name(chunk, tolerance) + (f" ({number}/{len(chunks)})" if len(chunks) > 1 else "")
            incidents = sum(len(g.incidents) for g in chunk)
            explanation = f"{len(chunk)} violation(s), {incidents} incident(s). {_WHY[risk]}"
            deferred = tolerance == "conservative" and risk == "high"
            if deferred:
                explanation += " Deferred by the conservative risk tolerance: clear `deferred` to run it."
            drafts.append(PhaseDraft(name, [g.key for g in chunk], explanation, risk, deferred))
    return merge_to_max(drafts, max_phases)
