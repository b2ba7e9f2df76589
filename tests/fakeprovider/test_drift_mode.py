"""The fake provider's drift mode: the scripted model's edits drifted, logged, in every format."""

from __future__ import annotations

import pytest

from kantra_ai.edits.model import Edit
from kantra_ai.edits.parse import parse_text_reply, parse_tool_input
from kantra_ai.simulated.contract import FakeRequest
from kantra_ai.simulated.recipes import respond
from testing.drift import case_from_edits
from testing.fakeprovider.drift import DriftingResponder, DriftSettings

PROMPT = """## File: src/A.java

```java
package a;

import javax.ejb.Stateless;
import javax.inject.Inject;

@Stateless
public class A {
}
```

## Incidents

- id: i1  line: 3  rule: javax-to-jakarta-import-00001
  Replace the `javax.ejb` import statement with `jakarta.ejb`

- id: i2  line: 4  rule: javax-to-jakarta-import-00001
  Replace the `javax.inject` import statement with `jakarta.inject`
"""


def _request(*, tools: bool = True) -> FakeRequest:
    return FakeRequest(
        protocol="anthropic",
        model="m",
        system="",
        messages=[{"role": "user", "content": PROMPT}],
        tools=[{"name": "apply_fixes"}] if tools else [],
        max_tokens=1000,
        stream=False,
        raw={},
    )


def test_every_edit_drifts_at_rate_one_and_is_logged_with_its_incidents() -> None:
    drifting = DriftingResponder(respond, DriftSettings(1.0, ("indentation",), seed=3))
    reply = drifting(_request())
    plain = respond(_request()).tool_calls[0].input
    drifted = reply.tool_calls[0].input
    assert drifted["incidents"] == plain["incidents"]
    assert [e["old_text"] for e in drifted["edits"]] != [e["old_text"] for e in plain["edits"]]
    [logged] = drifting.log.replies
    assert logged.path == "src/A.java" and logged.incident_ids == ("i1", "i2") and not logged.retry
    assert {e.kinds for e in logged.edits} == {("indentation",)}
    assert sorted(i for e in logged.edits for i in e.incident_ids) == ["i1", "i2"]
    assert parse_tool_input(drifted, ["i1", "i2"]).edits  # still a well-formed reply


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
    assert reply.tool_calls == [] and "<<<<<<< SEARCH [i1]" in reply.text
    parsed = parse_text_reply(reply.text, ["i1", "i2"])
    assert len(parsed.edits) == 2 and {v.incident_id for v in parsed.verdicts} == {"i1", "i2"}


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
