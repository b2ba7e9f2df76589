"""apply_edits: exact, tolerant, ambiguous, not found, regions, ordering."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kantra_ai.edits import combine
from kantra_ai.edits.apply import apply_edits, plan_region
from kantra_ai.edits.locate import unnumbered
from kantra_ai.edits.model import ApplyResult, Edit, EditStatus

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


def test_a_line_inserted_after_a_first_line_quoted_from_inside_its_indentation_keeps_its_own() -> None:
    # Found by the fidelity fuzzer: the first old line lacks the file's indentation, the lines after
    # it have the file's (and trailing whitespace drift, so the match is a tolerant one). The inserted
    # line was written with the file's indentation too: it must not get the first line's again.
    content = "class A {\n\tvoid f() {\n\t\taudit.record(x);\n\t\tcount++;\n\t}\n}\n"
    edit = Edit(
        "audit.record(x);\n\t\tcount++; \n\t}\t\n",
        "auditV2.record(x);\n\t\tLOG.fine(y);\n\t\tcount++; \n\t}\t\n",
    )
    result = apply_edits(content, [edit])
    assert result.content == content.replace(
        "\t\taudit.record(x);\n", "\t\tauditV2.record(x);\n\t\tLOG.fine(y);\n"
    )


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


def test_an_ambiguous_old_text_names_each_place_it_matches_numbered_in_the_result() -> None:
    # Another edit of the reply adds a line above both places: they are numbered as the result has them.
    edits = [
        Edit("if (order.isValid()) {", "if (ok) {"),
        Edit("import javax.inject.Inject;", "import a;\nimport b;"),
    ]
    result = apply_edits(JAVA, edits)
    failure = result.failed[0]
    assert failure.reason.startswith("old text matches 2 places")
    assert [(p.line, p.lines) for p in failure.places] == [
        (14, ("        if (order.isValid()) {",)),
        (20, ("        if (order.isValid()) {",)),
    ]
    assert result.content.split("\n")[13] == "        if (order.isValid()) {"


def test_not_found_numbers_the_closest_lines() -> None:
    edit = Edit("    public void cancel(Order o) {\n        if (o.isValid()) {", "x")
    [place] = apply_edits(JAVA, [edit]).failed[0].places
    assert place.line == 18
    assert place.lines == ("    public void cancel(Order order) {", "        if (order.isValid()) {")


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


# --- what a model cannot mean literally ------------------------------------------------------------


def test_new_text_without_old_texts_final_newline_never_glues_the_next_line_on() -> None:
    # The reproduction: an exact match that used to become "...Stateless;import javax.inject".
    result = apply_edits(JAVA, [Edit("import javax.ejb.Stateless;\n", "import jakarta.ejb.Stateless;")])
    assert result.content == JAVA.replace("javax.ejb.Stateless", "jakarta.ejb.Stateless")
    annotation = apply_edits(JAVA, [Edit("@Stateless\n", "@ApplicationScoped")])
    assert "@ApplicationScoped\npublic class OrderService {" in annotation.content


def test_a_tab_only_line_new_text_starts_with_is_kept_when_it_left_out_old_texts_break() -> None:
    content = "class A {\n\tprivate Audit audit;\n\t\n\tprivate int processed;\n}\n"
    edit = Edit("\n\t\n\tprivate int processed;\n", "\t\n\tprivate int processedV2;\n")
    result = apply_edits(content, [edit])
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED]
    assert result.content == content.replace("processed;", "processedV2;")


def test_new_text_with_a_newline_old_text_lacks_adds_no_line() -> None:
    result = apply_edits(JAVA, [Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;\n")])
    assert result.content == JAVA.replace("javax.ejb.Stateless", "jakarta.ejb.Stateless")


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
@pytest.mark.parametrize("where", ["old", "new", "both"])
def test_crlf_or_cr_in_an_edit_matches_the_lf_content(newline: str, where: str) -> None:
    old = "import javax.ejb.Stateless;\nimport javax.inject.Inject;\n"
    new = "import jakarta.ejb.Stateless;\nimport jakarta.inject.Inject;\n"
    if where in ("old", "both"):
        old = old.replace("\n", newline)
    if where in ("new", "both"):
        new = new.replace("\n", newline)
    result = apply_edits(JAVA, [Edit(old, new)])
    assert result.failed == []
    assert result.content == JAVA.replace("import javax.", "import jakarta.")


@pytest.mark.parametrize("form", ["{n}: ", "{n:>4}  ", "{n} | ", "{n}\t", "{n}  "])
def test_line_numbers_copied_into_the_edit_are_left_out(form: str) -> None:
    lines = ["        if (order.isValid()) {", "            repo.delete(order);"]
    old = "\n".join(form.format(n=19 + k) + line for k, line in enumerate(lines))
    new = "\n".join(form.format(n=19 + k) + line.replace("delete", "remove") for k, line in enumerate(lines))
    result = apply_edits(JAVA, [Edit(old, new)])
    assert result.failed == []
    assert result.content == JAVA.replace("repo.delete(order);", "repo.remove(order);")


def test_numbers_that_do_not_count_up_are_not_taken_for_line_numbers() -> None:
    content = "int[] a = {\n7 ,\n9 ,\n};\n"
    # "7 ," and "9 ," are not lines 7 and 8: nothing is stripped, and nothing matches.
    result = apply_edits(content, [Edit("7 a\n9 b", "x")])
    assert result.failed[0].reason == "old text not found"


def test_tabs_in_the_file_and_spaces_in_the_edit() -> None:
    content = "class A {\n\tvoid f() {\n\t\tg();\n\t}\n}\n"
    old = "    void f() {\n        g();\n    }"
    new = "    void f() {\n        if (ok) {\n            g();\n        }\n    }"
    result = apply_edits(content, [Edit(old, new)])
    assert result.failed == []
    assert result.content == "class A {\n\tvoid f() {\n\t\tif (ok) {\n\t\t\tg();\n\t\t}\n\t}\n}\n"


def test_a_line_quoted_without_its_indentation_keeps_the_files_for_the_lines_after_it() -> None:
    # The match starts after the indentation; the model wrote the next line as the file has it.
    result = apply_edits(JAVA, [Edit("repo.save(order);", "repo.save(order);\n            audit(order);")])
    assert "            repo.save(order);\n            audit(order);\n        }" in result.content
    # Written relative to the quoted line instead (less indented than the file): indented like it.
    relative = apply_edits(JAVA, [Edit("repo.save(order);", "repo.save(order);\naudit(order);")])
    assert relative.content == result.content


def test_context_lines_keep_the_files_exact_text() -> None:
    content = "a();\t \n  b();\n"
    result = apply_edits(content, [Edit("a();\n  b();\n", "a();\n  c();\n")])
    assert result.content == "a();\t \n  c();\n"


def test_an_edit_that_only_changes_trailing_whitespace_changes_nothing() -> None:
    result = apply_edits(JAVA, [Edit("    OrderRepository repo;\n", "    OrderRepository repo;   \n")])
    assert result.failed[0].reason == "edit changes nothing"
    assert result.content == JAVA


def test_a_whole_line_quoted_without_its_newline_is_not_ambiguous_with_a_longer_line() -> None:
    content = "  http://x/ns\n  http://x/ns/schema.xsd\n"
    result = apply_edits(content, [Edit("  http://x/ns", "  https://y/ns")])
    assert result.content == "  https://y/ns\n  http://x/ns/schema.xsd\n"
    assert apply_edits(content, [Edit("http://x/ns/", "z")]).failed == []  # once: fine
    assert apply_edits(content, [Edit("x/ns", "z")]).failed[0].reason == "old text matches 2 places"


# --- several edits of one reply ---------------------------------------------------------------------


def _statuses(result: ApplyResult) -> list[str]:
    return [outcome.status.value for outcome in result.outcomes]


def test_a_repeated_edit_is_already_applied_not_failed() -> None:
    edit = Edit("@Stateless\n", "@ApplicationScoped\n", ("i1",))
    result = apply_edits(JAVA, [edit, edit])
    assert _statuses(result) == ["applied", "already_applied"]
    assert result.failed == []
    assert result.content.count("@ApplicationScoped") == 1


def test_an_edit_another_edit_of_the_reply_covers_is_already_applied() -> None:
    both = Edit(
        "import javax.ejb.Stateless;\nimport javax.inject.Inject;\n",
        "import jakarta.ejb.Stateless;\nimport jakarta.inject.Inject;\n",
    )
    one = Edit("import javax.inject.Inject;", "import jakarta.inject.Inject;")
    for edits in ([both, one], [one, both]):
        result = apply_edits(JAVA, edits)
        assert sorted(_statuses(result)) == ["already_applied", "applied"]
        assert result.content == JAVA.replace("import javax.", "import jakarta.")


def test_a_line_inserted_by_one_edit_and_made_again_by_another_replacing_the_next_is_made_once() -> None:
    # Found by the drift fuzzer: an insertion after a line, the deletion of the line after, and one
    # edit saying both (the next line replaced by the inserted one). The same change, made once.
    pom = "<a>1</a>\n<b>1</b>\n<c>1</c>\n"
    inserted = Edit("<a>1</a>\n", "<a>1</a>\n<!-- moved -->\n")
    deleted = Edit("<b>1</b>\n", "")
    both = Edit("<a>1</a>\n<b>1</b>\n", "<a>1</a>\n<!-- moved -->\n")
    intended = "<a>1</a>\n<!-- moved -->\n<c>1</c>\n"
    for edits in ([inserted, deleted, both], [both, inserted, deleted], [inserted, both, deleted]):
        result = apply_edits(pom, edits)
        assert result.failed == [] and result.content == intended, edits


def test_a_line_kept_as_context_keeps_what_trailed_it_when_a_neighbour_equals_it_but_for_that() -> None:
    # Found by the placement property test: "x.y" and "x.y " are equal up to trailing whitespace, and
    # aligning on that alone kept the first as context and deleted the second, which lost its space.
    text = "javax.ejb\njavax.ejb \nend\n"
    result = apply_edits(text, [Edit("javax.ejb\njavax.ejb ", "javax\njavax.ejb ")])
    assert result.content == "javax\njavax.ejb \nend\n"
    # A model that drops trailing whitespace from a line it quotes as context still changes nothing there.
    result = apply_edits("a \nb\n", [Edit("a \nb", "a\nB")])
    assert result.content == "a \nB\n"


def test_two_edits_changing_one_of_two_equal_lines_differently_conflict_rather_than_add_a_line() -> None:
    text = "import a;\nimport a;\n"
    first = Edit("import a;\nimport a;", "import b;\nimport a;")
    second = Edit("import a;\nimport a;", "import c;\nimport a;")
    result = apply_edits(text, [first, second])
    assert result.content.count("\n") == 2  # never both: the file keeps its two lines
    assert [o.status for o in result.outcomes].count(EditStatus.APPLIED) <= 1


def test_lines_changed_in_place_stay_in_place_when_one_becomes_what_another_was() -> None:
    # One edit turns line 2 into what line 3 was and line 3 into something else; another changes
    # line 2 its own way. Read in place, they conflict on line 2; read as "delete line 2, keep
    # line 3, insert a line", the second edit's line stood in for the deleted one: a line too many.
    text = "x\nimport a;\nimport b;\n"
    shift = Edit("import a;\nimport b;", "import b;\nimport c;")
    other = Edit("import a;", "import z;")
    result = apply_edits(text, [shift, other])
    assert result.content.count("\n") == 3
    assert result.content in (text, "x\nimport b;\nimport c;\n", "x\nimport z;\nimport b;\n")


def test_a_line_inserted_after_a_line_another_edit_reads_two_ways_never_lands_on_the_wrong_side() -> None:
    # "a; b; c;" -> "a; x; b;" reads as b and c changed in place (b -> x, c -> b), or as x inserted
    # above b and c deleted. A line another edit inserts after b lands after b read the second way,
    # before it read the first: the two edits are refused together rather than guessed at.
    text = "a;\nb;\nc;\nend;\n"
    shift = Edit("a;\nb;\nc;", "a;\nx;\nb;")
    after_b = Edit("b;", "b;\ny;")
    for edits in ([shift, after_b], [after_b, shift]):
        result = apply_edits(text, edits)
        assert result.content in (text, "a;\nx;\nb;\ny;\nend;\n"), result.content
        assert [o.status for o in result.outcomes] == [EditStatus.FAILED] * 2
        assert "differently than another edit" in result.outcomes[0].reason
    # Read either way next to an edit elsewhere, the edit lands as it says.
    result = apply_edits(text, [shift, Edit("end;", "end();")])
    assert result.content == "a;\nx;\nb;\nend();\n"


def test_three_edits_that_agree_in_pairs_but_together_depend_on_a_reading_are_not_all_applied() -> None:
    # "d; x;" -> "x; d;" swaps two lines in place, or inserts x above d and deletes the old x. Next
    # to it, one edit changes the line after x and one inserts a line after x. Each pair lands the
    # same lines whichever way the swap is read; all three do not (y once, or twice), so not all
    # three land (before, the third was reported as made by the others: "already applied").
    text = "b;\nd;\nx;\na;\nend;\n"
    edits = [Edit("d;\nx;\na;", "d;\nx;\ny;"), Edit("d;\nx;", "x;\nd;"), Edit("x;", "x;\ny;")]
    for a in range(3):
        for b in range(a + 1, 3):
            pair = apply_edits(text, [edits[a], edits[b]])
            assert EditStatus.FAILED not in [o.status for o in pair.outcomes], (a, b)
    result = apply_edits(text, edits)
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED, EditStatus.APPLIED, EditStatus.FAILED]
    assert "differently than another edit" in result.outcomes[2].reason
    assert result.content == "b;\nx;\nd;\ny;\nend;\n"


def test_copies_of_an_edit_that_reads_two_ways_land_once_however_many() -> None:
    # Copies say one thing: they are read the same way, not 2^n ways (which the cap on two-way
    # edits in one group would refuse beyond eight).
    text = "a;\nb;\nc;\nend;\n"
    shift = Edit("a;\nb;\nc;", "a;\nx;\nb;")
    result = apply_edits(text, [shift] * 9)
    assert result.content == "a;\nx;\nb;\nend;\n"
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED] + [EditStatus.ALREADY_APPLIED] * 8


def test_overlapping_edits_that_read_two_ways_beyond_the_cap_are_refused_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "a;\nb;\nc;\nend;\n"
    shift, elsewhere, on_a = Edit("a;\nb;\nc;", "a;\nx;\nb;"), Edit("end;", "end();"), Edit("a;", "A;")
    assert apply_edits(text, [shift, on_a]).content == "A;\nx;\nb;\nend;\n"  # either reading: the same
    monkeypatch.setattr(combine, "MAX_TWO_WAY", 0)
    # Alone, or next to an edit elsewhere, it is never read twice: it lands.
    assert apply_edits(text, [shift, elsewhere]).content == "a;\nx;\nb;\nend();\n"
    # Next to an edit it overlaps, reading it both ways is over the cap: both are refused.
    result = apply_edits(text, [shift, on_a])
    assert result.content == text
    assert [o.status for o in result.outcomes] == [EditStatus.FAILED] * 2


def test_edits_in_reverse_file_order_land() -> None:
    edits = [
        Edit("repo.delete(order);", "repo.remove(order);"),
        Edit("repo.save(order);", "repo.persist(order);"),
        Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;"),
    ]
    result = apply_edits(JAVA, edits)
    assert result.failed == []
    assert result.content == apply_edits(JAVA, edits[::-1]).content


def test_an_edit_building_on_another_lands_whatever_the_order() -> None:
    first = Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;")
    second = Edit("import jakarta.ejb.Stateless;", "import jakarta.ejb.Singleton;")
    for edits in ([first, second], [second, first]):
        result = apply_edits(JAVA, edits)
        assert result.failed == []
        assert "import jakarta.ejb.Singleton;\nimport javax.inject.Inject;" in result.content


def test_an_edit_whose_context_another_edit_changes_merges_with_it() -> None:
    context = Edit(
        "import javax.ejb.Stateless;\nimport javax.inject.Inject;\n",
        "import jakarta.ejb.Stateless;\nimport javax.inject.Inject;\n",
    )
    neighbour = Edit("import javax.inject.Inject;\n", "import jakarta.inject.Inject;\n")
    for edits in ([context, neighbour], [neighbour, context]):
        result = apply_edits(JAVA, edits)
        assert _statuses(result) == ["applied", "applied"]
        assert result.content == JAVA.replace("import javax.", "import jakarta.")


def test_two_changes_to_different_parts_of_one_line_are_both_made() -> None:
    content = '<persistence version="2.1" xmlns="http://xmlns.jcp.org/ns">\n'
    edits = [
        Edit(
            '<persistence version="2.1" xmlns="http://xmlns.jcp.org/ns">',
            '<persistence version="3.0" xmlns="http://xmlns.jcp.org/ns">',
        ),
        Edit(
            '<persistence version="2.1" xmlns="http://xmlns.jcp.org/ns">',
            '<persistence version="2.1" xmlns="https://jakarta.ee/ns">',
        ),
    ]
    result = apply_edits(content, edits)
    assert result.content == '<persistence version="3.0" xmlns="https://jakarta.ee/ns">\n'


def test_a_replacement_covers_a_deletion_of_the_same_line() -> None:
    edits = [Edit("@Stateless\n", ""), Edit("@Stateless\n", "@ApplicationScoped\n")]
    result = apply_edits(JAVA, edits)
    assert _statuses(result) == ["already_applied", "applied"]
    assert "@ApplicationScoped\npublic class" in result.content


def test_a_deletion_spanning_a_line_another_edit_replaces_takes_the_replacement() -> None:
    content = "a\nb\nc\nd\n"
    # One edit: b becomes X (written as b -> X after the context line a). The other: b and c go.
    edits = [Edit("a\nb\n", "a\nX\n"), Edit("b\nc\n", "")]
    for order in (edits, edits[::-1]):
        result = apply_edits(content, order)
        assert result.content == "a\nX\nd\n"
        assert result.failed == []


def test_overlapping_deletions_delete_every_line_either_names() -> None:
    content = "a\nb\nc\nd\n"
    result = apply_edits(content, [Edit("a\nb\n", ""), Edit("b\nc\n", "")])
    assert result.content == "d\n"
    assert _statuses(result) == ["applied", "applied"]


# --- the change is already there (an earlier attempt or run) ----------------------------------------


def test_an_insertion_sent_again_is_already_in_place() -> None:
    edit = Edit("import javax.inject.Inject;\n", "import javax.inject.Inject;\nimport javax.inject.Named;\n")
    once = apply_edits(JAVA, [edit])
    twice = apply_edits(once.content, [edit])
    assert _statuses(twice) == ["already_applied"]
    assert twice.content == once.content


def test_an_edit_made_by_an_earlier_run_is_already_applied() -> None:
    edit = Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;")
    done = apply_edits(JAVA, [edit]).content
    result = apply_edits(done, [edit])
    assert _statuses(result) == ["already_applied"]
    assert result.failed == []


def test_new_text_found_elsewhere_for_a_misquoted_old_text_proves_nothing() -> None:
    # "@Stateles" is not in the file; "@Inject" is, but it does not look like what was misquoted.
    result = apply_edits(JAVA, [Edit("@Stateles\n", "@Inject\n")])
    assert result.failed[0].reason == "old text not found"


def test_an_edit_applied_before_counts_as_applied_even_after_its_context_changed() -> None:
    edit = Edit("@Stateless\npublic class OrderService {", "@ApplicationScoped\npublic class OrderService {")
    done = apply_edits(JAVA, [edit]).content.replace("class OrderService", "class Orders")
    assert apply_edits(done, [edit]).failed[0].reason == "old text not found"
    again = apply_edits(done, [edit], applied_before=[edit])
    assert _statuses(again) == ["already_applied"]


def test_a_deletions_context_alone_does_not_show_the_deletion_was_made() -> None:
    # The new text is context that was always there; the deleted line is not in the file to begin with.
    result = apply_edits(JAVA, [Edit("    @Inject\n    @Named\n", "    @Inject\n")])
    assert result.failed[0].reason == "old text not found"


def test_new_text_next_to_a_line_the_edit_removes_is_not_the_edit_made() -> None:
    # The edit renames B and removes C. B is renamed already (by someone else), C is still there:
    # finding the new text does not make this edit's change made.
    edit = Edit("import a.B;\nimport a.C;\n", "import a.B2;\n")
    result = apply_edits("import a.B2;\nimport a.C;\nclass D {}\n", [edit])
    assert result.failed[0].reason == "old text not found"
    # With C gone as well, the change is there.
    assert _statuses(apply_edits("import a.B2;\nclass D {}\n", [edit])) == ["already_applied"]


def test_landings_say_which_lines_changed_and_by_which_edits() -> None:
    edits = [
        Edit(
            "import javax.inject.Inject;\n", "import jakarta.inject.Inject;\nimport jakarta.inject.Named;\n"
        ),
        Edit("@Stateless\n", "@ApplicationScoped\n"),
    ]
    result = apply_edits(JAVA, edits)
    assert [(landing.before, landing.after, landing.indices) for landing in result.landings] == [
        ((3, 4), (3, 5), (0,)),
        ((5, 6), (6, 7), (1,)),
    ]


def test_a_repeat_quoting_part_of_a_line_counts_as_made_by_its_sibling_for_the_same_incidents() -> None:
    # Text blocks add the line break a partial quote does not end with: "import javax.inject\n".
    whole = Edit("import javax.inject.Inject;", "import jakarta.inject.Inject;", ("i1",))
    partial = Edit("import javax.inject\n", "import jakarta.inject\n", ("i1",))
    result = apply_edits(JAVA, [whole, partial])
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED, EditStatus.ALREADY_APPLIED]
    assert result.content == JAVA.replace("javax.inject", "jakarta.inject")


def test_a_repeat_too_short_to_be_unique_counts_as_made_by_its_sibling() -> None:
    whole = Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;", ("i1",))
    short = Edit("import javax.", "import jakarta.", ("i1",))  # matches both imports
    result = apply_edits(JAVA, [short, whole])
    assert [o.status for o in result.outcomes] == [EditStatus.ALREADY_APPLIED, EditStatus.APPLIED]


def test_an_edit_for_other_incidents_is_not_taken_as_made_by_a_sibling() -> None:
    whole = Edit("import javax.inject.Inject;", "import jakarta.inject.Inject;", ("i1",))
    partial = Edit("import javax.inject\n", "import jakarta.inject\n", ("i2",))
    short = Edit("import javax.", "import jakarta.", ("i2",))
    result = apply_edits(JAVA, [whole, partial, short])
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED, EditStatus.FAILED, EditStatus.FAILED]


@pytest.mark.parametrize(
    "line, text",
    [
        ("12: import x;", "import x;"),
        ("  12 |     import x;", "import x;"),
        ("7\tint a;", "int a;"),
        ("   3  return;", "return;"),
        ("    return 12;", "return 12;"),  # a number that is the code, not a line number
        ("42", ""),
    ],
)
def test_a_line_number_copied_from_the_window_is_not_part_of_the_line(line: str, text: str) -> None:
    assert unnumbered(line) == text
