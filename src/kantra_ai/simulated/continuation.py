"""Continuation turns: the scripted model continues a reply that was cut off at `max_tokens`.

A reply cut off at its output limit is not asked again from the start: the client sends the
original request once more with a section appended to its prompt (`CONTINUATION_MARKER`, then the
items of the answer that arrived whole as one JSON object between a line `<arrived>` and a line
`</arrived>`) and asks for the rest. A real model answers with the items that did not arrive, so
the fake does too: `continuing(inner)` gives `inner` the original request, byte for byte (the
appended section cut off every text of the last user turn), and answers with what is left of the
first tool call's `subs`, `edits` and `verdicts` once each arrived item has taken away one equal
item. Since the inner responder reads exactly the original text, what depends on that text
(recipes parse it; drift mode seeds its drift from it) comes out the same as for the original
request, and the rest is the rest of that very answer.

This is written from the contract of the continuation request alone, independently of the product
code that sends it, so the fake does not share the product's assumptions. A continuation whose
arrived items cannot be read is answered from the start, as a model that cannot read them would.
Pure function of the request: no I/O.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

from kantra_ai.simulated.contract import FakeReply, FakeRequest, Responder, ToolCall

CONTINUATION_MARKER = "\n\n## Your answer was cut off\n"
ARRIVED_OPEN = "<arrived>"
ARRIVED_CLOSE = "</arrived>"
ITEM_KEYS = ("subs", "edits", "verdicts")


class Continuing:
    """A responder that answers continuation turns with the rest of `inner`'s answer."""

    def __init__(self, inner: Responder) -> None:
        self.inner = inner

    def __call__(self, request: FakeRequest) -> FakeReply:
        text = request.last_user_text()
        start = text.find(CONTINUATION_MARKER)
        if start < 0:
            return self.inner(request)
        reply = self.inner(original_request(request))
        if not reply.tool_calls:  # a text answer: what arrived are its SEARCH/REPLACE blocks
            shown = arrived_text(text[start:])
            return reply if shown is None else FakeReply(text=rest_of_text(reply.text, shown))
        arrived = arrived_items(text[start:])
        if arrived is None:
            return reply
        call = reply.tool_calls[0]
        return FakeReply(tool_calls=[ToolCall(call.name, rest_of(call.input, arrived))])


def continuing(inner: Responder) -> Responder:
    """`inner`, answering continuation turns with the part of its answer that did not arrive."""
    return Continuing(inner)


# Set in the decoded body of the original request rebuilt for a continuation turn: a responder that
# keeps a log of what it answered (drift mode) has answered it already and does not log it again.
CONTINUED = "_fake_continuation_of_a_cut_off_reply"


def original_request(request: FakeRequest) -> FakeRequest:
    """The request as first sent: every text of the last user turn cut at the continuation marker
    (and `CONTINUED` set in its body)."""
    raw = {**request.raw, CONTINUED: True}
    if isinstance(raw.get("messages"), list):
        raw["messages"] = _cut_last_user(raw["messages"])
    return dataclasses.replace(request, messages=_cut_last_user(request.messages), raw=raw)


def arrived_items(section: str) -> dict[str, list[Any]] | None:
    """The arrived items by key (from the first `<arrived>` block of `section`); None if unreadable."""
    shown = arrived_text(section)
    if shown is None:
        return None
    try:
        value = json.loads(shown)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    items: dict[str, list[Any]] = {}
    for key in ITEM_KEYS:
        given = value.get(key, [])
        if not isinstance(given, list):
            return None
        items[key] = given
    return items


def arrived_text(section: str) -> str | None:
    """The text between the `<arrived>` and `</arrived>` lines of `section`, each line ending with
    a line break (None without them)."""
    lines = section.split("\n")
    try:
        opened = lines.index(ARRIVED_OPEN)
        closed = lines.index(ARRIVED_CLOSE, opened + 1)
    except ValueError:
        return None
    return "".join(line + "\n" for line in lines[opened + 1 : closed])


def rest_of_text(answer: str, shown: str) -> str:
    """A text answer without what was shown as arrived: its start when the answer starts with it,
    else each shown block taken out where it occurs first."""
    if answer.startswith(shown):
        return answer[len(shown) :]
    rest = answer
    block: list[str] = []
    for line in shown.splitlines(keepends=True):
        if line.startswith("<<<<<<<"):
            block = []
        block.append(line)
        if line.startswith(">>>>>>>"):
            rest = rest.replace("".join(block), "", 1)
    return rest


def rest_of(answer: dict[str, Any], arrived: dict[str, list[Any]]) -> dict[str, Any]:
    """`answer` without the arrived items (each removes one equal item), empty item lists dropped."""
    rest: dict[str, Any] = {}
    for key, value in answer.items():
        if key in ITEM_KEYS and isinstance(value, list):
            left = Counter(_canonical(item) for item in arrived.get(key, []))
            kept = []
            for item in value:
                canonical = _canonical(item)
                if left[canonical] > 0:
                    left[canonical] -= 1
                else:
                    kept.append(item)
            if not kept:
                continue
            value = kept
        rest[key] = value
    return rest


def _cut_last_user(messages: list[Any]) -> list[Any]:
    """`messages` with the texts of the last user message cut at the marker (copies; input untouched)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            cut = [*messages]
            cut[index] = {**message, "content": _cut_content(message.get("content"))}
            return cut
    return messages


def _cut_content(content: Any) -> Any:
    if isinstance(content, str):
        return _cut(content)
    if isinstance(content, list):
        return [
            {**block, "text": _cut(block["text"])}
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
            else block
            for block in content
        ]
    return content


def _cut(text: str) -> str:
    start = text.find(CONTINUATION_MARKER)
    return text if start < 0 else text[:start]


def _canonical(item: Any) -> str:
    """One text per JSON value: equal values (keys in any order, 1 and 1.0) give equal texts."""
    return json.dumps(_normal(item), sort_keys=True, default=repr)


def _normal(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    return value
