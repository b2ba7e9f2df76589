"""apply_edits: exact, tolerant, ambiguous, not found, regions, ordering."""

from __future__ import annotations

import re

from hypothesis import assume, given
from hypothesis import strategies as st

from kantra_ai.edits.apply import apply_edits, plan_region
from kantra_ai.edits.model import Edit

JAVA = """\
package com.example;

import javax.ejb.Stateless;
import javax.inject.Inject;

@Stateless
public class OrderService {

    @Inject
    OrderRepository repo;

    public void place(Order order) {
        if (order.isValid()) {
            repo.save(order);
        }
    }

    public void cancel(Order order) {
        if (order.isValid()) {
            repo.delete(order);
        }
    }
}
"""


def test_exact_unique_match_is_replaced() -> None:
    edit = Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;", ("i1",))
    result = apply_edits(JAVA, [edit])
    assert result.applied == [edit]
    assert result.failed == []
    assert result.content == JAVA.replace("javax.ejb.Stateless", "jakarta.ejb.Stateless")


def test_several_edits_to_one_file_all_land() -> None:
    edits = [
        Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;"),
        Edit("import javax.inject.Inject;", "import jakarta.inject.Inject;"),
        Edit("@Stateless\n", "@ApplicationScoped\n"),
    ]
    result = apply_edits(JAVA, edits)
    assert result.failed == []
    assert len(result.applied) == 3
    assert "javax" not in result.content
    assert "@ApplicationScoped\npublic class OrderService" in result.content


def test_later_edit_sees_the_result_of_an_earlier_one() -> None:
    edits = [
        Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;"),
        Edit("import jakarta.ejb.Stateless;", "import jakarta.ejb.Stateless;\nimport jakarta.ejb.Startup;"),
    ]
    result = apply_edits(JAVA, edits)
    assert result.failed == []
    assert "import jakarta.ejb.Stateless;\nimport jakarta.ejb.Startup;\nimport javax.inject" in result.content


def test_two_edits_changing_one_line_differently_are_refused_together() -> None:
    edits = [
        Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;", ("i1",)),
        Edit("import javax.ejb.Stateless;", "import other.Stateless;", ("i2",)),
    ]
    result = apply_edits(JAVA, edits)
    reason = "changes line 3 differently than another edit of this reply (incidents {}); send one edit"
    assert [f.reason for f in result.failed] == [
        reason.format("i2") + " for these lines",
        reason.format("i1") + " for these lines",
    ]
    assert result.content == JAVA


def test_ambiguous_old_text_is_refused_and_content_unchanged() -> None:
    edit = Edit("        if (order.isValid()) {\n", "        if (order != null) {\n")
    result = apply_edits(JAVA, [edit])
    assert result.applied == []
    assert result.failed[0].reason == "old text matches 2 places"
    assert result.content == JAVA


def test_overlapping_occurrences_count_as_ambiguous() -> None:
    result = apply_edits("xaaax\n", [Edit("aa", "b")])
    assert result.failed[0].reason == "old text matches 2 places"


def test_failed_edit_does_not_stop_the_following_ones() -> None:
    edits = [Edit("no such text", "x"), Edit("repo.delete(order);", "repo.remove(order);")]
    result = apply_edits(JAVA, edits)
    assert len(result.failed) == 1 and len(result.applied) == 1
    assert "repo.remove(order);" in result.content


def test_indentation_drift_is_tolerated_and_new_text_reindented() -> None:
    # The model dropped the 8-space indentation of the method body.
    old = "if (order.isValid()) {\n    repo.save(order);\n}"
    new = "if (order.isValid()) {\n    repo.persist(order);\n    log(order);\n}"
    result = apply_edits(JAVA, [Edit(old, new)])
    assert result.failed == []
    assert (
        "        if (order.isValid()) {\n"
        "            repo.persist(order);\n"
        "            log(order);\n"
        "        }\n    }\n\n    public void cancel"
    ) in result.content


def test_extra_indentation_in_old_text_is_removed_from_new_text() -> None:
    content = "class A {\nint x;\n}\n"
    result = apply_edits(content, [Edit("    int x;\n    }", "    long x;\n  }")])
    assert result.failed == []
    assert result.content == "class A {\nlong x;\n}\n"


def test_trailing_whitespace_differences_are_tolerated() -> None:
    content = "a();   \nb();\t\nc();\n"
    result = apply_edits(content, [Edit("a();\nb();", "a();\nbb();")])
    assert result.failed == []
    # The context line keeps the file's text exactly; the changed line gets no trailing whitespace.
    assert result.content == "a();   \nbb();\nc();\n"


def test_indentation_difference_must_be_the_same_on_every_line() -> None:
    content = "a\nfoo\n"
    result = apply_edits(content, [Edit("  a\nx foo", "b")])  # "x " is not indentation
    assert result.failed[0].reason == "old text not found"


def test_blank_line_in_old_text_only_matches_a_blank_line() -> None:
    content = "    a();\n    x();\n    b();\n"
    result = apply_edits(content, [Edit("a();\n\nb();", "c();")])
    assert result.failed[0].reason == "old text not found"
    assert result.content == content


def test_inconsistent_indentation_is_matched_ignoring_leading_whitespace() -> None:
    content = "void f() {\n    one();\n\ttwo();\n}\n"
    result = apply_edits(content, [Edit("one();\n  two();", "one();\n  three();")])
    assert result.failed == []
    # Each new line takes the file indentation of the old line indented like it.
    assert result.content == "void f() {\n    one();\n\tthree();\n}\n"


def test_tolerant_match_that_is_ambiguous_is_refused() -> None:
    result = apply_edits(JAVA, [Edit("if (order.isValid()) {", "if (ok) {")])
    assert result.failed[0].reason.startswith("old text matches 2 places")
    assert result.content == JAVA


def test_not_found_reports_the_closest_lines() -> None:
    edit = Edit("    public void cancel(Order o) {\n        if (o.isValid()) {", "x")
    result = apply_edits(JAVA, [edit])
    failure = result.failed[0]
    assert failure.reason == "old text not found"
    assert failure.closest == "    public void cancel(Order order) {\n        if (order.isValid()) {"


def test_closest_lines_are_capped() -> None:
    content = "".join(f"line {n}\n" for n in range(40))
    old = "".join(f"line {n}x\n" for n in range(10, 30))
    closest = apply_edits(content, [Edit(old, "y")]).failed[0].closest
    assert closest.split("\n") == [f"line {n}" for n in range(10, 18)]


def test_whole_line_blocks_delete_lines_without_leaving_blank_ones() -> None:
    content = "a\n    b\n    c\nd\n"
    result = apply_edits(content, [Edit("b\nc\n", "")])  # found by tolerant matching
    assert result.content == "a\nd\n"


def test_whole_line_block_keeps_missing_final_newline() -> None:
    content = "a\n  b"
    result = apply_edits(content, [Edit("b\n", "c\n")])
    assert result.content == "a\n  c"


def test_noop_edit_is_refused() -> None:
    edit = Edit("repo.save(order);", "repo.save(order);")
    result = apply_edits(JAVA, [edit])
    assert result.failed[0].reason == "edit changes nothing"
    assert result.applied == []


def test_empty_old_text_is_refused() -> None:
    result = apply_edits(JAVA, [Edit("  \n", "import x;\n")])
    assert result.failed[0].reason == "old text is empty"
    assert result.content == JAVA


def test_region_restricts_matching_to_the_lines_the_model_saw() -> None:
    start, end = plan_region(JAVA, 18, 22)  # the cancel method only
    result = apply_edits(
        JAVA, [Edit("if (order.isValid()) {", "if (order.isCancellable()) {")], region=(start, end)
    )
    assert result.failed == []
    assert "public void cancel(Order order) {\n        if (order.isCancellable())" in result.content
    assert "public void place(Order order) {\n        if (order.isValid())" in result.content


def test_text_outside_the_region_is_not_found() -> None:
    region = plan_region(JAVA, 18, 22)
    result = apply_edits(JAVA, [Edit("import javax.ejb.Stateless;", "x")], region=region)
    assert result.failed[0].reason == "old text not found"
    assert result.content == JAVA


def test_region_follows_the_content_as_edits_change_its_length() -> None:
    region = plan_region(JAVA, 18, 22)
    edits = [
        Edit(
            "public void cancel(Order order) {",
            "public void cancel(Order order, String reason) {\n        // why",
        ),
        Edit("        }\n    }\n", "        }\n        audit(reason);\n    }\n"),  # last lines of the region
    ]
    result = apply_edits(JAVA, edits, region=region)
    assert result.failed == []
    assert "repo.delete(order);\n        }\n        audit(reason);\n    }\n}\n" in result.content


def test_region_shrinks_when_an_edit_removes_text() -> None:
    content = "a\nb\nc\nd\n"
    region = plan_region(content, 1, 2)  # "a\nb\n"
    result = apply_edits(content, [Edit("a\n", ""), Edit("c\n", "x\n")], region=region)
    assert [f.reason for f in result.failed] == ["old text not found"]  # c is outside what the model saw
    assert result.content == "b\nc\nd\n"


def test_plan_region_spans_whole_lines() -> None:
    content = "one\ntwo\nthree\n"
    assert plan_region(content, 2, 2) == (4, 8)
    assert content[slice(*plan_region(content, 2, 3))] == "two\nthree\n"
    assert plan_region(content, 0, 99) == (0, len(content))
    assert plan_region("", 1, 5) == (0, 0)
    assert plan_region("x\ny", 2, 2) == (2, 3)


def _plain(text: str) -> str:
    """No indentation and no trailing spaces: what lands literally, character for character."""
    return re.sub(r" +\n", "\n", re.sub(r"\n +", "\n", text)).strip(" ")


_PLAIN_AB = st.text(alphabet="ab \n", max_size=30).map(_plain)
_PLAIN_YZ = st.text(alphabet="yz \n", max_size=4).map(_plain)


@given(
    before=_PLAIN_AB,
    old_parts=st.tuples(
        st.text(alphabet="ab \n", max_size=4).map(_plain), st.text(alphabet="ab \n", max_size=4).map(_plain)
    ),
    after=_PLAIN_AB,
    new_parts=st.tuples(_PLAIN_YZ, _PLAIN_YZ),
)
def test_exact_unique_edit_then_its_inverse_restores_the_content(
    before: str, old_parts: tuple[str, str], after: str, new_parts: tuple[str, str]
) -> None:
    # The only "c" (and later the only "x") in the content: each side occurs exactly once.
    old = old_parts[0] + "c" + old_parts[1]
    new = new_parts[0] + "x" + new_parts[1]
    # Line breaks at the edges agree (where they do not, lines.py says what the edit means).
    assume(old.startswith("\n") == new.startswith("\n") and old.endswith("\n") == new.endswith("\n"))
    content = before + old + after
    forward = apply_edits(content, [Edit(old, new)])
    assert forward.failed == []
    assert forward.content == before + new + after
    backward = apply_edits(forward.content, [Edit(new, old)])
    assert backward.failed == []
    assert backward.content == content


@given(
    depths=st.lists(st.integers(min_value=0, max_value=2), min_size=3, max_size=12),
    prefix=st.sampled_from(["  ", "    ", "\t"]),
    data=st.data(),
)
def test_snippet_quoted_without_the_files_indentation_lands_like_the_exact_edit(
    depths: list[int], prefix: str, data: st.DataObject
) -> None:
    lines = [prefix + "    " * depth + f"call{n}();" for n, depth in enumerate(depths)]
    content = "\n".join(lines) + "\n"
    first = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    last = data.draw(st.integers(min_value=first, max_value=len(lines) - 1))
    block = lines[first : last + 1]
    exact_old = "\n".join(block)
    exact_new = "\n".join(line.replace("();", "(1);") for line in block)
    expected = apply_edits(content, [Edit(exact_old, exact_new)]).content
    drifted_old = "\n".join(line[len(prefix) :] for line in block)
    drifted_new = "\n".join(line[len(prefix) :] for line in exact_new.split("\n"))
    result = apply_edits(content, [Edit(drifted_old, drifted_new)])
    assert result.failed == []
    assert result.content == expected
