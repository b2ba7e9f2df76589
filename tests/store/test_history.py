"""Which incidents a run plans, given what earlier runs recorded and the history flags."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.store.history import HistoryOptions, partition
from kantra_ai.store.run_store import Known

RULE = Violation("rules", "r", "d", Category.MANDATORY, 1)


def _incident(n: int) -> Incident:
    return Incident(f"id{n}", RULE, "u", PurePosixPath("A.java"), n, "m")


# (status in the store, a reply covered it) -> planned by default / --retry-failed / --fresh
TABLE = [
    (None, False, True, True, True),  # never seen
    ("fixed", True, False, False, True),
    ("not_applicable", True, False, False, True),
    ("failed", True, False, True, True),  # the model's reply did not fix it
    ("skipped", True, False, True, True),  # a reply, held back (low confidence)
    ("failed", False, True, True, True),  # the request failed: no reply, nothing paid
    ("skipped", False, True, True, True),  # never sent: budget, Ctrl-C
    ("pending", False, True, True, True),
    ("in_flight", False, True, True, True),
]


@pytest.mark.parametrize("status, answered, default, retry_failed, fresh", TABLE)
def test_what_is_planned_again(
    status: str | None, answered: bool, default: bool, retry_failed: bool, fresh: bool
) -> None:
    incident = _incident(1)
    known = {} if status is None else {incident.id: Known(status, answered)}
    for options, expected in (
        (HistoryOptions(), default),
        (HistoryOptions(resume=True), default),
        (HistoryOptions(retry_failed=True), retry_failed),
        (HistoryOptions(fresh=True), fresh),
    ):
        assert (partition([incident], known, options).to_plan == [incident]) is expected, options


def test_the_counts_say_why_incidents_were_skipped() -> None:
    incidents = [_incident(n) for n in range(5)]
    known = {
        "id0": Known("fixed", True),
        "id1": Known("fixed", True),
        "id2": Known("not_applicable", True),
        "id3": Known("failed", True),
    }
    result = partition(incidents, known, HistoryOptions())
    assert (result.fixed, result.not_applicable, result.failed, result.skipped) == (2, 1, 1, 4)
    assert [i.id for i in result.to_plan] == ["id4"]
    assert "--retry-failed" in result.describe()


def test_fixes_held_back_for_low_confidence_are_counted_and_named_as_such_not_as_failed() -> None:
    incidents = [_incident(n) for n in range(4)]
    known = {
        "id0": Known("fixed", True),
        "id1": Known("skipped", True, low_confidence=True),
        "id2": Known("skipped", True),  # answered, then not asked again (budget, stop)
        "id3": Known("failed", True),
    }
    result = partition(incidents, known, HistoryOptions())
    counts = (result.fixed, result.failed, result.low_confidence, result.held_back, result.skipped)
    assert counts == (1, 1, 1, 1, 4)
    assert result.describe() == (
        "skipping 4 incidents settled by earlier runs (1 fixed, 1 failed, 1 skipped for low confidence, "
        "1 skipped after a reply); no tokens are spent on them; "
        "--retry-failed asks again about the 3 not fixed"
    )
    assert partition(incidents, known, HistoryOptions(retry_failed=True)).to_plan == incidents[1:]


def test_fresh_cannot_be_combined_with_resume_or_retry_failed() -> None:
    with pytest.raises(ValueError, match="--fresh"):
        HistoryOptions(fresh=True, resume=True)
    with pytest.raises(ValueError, match="--fresh"):
        HistoryOptions(fresh=True, retry_failed=True)
    assert HistoryOptions(resume=True, retry_failed=True).mode == "resume+retry-failed"
