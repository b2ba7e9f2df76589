"""Edits that leave `old` out: their `sub` pairs go on the lines of the incidents they name.

The lines are the incidents' (the analysis gave them, the engine keeps them where they are now), never
line numbers the model wrote; everything here must hold without trusting the model about places."""

from __future__ import annotations

from typing import Any

import pytest

from kantra_ai.edits.checked import apply_checked
from kantra_ai.edits.model import Edit, EditStatus
from kantra_ai.edits.parse import MalformedReply, parse_tool_input

JAVA = """\
package shop;

import javax.ejb.Stateless;
import javax.inject.Inject;
import java.util.List;

// javax.ejb is gone in Jakarta EE 10
@Stateless
public class Orders {
    @Inject
    Clock clock;

    @Inject
    Prices prices;
}
"""
HANDLES = {"1": "inc-1", "2": "inc-2", "3": "inc-3"}


def _on_lines(*ids: str, sub: list[tuple[str, str]]) -> Edit:
    return Edit("", "", ids, line_sub=tuple(sub))


def _apply(*edits: Edit, lines: dict[str, int | None] | None, region: tuple[int, int] | None = None) -> Any:
    return apply_checked("Orders.java", JAVA, list(edits), incident_lines=lines, region=region)


def test_the_pairs_change_the_incidents_lines_and_nothing_else() -> None:
    # "javax.ejb" also stands in a comment on line 7, which no incident names.
    result = _apply(_on_lines("inc-1", "inc-2", sub=[("javax.", "jakarta.")]), lines={"inc-1": 3, "inc-2": 4})
    assert result.content == JAVA.replace("import javax.", "import jakarta.")
    assert "// javax.ejb is gone" in result.content
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED]


def test_lines_apart_are_changed_and_the_lines_between_kept() -> None:
    edit = _on_lines(
        "inc-1", "inc-2", sub=[("javax.ejb.Stateless", "jakarta.ejb.Stateless"), ("@Stateless", "@Singleton")]
    )
    result = _apply(edit, lines={"inc-1": 3, "inc-2": 8})
    assert result.content == JAVA.replace("javax.ejb.Stateless;", "jakarta.ejb.Stateless;").replace(
        "@Stateless", "@Singleton"
    )


def test_a_line_that_occurs_twice_is_changed_where_the_incident_is() -> None:
    # `    @Inject` stands on lines 10 and 13; the incident is on 13.
    result = _apply(_on_lines("inc-3", sub=[("@Inject", "@Autowired")]), lines={"inc-3": 13})
    assert result.content == JAVA.replace("    @Inject\n    Prices", "    @Autowired\n    Prices")
    assert result.content.count("@Inject") == 1


def test_a_named_line_the_pairs_leave_alone_takes_no_part() -> None:
    # The edit fixes #1 and names #2 too (whose own line another edit would change): only line 3 moves.
    result = _apply(
        _on_lines("inc-1", "inc-2", sub=[("javax.ejb", "jakarta.ejb")]), lines={"inc-1": 3, "inc-2": 8}
    )
    assert result.content == JAVA.replace("import javax.ejb", "import jakarta.ejb")


@pytest.mark.parametrize(
    ("edit", "lines", "region", "reason"),
    [
        (
            _on_lines("inc-1", sub=[("javax.persistence", "jakarta.persistence")]),
            {"inc-1": 3},
            None,
            "sub 'javax.persistence' occurs on none of the incidents' lines",
        ),
        (_on_lines("inc-1", sub=[("jakarta", "jakarta")]), {"inc-1": 3}, None, "occurs on none"),
        (_on_lines("inc-1", sub=[("javax", "javax")]), {"inc-1": 3}, None, "edit changes nothing"),
        (_on_lines("inc-1", sub=[("javax", "jakarta")]), {"inc-1": None}, None, "with no line"),
        (_on_lines("inc-1", sub=[("javax", "jakarta")]), {}, None, "with no line"),
        (
            _on_lines("inc-1", sub=[("javax", "jakarta")]),
            {"inc-1": 99},
            None,
            "line 99, outside the lines shown",
        ),
        # The model saw lines 8-15 only (the region); line 3 is not among them.
        (
            _on_lines("inc-1", sub=[("javax", "jakarta")]),
            {"inc-1": 3},
            (JAVA.index("@Stateless"), len(JAVA)),
            "line 3, outside the lines shown",
        ),
    ],
)
def test_an_edit_that_cannot_be_placed_on_its_incidents_lines_is_refused(
    edit: Edit, lines: dict[str, int | None], region: tuple[int, int] | None, reason: str
) -> None:
    result = _apply(edit, lines=lines, region=region)
    assert result.content == JAVA
    (outcome,) = result.outcomes
    assert outcome.status is EditStatus.FAILED and reason in outcome.reason


def test_without_the_incidents_lines_such_an_edit_is_refused_never_guessed() -> None:
    result = _apply(_on_lines("inc-1", sub=[("javax.", "jakarta.")]), lines=None)
    assert result.content == JAVA and result.failed and not result.applied


def test_a_refused_edit_is_shown_quoting_the_lines_it_named() -> None:
    """The retry prompt shows a failed edit's old text: it is the incident's line, not nothing."""
    result = _apply(_on_lines("inc-1", sub=[("javax.persistence", "x")]), lines={"inc-1": 3})
    assert result.failed[0].edit.old_text == "import javax.ejb.Stateless;"


def test_edits_on_own_lines_and_quoted_ones_combine_in_one_reply() -> None:
    quoted = Edit("import java.util.List;", "import java.util.List;\nimport java.time.Clock;", ("inc-2",))
    result = _apply(_on_lines("inc-1", sub=[("javax.", "jakarta.")]), quoted, lines={"inc-1": 3, "inc-2": 4})
    assert result.content == JAVA.replace("import javax.ejb", "import jakarta.ejb").replace(
        "import java.util.List;", "import java.util.List;\nimport java.time.Clock;"
    )


# --- the reply ---------------------------------------------------------------------------------------


def test_a_reply_may_leave_old_out_of_an_edit_that_gives_sub() -> None:
    data = {"edits": [{"ids": [1, "#2"], "sub": [["javax.", "jakarta."]]}]}
    (edit,) = parse_tool_input(data, HANDLES, full_verdicts=False).edits
    assert edit == Edit("", "", ("inc-1", "inc-2"), line_sub=(("javax.", "jakarta."),))


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"ids": [1], "new": "import jakarta.ejb.Stateless;"}, "missing field edits.0.old"),
        ({"ids": [1]}, "missing field edits.0.old"),
        ({"ids": [1], "sub": [["", "x"]]}, "empty text to replace"),
    ],
)
def test_only_sub_may_go_without_old(edit: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedReply, match=reason):
        parse_tool_input({"edits": [edit]}, HANDLES, full_verdicts=False)


def test_an_edit_without_old_naming_no_known_incident_is_dropped_with_a_note() -> None:
    data = {
        "edits": [{"ids": [7], "sub": [["javax.", "jakarta."]]}],
        "verdicts": [{"id": 1, "status": "cannot_fix"}],
    }
    parsed = parse_tool_input(data, HANDLES, full_verdicts=False)
    assert parsed.edits == []
    assert any("no old" in note for note in parsed.notes)


def test_subs_say_words_replaced_on_the_incidents_lines_in_brief() -> None:
    data = {"subs": [[[1, 2], "javax.", "jakarta."], ["#3", "@Stateless", "@Singleton", "ejb", "cdi"]]}
    parsed = parse_tool_input(data, HANDLES, full_verdicts=False)
    assert parsed.edits == [
        Edit("", "", ("inc-1", "inc-2"), line_sub=(("javax.", "jakarta."),)),
        Edit("", "", ("inc-3",), line_sub=(("@Stateless", "@Singleton"), ("ejb", "cdi"))),
    ]
    assert {v.incident_id for v in parsed.verdicts} == {"inc-1", "inc-2", "inc-3"}


def test_subs_and_quoting_edits_come_together_in_one_reply() -> None:
    data = {"edits": [{"ids": [2], "old": "a", "new": "b"}], "subs": [[1, "javax.", "jakarta."]]}
    parsed = parse_tool_input(data, HANDLES, full_verdicts=False)
    assert [e.incident_ids for e in parsed.edits] == [("inc-2",), ("inc-1",)]


@pytest.mark.parametrize(
    "item",
    [[1, "javax."], [1, "javax.", "jakarta.", "x"], "1 javax. jakarta.", [1, "javax.", 7], [1]],
)
def test_a_subs_item_not_made_of_ids_and_text_pairs_is_malformed(item: object) -> None:
    with pytest.raises(MalformedReply, match=r"subs\.0"):
        parse_tool_input({"subs": [item]}, HANDLES, full_verdicts=False)


def test_lines_apart_combine_with_a_quoting_edit_between_them() -> None:
    """Placed as one span (lines 3 to 8, the lines between kept), the edit still combines with
    another edit changing a line inside that span."""
    between = Edit("import java.util.List;\n", "", ("inc-3",))
    on_lines = _on_lines(
        "inc-1", "inc-2", sub=[("javax.ejb.Stateless", "jakarta.ejb.Stateless"), ("@Stateless", "@Singleton")]
    )
    result = _apply(on_lines, between, lines={"inc-1": 3, "inc-2": 8, "inc-3": 5})
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED, EditStatus.APPLIED]
    assert result.content == (
        JAVA.replace("javax.ejb.Stateless;", "jakarta.ejb.Stateless;")
        .replace("@Stateless", "@Singleton")
        .replace("import java.util.List;\n", "")
    )
