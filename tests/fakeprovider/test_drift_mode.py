"""The fake provider's drift mode: the scripted model's edits drifted, logged, in every format."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import Batch
from kantra_ai.edits.model import Edit
from kantra_ai.edits.parse import parse_text_reply, parse_tool_input
from kantra_ai.formats import SEARCH_REPLACE, TOOL_CALL
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.simulated.contract import FakeRequest
from kantra_ai.simulated.recipes import quoting, respond
from testing.drift import case_from_edits
from testing.fakeprovider.drift import DriftingResponder, DriftSettings, _as_text

CONTENT = """package a;

import javax.ejb.Stateless;
import javax.inject.Inject;

@Stateless
public class A {
}"""


def _incident(number: int, line: int, message: str) -> Incident:
    violation = Violation("rs", "javax-to-jakarta-import-00001", "javax to jakarta", Category.MANDATORY, 1)
    return Incident(f"i{number}", violation, "file:///src/A.java", PurePosixPath("src/A.java"), line, message)


BATCH = Batch(
    PurePosixPath("src/A.java"),
    (
        _incident(1, 3, "Replace the `javax.ejb` import statement with `jakarta.ejb`"),
        _incident(2, 4, "Replace the `javax.inject` import statement with `jakarta.inject`"),
    ),
    None,
    0,
    8192,
)


def _request(*, tools: bool = True) -> FakeRequest:
    """The request the tool sends for BATCH (its own builder: rule book, file, numbered incidents)."""
    sent = PromptBuilder(TOOL_CALL if tools else SEARCH_REPLACE).request(BATCH, CONTENT, total_lines=8)
    return FakeRequest(
        protocol="anthropic",
        model="m",
        system=sent.system,
        messages=[{"role": "user", "content": sent.guidance + "\n" + sent.prompt}],
        tools=[{"name": "apply_fixes"}] if tools else [],
        max_tokens=1000,
        stream=False,
        raw={},
    )


def test_every_edit_drifts_at_rate_one_and_is_logged_with_its_incidents() -> None:
    drifting = DriftingResponder(respond, DriftSettings(1.0, ("indentation",), seed=3))
    reply = drifting(_request())
    # Drifts are made on quoted edits: compared with the scripted model told to quote every `old`.
    plain = respond(quoting(_request())).tool_calls[0].input
    drifted = reply.tool_calls[0].input
    assert drifted.get("verdicts") == plain.get("verdicts")
    assert [e["old"] for e in drifted["edits"]] != [e["old"] for e in plain["edits"]]
    [logged] = drifting.log.replies
    assert logged.path == "src/A.java" and logged.incident_ids == ("1", "2") and not logged.retry
    assert {e.kinds for e in logged.edits} == {("indentation",)}
    assert sorted(i for e in logged.edits for i in e.incident_ids) == ["1", "2"]
    assert parse_tool_input(drifted, {"1": "i1", "2": "i2"}, full_verdicts=False).edits  # still well-formed


def test_drift_is_a_function_of_the_request_and_the_seed() -> None:
    first = DriftingResponder(respond, DriftSettings(0.5, seed=1))(_request())
    again = DriftingResponder(respond, DriftSettings(0.5, seed=1))(_request())
    assert first == again


def test_a_second_request_about_the_same_incident_is_logged_as_a_retry() -> None:
    drifting = DriftingResponder(respond, DriftSettings(0.0))
    drifting(_request())
    drifting(_request())
    assert [r.retry for r in drifting.log.replies] == [False, True]


def test_text_mode_answers_search_replace_blocks_with_the_drifted_edits() -> None:
    drifting = DriftingResponder(respond, DriftSettings(1.0, ("trailing_whitespace",), seed=2))
    reply = drifting(_request(tools=False))
    # Adjacent lines changed for the same rule: one edit for both incidents (simulated/recipes.py).
    assert reply.tool_calls == [] and "<<<<<<< SEARCH [1, 2]" in reply.text
    parsed = parse_text_reply(reply.text, {"1": "i1", "2": "i2"}, full_verdicts=False)
    assert len(parsed.edits) == 1 and {i for e in parsed.edits for i in e.incident_ids} == {"i1", "i2"}


@pytest.mark.parametrize(
    "edits, intended",
    [
        ([Edit("a", "A"), Edit("c\n", ""), Edit("d", "D1\nD2")], "A\nb\nD1\nD2\n"),
        ([Edit("b\nc", "bc")], "a\nbc\nd\n"),
    ],
)
def test_well_formed_edits_become_one_operation_each(edits: list[Edit], intended: str) -> None:
    case = case_from_edits("f.txt", "a\nb\nc\nd\n", edits)
    assert len(case.ops) == len(edits)
    assert case.intended(set(range(len(edits)))) == intended


@pytest.mark.parametrize("edit", [Edit("x", "y"), Edit("b", "B"), Edit(" b", "B")])
def test_edits_that_are_not_whole_lines_found_once_are_refused(edit: Edit) -> None:
    with pytest.raises(ValueError):
        case_from_edits("f.txt", "a\nb\nb\n", [edit])


def test_text_mode_keeps_a_blank_line_copied_as_context_below_a_deletion() -> None:
    # context_lines drift on a deleted import: the blank line and the next import copied on both
    # sides. The block must still delete the import alone, not the blank line with it.
    content = "import a;\nimport b;\n\nimport c;\n"
    edit = {"old": "import b;\n\nimport c;", "new": "\nimport c;", "ids": [1]}
    reply = _as_text({"edits": [edit]})
    parsed = parse_text_reply(reply.text, {"1": "i1"}, full_verdicts=False)
    [made] = parsed.edits
    assert content.replace(made.old_text, made.new_text, 1) == "import a;\n\nimport c;\n"
