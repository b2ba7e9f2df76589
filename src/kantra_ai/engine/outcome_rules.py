"""How an incident of a batch ends: the rules, in order; the first that holds decides, and the
outcome's reason says which one it was.

"Fixed" means fixed. The edits decide, the verdict is the model's claim about them:

1. settled before asking, no request: its line already shows the fix (`already_fixed.py`) -> fixed;
   its file cannot be written (`files.write_problem`) -> failed;
2. never answered (budget, Ctrl-C, a request that failed for good before any reply) -> skipped;
3. no verdict for it in any usable reply (asked again once about it) -> failed (the reply's problem,
   or "no verdict");
4. the model says it does not apply -> not applicable (the model explains why no edit was needed);
5. the model says it cannot fix it -> failed, with the model's reason;
6. the last reply for it was unusable (cut off, malformed, the request failed) -> failed;
7. an edit tied to it did not apply (after retries) -> failed, with the edit's reason;
8. reported fixed with no edit tied to it that applied or was already applied -> failed ("fixed
   needs an edit"), unless its line shows the rule's target state after this batch's edits
   (`already_fixed.target_state`): then fixed, saying so;
9. an edit tied to it landed, but its line, followed from the file as analysed, still holds what its
   rule's message says to replace, and either no edit tied to it quoted the line (one edit naming
   two incidents fixed one of their lines) or the line holds nothing of the replacement (an edit of
   the line changed another rule's part of it) (`already_fixed.source_state`) -> failed;
10. the file could not be written -> failed;
11. otherwise -> fixed: at least one edit tied to it landed and every edit tied to it landed.

An edit naming no incident is tied to every incident of the request it answered. A reply whose
verdicts contradict its edits is handled by the engine the same way every time, before anything is
applied: an edit tied only to incidents the reply does not report fixed is not applied (rules 3-5
then decide those incidents, and their reason says the edits were not applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kantra_ai.edits.model import Verdict, VerdictStatus
from kantra_ai.engine.outcomes import IncidentOutcome, Status

FIXED_NEEDS_AN_EDIT = "model said fixed but sent no edit for it"
NO_VERDICT = "the reply gave no verdict for this incident"
NOT_APPLIED = "its edits were not applied (edits count only for incidents the reply reports fixed)"


@dataclass
class Evidence:
    """What one batch learned about one incident."""

    verdict: Verdict | None = None  # the latest usable reply's verdict for it
    settled: IncidentOutcome | None = None  # decided before any request
    skipped: str = ""  # why it was never sent, when it was not
    reply_problem: str = ""  # the last reply for it could not be used
    edit_failure: str = ""  # an edit tied to it did not apply, and no later one made up for it
    landed: bool = False  # an edit tied to it applied or was already applied
    quoted: set[str] = field(default_factory=set)  # lines (stripped) its landed edits replaced
    withheld: bool = False  # edits tied only to it were not applied: the reply did not report it fixed
    target_shown: str = ""  # rule 8's exception: why its line already shows the fix
    source_shown: str = ""  # rule 9: why its line, after its edits landed, still shows the work to do


def decide(incident_id: str, evidence: Evidence, write_error: str = "") -> IncidentOutcome:
    if evidence.settled is not None:
        return evidence.settled
    verdict = evidence.verdict
    confidence = verdict.confidence if verdict else None
    explanation = verdict.explanation if verdict else ""

    def outcome(status: Status, reason: str = "") -> IncidentOutcome:
        return IncidentOutcome(incident_id, status, reason, confidence, explanation)

    def with_withheld(reason: str) -> str:
        return f"{reason}; {NOT_APPLIED}" if evidence.withheld else reason

    if verdict is None:
        if evidence.skipped and not evidence.reply_problem:
            return outcome(Status.SKIPPED, evidence.skipped)
        return outcome(Status.FAILED, evidence.reply_problem or with_withheld(NO_VERDICT))
    if verdict.status is VerdictStatus.NOT_APPLICABLE:
        return outcome(Status.NOT_APPLICABLE, with_withheld("model: does not apply"))
    if verdict.status is VerdictStatus.CANNOT_FIX:
        return outcome(
            Status.FAILED, with_withheld(f"model could not fix it: {explanation or 'no reason given'}")
        )
    if evidence.reply_problem:
        return outcome(Status.FAILED, evidence.reply_problem)
    if evidence.edit_failure:
        return outcome(Status.FAILED, evidence.edit_failure)
    if not evidence.landed:
        if not evidence.target_shown:
            return outcome(Status.FAILED, FIXED_NEEDS_AN_EDIT)
        if write_error:
            return outcome(Status.FAILED, write_error)
        return outcome(Status.FIXED, f"no edit needed: {evidence.target_shown}")
    if evidence.source_shown:
        return outcome(Status.FAILED, evidence.source_shown)
    if write_error:
        return outcome(Status.FAILED, write_error)
    return outcome(Status.FIXED)
