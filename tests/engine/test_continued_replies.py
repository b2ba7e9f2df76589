"""A reply cut off at max_tokens is continued from the items that arrived whole, never applied in part.

The scripted model's cut-off replies carry their tool arguments as raw text cut mid-item (what a
stream holds when max_tokens stops it); the continuation is the next scripted reply.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tests.engine.scripted import IdHandles, Recorder, ScriptedProvider, batch, context, incident, text_reply

from kantra_ai.engine import continuation
from kantra_ai.engine.batch_runner import run_batch
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.formats import SEARCH_REPLACE
from kantra_ai.providers.base import ModelResponse
from kantra_ai.providers.pricing import ModelPrice, Usage, resolve_price
from kantra_ai.tokens import estimate_tokens

JAVA = """\
package shop;

import javax.ejb.Stateless;
import javax.inject.Inject;

@Stateless
public class Orders {
}
"""
IMPORT = "import javax.ejb.Stateless;"
INJECT = "import javax.inject.Inject;"
ANNOTATION = "@Stateless"
A = incident("a", "Orders.java", 3, IMPORT)
B = incident("b", "Orders.java", 4, INJECT)
C = incident("c", "Orders.java", 6, ANNOTATION)
EDIT_A = {"ids": ["a"], "old": IMPORT, "new": "import jakarta.ejb.Stateless;"}
EDIT_B = {"ids": ["b"], "old": INJECT, "new": "import jakarta.inject.Inject;"}
EDIT_C = {"ids": ["c"], "old": ANNOTATION, "new": "@ApplicationScoped"}
FIXED = JAVA.replace(IMPORT, EDIT_A["new"]).replace(INJECT, EDIT_B["new"]).replace(ANNOTATION, EDIT_C["new"])


def _cut(items: dict[str, Any], keep: int) -> ModelResponse:
    """A tool call cut off `keep` characters into its arguments."""
    raw = json.dumps(items)[:keep]
    return ModelResponse(
        text="",
        tool_input=None,
        stop_reason="max_tokens",
        usage=Usage(100, 50),
        tool_input_error="tool input is not valid JSON",
        tool_arguments=raw,
    )


def _cut_after_first_edit(items: dict[str, Any]) -> ModelResponse:
    raw = json.dumps(items)
    first = json.dumps(items["edits"][0])
    return _cut(items, raw.index(first) + len(first) + 10)  # ten characters into the second edit


def _call(items: dict[str, Any]) -> ModelResponse:
    return ModelResponse(text="", tool_input=items, stop_reason="tool_use", usage=Usage(100, 30))


def _run(root: Path, model: ScriptedProvider, **options: Any) -> dict[str, IncidentOutcome]:
    planned = batch("Orders.java", A, B, C)
    ctx = context(model, root, **options)
    return {o.incident_id: o for o in asyncio.run(run_batch(planned, ctx))}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "Orders.java").write_text(JAVA, encoding="utf-8")
    return tmp_path


def _file(root: Path) -> str:
    return (root / "Orders.java").read_text(encoding="utf-8")


def test_a_cut_off_reply_is_continued_from_its_whole_items_and_the_rest_completes_it(root: Path) -> None:
    whole = {"edits": [EDIT_A, EDIT_B, EDIT_C]}
    model = ScriptedProvider(_cut_after_first_edit(whole), _call({"edits": [EDIT_B, EDIT_C]}))
    outcomes = _run(root, model, calibration=Calibration())
    assert _file(root) == FIXED
    assert {o.status for o in outcomes.values()} == {Status.FIXED}
    first, second = model.requests
    # The same request, with what arrived and the question for the rest only.
    assert second.prompt.startswith(first.prompt)
    tail = second.prompt[len(first.prompt) :]
    assert "## Your answer was cut off" in tail
    assert json.dumps({"edits": [EDIT_A]}) in tail
    assert json.dumps(EDIT_B) not in tail
    # Room for the two incidents nothing arrived for (never more than the whole question had), not
    # twice the whole question's, as a reply asked again whole would get.
    assert second.max_tokens <= first.max_tokens


def test_a_rest_cut_off_again_is_continued_again_with_everything_that_arrived(root: Path) -> None:
    whole = {"edits": [EDIT_A, EDIT_B, EDIT_C]}
    rest = {"edits": [EDIT_B, EDIT_C]}
    model = ScriptedProvider(
        _cut_after_first_edit(whole), _cut_after_first_edit(rest), _call({"edits": [EDIT_C]})
    )
    recorder = Recorder()
    outcomes = _run(root, model, observer=recorder)
    assert _file(root) == FIXED
    assert {o.status for o in outcomes.values()} == {Status.FIXED}
    assert json.dumps({"edits": [EDIT_A, EDIT_B]}) in model.requests[2].prompt
    assert recorder.rejected == []  # the parts stay in the store: a run killed meanwhile goes on from them


def test_a_continuation_that_is_malformed_applies_nothing_of_what_arrived(root: Path) -> None:
    whole = {"edits": [EDIT_A, EDIT_B, EDIT_C]}
    model = ScriptedProvider(_cut_after_first_edit(whole), text_reply("I would change the rest."))
    outcomes = _run(root, model, max_retries=0)
    assert _file(root) == JAVA  # not even the edit that had arrived whole
    assert {o.status for o in outcomes.values()} == {Status.FAILED}
    assert all(o.reason.startswith("malformed reply") for o in outcomes.values())


def test_a_continuation_whose_edit_conflicts_with_one_that_arrived_applies_neither(root: Path) -> None:
    whole = {"edits": [EDIT_A, EDIT_B, EDIT_C]}
    other = {"ids": ["a"], "old": IMPORT, "new": "import jakarta.ejb.Singleton;"}
    model = ScriptedProvider(_cut_after_first_edit(whole), _call({"edits": [other, EDIT_B, EDIT_C]}))
    outcomes = _run(root, model, max_retries=0)
    assert IMPORT in _file(root)  # neither reading of the import was applied
    assert outcomes["a"].status is Status.FAILED
    assert outcomes["b"].status is Status.FIXED and outcomes["c"].status is Status.FIXED


def test_a_reply_cut_off_before_any_whole_item_is_asked_again_whole_with_twice_the_room(root: Path) -> None:
    whole = {"edits": [EDIT_A, EDIT_B, EDIT_C]}
    model = ScriptedProvider(_cut(whole, 20), _call(whole))
    outcomes = _run(root, model)
    assert _file(root) == FIXED
    assert {o.status for o in outcomes.values()} == {Status.FIXED}
    first, second = model.requests
    assert second.prompt == first.prompt and second.max_tokens == 2 * first.max_tokens


def test_a_model_that_never_finishes_its_rest_is_given_up_after_the_most_turns(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(continuation, "MAX_CONTINUATIONS", 2)
    whole = {"edits": [EDIT_A, EDIT_B, EDIT_C]}
    endless = [_cut_after_first_edit(whole) for _ in range(3)]
    model = ScriptedProvider(*endless)
    recorder = Recorder()
    outcomes = _run(root, model, max_retries=0, observer=recorder)
    assert len(model.requests) == 3  # the reply and two continuations; then no more turns
    assert len(recorder.rejected) == 3  # given up: no part of it may stand in for its request again
    assert _file(root) == JAVA
    assert all("cut off at max_tokens" in o.reason for o in outcomes.values())


def _block(edit: dict[str, Any]) -> str:
    return f"<<<<<<< SEARCH [{edit['ids'][0]}]\n{edit['old']}\n=======\n{edit['new']}\n>>>>>>> REPLACE\n"


BLOCKS = "".join(_block(e) for e in (EDIT_A, EDIT_B, EDIT_C))


def _text_cut_in_second_block() -> ModelResponse:
    end = len(_block(EDIT_A)) + 10
    return ModelResponse(text=BLOCKS[:end], tool_input=None, stop_reason="max_tokens", usage=Usage(100, 50))


def _text(text: str) -> ModelResponse:
    return ModelResponse(text=text, tool_input=None, stop_reason="end_turn", usage=Usage(100, 30))


def test_a_cut_off_text_answer_is_continued_from_its_whole_blocks(root: Path) -> None:
    rest = _block(EDIT_B) + _block(EDIT_C)
    model = ScriptedProvider(_text_cut_in_second_block(), _text(rest))
    outcomes = _run(root, model, prompts=IdHandles(SEARCH_REPLACE))
    assert _file(root) == FIXED
    assert {o.status for o in outcomes.values()} == {Status.FIXED}
    first, second = model.requests
    tail = second.prompt[len(first.prompt) :]
    assert second.prompt.startswith(first.prompt) and "These blocks of it arrived whole" in tail
    assert _block(EDIT_A) in tail and _block(EDIT_B) not in tail


def test_a_text_rest_that_is_prose_alone_applies_nothing_of_the_blocks_that_arrived(root: Path) -> None:
    prose = _text("I have nothing to add.")
    model = ScriptedProvider(_text_cut_in_second_block(), prose, prose)
    outcomes = _run(root, model, prompts=IdHandles(SEARCH_REPLACE), max_retries=0)
    assert _file(root) == JAVA
    assert Status.FIXED not in {o.status for o in outcomes.values()}


class _Reserving(CostGuard):
    def __init__(self, price: ModelPrice | None) -> None:
        super().__init__(None, price)
        self.reserved: list[float] = []

    def try_reserve(self, amount: float) -> bool:
        self.reserved.append(amount)
        return super().try_reserve(amount)


def test_the_budget_of_a_continuation_counts_what_arrived_shown_again(root: Path) -> None:
    price = resolve_price("gpt-5.5", provider="openai")
    guard = _Reserving(price)
    whole = {"edits": [EDIT_A, EDIT_B, EDIT_C]}
    model = ScriptedProvider(_cut_after_first_edit(whole), _call({"edits": [EDIT_B, EDIT_C]}))
    planned = batch("Orders.java", A, B, C)
    asyncio.run(run_batch(planned, context(model, root, price=price, guard=guard)))
    first, second = model.requests
    shown = estimate_tokens(second.prompt[len(first.prompt) :])
    assert shown > 0
    assert guard.reserved[1] == pytest.approx(
        guard.worst_case_of(planned, second.max_tokens) + guard.worst_case(shown, 0)
    )
