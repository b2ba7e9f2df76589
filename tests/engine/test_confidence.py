"""Confidence thresholds by complexity, and which edits a low-confidence verdict keeps out of the file."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from kantra_ai.analysis.complexity import Complexity, complexity_of
from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.edits.model import Edit, ProposedFix, Verdict, VerdictStatus
from kantra_ai.engine.confidence import (
    BatchScreen,
    ConfidencePolicy,
    LowConfidenceAction,
    parse_threshold_overrides,
)
from kantra_ai.engine.outcomes import IncidentOutcome, Status


def _violation(effort: int | None = 1, complexity: str | None = None, rule: str = "rule-1") -> Violation:
    return Violation("rs", rule, "desc", Category.MANDATORY, effort, migration_complexity=complexity)


def _incident(incident_id: str, violation: Violation | None = None, line: int = 1) -> Incident:
    return Incident(
        incident_id, violation or _violation(), "file:///x/A.java", PurePosixPath("A.java"), line, "message"
    )


@pytest.mark.parametrize(
    "effort, expected",
    [
        (0, Complexity.TRIVIAL),
        (2, Complexity.TRIVIAL),
        (3, Complexity.LOW),
        (4, Complexity.LOW),
        (5, Complexity.MEDIUM),
        (6, Complexity.MEDIUM),
        (7, Complexity.HIGH),
        (8, Complexity.HIGH),
        (9, Complexity.EXPERT),
        (10, Complexity.EXPERT),
        (13, Complexity.EXPERT),
        (None, Complexity.MEDIUM),
    ],
)
def test_complexity_follows_effort_when_the_rule_states_none(
    effort: int | None, expected: Complexity
) -> None:
    assert complexity_of(_violation(effort)) is expected


def test_a_stated_migration_complexity_wins_over_effort() -> None:
    assert complexity_of(_violation(1, "High")) is Complexity.HIGH


def test_an_unrecognised_stated_complexity_falls_back_to_effort() -> None:
    assert complexity_of(_violation(9, "hard-ish")) is Complexity.EXPERT


def test_threshold_overrides_parse_the_predecessors_syntax() -> None:
    assert parse_threshold_overrides(" trivial=0.6, HIGH=0.95 ") == {
        Complexity.TRIVIAL: 0.6,
        Complexity.HIGH: 0.95,
    }


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("hard=0.9", "trivial, low, medium, high, expert"),
        ("high=x", "not a number"),
        ("low=1.2", "between 0 and 1"),
    ],
)
def test_bad_threshold_overrides_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_threshold_overrides(text)


def test_defaults_then_config_then_flags_then_the_minimum_floor() -> None:
    policy = ConfidencePolicy.build(
        enabled=True,
        thresholds={Complexity.LOW: 0.5, Complexity.HIGH: 0.6},
        overrides={Complexity.HIGH: 0.65},
        min_confidence=0.72,
    )
    assert dict(policy.thresholds) == {
        Complexity.TRIVIAL: 0.72,  # default 0.70, raised by the floor
        Complexity.LOW: 0.72,  # config 0.50, raised by the floor
        Complexity.MEDIUM: 0.80,  # default, above the floor: kept
        Complexity.HIGH: 0.72,  # flag 0.65 over config 0.60, raised by the floor
        Complexity.EXPERT: 0.95,
    }


def _verdict(incident_id: str, confidence: float, status: VerdictStatus = VerdictStatus.FIXED) -> Verdict:
    return Verdict(incident_id, status, confidence, f"explained {incident_id}")


def _screen(action: LowConfidenceAction = LowConfidenceAction.SKIP, *incidents: Incident) -> BatchScreen:
    policy = ConfidencePolicy.build(enabled=True, action=action, review_file=Path("review.yaml"))
    return BatchScreen(policy, incidents or (_incident("a"), _incident("b"), _incident("c")))


def test_only_the_low_confidence_incidents_edits_are_withheld_in_order() -> None:
    screen = _screen()
    edits = [Edit("1", "x", ("a",)), Edit("2", "y", ("b",)), Edit("3", "z", ("c",))]
    reply = ProposedFix(edits, [_verdict("a", 0.9), _verdict("b", 0.5), _verdict("c", 0.95)])
    kept = screen.screen(reply, screen.incidents)
    assert kept.edits == [edits[0], edits[2]]
    assert set(screen.low) == {"b"}


def test_an_edit_shared_with_a_low_confidence_incident_is_withheld_with_everything_tied_to_it() -> None:
    screen = _screen()
    edits = [Edit("1", "x", ("a", "b")), Edit("2", "y", ("a",)), Edit("3", "z", ("c",))]
    reply = ProposedFix(edits, [_verdict("a", 0.9), _verdict("b", 0.5), _verdict("c", 0.9)])
    assert screen.screen(reply, screen.incidents).edits == [edits[2]]
    outcome = screen.adjust(screen.incidents[0], IncidentOutcome("a", Status.FAILED, "sent no edit", 0.9))
    assert outcome.status is Status.SKIPPED
    assert "shared with low-confidence incident b (0.50 < 0.70)" in outcome.reason


def test_an_edit_naming_no_incident_is_withheld_when_any_incident_is_low() -> None:
    screen = _screen()
    reply = ProposedFix([Edit("1", "x")], [_verdict("a", 0.9), _verdict("b", 0.4), _verdict("c", 0.9)])
    assert screen.screen(reply, screen.incidents).edits == []


def test_a_low_confidence_cannot_fix_verdict_is_not_a_low_confidence_fix() -> None:
    screen = _screen()
    reply = ProposedFix([], [_verdict("a", 0.1, VerdictStatus.CANNOT_FIX)])
    screen.screen(reply, screen.incidents)
    assert screen.low == {}


def test_warn_and_apply_keeps_every_edit_and_flags_the_fix() -> None:
    screen = _screen(LowConfidenceAction.WARN_AND_APPLY)
    edits = [Edit("1", "x", ("a",))]
    assert screen.screen(ProposedFix(edits, [_verdict("a", 0.5)]), screen.incidents).edits == edits
    outcome = screen.adjust(screen.incidents[0], IncidentOutcome("a", Status.FIXED, "", 0.5))
    assert outcome.status is Status.FIXED
    assert outcome.reason == "applied although confidence 0.50 is below the trivial threshold 0.70"
    assert outcome.threshold == 0.70


def test_a_skipped_fix_says_its_confidence_and_threshold() -> None:
    screen = _screen(LowConfidenceAction.SKIP, _incident("a", _violation(effort=7)))
    screen.screen(ProposedFix([Edit("1", "x", ("a",))], [_verdict("a", 0.85)]), screen.incidents)
    outcome = screen.adjust(screen.incidents[0], IncidentOutcome("a", Status.FAILED, "sent no edit", 0.85))
    assert outcome.status is Status.SKIPPED
    assert outcome.reason == "confidence 0.85 is below the high threshold 0.90; edit not applied"


def test_a_retry_verdict_replaces_the_earlier_low_one() -> None:
    screen = _screen()
    edit = Edit("1", "x", ("a",))
    screen.screen(ProposedFix([edit], [_verdict("a", 0.5)]), screen.incidents[:1])
    assert screen.screen(ProposedFix([edit], [_verdict("a", 0.9)]), screen.incidents[:1]).edits == [edit]
    assert screen.low == {} and screen.withheld == []


def test_a_disabled_policy_changes_nothing() -> None:
    screen = BatchScreen(ConfidencePolicy(), (_incident("a"),))
    reply = ProposedFix([Edit("1", "x", ("a",))], [_verdict("a", 0.1)])
    assert screen.screen(reply, screen.incidents) is reply
    outcome = IncidentOutcome("a", Status.FIXED, "", 0.1)
    assert screen.adjust(screen.incidents[0], outcome) == outcome


def test_review_entries_carry_everything_a_person_needs() -> None:
    screen = _screen(LowConfidenceAction.MANUAL_REVIEW_FILE, _incident("a", line=7))
    screen.screen(ProposedFix([Edit("old\n", "new\n", ("a",))], [_verdict("a", 0.5)]), screen.incidents)
    assert screen.review_entries("src/A.java") == [
        {
            "file": "src/A.java",
            "incidents": [
                {
                    "id": "a",
                    "line": 7,
                    "rule": "rule-1",
                    "complexity": "trivial",
                    "confidence": 0.5,
                    "threshold": 0.7,
                    "below_threshold": True,
                    "explanation": "explained a",
                }
            ],
            "edits": [{"incidents": ["a"], "old": "old\n", "new": "new\n"}],
        }
    ]
