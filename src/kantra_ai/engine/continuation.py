"""A reply cut off at max_tokens, continued instead of asked again whole.

A cut-off reply has paid for its output; asking the same question again with more room pays for all
of it twice. What arrived whole is kept instead: of a tool call, the items of its lists
(`edits/partial.py`); of a SEARCH/REPLACE answer, its blocks (`edits/parse.whole_blocks`). It is
shown to the model in the same request, which asks for the rest only
(`prompts/templates/continuation*.j2`), with room for the incidents nothing that arrived named yet
and for the item the cut fell in. A rest cut off again is continued the same way. Nothing is
applied on the way: the parts are merged into one reply, which the caller parses and applies as any
reply (so a rest that is malformed, or whose edits conflict with the ones that arrived, is refused
whole, the items that arrived included).

Continuing gives up (the caller then asks again whole, as before) when nothing whole arrived, or
after `MAX_CONTINUATIONS` turns: a model that keeps answering with what it was told arrived would
otherwise never finish.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kantra_ai.batching.batches import MAX_OUTPUT_TOKENS
from kantra_ai.edits.parse import count_whole_blocks, holds_answer, whole_blocks
from kantra_ai.edits.partial import count_items, merge_items, named_handles, whole_items
from kantra_ai.providers.base import ModelRequest, ModelResponse
from kantra_ai.tokens import estimate_tokens

MAX_CONTINUATIONS = 4

# What arrived whole of a reply: a tool call's items, or the text of a SEARCH/REPLACE answer's blocks.
Arrived = Mapping[str, Any] | str
Send = Callable[[ModelRequest], Awaitable[tuple[ModelResponse, str]]]  # the reply and its fingerprint
RestRoom = Callable[[Arrived], int]  # max_tokens for the rest, given what arrived
# A cut-off part of a reply that was given up (fingerprint, why): never to be served again.
Rejected = Callable[[str, str], None]


@dataclass
class Continued:
    """The reply of a continued request: the parts merged (or, when the last part is not an answer
    in the form asked for, that part as it came, for the caller's parse to refuse), with the usage
    of every part of it; `fingerprint`: the last request's."""

    response: ModelResponse
    fingerprint: str


def arrived_of(response: ModelResponse, *, tool: bool) -> Arrived | None:
    """What arrived whole of the cut-off `response` (a tool call's, or a text answer's, as `tool`
    says the request asked for); None when nothing did."""
    if tool:
        items = whole_items(response.tool_arguments)
        return items if count_items(items) else None
    blocks, _ = whole_blocks(response.text)
    return blocks or None


def named_by(arrived: Arrived) -> set[str]:
    """The incident numbers what arrived names (their answer began; more of it may be to come)."""
    if isinstance(arrived, str):
        return {handle.lstrip("#") for handle in whole_blocks(arrived)[1]}
    return named_handles(arrived)


def pieces(arrived: Arrived) -> int:
    """How many items (or blocks) arrived."""
    return max(1, count_whole_blocks(arrived)) if isinstance(arrived, str) else count_items(arrived)


def _merged(parts: list[Arrived]) -> Arrived:
    if all(isinstance(part, str) for part in parts):
        return "".join(str(part) for part in parts)
    return merge_items(part for part in parts if not isinstance(part, str))


def added_input(continued: ModelRequest, request: ModelRequest) -> int:
    """The input tokens a continuation adds to the request it continues (what arrived, shown again):
    its budget must count them."""
    return estimate_tokens(continued.prompt[len(request.prompt) :])


def continuable(response: ModelResponse, *, tool: bool) -> bool:
    """Whether the cut-off `response` holds something whole to continue from."""
    return response.truncated and arrived_of(response, tool=tool) is not None


async def continue_reply(
    request: ModelRequest,
    response: ModelResponse,
    *,
    continuation: Callable[[ModelRequest, Arrived, int], ModelRequest],
    send: Send,
    rest_room: RestRoom,
    rejected: Rejected,
) -> Continued | None:
    """The whole reply to `request`, whose `response` was cut off; None when it cannot be continued
    (the caller asks again whole)."""
    tool = request.tool is not None
    first = arrived_of(response, tool=tool)
    if first is None:
        return None
    parts: list[Arrived] = [first]
    usage = response.usage
    room = rest_room(first)
    cut: list[str] = []  # parts cut off on the way: kept (a resumed run goes on from them) until given up
    for _ in range(MAX_CONTINUATIONS):
        reply, fingerprint = await send(continuation(request, _merged(parts), room))
        usage = usage + reply.usage
        if not reply.truncated:
            return Continued(_whole(reply, parts, tool, usage), fingerprint)
        cut.append(fingerprint)
        more = arrived_of(reply, tool=tool)
        if more is not None:
            parts.append(more)
            room = rest_room(_merged(parts))
        else:  # not even one item fitted: twice the room
            room = min(room * 2, MAX_OUTPUT_TOKENS)
    for fingerprint in cut:
        rejected(fingerprint, "reply cut off at max_tokens while continued; given up")
    return None


def _whole(rest: ModelResponse, parts: list[Arrived], tool: bool, usage: Any) -> ModelResponse:
    """The reply `parts` and their complete `rest` make: merged when the rest is an answer in the form
    asked for, else the rest as it came (its parse refuses it, and with it what had arrived)."""
    if not tool:
        # Prose alone is no rest: taken as the reply, it answers nothing, and nothing is applied.
        whole = str(_merged(parts)) + rest.text if holds_answer(rest.text) else rest.text
        return dataclasses.replace(rest, text=whole, usage=usage)
    if isinstance(rest.tool_input, dict) and not rest.tool_input_error:
        return dataclasses.replace(rest, tool_input=_merged([*parts, rest.tool_input]), usage=usage)
    return dataclasses.replace(rest, usage=usage)
