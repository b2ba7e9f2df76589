"""A reply cut off at max_tokens, continued instead of asked again whole.

A cut-off reply has paid for its output; asking the same question again with more room pays for all
of it twice. Where the reply is a tool call, the items of its lists that arrived whole
(`edits/partial.py`) are shown to the model in the same request, and it is asked for the rest only
(`prompts/templates/continuation.j2`), with room for the incidents none of them named yet. A rest
cut off again is continued the same way. Nothing is applied on the way: the parts are merged into
one reply, which the caller parses and applies as any reply (so a rest that is malformed, or whose
edits conflict with the ones that arrived, is refused whole, the items that arrived included).

Continuing gives up (the caller then asks again whole, as before) when nothing whole arrived, or
after `MAX_CONTINUATIONS` turns: a model that keeps answering with what it was told arrived would
otherwise never finish.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kantra_ai.edits.partial import count_items, merge_items, whole_items
from kantra_ai.providers.base import ModelRequest, ModelResponse

MAX_CONTINUATIONS = 4
MAX_CONTINUATION_TOKENS = 32_000

Send = Callable[[ModelRequest], Awaitable[tuple[ModelResponse, str]]]  # the reply and its fingerprint
RestRoom = Callable[[Mapping[str, Any]], int]  # max_tokens for the rest, given what arrived
# A cut-off part of a reply that was given up (fingerprint, why): never to be served again.
Rejected = Callable[[str, str], None]


@dataclass
class Continued:
    """The reply of a continued request: the parts merged (or, when the last part is not a tool
    call to merge, that part as it came, for the caller's parse to refuse), with the usage of every
    part of it; `fingerprint`: the last request's."""

    response: ModelResponse
    fingerprint: str
    parts: int


def continuable(response: ModelResponse) -> bool:
    """Whether the cut-off `response` holds a whole item to continue from."""
    return response.truncated and count_items(whole_items(response.tool_arguments)) > 0


async def continue_reply(
    request: ModelRequest,
    response: ModelResponse,
    *,
    continuation: Callable[[ModelRequest, Mapping[str, Any], int], ModelRequest],
    send: Send,
    rest_room: RestRoom,
    rejected: Rejected,
) -> Continued | None:
    """The whole reply to `request`, whose `response` was cut off; None when it cannot be continued
    (the caller asks again whole)."""
    parts: list[dict[str, Any]] = [whole_items(response.tool_arguments)]
    if not count_items(parts[0]):
        return None
    usage = response.usage
    room = rest_room(parts[0])
    cut: list[
        str
    ] = []  # the parts cut off on the way: kept (a resumed run continues from them) until given up
    for _ in range(MAX_CONTINUATIONS):
        arrived = merge_items(parts)
        reply, fingerprint = await send(continuation(request, arrived, room))
        usage = usage + reply.usage
        if not reply.truncated:
            if isinstance(reply.tool_input, dict) and not reply.tool_input_error:
                merged = merge_items([*parts, reply.tool_input])
                whole = dataclasses.replace(reply, tool_input=merged, usage=usage)
                return Continued(whole, fingerprint, len(parts) + 1)
            return Continued(dataclasses.replace(reply, usage=usage), fingerprint, len(parts) + 1)
        cut.append(fingerprint)
        more = whole_items(reply.tool_arguments)
        if count_items(more):
            parts.append(more)
            room = rest_room(merge_items(parts))
        else:  # not even one item fitted: twice the room
            room = min(room * 2, MAX_CONTINUATION_TOKENS)
    for fingerprint in cut:
        rejected(fingerprint, "reply cut off at max_tokens while continued; given up")
    return None
