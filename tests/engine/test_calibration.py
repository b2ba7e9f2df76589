"""Output sizing learned from replies: by rule, as a ratio to what each incident's shape predicts."""

from __future__ import annotations

import math
from pathlib import PurePosixPath

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.engine.calibration import HEADROOM, HEADROOM_SLACK, Calibration

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
