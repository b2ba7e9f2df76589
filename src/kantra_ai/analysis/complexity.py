"""A violation's migration complexity: the one rule every part of the tool uses.

Confidence thresholds, the planner's risk and phase order, and the prompt's rule context all ask
how hard a violation is to migrate. The analyzer may state it (`migration_complexity`); otherwise the
predecessor's mapping from effort applies (0-2 trivial, 3-4 low, 5-6 medium, 7-8 high, 9-10 expert).

A violation with neither (informational findings have no effort) is *medium*: the middle of the
scale. Calling it trivial would hold its fixes to the loosest confidence threshold and schedule it
among the safest phases, which is what an unknown must not get.
"""

from __future__ import annotations

from enum import Enum

from kantra_ai.analysis.model import Violation


class Complexity(str, Enum):
    TRIVIAL = "trivial"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    EXPERT = "expert"

    @property
    def rank(self) -> int:
        """0 for trivial up to 4 for expert: the order phases are planned in."""
        return list(Complexity).index(self)


UNKNOWN_EFFORT_COMPLEXITY = Complexity.MEDIUM


def complexity_of(violation: Violation) -> Complexity:
    """The violation's stated migration complexity, else the one its effort implies."""
    stated = (violation.migration_complexity or "").strip().lower()
    if stated in Complexity._value2member_map_:
        return Complexity(stated)
    effort = violation.effort
    if effort is None:
        return UNKNOWN_EFFORT_COMPLEXITY
    if effort <= 2:
        return Complexity.TRIVIAL
    if effort <= 4:
        return Complexity.LOW
    if effort <= 6:
        return Complexity.MEDIUM
    if effort <= 8:
        return Complexity.HIGH
    return Complexity.EXPERT
