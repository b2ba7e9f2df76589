"""What a run produced: one outcome per incident, one record per request, and the totals."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from kantra_ai.providers.pricing import Usage


class Status(str, Enum):
    FIXED = "fixed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not attempted or not applied: budget, stop, low confidence
    NOT_APPLICABLE = "not_applicable"  # dependency, missing file, or the model says it does not apply


@dataclass(frozen=True)
class IncidentOutcome:
    incident_id: str
    status: Status
    reason: str = ""
    confidence: float | None = None
    explanation: str = ""
    threshold: float | None = None  # the confidence it was held to (confidence filtering on)


@dataclass(frozen=True)
class RequestRecord:
    path: str
    incident_ids: tuple[str, ...]
    attempt: int  # 0: first request for the batch; 1+: retries
    usage: Usage
    cost: float | None  # None: price unknown
    stop_reason: str
    error: str = ""
    seconds: float = 0.0
    max_tokens: int = 0  # the output the request asked room for
    shared_with: tuple[str, ...] = ()  # the other files of a packed request (engine/packed.py)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every file the request carried."""
        return (self.path, *self.shared_with)


@dataclass
class RunTotals:
    requests: int = 0
    failed_requests: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    cost_known: bool = True
    seconds: float = 0.0

    def add(self, record: RequestRecord) -> None:
        self.requests += 1
        if record.error:
            self.failed_requests += 1
        self.usage = self.usage + record.usage
        if record.cost is None:
            self.cost_known = False
        else:
            self.cost += record.cost
