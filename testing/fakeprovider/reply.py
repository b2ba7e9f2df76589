"""From a responder's `FakeReply` to what the model "generated": tokens, cuts and stop reason.

Everything protocol-neutral happens here, once: content faults, stop sequences, `tool_choice`
none, and the `max_tokens` cut that real APIs apply mid-text or mid-JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kantra_ai.simulated.contract import FakeReply, StopReason, ToolCall
from testing.fakeprovider.faults import Fault
from testing.fakeprovider.tokens import ANTHROPIC_VOCABULARY, Vocabulary, count_tokens, cut_to_tokens

GARBAGE_TEXT = "¿¿ }{ ### <garbage> not-json ,,, ]] ~~ the reply was scrambled by fault injection ~~ ### {{"
# Not even a prefix of valid JSON, so partial-JSON parsers (the Anthropic stream helper) reject it too.
GARBAGE_ARGUMENTS = '{"edits": [}} <<garbage>> not json'


@dataclass
class ShapedToolCall:
    id: str
    name: str
    arguments: str  # the JSON text as generated: possibly cut short or invalid
    input: dict[str, Any]  # what a non-streaming Anthropic tool_use block carries


@dataclass
class ShapedReply:
    text: str
    tool_calls: list[ShapedToolCall]
    stop_reason: StopReason
    stop_sequence: str | None
    output_tokens: int


def _loads_object(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def shape_reply(
    reply: FakeReply,
    *,
    max_tokens: int,
    fault: Fault | None,
    stop_sequences: Sequence[str],
    allow_tools: bool,
    tool_id_prefix: str,
    vocabulary: Vocabulary = ANTHROPIC_VOCABULARY,
) -> ShapedReply:
    def tokens_of(text: str) -> int:
        return count_tokens(text, vocabulary)

    text = reply.text
    calls: list[ToolCall] = list(reply.tool_calls)
    if not allow_tools and calls:
        # tool_choice "none": the model answers in prose, so the call arguments become text.
        text = "\n".join([text, *(json.dumps(c.input) for c in calls)]).strip()
        calls = []
    arguments = [json.dumps(c.input) for c in calls]
    inputs = [dict(c.input) for c in calls]
    if fault is not None and fault.kind == "garbage":
        text = GARBAGE_TEXT if text or not calls else ""
        arguments = [GARBAGE_ARGUMENTS for _ in calls]
        inputs = [{"garbage": GARBAGE_TEXT} for _ in calls]

    stop_reason: StopReason = reply.stop_reason or ("tool_use" if calls else "end_turn")
    stop_sequence: str | None = None
    hits = [(text.find(s), s) for s in stop_sequences if s and s in text]
    if hits:
        position, stop_sequence = min(hits)
        text = text[:position]
        calls, arguments, inputs = [], [], []
        stop_reason = "stop_sequence"

    natural = tokens_of(text) + sum(tokens_of(a) for a in arguments)
    budget = max_tokens
    if fault is not None and fault.kind == "truncate":
        budget = min(budget, max(1, int(natural * fault.fraction)))
    truncated = natural > budget or (fault is not None and fault.kind == "truncate")

    if natural > budget:
        text_tokens = tokens_of(text)
        if text_tokens >= budget:
            text = cut_to_tokens(text, budget, vocabulary)
            calls, arguments, inputs = [], [], []
        else:
            remaining = budget - text_tokens
            kept = 0
            for i, argument in enumerate(arguments):
                cost = tokens_of(argument)
                if cost <= remaining:
                    remaining -= cost
                    kept = i + 1
                    continue
                if remaining > 0:
                    arguments[i] = cut_to_tokens(argument, remaining, vocabulary)
                    inputs[i] = _loads_object(arguments[i])
                    kept = i + 1
                break
            calls, arguments, inputs = calls[:kept], arguments[:kept], inputs[:kept]

    if truncated:
        stop_reason = "max_tokens"
        output_tokens = budget
    else:
        output_tokens = max(1, natural)
    shaped_calls = [
        ShapedToolCall(id=f"{tool_id_prefix}{i:02d}", name=c.name, arguments=a, input=inp)
        for i, (c, a, inp) in enumerate(zip(calls, arguments, inputs, strict=True))
    ]
    return ShapedReply(text, shaped_calls, stop_reason, stop_sequence, output_tokens)
