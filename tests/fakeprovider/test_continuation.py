"""A continuation turn (a reply cut off at max_tokens, continued) is answered with the rest only.

The continuation request is written out here from its contract (the original request, its prompt
followed by the "## Your answer was cut off" section with the items that arrived), not taken from
the product's code, so a fake that drifted from the contract fails these tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import anthropic
import openai

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import Batch
from kantra_ai.formats import SEARCH_REPLACE, TOOL_CALL
from kantra_ai.formats.tool_call import TOOL_INPUT_SCHEMA, TOOL_NAME
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.base import ModelRequest, ToolSpec
from kantra_ai.providers.simulated import SimulatedProvider
from kantra_ai.simulated.continuation import continuing
from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall
from kantra_ai.simulated.recipes import quoting, respond
from testing.fakeprovider.drift import DriftSettings
from testing.fakeprovider.server import FakeProviderServer

ServerFactory = Callable[..., FakeProviderServer]

A: Any = [[1, 2], "javax", "jakarta"]
B: Any = [[3], "javax.ejb", "jakarta.ejb"]
C: Any = {"ids": [4], "old": "import javax.inject.Inject;", "new": "import jakarta.inject.Inject;"}
D: Any = {"ids": [5], "old": "import javax.ws.rs.GET;", "new": "import jakarta.ws.rs.GET;"}
E: Any = {"ids": [6], "old": "@Stateless", "new": "@ApplicationScoped"}
F: Any = {"id": 7, "status": "cannot_fix", "reason": "needs a human"}
FULL: dict[str, Any] = {"subs": [A, B], "edits": [C, D, E], "verdicts": [F]}
PROMPT = "## File: src/A.java\n\nfix the imports"


def continued(prompt: str, arrived: Any) -> str:
    """The prompt of the continuation request, as the contract lays it out."""
    body = arrived if isinstance(arrived, str) else json.dumps(arrived)
    return (
        f"{prompt}\n\n## Your answer was cut off\n\n"
        "Your answer to this request reached its output limit. These items of it arrived whole and "
        "are kept; do not send them again:\n"
        f"<arrived>\n{body}\n</arrived>\n"
        "Call the tool again with the rest of the answer only: the items of `subs`, `edits` and "
        "`verdicts` that are not above.\n"
    )


class Scripted:
    """Answers every request with `answer` as an apply_fixes call, and keeps what it was asked."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.seen: list[FakeRequest] = []

    def __call__(self, request: FakeRequest) -> FakeReply:
        self.seen.append(request)
        if not request.tools:
            return FakeReply(text="prose answer")
        return FakeReply(
            text="Here it is.", tool_calls=[ToolCall(TOOL_NAME, json.loads(json.dumps(self.answer)))]
        )


def fake_request(content: Any, *, tools: bool = True, system: str = "sys") -> FakeRequest:
    return FakeRequest(
        protocol="anthropic",
        model="m",
        system=system,
        messages=[{"role": "user", "content": content}],
        tools=[{"name": TOOL_NAME, "input_schema": TOOL_INPUT_SCHEMA}] if tools else [],
        max_tokens=4000,
        stream=False,
        raw={"messages": [{"role": "user", "content": content}]},
    )


def only_call(reply: FakeReply) -> dict[str, Any]:
    assert len(reply.tool_calls) == 1 and reply.tool_calls[0].name == TOOL_NAME
    return reply.tool_calls[0].input


# --- the wrapper -----------------------------------------------------------------------------------


def test_continuation_is_answered_with_the_items_that_did_not_arrive() -> None:
    reply = continuing(Scripted(FULL))(fake_request(continued(PROMPT, {"subs": [A, B], "edits": [C]})))
    assert only_call(reply) == {"edits": [D, E], "verdicts": [F]}


def test_arrived_items_are_matched_as_json_values_whatever_their_key_order() -> None:
    reordered = {"new": C["new"], "old": C["old"], "ids": [4.0]}
    reply = continuing(Scripted(FULL))(fake_request(continued(PROMPT, {"edits": [reordered, E]})))
    assert only_call(reply) == {"subs": [A, B], "edits": [D], "verdicts": [F]}


def test_nothing_left_is_answered_with_an_empty_call() -> None:
    reply = continuing(Scripted(FULL))(fake_request(continued(PROMPT, FULL)))
    assert only_call(reply) == {}


def test_a_request_without_the_marker_passes_through() -> None:
    inner = Scripted(FULL)
    request = fake_request(PROMPT)
    assert continuing(inner)(request) == inner(request)
    assert inner.seen == [request, request]


def test_each_arrived_copy_removes_one_copy_of_a_duplicate() -> None:
    inner = Scripted({"edits": [C, D, C, C], "verdicts": [F]})
    reply = continuing(inner)(fake_request(continued(PROMPT, {"edits": [C, C]})))
    assert only_call(reply) == {"edits": [D, C], "verdicts": [F]}


def test_unreadable_arrived_json_is_answered_from_the_start() -> None:
    inner = Scripted(FULL)
    cut_short = '{"edits": [{"ids": [4], "old": "imp'
    reply = continuing(inner)(fake_request(continued(PROMPT, cut_short)))
    assert reply == inner(fake_request(PROMPT))  # the whole answer, as the original request got it


def test_other_keys_of_the_answer_are_kept() -> None:
    inner = Scripted({"note": "x", "edits": [C, D]})
    reply = continuing(inner)(fake_request(continued(PROMPT, {"edits": [C]})))
    assert only_call(reply) == {"note": "x", "edits": [D]}


def test_the_inner_responder_is_asked_the_original_text_exactly() -> None:
    inner = Scripted(FULL)
    blocks = [
        {"type": "text", "text": "the rule book"},
        {"type": "text", "text": continued(PROMPT, {"edits": [C]})},
    ]
    continuing(inner)(fake_request(blocks))
    [asked] = inner.seen
    original = [{"type": "text", "text": "the rule book"}, {"type": "text", "text": PROMPT}]
    assert asked.messages == [{"role": "user", "content": original}]
    assert asked.raw["messages"] == [{"role": "user", "content": original}]
    assert asked.last_user_text() == "the rule book\n" + PROMPT


def test_a_text_mode_reply_passes_through() -> None:
    reply = continuing(Scripted(FULL))(fake_request(continued(PROMPT, {"edits": [C]}), tools=False))
    assert reply == FakeReply(text="prose answer")


# --- over the wire ---------------------------------------------------------------------------------

ANTHROPIC_TOOL: Any = {"name": TOOL_NAME, "description": "Apply fixes.", "input_schema": TOOL_INPUT_SCHEMA}
OPENAI_TOOL: Any = {
    "type": "function",
    "function": {"name": TOOL_NAME, "description": "Apply fixes.", "parameters": TOOL_INPUT_SCHEMA},
}


def anthropic_call(client: anthropic.Anthropic, system: str, blocks: list[str]) -> dict[str, Any]:
    message = client.messages.create(
        model="claude-sonnet-5",
        max_tokens=8000,
        system=system,
        messages=[{"role": "user", "content": [{"type": "text", "text": b} for b in blocks]}],
        tools=[ANTHROPIC_TOOL],
        tool_choice={"type": "tool", "name": TOOL_NAME},
    )
    [call] = [b for b in message.content if b.type == "tool_use"]
    assert call.type == "tool_use" and call.name == TOOL_NAME
    value: dict[str, Any] = dict(call.input)
    return value


def test_anthropic_sdk_continuation_gets_only_the_rest(
    make_server: ServerFactory, anthropic_for: Callable[..., anthropic.Anthropic]
) -> None:
    client = anthropic_for(make_server(Scripted(FULL)))
    assert anthropic_call(client, "sys", ["rules", PROMPT]) == FULL
    rest = anthropic_call(client, "sys", ["rules", continued(PROMPT, {"subs": [A], "verdicts": [F]})])
    assert rest == {"subs": [B], "edits": [C, D, E]}


def test_openai_sdk_continuation_gets_only_the_rest(
    make_server: ServerFactory, openai_for: Callable[..., openai.OpenAI]
) -> None:
    client = openai_for(make_server(Scripted(FULL)))

    def ask(prompt: str) -> dict[str, Any]:
        completion = client.chat.completions.create(
            model="gpt-5",
            messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": prompt}],
            tools=[OPENAI_TOOL],
            tool_choice={"type": "function", "function": {"name": TOOL_NAME}},
        )
        [call] = completion.choices[0].message.tool_calls or []
        assert call.type == "function" and call.function.name == TOOL_NAME
        value: dict[str, Any] = json.loads(call.function.arguments)
        return value

    assert ask(PROMPT) == FULL
    assert ask(continued(PROMPT, {"subs": [A, B], "edits": [C, D]})) == {"edits": [E], "verdicts": [F]}


# --- the scripted model, on the tool's own prompt ---------------------------------------------------

CONTENT = """package a;

import javax.ejb.Stateless;
import java.util.List;
import javax.inject.Inject;
import java.util.Map;
import javax.persistence.Entity;

public class A {
    void f() { weird(); }
}"""


def _incident(number: int, line: int, message: str, rule: str = "javax-to-jakarta-import-00001") -> Incident:
    violation = Violation("rs", rule, "rule", Category.MANDATORY, 1)
    return Incident(f"i{number}", violation, "file:///src/A.java", PurePosixPath("src/A.java"), line, message)


BATCH = Batch(
    PurePosixPath("src/A.java"),
    (
        _incident(1, 3, "Replace the `javax.ejb` import statement with `jakarta.ejb`"),
        _incident(2, 5, "Replace the `javax.inject` import statement with `jakarta.inject`"),
        _incident(3, 7, "Replace the `javax.persistence` import statement with `jakarta.persistence`"),
        _incident(4, 10, "Do something nobody scripted", "mystery-rule-00001"),
    ),
    None,
    0,
    8192,
)
SENT = PromptBuilder(TOOL_CALL).request(BATCH, CONTENT, total_lines=11)


def test_drifted_reply_is_continued_with_the_same_drift(
    make_server: ServerFactory, anthropic_for: Callable[..., anthropic.Anthropic]
) -> None:
    server = make_server(respond, drift=DriftSettings(1.0, seed=3))
    client = anthropic_for(server)
    first = anthropic_call(client, SENT.system, [SENT.guidance, SENT.prompt])
    edits = first["edits"]
    assert len(edits) >= 3 and first["verdicts"]
    arrived = {"edits": edits[:2]}
    rest = anthropic_call(client, SENT.system, [SENT.guidance, continued(SENT.prompt, arrived)])
    assert edits[:2] + rest["edits"] == edits
    assert rest["verdicts"] == first["verdicts"]
    assert server.drift is not None
    # Logged once: the continuation sent the rest of the edits the first reply's entry already lists.
    assert len(server.drift.log.replies) == 1


def tool_request(guidance: str, prompt: str) -> FakeRequest:
    """The request the tool sends (its own builder), every change asked as an edit quoting its lines."""
    blocks = [{"type": "text", "text": guidance}, {"type": "text", "text": prompt}]
    return quoting(fake_request(blocks, system=PromptBuilder(TOOL_CALL).system()))


def test_scripted_model_continues_its_own_answer() -> None:
    whole = only_call(respond(tool_request(SENT.guidance, SENT.prompt)))
    assert len(whole["edits"]) == 3 and len(whole["verdicts"]) == 1
    continuation = tool_request(SENT.guidance, continued(SENT.prompt, {"edits": whole["edits"][:1]}))
    rest = only_call(continuing(respond)(continuation))
    assert rest == {"edits": whole["edits"][1:], "verdicts": whole["verdicts"]}


def test_simulated_provider_continues_a_cut_off_reply() -> None:
    provider = SimulatedProvider("simulated-model", responder=Scripted(FULL))
    tool = ToolSpec(TOOL_NAME, "Apply fixes.", TOOL_INPUT_SCHEMA)
    prompt = continued(PROMPT, {"subs": [A, B], "edits": [C, D, E]})
    response = asyncio.run(provider.complete(ModelRequest("sys", "rules", prompt, 4000, tool=tool)))
    assert response.tool_input == {"verdicts": [F]}


SENT_TEXT = PromptBuilder(SEARCH_REPLACE).request(BATCH, CONTENT, total_lines=11)


def text_request(prompt: str) -> FakeRequest:
    blocks = [{"type": "text", "text": SENT_TEXT.guidance}, {"type": "text", "text": prompt}]
    return fake_request(blocks, tools=False, system=PromptBuilder(SEARCH_REPLACE).system())


def test_scripted_model_continues_its_own_text_answer_after_the_blocks_that_arrived() -> None:
    whole = respond(text_request(SENT_TEXT.prompt)).text
    assert whole.count(">>>>>>> REPLACE\n") >= 2
    shown = whole[: whole.index(">>>>>>> REPLACE\n") + len(">>>>>>> REPLACE\n")]
    section = (
        f"{SENT_TEXT.prompt}\n\n## Your answer was cut off\n\n"
        "Your answer to this request reached its output limit. These blocks of it arrived whole and "
        f"are kept; do not send them again:\n<arrived>\n{shown}</arrived>\n"
        "Write the rest of the answer only: the blocks that are not above, then what follows them.\n"
    )
    rest = continuing(respond)(text_request(section)).text
    assert rest and shown + rest == whole
