"""The Anthropic Messages API wire format: POST /v1/messages (JSON or SSE) and count_tokens."""

from __future__ import annotations

import json
from typing import Any

from kantra_ai.simulated.contract import FakeRequest
from testing.fakeprovider.caching import MAX_BREAKPOINTS, TTL_SECONDS, Segment
from testing.fakeprovider.reply import ShapedReply
from testing.fakeprovider.tokens import ANTHROPIC_VOCABULARY, count_tokens
from testing.fakeprovider.wire import (
    Frame,
    Usage,
    WireError,
    canonical,
    require_int,
    sse,
    strip_cache_control,
    token_chunks,
)

VOCABULARY = ANTHROPIC_VOCABULARY


def _count(text: str) -> int:
    return count_tokens(text, VOCABULARY)


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error",
    529: "Overloaded",
}


def error_json(status: int, message: str | None = None, request_id: str = "") -> dict[str, Any]:
    error_type = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    text = message or ERROR_MESSAGES.get(status, error_type.replace("_", " "))
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": text}}
    if request_id:
        body["request_id"] = request_id
    return body


def stream_error_frame(status: int) -> Frame:
    return sse(error_json(status), event="error")


def _system_text(system: Any) -> str:
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    raise WireError(400, "system: Input should be a valid string or list of text blocks")


def parse_request(body: dict[str, Any], *, count_tokens: bool = False) -> FakeRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise WireError(400, "model: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise WireError(400, "messages: Field required")
    if not count_tokens and not messages:
        raise WireError(400, "messages: at least one message is required")
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise WireError(400, "tools: Input should be a valid list")
    max_tokens = 1 if count_tokens else require_int(body, "max_tokens")
    return FakeRequest(
        protocol="anthropic",
        model=model,
        system=_system_text(body.get("system")),
        messages=messages,
        tools=tools,
        max_tokens=max_tokens,
        stream=bool(body.get("stream", False)),
        raw=body,
    )


def _ttl(block: dict[str, Any]) -> str | None:
    control = block.get("cache_control")
    if control is None:
        return None
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise WireError(400, "cache_control: Input tag does not match the expected tag 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if ttl not in TTL_SECONDS:
        raise WireError(400, "cache_control.ttl: Input should be '5m' or '1h'")
    return str(ttl)


def _block_text(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_use":
        return str(block.get("name", "")) + json.dumps(block.get("input", {}))
    if kind == "tool_result":
        inner = block.get("content")
        if isinstance(inner, str):
            return inner
        if isinstance(inner, list):
            return "\n".join(str(b.get("text", "")) for b in inner if isinstance(b, dict))
        return ""
    return canonical(strip_cache_control(block))


def prompt_segments(request: FakeRequest) -> list[Segment]:
    """The prompt in cache order (tools, system, messages), one segment per cacheable block."""
    segments: list[Segment] = []
    for tool in request.tools:
        if not isinstance(tool, dict):
            raise WireError(400, "tools: each tool must be an object")
        bare = strip_cache_control(tool)
        segments.append(Segment("tool\x00" + canonical(bare), _count(json.dumps(bare)), _ttl(tool)))
    system = request.raw.get("system")
    if isinstance(system, str) and system:
        segments.append(Segment("system\x00" + system, _count(system)))
    elif isinstance(system, list):
        for block in system:
            if isinstance(block, dict):
                text = str(block.get("text", ""))
                segments.append(Segment("system\x00" + text, _count(text), _ttl(block)))
    for message in request.messages:
        role = str(message.get("role", ""))
        content = message.get("content")
        if isinstance(content, str):
            # A string is shorthand for one text block; both spellings must share cache entries.
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise WireError(400, "messages.content: Input should be a valid string or list")
        for position, block in enumerate(content):
            if not isinstance(block, dict):
                raise WireError(400, "messages.content: each block must be an object")
            marker = f"msg:{role}" if position == 0 else "block"
            key = f"{marker}\x00{canonical(strip_cache_control(block))}"
            segments.append(Segment(key, _count(_block_text(block)), _ttl(block)))
    breakpoints = sum(1 for s in segments if s.cache_ttl is not None)
    if breakpoints > MAX_BREAKPOINTS:
        raise WireError(
            400,
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}.",
        )
    return segments


def _content_blocks(shaped: ShapedReply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if shaped.text or not shaped.tool_calls:
        blocks.append({"type": "text", "text": shaped.text})
    for call in shaped.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input})
    return blocks


def _usage_json(usage: Usage, *, output_tokens: int) -> dict[str, Any]:
    cache = usage.cache
    return {
        "input_tokens": cache.uncached_tokens,
        "cache_creation_input_tokens": cache.cache_creation_tokens,
        "cache_read_input_tokens": cache.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.creation_5m_tokens,
            "ephemeral_1h_input_tokens": cache.creation_1h_tokens,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def message_json(shaped: ShapedReply, request: FakeRequest, usage: Usage, message_id: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": _content_blocks(shaped),
        "stop_reason": shaped.stop_reason,
        "stop_sequence": shaped.stop_sequence,
        "usage": _usage_json(usage, output_tokens=usage.output_tokens),
    }


def stream_frames(shaped: ShapedReply, request: FakeRequest, usage: Usage, message_id: str) -> list[Frame]:
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        # Like the real API: the count so far at message_start is a placeholder of 1.
        "usage": _usage_json(usage, output_tokens=1),
    }
    frames = [
        sse({"type": "message_start", "message": start}, event="message_start"),
        sse({"type": "ping"}, event="ping"),
    ]
    index = 0
    if shaped.text or not shaped.tool_calls:
        frames.append(
            sse(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
                event="content_block_start",
            )
        )
        for chunk, tokens in token_chunks(shaped.text, VOCABULARY):
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": chunk},
            }
            frames.append(sse(delta, event="content_block_delta", tokens=tokens))
        frames.append(sse({"type": "content_block_stop", "index": index}, event="content_block_stop"))
        index += 1
    for call in shaped.tool_calls:
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        frames.append(
            sse(
                {"type": "content_block_start", "index": index, "content_block": block},
                event="content_block_start",
            )
        )
        first = {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        }
        frames.append(sse(first, event="content_block_delta"))
        for chunk, tokens in token_chunks(call.arguments, VOCABULARY):
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": chunk},
            }
            frames.append(sse(delta, event="content_block_delta", tokens=tokens))
        frames.append(sse({"type": "content_block_stop", "index": index}, event="content_block_stop"))
        index += 1
    final = {
        "type": "message_delta",
        "delta": {"stop_reason": shaped.stop_reason, "stop_sequence": shaped.stop_sequence},
        "usage": _usage_json(usage, output_tokens=usage.output_tokens),
    }
    frames.append(sse(final, event="message_delta"))
    frames.append(sse({"type": "message_stop"}, event="message_stop"))
    return frames


def stop_sequences(request: FakeRequest) -> list[str]:
    value = request.raw.get("stop_sequences") or []
    return [str(s) for s in value] if isinstance(value, list) else []


def tools_allowed(request: FakeRequest) -> bool:
    choice = request.raw.get("tool_choice")
    return not (isinstance(choice, dict) and choice.get("type") == "none")
