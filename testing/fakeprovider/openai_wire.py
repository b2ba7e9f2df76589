"""The OpenAI Chat Completions wire format: POST /v1/chat/completions (JSON or SSE)."""

from __future__ import annotations

import json
import time
from typing import Any

from kantra_ai.simulated.contract import FakeRequest, StopReason
from testing.fakeprovider.caching import Segment
from testing.fakeprovider.reply import ShapedReply
from testing.fakeprovider.tokens import OPENAI_VOCABULARY, count_tokens
from testing.fakeprovider.wire import Frame, Usage, WireError, canonical, require_int, sse, token_chunks

VOCABULARY = OPENAI_VOCABULARY


def _count(text: str) -> int:
    return count_tokens(text, VOCABULARY)


# Requests without max_tokens may generate up to the model's limit; this stands in for it.
DEFAULT_MAX_TOKENS = 16_384
SYSTEM_ROLES = ("system", "developer")
FINISH_REASONS: dict[StopReason, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
}
ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request"),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided"),
    404: ("invalid_request_error", "model_not_found", "Not found"),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later"),
}


def error_json(status: int, message: str | None = None, request_id: str = "") -> dict[str, Any]:
    error_type, code, default = ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
    )
    return {"error": {"message": message or default, "type": error_type, "param": None, "code": code}}


def stream_error_frame(status: int) -> Frame:
    return sse(error_json(status))


def content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    raise WireError(400, "messages.content: Input should be a valid string or list of parts")


def parse_request(body: dict[str, Any]) -> FakeRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise WireError(400, "you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise WireError(400, "'messages' must be a non-empty array of message objects")
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise WireError(400, "'tools' must be an array")
    if body.get("max_completion_tokens") is not None:
        max_tokens = require_int(body, "max_completion_tokens")
    else:
        max_tokens = require_int(body, "max_tokens", DEFAULT_MAX_TOKENS)
    system = [content_text(m.get("content")) for m in messages if m.get("role") in SYSTEM_ROLES]
    return FakeRequest(
        protocol="openai",
        model=model,
        system="\n\n".join(system),
        messages=[m for m in messages if m.get("role") not in SYSTEM_ROLES],
        tools=tools,
        max_tokens=max_tokens,
        stream=bool(body.get("stream", False)),
        raw=body,
    )


def prompt_segments(request: FakeRequest) -> list[Segment]:
    """Tools, then every message as sent (system messages in place): the prefix OpenAI caches."""
    segments = [Segment("tool\x00" + canonical(t), _count(json.dumps(t))) for t in request.tools]
    for message in request.raw["messages"]:
        text = content_text(message.get("content"))
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                function = call.get("function", {}) if isinstance(call, dict) else {}
                text += str(function.get("name", "")) + str(function.get("arguments", ""))
        segments.append(Segment(f"msg:{message.get('role')}\x00{canonical(message)}", _count(text)))
    return segments


def usage_json(usage: Usage) -> dict[str, Any]:
    prompt = usage.cache.total_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion_json(
    shaped: ShapedReply, request: FakeRequest, usage: Usage, completion_id: str
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": shaped.text or None, "refusal": None}
    if shaped.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in shaped.tool_calls
        ]
    elif not shaped.text:
        message["content"] = ""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_REASONS[shaped.stop_reason],
            }
        ],
        "usage": usage_json(usage),
        "system_fingerprint": "fp_fake",
    }


def stream_frames(shaped: ShapedReply, request: FakeRequest, usage: Usage, completion_id: str) -> list[Frame]:
    options = request.raw.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, tokens: int = 0) -> Frame:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            payload["usage"] = None
        return sse(payload, tokens=tokens)

    frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
    for text, tokens in token_chunks(shaped.text, VOCABULARY):
        frames.append(chunk({"content": text}, tokens=tokens))
    for index, call in enumerate(shaped.tool_calls):
        opening = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        frames.append(chunk({"tool_calls": [opening]}))
        for fragment, tokens in token_chunks(call.arguments, VOCABULARY):
            frames.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}, tokens=tokens)
            )
    frames.append(chunk({}, FINISH_REASONS[shaped.stop_reason]))
    if include_usage:
        tail = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.model,
            "system_fingerprint": "fp_fake",
            "choices": [],
            "usage": usage_json(usage),
        }
        frames.append(sse(tail))
    frames.append(Frame(b"data: [DONE]\n\n"))
    return frames


def stop_sequences(request: FakeRequest) -> list[str]:
    value = request.raw.get("stop")
    if isinstance(value, str):
        return [value]
    return [str(s) for s in value] if isinstance(value, list) else []


def tools_allowed(request: FakeRequest) -> bool:
    return request.raw.get("tool_choice") != "none"
