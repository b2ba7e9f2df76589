"""Incremental runs: which selected incidents earlier runs already settled, and which to plan.

Identity is `Incident.id`, computed from the analysis (rule set, rule, file, the analyzer's line,
message, occurrence), never from the file as it is now: the fixes of earlier runs shift lines, the
analysis does not change, so an incident keeps its id however its file was edited since.

| status in the store                       | default | --retry-failed | --fresh |
|-------------------------------------------|---------|----------------|---------|
| fixed                                     | skip    | skip           | plan    |
| not applicable (the model said so)        | skip    | skip           | plan    |
| failed or held back after a model reply   | skip    | plan           | plan    |
| failed without a reply (429 storm, ...)   | plan    | plan           | plan    |
| skipped before a request (budget, Ctrl-C) | plan    | plan           | plan    |
| pending, in flight (a killed run), new    | plan    | plan           | plan    |

Asking a model again about an incident its reply did not fix costs money and usually gives the same
answer, hence `--retry-failed`; a request that never got a reply cost nothing and is simply retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kantra_ai.analysis.model import Incident
from kantra_ai.store.run_store import Known


@dataclass(frozen=True)
class HistoryOptions:
    state: Path | None = None  # --state: the store file; default INPUT/.kantra-ai/state.db
    resume: bool = False  # --resume: there must be an unfinished run to continue
    retry_failed: bool = False  # --retry-failed
    fresh: bool = False  # --fresh: ignore history
    wait_lock: bool = False  # --wait-lock: wait for another run on the tree instead of refusing
    store: str | None = None  # --store: a postgresql:// URL (default: the SQLite file of `state`)
    store_key: str | None = None  # the tree's name in a shared store (default: its absolute path)

    def __post_init__(self) -> None:
        if self.fresh and (self.resume or self.retry_failed):
            raise ValueError(
                "--fresh ignores the run history; it cannot be combined with --resume or --retry-failed"
            )

    @property
    def mode(self) -> str:
        if self.fresh:
            return "fresh"
        names = [n for n, on in (("resume", self.resume), ("retry-failed", self.retry_failed)) if on]
        return "+".join(names) or "incremental"


@dataclass
class Partition:
    to_plan: list[Incident] = field(default_factory=list)
    fixed: int = 0  # fixed by earlier runs
    not_applicable: int = 0  # earlier replies said they do not apply
    failed: int = 0  # earlier replies did not fix them; --retry-failed asks again
    low_confidence: int = 0  # their fixes were held back below the confidence threshold; likewise
    held_back: int = 0  # skipped after a reply for another reason (budget, stop); likewise
    reopened: int = 0  # recorded as fixed, but the fix is no longer in the file: planned again

    @property
    def skipped(self) -> int:
        return self.fixed + self.not_applicable + self.failed + self.low_confidence + self.held_back

    def describe(self) -> str:
        parts = [f"{self.fixed} fixed"]
        if self.not_applicable:
            parts.append(f"{self.not_applicable} do not apply")
        # Each by what happened to it: a fix held back for low confidence is no failure.
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.low_confidence:
            parts.append(f"{self.low_confidence} skipped for low confidence")
        if self.held_back:
            parts.append(f"{self.held_back} skipped after a reply")
        unfixed = self.failed + self.low_confidence + self.held_back
        again = f"; --retry-failed asks again about the {unfixed} not fixed" if unfixed else ""
        return (
            f"skipping {self.skipped} incidents settled by earlier runs ({', '.join(parts)}); "
            f"no tokens are spent on them{again}"
        )


def partition(incidents: Iterable[Incident], known: dict[str, Known], options: HistoryOptions) -> Partition:
    result = Partition()
    for incident in incidents:
        state = None if options.fresh else known.get(incident.id)
        if state is None:
            result.to_plan.append(incident)
        elif state.status == "fixed":
            result.fixed += 1
        elif state.status == "not_applicable":
            result.not_applicable += 1
        elif state.status in ("failed", "skipped") and state.answered and not options.retry_failed:
            if state.status == "failed":
                result.failed += 1
            elif state.low_confidence:
                result.low_confidence += 1
            else:
                result.held_back += 1
        else:
            result.to_plan.append(incident)
    return result
