"""How an incident ends, rule by rule (`engine/outcome_rules.py`): the first rule that holds decides,
and the outcome's status and reason say which one it was. The engine tests (test_batch_runner.py)
reach these rules through a scripted model; here each rule is pinned on its own, with the model's
confidence and explanation carried to the report."""

from __future__ import annotations

import pytest

from kantra_ai.edits.model import Verdict, VerdictStatus
from kantra_ai.engine.outcome_rules import FIXED_NEEDS_AN_EDIT, NO_VERDICT, NOT_APPLIED, Evidence, decide
from kantra_ai.engine.outcomes import IncidentOutcome, Status


def _verdict(status: VerdictStatus, explanation: str = "because") -> Verdict:
    return Verdict("a", status, 0.75, explanation)


FIXED = _verdict(VerdictStatus.FIXED)


@pytest.mark.parametrize(
    "evidence, write_error, status, reason",
    [
        # 2: never answered
        (Evidence(skipped="--max-cost reached"), "", Status.SKIPPED, "--max-cost reached"),
        # 3: no verdict in any usable reply (the reply's problem wins over a skip)
        (Evidence(skipped="stopped", reply_problem="reply cut off"), "", Status.FAILED, "reply cut off"),
        (Evidence(), "", Status.FAILED, NO_VERDICT),
        (Evidence(withheld=True), "", Status.FAILED, f"{NO_VERDICT}; {NOT_APPLIED}"),
        # 4 and 5: the model says no fix is needed, or that it cannot fix it
        (
            Evidence(_verdict(VerdictStatus.NOT_APPLICABLE)),
            "",
            Status.NOT_APPLICABLE,
            "model: does not apply",
        ),
        (
            Evidence(_verdict(VerdictStatus.NOT_APPLICABLE), withheld=True),
            "",
            Status.NOT_APPLICABLE,
            f"model: does not apply; {NOT_APPLIED}",
        ),
        (
            Evidence(_verdict(VerdictStatus.CANNOT_FIX, "needs a person")),
            "",
            Status.FAILED,
            "model could not fix it: needs a person",
        ),
        (
            Evidence(_verdict(VerdictStatus.CANNOT_FIX, "")),
            "",
            Status.FAILED,
            "model could not fix it: no reason given",
        ),
        # 6: the last reply for it was unusable, even when an earlier edit of it failed too
        (
            Evidence(FIXED, reply_problem="reply cut off", edit_failure="edit not applied: x", landed=True),
            "",
            Status.FAILED,
            "reply cut off",
        ),
        # 7: an edit tied to it did not apply, even when another one did
        (
            Evidence(FIXED, edit_failure="edit not applied: x", landed=True),
            "",
            Status.FAILED,
            "edit not applied: x",
        ),
        # 8: "fixed" needs an edit, unless its line shows the rule's target state
        (Evidence(FIXED), "", Status.FAILED, FIXED_NEEDS_AN_EDIT),
        (
            Evidence(FIXED, target_shown="line 3 shows jakarta"),
            "",
            Status.FIXED,
            "no edit needed: line 3 shows jakarta",
        ),
        (Evidence(FIXED, target_shown="line 3 shows jakarta"), "disk full", Status.FAILED, "disk full"),
        # 9: an edit of it landed, but its line still holds what its rule replaces
        (
            Evidence(FIXED, landed=True, source_shown="line 5 still shows `javax.ejb`"),
            "",
            Status.FAILED,
            "line 5 still shows `javax.ejb`",
        ),
        # 10 and 11: written, or not
        (Evidence(FIXED, landed=True), "disk full", Status.FAILED, "disk full"),
        (Evidence(FIXED, landed=True), "", Status.FIXED, ""),
    ],
)
def test_the_first_rule_that_holds_decides_and_says_so(
    evidence: Evidence, write_error: str, status: Status, reason: str
) -> None:
    outcome = decide("a", evidence, write_error)
    assert (outcome.incident_id, outcome.status, outcome.reason) == ("a", status, reason)


def test_an_incident_settled_before_asking_keeps_its_outcome() -> None:
    settled = IncidentOutcome("a", Status.FIXED, "its line already shows the fix")
    evidence = Evidence(_verdict(VerdictStatus.CANNOT_FIX), settled=settled, edit_failure="x")
    assert decide("a", evidence, "disk full") is settled


def test_the_outcome_carries_the_models_confidence_and_explanation() -> None:
    outcome = decide("a", Evidence(_verdict(VerdictStatus.FIXED, "swapped the import"), landed=True))
    assert (outcome.confidence, outcome.explanation) == (0.75, "swapped the import")
    unanswered = decide("a", Evidence())
    assert (unanswered.confidence, unanswered.explanation) == (None, "")


def test_a_fixed_incident_written_without_error_has_no_reason() -> None:
    # The default write error is none: a caller that has nothing to say gets a plain "fixed".
    assert decide("a", Evidence(FIXED, landed=True)) == IncidentOutcome(
        "a", Status.FIXED, "", 0.75, "because"
    )
