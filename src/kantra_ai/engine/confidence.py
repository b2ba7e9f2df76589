"""Confidence filtering: hold the model's fixes to a threshold that depends on how hard the change is.

Each violation has a migration complexity (its `migration_complexity`, else derived from its effort:
0-2 trivial, 3-4 low, 5-6 medium, 7-8 high, 9-10 expert); each complexity has a threshold. A fix
whose verdict confidence is below its threshold is "low confidence", and the policy's action
decides what happens to it:

- `skip`: its edits are not applied; the incident ends as skipped, with confidence and threshold;
- `warn-and-apply`: its edits are applied; the incident is fixed, flagged as below threshold;
- `manual-review-file`: as `skip`, and the proposed edits are appended to a YAML review file.

Edits shared by several incidents: the model may answer two incidents with one edit (two rules on
one line). Such an edit is a unit: it is applied only when *every* incident it is for passes its
threshold. Incidents tied together by shared edits form a group, and a group with one low-confidence
incident is withheld as a whole, so no fix is ever half applied. An edit naming no incident cannot
be attributed, so it ties together every incident of its reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from types import MappingProxyType

from kantra_ai.analysis.complexity import Complexity, complexity_of
from kantra_ai.analysis.model import Incident, Violation
from kantra_ai.edits.model import Edit, ProposedFix, Verdict, VerdictStatus
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.engine.review_file import ReviewFileError, append_review_entries


class LowConfidenceAction(str, Enum):
    SKIP = "skip"
    WARN_AND_APPLY = "warn-and-apply"
    MANUAL_REVIEW_FILE = "manual-review-file"


DEFAULT_THRESHOLDS: Mapping[Complexity, float] = MappingProxyType(
    {
        Complexity.TRIVIAL: 0.70,
        Complexity.LOW: 0.75,
        Complexity.MEDIUM: 0.80,
        Complexity.HIGH: 0.90,
        Complexity.EXPERT: 0.95,
    }
)
# How the reason of a fix applied below its threshold (warn-and-apply) starts.
APPLIED_BELOW_THRESHOLD = "applied although"


def parse_threshold_overrides(text: str) -> dict[Complexity, float]:
    """`"trivial=0.7,high=0.9"` -> {TRIVIAL: 0.7, HIGH: 0.9}; ValueError (one line) on bad input."""
    allowed = ", ".join(c.value for c in Complexity)
    result: dict[Complexity, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, raw = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in Complexity._value2member_map_:
            raise ValueError(f"{part!r} is not COMPLEXITY=VALUE with COMPLEXITY one of {allowed}")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{part!r}: {raw.strip()!r} is not a number between 0 and 1") from None
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{part!r}: {value} is not between 0 and 1")
        result[Complexity(name)] = value
    return result


@dataclass(frozen=True)
class ConfidencePolicy:
    """Whether fixes are held to thresholds, which ones, and what happens below them."""

    enabled: bool = False
    thresholds: Mapping[Complexity, float] = field(default_factory=lambda: DEFAULT_THRESHOLDS)
    action: LowConfidenceAction = LowConfidenceAction.SKIP
    review_file: Path | None = None  # where manual-review-file appends
    review_root: Path | None = None  # the tree holding the default review file (written as a file of it)

    @classmethod
    def build(
        cls,
        *,
        enabled: bool,
        thresholds: Mapping[Complexity, float] | None = None,
        overrides: Mapping[Complexity, float] | None = None,
        min_confidence: float | None = None,
        action: LowConfidenceAction = LowConfidenceAction.SKIP,
        review_file: Path | None = None,
        review_root: Path | None = None,
    ) -> ConfidencePolicy:
        """Defaults, then `thresholds` (config), then `overrides` (--complexity-threshold); finally
        `min_confidence` raises every threshold to at least its value."""
        merged = {**DEFAULT_THRESHOLDS, **(thresholds or {}), **(overrides or {})}
        if min_confidence is not None:
            merged = {c: max(t, min_confidence) for c, t in merged.items()}
        return cls(enabled, MappingProxyType(merged), action, review_file, review_root)

    @property
    def withholds(self) -> bool:
        """Low-confidence edits are kept out of the file (skip and manual-review-file)."""
        return self.enabled and self.action is not LowConfidenceAction.WARN_AND_APPLY

    def threshold_for(self, violation: Violation) -> float:
        return self.thresholds[complexity_of(violation)]


@dataclass(frozen=True)
class LowVerdict:
    confidence: float
    threshold: float
    complexity: Complexity

    def describe(self) -> str:
        return (
            f"confidence {self.confidence:.2f} is below the {self.complexity.value} "
            f"threshold {self.threshold:.2f}"
        )


@dataclass(frozen=True)
class WithheldGroup:
    """Edits kept out of the file and the incidents they were for."""

    edits: tuple[Edit, ...]
    incident_ids: tuple[str, ...]
    low: Mapping[str, LowVerdict]  # the incidents of the group that were below threshold


@dataclass
class BatchScreen:
    """One batch's view of the policy: screens each reply's edits, then settles the outcomes."""

    policy: ConfidencePolicy
    incidents: Sequence[Incident]
    low: dict[str, LowVerdict] = field(default_factory=dict)
    withheld: list[WithheldGroup] = field(default_factory=list)
    review_error: str = ""  # the review file could not be written
    _by_id: dict[str, Incident] = field(init=False, repr=False)
    _verdicts: dict[str, Verdict] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {i.id: i for i in self.incidents}

    def screen(self, proposed: ProposedFix, pending: Sequence[Incident]) -> ProposedFix:
        """Record this reply's low-confidence fixes; return the reply minus the edits to withhold."""
        if not self.policy.enabled:
            return proposed
        pending_ids = [i.id for i in pending]
        # A retry's verdicts replace the previous attempt's for the incidents it was about.
        for incident_id in pending_ids:
            self.low.pop(incident_id, None)
        self.withheld = [g for g in self.withheld if not set(g.incident_ids) & set(pending_ids)]
        for verdict in proposed.verdicts:
            incident = self._by_id.get(verdict.incident_id)
            if incident is None or verdict.incident_id not in pending_ids:
                continue
            self._verdicts[verdict.incident_id] = verdict
            if verdict.status is not VerdictStatus.FIXED:
                continue
            threshold = self.policy.threshold_for(incident.violation)
            # No confidence given (a terse reply) cannot pass a threshold: held as the lowest.
            confidence = 0.0 if verdict.confidence is None else verdict.confidence
            if confidence < threshold:
                complexity = complexity_of(incident.violation)
                self.low[verdict.incident_id] = LowVerdict(confidence, threshold, complexity)
        low_now = [i for i in pending_ids if i in self.low]
        if not low_now or not self.policy.withholds:
            return proposed
        groups = _groups(proposed.edits, pending_ids)
        keep: list[Edit] = []
        for edits, members in groups:
            low = {m: self.low[m] for m in members if m in self.low}
            if low and edits:
                self.withheld.append(WithheldGroup(tuple(edits), tuple(members), low))
            else:
                keep.extend(edits)
        kept = set(map(id, keep))
        # Keep the reply's own order: the edits are applied in sequence.
        return replace(proposed, edits=[e for e in proposed.edits if id(e) in kept])

    def withheld_ids(self) -> dict[str, WithheldGroup]:
        return {m: g for g in self.withheld for m in g.incident_ids}

    def adjust(self, incident: Incident, outcome: IncidentOutcome) -> IncidentOutcome:
        """The outcome as the policy sees it: withheld fixes become skipped, low ones are flagged."""
        if not self.policy.enabled:
            return outcome
        threshold = self.policy.threshold_for(incident.violation)
        low = self.low.get(incident.id)
        group = self.withheld_ids().get(incident.id)
        if group is not None and outcome.status in (Status.FIXED, Status.FAILED):
            if low is not None:
                why = low.describe()
            else:
                other, verdict = next(iter(group.low.items()))
                why = (
                    f"its edit is shared with low-confidence incident {other} "
                    f"({verdict.confidence:.2f} < {verdict.threshold:.2f})"
                )
            reason = f"{why}; edit not applied"
            if self.policy.action is LowConfidenceAction.MANUAL_REVIEW_FILE:
                reason += (
                    f"; review file not written: {self.review_error}"
                    if self.review_error
                    else f"; proposed edit saved to {self.policy.review_file}"
                )
            return replace(outcome, status=Status.SKIPPED, reason=reason, threshold=threshold)
        if low is not None and outcome.status is Status.FIXED:
            return replace(outcome, reason=f"{APPLIED_BELOW_THRESHOLD} {low.describe()}", threshold=threshold)
        return replace(outcome, threshold=threshold)

    def review_entries(self, path: str) -> list[dict[str, object]]:
        """What manual-review-file appends for this batch: one entry per withheld group."""
        if self.policy.action is not LowConfidenceAction.MANUAL_REVIEW_FILE:
            return []
        entries: list[dict[str, object]] = []
        for group in self.withheld:
            incidents = []
            for incident_id in group.incident_ids:
                incident = self._by_id[incident_id]
                verdict = self._verdicts.get(incident_id)
                incidents.append(
                    {
                        "id": incident_id,
                        "line": incident.line,
                        "rule": incident.violation.rule_id,
                        "complexity": complexity_of(incident.violation).value,
                        "confidence": verdict.confidence if verdict else None,
                        "threshold": self.policy.threshold_for(incident.violation),
                        "below_threshold": incident_id in group.low,
                        "explanation": verdict.explanation if verdict else "",
                    }
                )
            entries.append(
                {
                    "file": path,
                    "incidents": incidents,
                    "edits": [
                        {"incidents": list(e.incident_ids), "old": e.old_text, "new": e.new_text}
                        for e in group.edits
                    ],
                }
            )
        return entries

    def write_review(self, path: str) -> None:
        """Append this batch's withheld fixes to the review file (blocking: run it in a thread)."""
        entries = self.review_entries(path)
        if not entries or self.policy.review_file is None:
            return
        try:
            append_review_entries(self.policy.review_file, entries, root=self.policy.review_root)
        except ReviewFileError as exc:
            self.review_error = str(exc)


def _groups(edits: Sequence[Edit], pending_ids: Sequence[str]) -> list[tuple[list[Edit], list[str]]]:
    """Incidents tied together by shared edits, with those edits (union-find over incident ids)."""
    parent = {i: i for i in pending_ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def members(edit: Edit) -> list[str]:
        named = [i for i in edit.incident_ids if i in parent]
        return named or list(pending_ids)  # an unattributed edit belongs to everyone

    for edit in edits:
        ids = members(edit)
        for other in ids[1:]:
            parent[root(other)] = root(ids[0])
    by_root: dict[str, tuple[list[Edit], list[str]]] = {}
    for incident_id in pending_ids:
        by_root.setdefault(root(incident_id), ([], []))[1].append(incident_id)
    for edit in edits:
        ids = members(edit)
        if ids:
            by_root[root(ids[0])][0].append(edit)
    return list(by_root.values())


def confidence_summary(
    incidents: Sequence[Incident], outcomes: Mapping[str, IncidentOutcome], policy: ConfidencePolicy
) -> dict[str, object]:
    """Counts per complexity for the summary: incidents, fixed, and fixes below their threshold
    (withheld or, with warn-and-apply, applied)."""
    rows: dict[str, dict[str, float | int]] = {}
    for incident in incidents:
        complexity = complexity_of(incident.violation)
        threshold = policy.thresholds[complexity]
        row = rows.setdefault(
            complexity.value, {"threshold": threshold, "incidents": 0, "fixed": 0, "below_threshold": 0}
        )
        row["incidents"] += 1
        outcome = outcomes.get(incident.id)
        if outcome is None:
            continue
        if outcome.status is Status.FIXED:
            row["fixed"] += 1
        if (
            policy.enabled
            and outcome.status in (Status.FIXED, Status.SKIPPED)
            and outcome.confidence is not None
            and outcome.confidence < threshold
        ):
            row["below_threshold"] += 1
    order = [c.value for c in Complexity]
    return {
        "enabled": policy.enabled,
        "action": policy.action.value,
        "review_file": (
            str(policy.review_file)
            if policy.enabled and policy.action is LowConfidenceAction.MANUAL_REVIEW_FILE
            else None
        ),
        "by_complexity": {name: rows[name] for name in order if name in rows},
    }
