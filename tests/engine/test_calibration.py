"""Output sizing learned from replies: by rule, as a ratio to what each incident's shape predicts."""

from __future__ import annotations

import math
from pathlib import PurePosixPath

import pytest

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.edits.model import Edit, ProposedFix, Verdict, VerdictStatus
from kantra_ai.engine.calibration import (
    BOUND_HEADROOM,
    ERROR_QUANTILE,
    HEADROOM,
    HEADROOM_SLACK,
    Calibration,
    reply_shares,
)

RENAME = Violation("rs", "javax-to-jakarta", "Replace `javax` with `jakarta`", Category.MANDATORY, 1)


def _incidents(count: int, start: int = 0) -> list[Incident]:
    return [
        Incident(f"i{n}", RENAME, "file:///A.java", PurePosixPath("A.java"), 3 + n, "msg")
        for n in range(start, start + count)
    ]


def _prior(incidents: list[Incident]) -> dict[str, int]:
    """A rename's first incident carries its words, the repeats only their numbers."""
    return {i.id: 20 if k == 0 else 3 for k, i in enumerate(incidents)}


def test_a_request_of_many_repeated_renames_is_sized_by_its_prior_not_by_its_incident_count() -> None:
    calibration = Calibration()
    for start in (0, 10, 20):
        asked = _incidents(3, start)
        calibration.observe_output(asked, 24, _prior(asked))  # 24 of the prior's 26 tokens
    many = _incidents(10, 100)
    prior = _prior(many)
    sized = calibration.max_tokens_for(many, 4_000, prior)
    ratio = 24 / 26
    assert sized == math.ceil(sum(prior.values()) * ratio * HEADROOM + HEADROOM_SLACK)
    # Spread evenly, the same replies say 8 tokens an incident: 10 incidents would get 136.
    assert sized < 100


def test_without_a_prior_the_rule_is_sized_by_its_output_per_incident() -> None:
    calibration = Calibration()
    for start in (0, 10, 20):
        asked = _incidents(3, start)
        calibration.observe_output(asked, 24, _prior(asked))
    assert calibration.max_tokens_for(_incidents(10, 100), 4_000) == 10 * 8 * HEADROOM + HEADROOM_SLACK


def test_the_ratios_learned_are_kept_for_the_next_run() -> None:
    calibration = Calibration()
    asked = _incidents(3)
    calibration.observe_output(asked, 52, _prior(asked))  # twice the prior
    again = Calibration.from_rows(calibration.rows())
    assert again.rows() == calibration.rows()
    many = _incidents(5, 100)
    sized = again.max_tokens_for(many, 4_000, _prior(many))
    assert sized == calibration.max_tokens_for(many, 4_000, _prior(many))
    assert sized == math.ceil(sum(_prior(many).values()) * 2 * HEADROOM + HEADROOM_SLACK)


POM = Violation("rs", "javax-dependencies", "Update the dependency", Category.MANDATORY, 1)
DEPENDENCY_OLD = "<dependency>\n  <groupId>javax</groupId>\n  <artifactId>javaee-api</artifactId>\n"
DEPENDENCY_NEW = "<dependency>\n  <groupId>jakarta.platform</groupId>\n  <artifactId>jee-api</artifactId>\n"


def _mixed() -> tuple[list[Incident], dict[str, int], ProposedFix]:
    """Three renames said in one `subs` item and a dependency rewritten by a quoting edit: one reply."""
    renames = _incidents(3)
    pom = Incident("p0", POM, "file:///pom.xml", PurePosixPath("pom.xml"), 5, "msg")
    prior = {**_prior(renames), "p0": 26}  # as alike as the shapes make them: 26 tokens each rule
    reply = ProposedFix(
        [
            Edit("", "", tuple(i.id for i in renames), (("javax", "jakarta"),)),
            Edit(DEPENDENCY_OLD, DEPENDENCY_NEW, ("p0",)),
        ],
        # A terse reply's parser says "fixed" for every edited incident: nothing the model wrote.
        [Verdict(i.id, VerdictStatus.FIXED, None) for i in [*renames, pom]],
    )
    return [*renames, pom], prior, reply


def test_a_reply_teaches_each_rule_the_share_of_output_its_own_items_took() -> None:
    asked, prior, reply = _mixed()
    shares = reply_shares(reply, asked)
    assert shares["i0"] == shares["i1"] == shares["i2"]  # one item, split among the incidents it names
    assert shares["p0"] > 3 * shares["i0"]  # the quoted lines cost more than the words
    calibration = Calibration()
    calibration.observe_output(asked, 100, prior, reply)
    rename, dependency = calibration.prior_ratio[RENAME.key].mean, calibration.prior_ratio[POM.key].mean
    assert rename < 100 / 52 < dependency  # below and above the average the request took
    assert sum(prior[i.id] for i in asked[:3]) * rename + 26 * dependency == pytest.approx(100)
    # Without the reply, both rules are taught the request's average: the rename is over-sized.
    even = Calibration()
    even.observe_output(asked, 100, prior)
    assert even.prior_ratio[RENAME.key].mean == even.prior_ratio[POM.key].mean == pytest.approx(100 / 52)


def test_verdicts_the_parser_implied_take_no_share_but_written_reasons_do() -> None:
    asked, _, reply = _mixed()
    implied = reply_shares(reply, asked)
    without = reply_shares(ProposedFix(reply.edits, []), asked)
    assert implied == without
    declined = ProposedFix(
        reply.edits, [Verdict("i0", VerdictStatus.NOT_APPLICABLE, None, "generated code, left as is")]
    )
    assert reply_shares(declined, asked)["i0"] > without["i0"]


def test_a_cut_off_reply_gives_more_room_to_its_own_rules_only() -> None:
    calibration = Calibration()
    renames = _incidents(3)
    dependencies = [
        Incident(f"d{n}", POM, "file:///pom.xml", PurePosixPath("pom.xml"), 5 + n, "msg") for n in range(3)
    ]
    prior = {**_prior(renames), **{i.id: 30 for i in dependencies}}
    calibration.observe_output(renames, 24, prior)
    calibration.observe_output(dependencies, 90, prior)
    rename_room = calibration.max_tokens_for(renames, 4_000, prior)
    dependency_room = calibration.max_tokens_for(dependencies, 4_000, prior)

    calibration.observe_truncation(dependencies)

    assert calibration.max_tokens_for(dependencies, 4_000, prior) > dependency_room
    # The renames' replies were never cut off: their room stays what their own replies say.
    assert calibration.max_tokens_for(renames, 4_000, prior) == rename_room


def test_where_output_binds_a_request_is_sized_a_fifth_above_its_mean_without_peak_or_slack() -> None:
    calibration = Calibration()
    for start in (0, 10):
        asked = _incidents(3, start)
        calibration.observe_output(asked, 24, _prior(asked))
    peak = _incidents(3, 20)
    calibration.observe_output(peak, 60, _prior(peak))  # one long reply: the peak sizes free requests
    many = _incidents(10, 100)
    prior = _prior(many)
    free = calibration.max_tokens_for(many, 4_000, prior)
    calibration.output_bound = True
    bound = calibration.max_tokens_for(many, 4_000, prior)
    ratio = calibration.prior_ratio[RENAME.key].mean
    assert bound == math.ceil(sum(prior.values()) * ratio * BOUND_HEADROOM)
    assert bound < free / 1.5
    calibration.observe_truncation(many)  # a cut-off still gives its rules more room
    assert calibration.max_tokens_for(many, 4_000, prior) > bound


def _alternate(calibration: Calibration, rounds: int) -> tuple[list[Incident], list[Incident]]:
    """One rule answered in two kinds of request, again and again: one incident alone (its reply's
    frame weighs on it: 40 tokens) and five together (a rename said once, then numbers: 30 tokens).
    The rule's figure is a mix of both, so it expects too little of the one and too much of the other."""
    alone, five = _incidents(1, 500), _incidents(5, 600)
    for _ in range(rounds):
        calibration.observe_output(alone, 40, _prior(alone))
        calibration.observe_output(five, 30, _prior(five))
    return alone, five


def test_where_output_binds_requests_are_sized_by_what_like_requests_took_against_their_expectation() -> None:
    calibration = Calibration()
    alone, five = _alternate(calibration, 60)
    calibration.output_bound = True
    ratio = calibration.prior_ratio[RENAME.key].mean
    # A fixed fifth above the rule's mean: the request alone is always cut off, the five get 1.4x.
    assert math.ceil(sum(_prior(alone).values()) * ratio * BOUND_HEADROOM) < 40
    assert math.ceil(sum(_prior(five).values()) * ratio * BOUND_HEADROOM) >= 30 * 1.4
    # By each kind's own error: room for what such replies took, and little more.
    assert 40 <= calibration.max_tokens_for(alone, 4_000, _prior(alone)) <= 42
    assert 30 <= calibration.max_tokens_for(five, 4_000, _prior(five)) <= 32


def test_a_kind_of_request_seen_too_rarely_is_sized_by_the_error_of_any_request() -> None:
    calibration = Calibration()
    _alternate(calibration, 10)
    calibration.output_bound = True
    three = _incidents(3, 700)  # a kind not asked yet: the run's ratios, not the fixed headroom
    expected = sum(_prior(three).values()) * calibration.prior_ratio[RENAME.key].mean
    ratios = sorted(calibration.sizing_error[""])
    quantile = ratios[math.ceil(ERROR_QUANTILE * len(ratios)) - 1]
    assert calibration.max_tokens_for(three, 4_000, _prior(three)) == math.ceil(expected * quantile)


def test_until_enough_replies_were_seen_a_bound_request_keeps_a_fifth_above_the_mean() -> None:
    calibration = Calibration()
    _alternate(calibration, 4)  # 8 replies: under both samples' minimum for the run-wide ratios
    calibration.output_bound = True
    ten = _incidents(10, 800)
    expected = sum(_prior(ten).values()) * calibration.prior_ratio[RENAME.key].mean
    assert calibration.max_tokens_for(ten, 4_000, _prior(ten)) == math.ceil(expected * BOUND_HEADROOM)


def test_the_sizing_error_never_sizes_requests_where_output_does_not_bind() -> None:
    calibration = Calibration()
    alone, _ = _alternate(calibration, 60)
    free = calibration.max_tokens_for(alone, 4_000, _prior(alone))
    calibration.sizing_error.clear()
    assert calibration.max_tokens_for(alone, 4_000, _prior(alone)) == free
