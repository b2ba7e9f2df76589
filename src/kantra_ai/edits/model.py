"""What a model proposes for one request: edits to one file and a verdict per incident."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class VerdictStatus(str, Enum):
    FIXED = "fixed"
    NOT_APPLICABLE = "not_applicable"  # the finding does not apply to this code
    CANNOT_FIX = "cannot_fix"  # needs a human, or information the model does not have


@dataclass(frozen=True)
class Edit:
    """Replace `old_text` (which must occur exactly once) with `new_text`.

    A reply may leave `old` out of an edit that only replaces words on its incidents' own lines:
    such an edit arrives with empty texts and its [from, to] pairs in `line_sub`, and `anchor.py`
    turns it into one quoting those lines before anything is applied (an edit left with an empty
    `old_text` is refused by the applier, so none can slip through unresolved).
    """

    old_text: str
    new_text: str
    incident_ids: tuple[str, ...] = ()
    line_sub: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Verdict:
    incident_id: str
    status: VerdictStatus
    confidence: float | None  # 0..1; None: not asked for (an edit without a verdict means "fixed")
    explanation: str = ""

    @property
    def implied(self) -> bool:
        """A "fixed" with nothing of its own (no confidence, no reason): what a terse reply's parser
        reads from an edit naming the incident, not something the model wrote."""
        return self.status is VerdictStatus.FIXED and self.confidence is None and not self.explanation


@dataclass
class ProposedFix:
    """A parsed, validated model reply."""

    edits: list[Edit] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


class EditStatus(str, Enum):
    """What became of one edit of a reply."""

    APPLIED = "applied"  # it changed the content as it said
    # Its change was already there (a repeated edit, one an earlier edit of the reply already made, or
    # one made by an earlier attempt or run): nothing to do, and nothing to ask again. It counts for
    # its incidents like an applied edit.
    ALREADY_APPLIED = "already_applied"
    FAILED = "failed"  # refused, content untouched by it; `reason` (and `closest`) go into the retry


@dataclass(frozen=True)
class Place:
    """Lines of the content as they are: `line` is the 1-based number of the first of `lines`."""

    line: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class FailedEdit:
    edit: Edit
    reason: str  # one line: "old text not found", "old text matches 3 places", ...
    closest: str = ""  # the closest lines of the file, for the retry prompt
    # Where to look, for the retry prompt: the closest lines ("not found"), or each place old_text
    # matched ("matches N places"), with their line numbers in the content given.
    places: tuple[Place, ...] = ()


@dataclass(frozen=True)
class EditOutcome:
    edit: Edit
    status: EditStatus
    reason: str = ""  # FAILED: why; ALREADY_APPLIED: how we know
    closest: str = ""  # FAILED with "old text not found": the closest lines of the file
    places: tuple[Place, ...] = ()  # FAILED: see FailedEdit.places


@dataclass(frozen=True)
class Landing:
    """Where applied edits changed the content: lines [before[0], before[1]) of the content given
    (0-based) became lines [after[0], after[1]) of the result. Edits whose lines overlap share one."""

    before: tuple[int, int]
    after: tuple[int, int]
    edits: tuple[Edit, ...]
    indices: tuple[int, ...]  # the edits' positions in the list given to `apply_edits`


@dataclass
class ApplyResult:
    content: str  # the content after every edit that applied
    applied: list[Edit] = field(default_factory=list)
    failed: list[FailedEdit] = field(default_factory=list)
    already_applied: list[Edit] = field(default_factory=list)
    landings: list[Landing] = field(default_factory=list)
    outcomes: list[EditOutcome] = field(default_factory=list)  # one per edit given, in that order

    @classmethod
    def of(cls, content: str, outcomes: list[EditOutcome], landings: list[Landing]) -> ApplyResult:
        """The result with `applied`, `already_applied` and `failed` sorted out of `outcomes`."""
        result = cls(content=content, outcomes=outcomes, landings=landings)
        for outcome in outcomes:
            if outcome.status is EditStatus.APPLIED:
                result.applied.append(outcome.edit)
            elif outcome.status is EditStatus.ALREADY_APPLIED:
                result.already_applied.append(outcome.edit)
            else:
                failed = FailedEdit(outcome.edit, outcome.reason, outcome.closest, outcome.places)
                result.failed.append(failed)
        return result
