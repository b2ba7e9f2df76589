"""Comparing two versions of a file by lines (`edits/linediff.py`): the opcodes a diff gives, in the
time an edit takes even when a line repeats tens of thousands of times."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kantra_ai.delivery.hunks import diff_hunks as delivery_hunks
from kantra_ai.edits.linediff import LineMatcher
from kantra_ai.report.job import diff_hunks as report_hunks

_LONG = 100_000


@pytest.fixture
def no_quadratic_match(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """difflib's matcher may only search small ranges: a search over the long file's lines is the
    quadratic one (hours for 150,000 repeated lines)."""
    search = difflib.SequenceMatcher.find_longest_match

    def small_only(
        self: difflib.SequenceMatcher[str],
        alo: int = 0,
        ahi: int | None = None,
        blo: int = 0,
        bhi: int | None = None,
    ) -> difflib.Match:
        ahi = len(self.a) if ahi is None else ahi
        bhi = len(self.b) if bhi is None else bhi
        assert (ahi - alo) * (bhi - blo) < 1_000_000, "a search over the whole file"
        return search(self, alo, ahi, blo, bhi)

    monkeypatch.setattr(difflib.SequenceMatcher, "find_longest_match", small_only)
    yield


@given(
    st.lists(st.sampled_from("abcd"), max_size=12),
    st.lists(st.tuples(st.integers(0, 12), st.sampled_from(["", "a", "e", "f"])), max_size=3),
)
def test_line_opcodes_turn_one_version_into_the_other(old: list[str], changes: list[tuple[int, str]]) -> None:
    new = list(old)
    for at, line in changes:  # "" deletes a line, anything else is inserted
        if line:
            new.insert(min(at, len(new)), line)
        elif new:
            del new[min(at, len(new) - 1)]
    made: list[str] = []
    position = (0, 0)
    for tag, i1, i2, j1, j2 in LineMatcher(old, new).get_opcodes():
        assert (i1, j1) == position and (tag != "equal" or old[i1:i2] == new[j1:j2])
        made += new[j1:j2]
        position = (i2, j2)
    assert position == (len(old), len(new)) and made == new


def test_the_reports_diff_of_a_long_file_of_one_repeated_line_compares_only_what_changed(
    no_quadratic_match: None,
) -> None:
    before = "<row/>\n" * _LONG
    after = before.replace("<row/>\n", "<row></row>\n", 1)
    assert report_hunks(before, after) == [[1, 4, 1, 4, "-<row/>\n+<row></row>\n <row/>\n <row/>\n <row/>"]]


def test_git_deliverys_hunks_of_a_long_file_of_one_repeated_line_compare_only_what_changed(
    no_quadratic_match: None,
) -> None:
    before = b"<row/>\n" * _LONG
    after = before + b"<end/>\n"
    [hunk] = delivery_hunks(before, after, [], fixed=("i1",))
    assert (hunk.start, hunk.end, hunk.new) == (_LONG, _LONG, (b"<end/>\n",))
