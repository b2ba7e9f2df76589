"""What a dry run expects the replies to take: from each incident's line before any reply was seen,
from what its rule's replies took after."""

from __future__ import annotations

from pathlib import PurePosixPath

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import (
    SAME_LINE_TOKENS,
    FileBatches,
    batch_file,
    output_prior,
    pack_output_prior,
)
from kantra_ai.batching.packing import PackSettings
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.estimate import TokenModel, estimate
from kantra_ai.engine.runner import RunBatches

RENAME = Violation("rs", "javax-ejb", "Replace `javax.ejb` with `jakarta.ejb`", Category.MANDATORY, 1)
REVIEW = Violation("rs", "stateful", "Review the conversation state", Category.MANDATORY, 5)
LINES = [
    "package shop;\n",
    "import javax.ejb.Stateless;\n",
    "import javax.ejb.EJB;\n",
    "@Stateful public class Cart implements java.io.Serializable {\n",
] + [f"    private int field{n} = {n};\n" for n in range(40)]


def _incidents(path: str) -> list[Incident]:
    def at(n: int, rule: Violation, line: int) -> Incident:
        return Incident(f"{path}#{n}", rule, f"file:///{path}", PurePosixPath(path), line, rule.description)

    return [at(0, RENAME, 2), at(1, RENAME, 3), at(2, REVIEW, 4)]


def _file(path: str, *, budget: int = 20_000, lines: list[str] = LINES, batch_size: int = 2) -> FileBatches:
    return batch_file(
        PurePosixPath(path),
        lines,
        _incidents(path),
        fixed_tokens=500,
        max_batch_tokens=budget,
        batch_size=batch_size,
    )


def test_each_planned_batch_carries_its_incidents_expected_output_from_their_lines() -> None:
    prior = output_prior(_incidents("Cart.java"), LINES)
    planned = _file("Cart.java")
    assert len(planned.batches) == 2  # two incidents a request
    for batch in planned.batches:
        assert batch.output_prior == tuple(prior[i.id] for i in batch.incidents)
    # Windows of a file over the budget carry theirs too.
    long = LINES + [f"    // filler line {n} with some words to make the file long\n" for n in range(3000)]
    windowed = _file("Cart.java", budget=4_000, lines=long)
    assert all(b.window is not None for b in windowed.batches)
    expected = [prior[i.id] for i in _incidents("Cart.java")]
    assert [p for b in windowed.batches for p in b.output_prior] == expected


def test_a_rename_said_in_an_earlier_file_of_a_packed_request_counts_only_its_number() -> None:
    a_prior = output_prior(_incidents("A.java"), LINES)
    packed = pack_output_prior([*_file("A.java").batches, *_file("B.java").batches])
    assert packed[:3] == tuple(a_prior[i.id] for i in _incidents("A.java"))
    b_rename, b_rename_again, b_review = packed[3:]
    assert b_rename == SAME_LINE_TOKENS < a_prior["A.java#0"]  # said in A.java already
    assert b_rename_again == SAME_LINE_TOKENS
    assert b_review == a_prior["A.java#2"]  # not a rename: its verdict is its own in every file


def test_without_replies_a_dry_run_expects_the_incidents_priors_and_then_what_each_rule_took() -> None:
    planned = RunBatches(files=[_file("A.java"), _file("B.java")])
    priors = sum(p for f in planned.files for b in f.batches for p in b.output_prior)
    first = estimate(planned, None, 4, TokenModel())
    assert first.expected_output_tokens == priors

    taught = Calibration()
    for n in range(3):  # three replies of 7 tokens per rename, none of the review rule yet
        incident = _incidents(f"C{n}.java")[0]
        taught.observe_output([incident], 7)
    later = estimate(planned, None, 4, TokenModel(calibration=taught))
    pairs = [
        pair
        for f in planned.files
        for b in f.batches
        for pair in zip(b.incidents, b.output_prior, strict=True)
    ]
    review_prior = sum(p for i, p in pairs if i.violation is REVIEW)
    assert sum(1 for i, _ in pairs if i.violation is RENAME) == 4
    assert (
        later.expected_output_tokens == 7 * 4 + review_prior
    )  # the renames at 7, the reviews at their prior


def test_a_packed_dry_run_expects_a_rename_once_for_all_its_files() -> None:
    small = [f"    int v{n} = {n};\n" for n in range(3)]
    lines = ["import javax.ejb.Stateless;\n", "import javax.ejb.EJB;\n", *small, "class X {}\n"]
    files = [_file(f"P{n}.java", lines=lines, batch_size=25) for n in range(12)]
    alone = estimate(RunBatches(files=files), None, 4, TokenModel())
    packed = estimate(RunBatches(files=files, packing=PackSettings(min_files=2)), None, 4, TokenModel())
    assert packed.requests < alone.requests
    assert packed.expected_output_tokens < alone.expected_output_tokens
