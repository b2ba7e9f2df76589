"""When an incident's line already shows the fix its rule asks for."""

from __future__ import annotations

import pytest
from tests.engine.scripted import incident

from kantra_ai.edits.model import Edit
from kantra_ai.engine.already_fixed import (
    FileNow,
    fixed_by_earlier_write,
    replacements,
    shows_target,
    target_state,
)
from kantra_ai.engine.history import EarlierWrite


@pytest.mark.parametrize(
    "message, pairs",
    [
        ("Replace the `javax.ejb` import statement with `jakarta.ejb`", [("javax.ejb", "jakarta.ejb")]),
        (
            "Stateless EJBs can be converted to a CDI bean by replacing the `@Stateless` annotation with a "
            "scope eg `@ApplicationScoped`",
            [("@Stateless", "@ApplicationScoped")],
        ),
        # More to do than the replacement: the line alone cannot show the fix.
        (
            "Replace `http://xmlns.jcp.org/xml/ns/persistence` with `https://jakarta.ee/xml/ns/persistence`"
            " and change the schema version number",
            [],
        ),
        ("Use `@Inject` instead", []),
        ("Replace `@Inject` with `@Inject @Named`", []),  # the new text holds the old one
    ],
)
def test_the_replacements_a_message_asks_for(message: str, pairs: list[tuple[str, str]]) -> None:
    assert replacements(message) == pairs


def test_a_line_shows_the_target_only_without_what_it_replaces() -> None:
    message = "Replace the `javax.ejb` import statement with `jakarta.ejb`"
    assert shows_target(message, "import jakarta.ejb.Stateless;") == "`jakarta.ejb` instead of `javax.ejb`"
    assert shows_target(message, "import javax.ejb.Stateless; // jakarta.ejb") == ""
    assert shows_target(message, "import java.util.List;") == ""


ORIGINAL = "package a;\n\nimport javax.ejb.Stateless;\nimport javax.ejb.EJB;\n\nclass A {}\n"


def test_the_line_is_followed_from_the_file_as_analysed() -> None:
    a = incident("a", "A.java", 3, "import javax.ejb.Stateless;")
    moved = ORIGINAL.replace("import javax.ejb.Stateless;", "//\n//\nimport jakarta.ejb.Stateless;")
    assert target_state(a, FileNow(ORIGINAL, moved)) == "line 5 shows `jakarta.ejb` instead of `javax.ejb`"


def test_a_line_is_followed_past_lines_inserted_above_it_from_the_first_line_to_the_last() -> None:
    file = FileNow(ORIGINAL, "//\n//\n" + ORIGINAL)
    assert file.line_now(incident("a", "A.java", 1, "package a;")) == 2
    assert file.line_now(incident("b", "A.java", 4, "import javax.ejb.EJB;")) == 5
    assert file.line_now(incident("c", "A.java", 6, "class A {}")) == 7
    assert file.line_now(incident("d", "A.java", 7, "class A {}")) is None  # past the end


def test_an_unchanged_line_or_a_file_that_is_not_the_analysed_one_shows_nothing() -> None:
    a = incident("a", "A.java", 3, "import javax.ejb.Stateless;")
    assert target_state(a, FileNow(ORIGINAL, ORIGINAL)) == ""
    other = incident("b", "A.java", 4, "import something.else;")  # the snippet disagrees with the file
    fixed = ORIGINAL.replace("javax", "jakarta")
    assert target_state(other, FileNow(ORIGINAL, fixed)) == ""
    assert target_state(incident("c", "A.java", 3), FileNow(ORIGINAL, fixed)) == ""  # no snippet


_OLD, _NEW = "import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;"
_EARLIER = EarlierWrite((Edit(_OLD, _NEW, ("a",)),), frozenset({"a"}))


def test_an_earlier_runs_fix_counts_only_while_its_edits_stand() -> None:
    a = incident("a", "A.java", 1)
    assert fixed_by_earlier_write(a, [_EARLIER], f"{_NEW}\nclass A {{}}\n")
    assert not fixed_by_earlier_write(a, [_EARLIER], f"{_OLD}\nclass A {{}}\n")  # undone by hand


def test_a_later_write_for_other_incidents_does_not_hide_an_earlier_fix() -> None:
    later = EarlierWrite((Edit("class A {}", "class A { }", ("b",)),), frozenset({"b"}))
    assert fixed_by_earlier_write(incident("a", "A.java", 1), [_EARLIER, later], _NEW + "\nclass A { }\n")


def test_a_write_that_reported_it_fixed_without_an_edit_for_it_is_no_evidence() -> None:
    # The latest word on the incident wins: a write that said fixed with no edit of its own proves
    # nothing, even when an older write's edit for it still stands.
    bare = EarlierWrite((Edit("class A {}", "class A { }", ("b",)),), frozenset({"a", "b"}))
    assert not fixed_by_earlier_write(incident("a", "A.java", 1), [_EARLIER, bare], _NEW + "\nclass A { }\n")
