"""Whole workloads fixed with drifted replies: no file damaged, no false "fixed", retries that work.

The fake provider's drift mode drifts every edit (rate 1.0: the hardest case) on the bundled
examples, in both tool-call protocols and in text mode; `bench.fidelity` judges the files against
the scripted model's own edits. `python -m bench.fidelity` is the full measurement (docs/fidelity.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.fidelity import MODES, Workload, judge, judge_file, run, workloads

from kantra_ai.edits.model import Edit
from testing.drift import KINDS, TEXT_KINDS
from testing.fakeprovider.drift import DriftedReply, DriftSettings


@pytest.mark.parametrize("workload", workloads(Path("unused"), 0), ids=lambda w: w.name)
def test_drifted_replies_never_damage_a_file_or_claim_a_false_fix(tmp_path: Path, workload: Workload) -> None:
    baseline = run(workload, "anthropic", tmp_path / "baseline", DriftSettings(0.0))
    for mode in MODES:
        kinds = TEXT_KINDS if mode == "text" else KINDS
        drifted = run(workload, mode, tmp_path / mode, DriftSettings(1.0, kinds, seed=7))
        outcome = judge(workload, mode, baseline, drifted)
        assert outcome.damaged_files == 0, mode
        assert outcome.false_fixed == 0, mode
        assert outcome.drifted > 0 and outcome.landed >= 0.9 * outcome.drifted, outcome
        assert outcome.duplicate_retries == 0, mode


def _reply(content: str, *edits: Edit) -> DriftedReply:
    return DriftedReply("f.txt", ("x", "y"), False, (), content, edits)


def test_the_judge_sees_a_damaged_file_and_what_landed() -> None:
    original = "a\nb\nc\n"
    reply = _reply("a\nb\nc", Edit("a", "A", ("x",)), Edit("c", "C", ("y",)))
    clean = judge_file(original, [reply], "A\nb\nc\n")
    assert not clean.damaged and clean.landed == {"x": True, "y": False}
    assert judge_file(original, [reply], "Ab\nc\n").damaged  # glued: no set of operations gives it
    assert judge_file(original, [reply], "A\nb\nC").damaged  # the final line break lost


def test_a_retry_must_show_the_file_as_the_reply_before_left_it() -> None:
    original = "a\nb\nc\n"
    first = _reply("a\nb\nc", Edit("a", "A", ("x",)), Edit("c", "C", ("y",)))
    retry = _reply("A\nb\nc", Edit("c", "C2", ("y",)))
    verdict = judge_file(original, [first, retry], "A\nb\nC2\n")
    assert not verdict.damaged and verdict.landed == {"x": True, "y": True}
    assert judge_file(original, [first, _reply("A\nB\nc", Edit("c", "C", ("y",)))], "A\nB\nC\n").damaged
