"""Make whatever a model proposed into a valid plan: every selected violation exactly once.

The predecessor trusted the model's grouping and silently lost what it left out. Here the
proposal is checked against the violations that were actually selected:

- ids the model invented (not among those it was given) are dropped, with a note;
- a violation placed in several phases stays in the first, with a note;
- phases left empty by the above disappear;
- violations the model left out go into a phase of their own, at the end, whose explanation says
  the model did not place them, so nothing is ever dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kantra_ai.plan.phases import PhaseDraft, ViolationGroup, phase_risk

UNPLACED_PHASE_NAME = "Not placed by the model"


@dataclass
class ProposedPhase:
    """A phase as the model described it: names it gave, ids as it wrote them."""

    name: str
    violation_ids: list[str]
    explanation: str = ""
    risk: str | None = None


@dataclass
class Repaired:
    drafts: list[PhaseDraft]
    notes: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)


def _sample(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def repair(proposed: Sequence[ProposedPhase], groups: Sequence[ViolationGroup]) -> Repaired:
    """Phase drafts that cover every group exactly once, keeping the model's order and grouping."""
    by_id: dict[str, ViolationGroup] = {}
    for group in groups:
        by_id[group.plan_id] = group
        by_id.setdefault(group.key, group)  # ruleset/rule-id is always accepted too
    placed: set[str] = set()
    result = Repaired(drafts=[])
    for phase in proposed:
        keys: list[str] = []
        for raw in phase.violation_ids:
            found = by_id.get(raw.strip())
            if found is None:
                if raw not in result.invented:
                    result.invented.append(raw)
                continue
            group = found
            if group.key in placed:
                if group.plan_id not in result.duplicated:
                    result.duplicated.append(group.plan_id)
                continue
            placed.add(group.key)
            keys.append(group.key)
        if not keys:
            continue
        risk = phase.risk if phase.risk in ("low", "medium", "high") else None
        result.drafts.append(
            PhaseDraft(
                name=phase.name.strip() or f"Phase {len(result.drafts) + 1}",
                keys=keys,
                explanation=phase.explanation.strip(),
                risk=risk,  # type: ignore[arg-type]  # checked against the three levels above
            )
        )
    missing = [g for g in groups if g.key not in placed]
    result.omitted = [g.plan_id for g in missing]
    if result.invented:
        result.notes.append(
            f"The model named {len(result.invented)} violation id(s) that were not in the analysis "
            f"({_sample(result.invented)}); they were ignored."
        )
    if result.duplicated:
        result.notes.append(
            f"The model put {len(result.duplicated)} violation(s) in more than one phase "
            f"({_sample(result.duplicated)}); each was kept in its first phase only."
        )
    if missing:
        note = (
            f"The model's plan left out {len(missing)} violation(s) ({_sample(result.omitted)}); "
            "kantra-ai put them in this phase so that none is dropped. Review their order."
        )
        result.notes.append(
            f"{len(missing)} violation(s) left out by the model were added in a phase of their own."
        )
        result.drafts.append(
            PhaseDraft(UNPLACED_PHASE_NAME, [g.key for g in missing], note, phase_risk(missing))
        )
    return result
