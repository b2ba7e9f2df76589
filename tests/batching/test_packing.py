"""Packing small files into shared requests: which files, how many, and every file in one group only."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import (
    DECLINED_TOKENS,
    SAME_LINE_TOKENS,
    FileBatches,
    batch_file,
    output_prior,
)
from kantra_ai.batching.packing import NO_PACKING, PackSettings, own_tokens, pack_files
from kantra_ai.engine.calibration import Calibration

RULE = Violation("rs", "rule-a", "Replace javax with jakarta", Category.MANDATORY, 1)
FIXED = 500  # what every request carries (system prompt, rule book)


def _incident(path: str, n: int, line: int | None) -> Incident:
    return Incident(f"{path}#{n}", RULE, f"file:///{path}", PurePosixPath(path), line, "message")


def _file(
    path: str, lines: int, incidents: int = 2, *, batch_size: int = 25, budget: int = 20_000
) -> FileBatches:
    text = [f"    int value{i} = {i};\n" for i in range(lines)]
    found = [_incident(path, n, 1 + n) for n in range(incidents)]
    return batch_file(
        PurePosixPath(path), text, found, fixed_tokens=FIXED, max_batch_tokens=budget, batch_size=batch_size
    )


def test_small_files_are_packed_and_large_split_or_windowed_ones_go_alone() -> None:
    small = [_file(f"s{n}.java", 10) for n in range(3)]
    large = _file("large.java", 400)
    split = _file("split.java", 10, incidents=4, batch_size=2)
    windowed = _file("windowed.java", 2_000, budget=2_000)
    assert len(split.batches) == 2 and windowed.batches[0].window is not None
    groups = pack_files([large, *small, split, windowed], PackSettings(file_tokens=1_000, min_files=2))
    assert [[str(f.path) for f in g] for g in groups] == [
        ["large.java"],
        ["s0.java", "s1.java", "s2.java"],
        ["split.java"],
        ["windowed.java"],
    ]


def test_a_pack_stops_at_its_file_count_and_token_budget() -> None:
    files = [_file(f"s{n:02d}.java", 10) for n in range(10)]
    by_count = pack_files(files, PackSettings(max_files=4, min_files=2))
    assert [len(g) for g in by_count] == [4, 4, 2]
    budget = 2 * own_tokens(files[0]) + 1  # room for two files' own tokens, not three
    by_tokens = pack_files(files, PackSettings(input_tokens=budget, min_files=2))
    assert {len(g) for g in by_tokens} == {2}
    by_incidents = pack_files(files, PackSettings(max_incidents=5, min_files=2))  # two incidents each
    assert {len(g) for g in by_incidents} == {2}


def test_a_run_with_few_small_files_sends_each_alone() -> None:
    files = [_file(f"s{n:02d}.java", 10) for n in range(5)]
    assert [len(g) for g in pack_files(files, PackSettings(min_files=6))] == [1] * 5
    assert [len(g) for g in pack_files(files, PackSettings(min_files=5))] == [5]


def test_without_packing_every_file_is_its_own_request() -> None:
    files = [_file(f"s{n}.java", 10) for n in range(3)]
    assert pack_files(files, NO_PACKING) == [[f] for f in files]


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=300), min_size=0, max_size=30),
    max_files=st.integers(min_value=1, max_value=6),
)
def test_every_file_is_in_exactly_one_group(sizes: list[int], max_files: int) -> None:
    files = [_file(f"f{n:02d}.java", lines) for n, lines in enumerate(sizes)]
    groups = pack_files(files, PackSettings(max_files=max_files, input_tokens=3_000, file_tokens=1_500))
    placed = [f.path for g in groups for f in g]
    assert sorted(placed) == sorted(f.path for f in files)
    assert all(len(g) <= max_files for g in groups)


def test_max_tokens_before_any_reply_is_sized_from_the_incidents_lines() -> None:
    lines = ["package shop;\n", "\n", "import javax.ejb.Stateless;\n", "import javax.inject.Inject;\n"]
    incidents = [_incident("a.java", 0, 3), _incident("a.java", 1, 4), _incident("a.java", 2, 4)]
    prior = output_prior(incidents, lines)
    assert prior[incidents[2].id] < prior[incidents[1].id]  # the same line: only its number more
    static = 1_000
    sized = Calibration().max_tokens_for(incidents, static, prior)
    assert sized < static / 4  # about the lines quoted and changed, with headroom
    assert sized >= sum(prior.values())
    assert Calibration().max_tokens_for(incidents, static) == static  # no prior: the static budget


def _finding(path: str, n: int, line: int, message: str) -> Incident:
    return Incident(f"{path}#{n}", RULE, f"file:///{path}", PurePosixPath(path), line, message)


def test_the_same_rename_again_counts_only_its_number_even_in_another_file_of_the_request() -> None:
    """Words replaced on several lines are said once (`subs`): a rename repeated in the request, in the
    same file or another one, adds an incident number; what is not a rename is never discounted."""
    lines = [f"line {n} with some words in it;\n" for n in range(40)]
    rename = "Replace the `javax.ejb` import statement with `jakarta.ejb`"
    said: set[tuple[str, str]] = set()
    first = output_prior(
        [_finding("a.java", 0, 3, rename), _finding("a.java", 1, 20, rename)], lines, said=said
    )
    other_file = output_prior([_finding("b.java", 0, 30, rename)], lines, said=said)
    assert first["a.java#1"] == SAME_LINE_TOKENS < first["a.java#0"]
    assert other_file["b.java#0"] == SAME_LINE_TOKENS
    alone = output_prior([_finding("b.java", 0, 30, rename)], lines)
    assert alone["b.java#0"] == first["a.java#0"]


def test_a_finding_that_is_not_a_rename_is_sized_at_least_for_a_verdict_every_time() -> None:
    lines = ["x;\n"] * 40
    message = "Stateful session beans have no equivalent here; review the conversation state"
    prior = output_prior([_finding("a.java", n, 5 + 10 * n, message) for n in range(3)], lines)
    assert sorted(prior.values()) == [DECLINED_TOKENS] * 3
