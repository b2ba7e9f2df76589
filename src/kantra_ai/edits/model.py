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
    """Replace `old_text` (which must occur exactly once) with `new_text`."""

    old_text: str
    new_text: str
    incident_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    incident_id: str
    status: VerdictStatus
    confidence: float  # 0..1
    explanation: str = ""


@dataclass
class ProposedFix:
    """A parsed, validated model reply."""

    edits: list[Edit] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


@dataclass(frozen=True)
class FailedEdit:
    edit: Edit
    reason: str  # one line: "old text not found", "old text matches 3 places", ...
    closest: str = ""  # the closest lines of the file, for the retry prompt


@dataclass
class ApplyResult:
    content: str  # the content after every edit that applied
    applied: list[Edit] = field(default_factory=list)
    failed: list[FailedEdit] = field(default_factory=list)
