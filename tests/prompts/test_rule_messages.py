"""The rule book's messages: said once per rule, and per incident only what differs."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import Batch
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.prompts.rulebook import RuleBook, fill_pattern, message_pattern
from kantra_ai.simulated.recipes import parse_prompt

RULE = Violation("rs", "javax-to-jakarta-import-00001", "javax is now jakarta", Category.MANDATORY, 1)
PACKAGES = ["ejb", "inject", "json", "persistence", "ws.rs"]


def _incident(n: int, message: str) -> Incident:
    path = PurePosixPath("src/Shop.java")
    return Incident(f"i{n}", RULE, "file:///src/Shop.java", path, n + 1, message)


def _import_message(package: str) -> str:
    return f"Replace the `javax.{package}` import statement with `jakarta.{package}`"


def test_messages_that_differ_only_in_quoted_names_are_listed_as_the_names() -> None:
    incidents = [_incident(n, _import_message(p)) for n, p in enumerate(PACKAGES)]
    book = RuleBook.of(incidents)
    assert "Message: Replace the `$1` import statement with `$2`" in book.text()
    assert book.message_of(incidents[0]) == "`javax.ejb` `jakarta.ejb`"
    # The scripted model reads the message back whole: nothing was lost.
    batch = Batch(PurePosixPath("src/Shop.java"), tuple(incidents), None, 0, 1000)
    request = PromptBuilder().with_rules(incidents).request(batch, "\n".join(["x"] * 10), total_lines=10)
    parsed = parse_prompt(request.guidance + "\n" + request.prompt)
    assert parsed is not None
    assert [i.message for i in parsed.incidents] == [_import_message(p) for p in PACKAGES]


def test_a_message_many_incidents_share_is_said_once_and_not_repeated() -> None:
    shared = "Use CDI instead of `@Stateless`"
    incidents = [_incident(n, shared) for n in range(4)]
    book = RuleBook.of(incidents)
    assert book.message_of(incidents[0]) == ""
    assert f"Message: {shared}" in book.text()


def test_no_pattern_when_a_message_of_names_alone_would_read_as_filling_it() -> None:
    incidents = [_incident(n, _import_message(p)) for n, p in enumerate(PACKAGES)]
    incidents.append(_incident(9, "`javax.annotation`"))
    book = RuleBook.of(incidents)
    assert "import statement with `$2`" not in book.text()
    assert book.message_of(incidents[-1]) == "`javax.annotation`"


@given(
    st.lists(st.text(alphabet="abc.$ `x", min_size=1, max_size=12), min_size=1, max_size=4),
    st.text(max_size=20),
)
def test_a_pattern_and_its_names_give_back_the_message(names: list[str], prose: str) -> None:
    message = prose + " ".join(f"`{n}`" for n in names)
    found = message_pattern(message)
    if found is not None:
        assert fill_pattern(*found) == message
