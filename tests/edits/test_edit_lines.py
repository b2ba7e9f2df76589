"""What an edit's texts mean in lines: line breaks at the edges, newlines, blank new texts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kantra_ai.edits.lines import edit_line_counts, join_content, normalise_pair, split_content, text_lines


@pytest.mark.parametrize(
    ("old", "new", "expected_new"),
    [
        # The case: new_text forgets the line break old_text ends with.
        ("import javax.ejb.Stateless;\n", "import jakarta.ejb.Stateless;", "import jakarta.ejb.Stateless;\n"),
        # The other way round: a break old_text does not have is not an extra line.
        ("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;\n", "import jakarta.ejb.Stateless;"),
        # The same at the start.
        ("\n@Stateless", "@ApplicationScoped", "\n@ApplicationScoped"),
        ("@Stateless", "\n@ApplicationScoped", "@ApplicationScoped"),
        # A break with trailing whitespace before it is still a break.
        ("\n@Stateless\n", " \n@ApplicationScoped\n", " \n@ApplicationScoped\n"),
    ],
)
def test_line_breaks_at_the_edges_of_new_text_follow_old_text(old: str, new: str, expected_new: str) -> None:
    assert normalise_pair(old, new) == (old, expected_new)


def test_breaks_on_both_sides_are_deliberate_and_kept() -> None:
    # A blank line added after the changed one: both texts end with breaks, new with one more.
    assert normalise_pair("a;\n", "b;\n\n") == ("a;\n", "b;\n\n")


def test_a_blank_line_new_text_starts_with_is_kept_when_it_lines_up_with_old_text() -> None:
    # A deleted line followed by a blank context line: the leading break is that blank line.
    assert normalise_pair("x=1\n\n# next\n", "\n# next\n") == ("x=1\n\n# next\n", "\n# next\n")


def test_a_whitespace_only_first_line_of_new_text_is_a_line_when_old_text_has_it_after_its_break() -> None:
    # Found by the fidelity fuzzer (seed 1271): new_text dropped old_text's leading break, and its
    # first line is the tab-only line old_text has after that break. Read as a break, the line was lost.
    old, new = "\n\t\n\tprivate int processed;\n", "\t\n\tprivate int processedV2;\n"
    assert normalise_pair(old, new) == (old, "\n" + new)
    assert edit_line_counts(old, new) == (2, 2)
    # A break with other trailing whitespace before it is still a break (not old_text's first line).
    assert normalise_pair("\n\tx;\n", " \n\ty;\n") == ("\n\tx;\n", " \n\ty;\n")


def test_blank_new_text_deletes_unless_it_is_a_blank_line_old_text_keeps() -> None:
    assert normalise_pair("import a.B;\n", "   ") == ("import a.B;\n", "")
    assert normalise_pair("import a.B;\n", "\n") == ("import a.B;\n", "")
    assert normalise_pair("import a.B;\n\n", "\n") == ("import a.B;\n\n", "\n")


def test_crlf_and_cr_newlines_become_lf_in_both_texts() -> None:
    assert normalise_pair("a;\r\nb;\r\n", "a;\rc;\r") == ("a;\nb;\n", "a;\nc;\n")


def test_indentation_of_the_next_line_copied_after_the_last_break_is_dropped() -> None:
    assert normalise_pair("a;\n    ", "b;\n    ") == ("a;\n", "b;\n")


def test_text_lines_leave_out_the_breaks_at_the_edges() -> None:
    assert text_lines("\nx;\ny;\n", lead=True, trail=True) == ["x;", "y;"]
    assert text_lines("x;\n\n", lead=False, trail=True) == ["x;", ""]
    assert text_lines("", lead=False, trail=False) == []


@pytest.mark.parametrize(
    ("old", "new", "counts"),
    [
        ("import a.B;\n", "import c.B;", (1, 1)),
        ("import a.B;\n", "", (1, 0)),
        ("import a.B;\n", "import a.B;\nimport a.C;\n", (1, 2)),
        ("x;\n\n", "y;\n", (2, 1)),
        ("  12  x;", "  12  y;", (1, 1)),
    ],
)
def test_edit_line_counts_say_how_many_lines_are_named_and_put(
    old: str, new: str, counts: tuple[int, int]
) -> None:
    assert edit_line_counts(old, new) == counts


@given(st.text(alphabet="ab \t\n", max_size=40))
def test_content_split_into_lines_joins_back_unchanged(content: str) -> None:
    assert join_content(*split_content(content)) == content
