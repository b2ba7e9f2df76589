"""What both planners work with: the selected violations, phase drafts, and turning drafts into a Plan.

A planner (deterministic or AI) only decides which violations go together and in what order; it
returns `PhaseDraft`s. Everything else (incidents, effort ranges, risk, estimates, ids) is filled
in here, the same way for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kantra_ai.analysis.complexity import Complexity, complexity_of
from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.plan.model import (
    PLAN_VERSION,
    RISK_ORDER,
    Phase,
    Plan,
    PlanIncident,
    PlanMetadata,
    PlannedViolation,
    Risk,
)

CATEGORY_ORDER = {c.value: n for n, c in enumerate(Category)}
_COMPLEXITY_RISK: dict[Complexity, Risk] = {
    Complexity.TRIVIAL: "low",
    Complexity.LOW: "low",
    Complexity.MEDIUM: "medium",
    Complexity.HIGH: "high",
    Complexity.EXPERT: "high",
}


@dataclass
class ViolationGroup:
    """One selected violation and its selected incidents."""

    violation: Violation
    incidents: list[Incident]
    plan_id: str  # the id written to plan.yaml: the rule id, or ruleset/rule-id when ambiguous

    @property
    def key(self) -> str:
        return self.violation.key

    @property
    def complexity(self) -> Complexity:
        return complexity_of(self.violation)

    @property
    def risk(self) -> Risk:
        return _COMPLEXITY_RISK[self.complexity]

    @property
    def effort(self) -> int:
        return self.violation.effort or 0

    @property
    def files(self) -> int:
        return len({i.path for i in self.incidents})


def group_incidents(incidents: Sequence[Incident]) -> list[ViolationGroup]:
    """Selected incidents grouped by violation, in a stable order: category, effort, rule id."""
    by_key: dict[str, list[Incident]] = {}
    violations: dict[str, Violation] = {}
    for incident in incidents:
        by_key.setdefault(incident.violation.key, []).append(incident)
        violations[incident.violation.key] = incident.violation
    rule_ids = [v.rule_id for v in violations.values()]
    groups = [
        ViolationGroup(
            violations[key],
            by_key[key],
            violations[key].rule_id if rule_ids.count(violations[key].rule_id) == 1 else key,
        )
        for key in by_key
    ]
    return sorted(groups, key=group_order)


def group_order(group: ViolationGroup) -> tuple[int, int, str, str]:
    """The stable order of violations: category, effort, rule id (never the input's order)."""
    return (CATEGORY_ORDER[group.violation.category.value], group.effort, group.violation.rule_id, group.key)


@dataclass
class PhaseDraft:
    """A planner's decision: these violations, together, at this point in the order."""

    name: str
    keys: list[str]  # violation keys, in the order to list them
    explanation: str = ""
    risk: Risk | None = None  # None: the highest risk of its violations
    deferred: bool = False
    notes: list[str] = field(default_factory=list)


def phase_risk(groups: Sequence[ViolationGroup]) -> Risk:
    return max((g.risk for g in groups), key=lambda r: RISK_ORDER[r], default="low")


def merge_to_max(drafts: list[PhaseDraft], max_phases: int | None) -> list[PhaseDraft]:
    """Merge neighbouring phases, smallest pair first, until at most `max_phases` remain."""
    drafts = list(drafts)
    if not max_phases or max_phases < 1:
        return drafts
    while len(drafts) > max_phases:
        sizes = [len(drafts[n].keys) + len(drafts[n + 1].keys) for n in range(len(drafts) - 1)]
        i = sizes.index(min(sizes))
        a, b = drafts[i], drafts[i + 1]
        risk: Risk | None = None
        if a.risk is not None and b.risk is not None:
            risk = a.risk if RISK_ORDER[a.risk] >= RISK_ORDER[b.risk] else b.risk
        merged = PhaseDraft(
            name=f"{a.name} + {b.name}",
            keys=a.keys + b.keys,
            explanation=" ".join(t for t in (a.explanation, b.explanation) if t),
            risk=risk,
            deferred=a.deferred and b.deferred,
            notes=a.notes + b.notes,
        )
        drafts[i : i + 2] = [merged]
    return drafts


def _plan_incident(incident: Incident) -> PlanIncident:
    # Fields left at their defaults are not passed: pydantic keeps a set of the fields given in
    # every model, and past four it grows from 216 to 728 bytes (50 MB in a 100,000-incident plan).
    # The plan written is the same: defaults are written too.
    fields: dict[str, Any] = {"uri": incident.uri, "message": incident.message}
    if incident.code_snip:
        fields["codeSnip"] = incident.code_snip
    if incident.line is not None:
        fields["lineNumber"] = incident.line
    if incident.variables:
        fields["variables"] = dict(incident.variables)
    return PlanIncident(**fields)


def _planned_violation(group: ViolationGroup) -> PlannedViolation:
    v = group.violation
    return PlannedViolation(
        violation_id=v.rule_id,  # `ruleset` keeps it unique when two rulesets share a rule id
        description=v.description,
        category=v.category.value,
        effort=v.effort or 0,
        migration_complexity=group.complexity.value,
        manual_review_required=group.complexity in (Complexity.HIGH, Complexity.EXPERT),
        incident_count=len(group.incidents),
        incidents=[_plan_incident(i) for i in group.incidents],
        ruleset=v.ruleset,
        labels=list(v.labels),
        links=[{"url": link.url, "title": link.title} for link in v.links],
    )


def assemble(drafts: Sequence[PhaseDraft], groups: Sequence[ViolationGroup], metadata: PlanMetadata) -> Plan:
    """The plan.yaml document for these drafts (which must cover every group exactly once)."""
    by_key = {g.key: g for g in groups}
    phases: list[Phase] = []
    for number, draft in enumerate(drafts, 1):
        members = [by_key[k] for k in draft.keys]
        categories = {g.violation.category.value for g in members}
        efforts = [g.effort for g in members]
        phases.append(
            Phase(
                id=f"phase-{number}",
                name=draft.name,
                order=number,
                risk=draft.risk or phase_risk(members),
                category=categories.pop() if len(categories) == 1 else "mixed",
                effort_range=(min(efforts), max(efforts)),
                explanation=" ".join([draft.explanation, *draft.notes]).strip(),
                deferred=draft.deferred,
                violations=[_planned_violation(g) for g in members],
            )
        )
    metadata.total_violations = len(groups)
    return Plan(version=PLAN_VERSION, metadata=metadata, phases=phases)
