"""When an incident's line already shows the fix its rule asks for."""

from __future__ import annotations

import pytest
from tests.engine.scripted import incident

from kantra_ai.engine.already_fixed import FileNow, replacements, shows_target, target_state


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


def test_an_unchanged_line_or_a_file_that_is_not_the_analysed_one_shows_nothing() -> None:
    a = incident("a", "A.java", 3, "import javax.ejb.Stateless;")
    assert target_state(a, FileNow(ORIGINAL, ORIGINAL)) == ""
    other = incident("b", "A.java", 4, "import something.else;")  # the snippet disagrees with the file
    fixed = ORIGINAL.replace("javax", "jakarta")
    assert target_state(other, FileNow(ORIGINAL, fixed)) == ""
    assert target_state(incident("c", "A.java", 3), FileNow(ORIGINAL, fixed)) == ""  # no snippet
