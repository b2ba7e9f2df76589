"""Anthropic Messages API through the official SDK, always streamed."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2

from kantra_ai.providers.base import (
    ModelRequest,
    ModelResponse,
    ProgressCallback,
    connection_error,
    decode_tool_json,
    send_hooks,
    sending,
    status_error,
    undecoded,
)
from kantra_ai.providers.pricing import Usage


class AnthropicProvider:
    name = "claude"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        max_retries: int = 8,
        timeout: float = 600.0,
        cache_ttl: str = "5m",
        local: bool = False,
    ) -> None:
        self.model = model
        self.local = local
        self.cache_ttl = cache_ttl
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=timeout,
            http_client=anthropic.DefaultAsyncHttpxClient(timeout=timeout, event_hooks=send_hooks()),
        )

    def _cache_control(self) -> dict[str, str]:
        return {"type": "ephemeral", "ttl": self.cache_ttl}

    def build_params(self, request: ModelRequest) -> dict[str, Any]:
        """The request body (minus `stream`): exposed so dry runs and `prompt` can show it.

        Cache layout (prefix order is tools -> system -> messages): breakpoint 1 after the static
        instructions caches tools + system, shared by every request of the run; breakpoint 2 after
        the rule guidance caches that plus the guidance, shared by the files hitting the same rules.
        The file and its incidents come last, uncached. Two of the four allowed breakpoints; a
        prefix below the model's minimum is silently not cached by the API (no error, no charge).
        """
        system: list[dict[str, Any]] = [
            {"type": "text", "text": request.system, "cache_control": self._cache_control()}
        ]
        content: list[dict[str, Any]] = []
        if request.guidance:
            content.append({"type": "text", "text": request.guidance, "cache_control": self._cache_control()})
        content.append({"type": "text", "text": request.prompt})
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": content}],
        }
        if request.tool is not None:
            tool = request.tool
            params["tools"] = [
                {"name": tool.name, "description": tool.description, "input_schema": dict(tool.input_schema)}
            ]
            params["tool_choice"] = {"type": "tool", "name": tool.name}
        return params

    async def complete(
        self, request: ModelRequest, on_progress: ProgressCallback | None = None
    ) -> ModelResponse:
        params = self.build_params(request)
        usage = Usage()
        received = 0
        texts: list[str] = []
        tool_json: list[str] = []
        tool_block: int | None = None
        tool_name = request.tool.name if request.tool is not None else None
        stop = "other"
        headers: dict[str, str] = {}  # the response's, once it has begun
        try:
            # Raw events rather than the SDK's accumulator: it raises on invalid tool JSON, and a
            # garbled reply is a reply to reject, not a crash.
            with sending(request):  # reports `sent` once the body is on the wire
                stream = await self._client.messages.create(stream=True, **params)
            request.notify_sent()  # the response has started: sent, whatever the transport reported
            headers = dict(stream.response.headers)
            async for event in stream:
                if event.type == "message_start":
                    usage = _usage_of(event.message.usage)
                    if on_progress is not None:
                        on_progress(0)  # the prompt is processed: its cache entries now exist
                elif event.type == "content_block_start":
                    block = event.content_block
                    if block.type == "tool_use" and block.name == tool_name and tool_block is None:
                        tool_block = event.index
                elif event.type == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta":
                        texts.append(delta.text)
                        received += len(delta.text)
                    elif delta.type == "input_json_delta" and event.index == tool_block:
                        tool_json.append(delta.partial_json)
                        received += len(delta.partial_json)
                    if on_progress is not None:
                        on_progress(received)
                elif event.type == "message_delta":
                    stop = str(event.delta.stop_reason or "other")
                    # message_delta usage is cumulative; input counts may be absent from it.
                    usage = _merge_usage(usage, event.usage)
        except anthropic.APIStatusError as exc:
            raise status_error(
                self.model, _status_of(exc), _error_message(exc), exc.response.headers, usage
            ) from exc
        except anthropic.APIConnectionError as exc:
            raise connection_error(self.model, "connection failed", exc, usage, headers) from exc
        except httpx2.HTTPError as exc:
            # A stream dropped mid-response surfaces as the transport's own error, not the SDK's.
            raise connection_error(self.model, "connection lost", exc, usage, headers) from exc
        except anthropic.AnthropicError as exc:
            raise connection_error(self.model, "request failed", exc, usage, headers) from exc

        tool_input: Any = None
        tool_error = ""
        raw = ""
        if tool_block is not None:
            raw = "".join(tool_json) or "{}"
            tool_input, tool_error = decode_tool_json(raw)
        # The run store keeps it now, before anything else can happen (a kill would lose it).
        return request.notify_completed(
            ModelResponse(
                text="".join(texts),
                tool_input=tool_input,
                stop_reason=stop if stop in {"end_turn", "tool_use", "max_tokens", "refusal"} else "other",
                usage=usage,
                tool_input_error=tool_error,
                headers=headers,
                tool_arguments=undecoded(raw, tool_error),
            )
        )

    def set_sdk_retries(self, max_retries: int) -> None:
        """How often the SDK itself retries (429/5xx/connection). The engine's adaptive limiter sets
        0 and retries on its own, so that every pushback reaches its concurrency control."""
        self._client = self._client.with_options(max_retries=max_retries)

    async def aclose(self) -> None:
        await self._client.close()


def response_from_message(message: Any, tool_name: str | None) -> ModelResponse:
    """A complete (not streamed) Message as the engine takes a reply: a batch result's message."""
    texts: list[str] = []
    tool_input: Any = None
    found = False
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use" and block.name == tool_name and not found:
            tool_input, found = block.input, True
    stop = str(message.stop_reason or "other")
    return ModelResponse(
        text="".join(texts),
        tool_input=tool_input,
        stop_reason=stop if stop in {"end_turn", "tool_use", "max_tokens", "refusal"} else "other",
        usage=_usage_of(message.usage),
    )


def _usage_of(usage: Any) -> Usage:
    return Usage(
        input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        cache_write_tokens=int(getattr(usage, "cache_creation_input_tokens", 0) or 0),
        cache_read_tokens=int(getattr(usage, "cache_read_input_tokens", 0) or 0),
        cache_write_1h_tokens=_one_hour_writes(usage),
    )


def _one_hour_writes(usage: Any) -> int:
    """Cache writes at the 1 h TTL (billed 2x input rather than 1.25x), from `usage.cache_creation`."""
    creation = getattr(usage, "cache_creation", None)
    if creation is None:
        return 0
    value = (
        creation.get("ephemeral_1h_input_tokens")
        if isinstance(creation, dict)
        else getattr(creation, "ephemeral_1h_input_tokens", None)
    )
    return int(value or 0)


def _merge_usage(usage: Usage, delta: Any) -> Usage:
    def pick(name: str, current: int) -> int:
        value = getattr(delta, name, None)
        return current if value is None else int(value)

    one_hour = _one_hour_writes(delta)
    return Usage(
        input_tokens=pick("input_tokens", usage.input_tokens),
        output_tokens=pick("output_tokens", usage.output_tokens),
        cache_write_tokens=pick("cache_creation_input_tokens", usage.cache_write_tokens),
        cache_read_tokens=pick("cache_read_input_tokens", usage.cache_read_tokens),
        cache_write_1h_tokens=one_hour or usage.cache_write_1h_tokens,
    )


# The HTTP status each error type of the Messages API is answered with. An `error` event in the
# middle of a stream (the API shedding load: overloaded_error) arrives on a response that began 200;
# the SDK reports that 200, and the error's type says what it is.
_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _status_of(exc: anthropic.APIStatusError) -> int:
    """The status the error stands for: its response's, or its type's when it came mid-stream."""
    if exc.status_code >= 400:
        return exc.status_code
    body = exc.body
    err = body.get("error") if isinstance(body, dict) else None
    kind = err.get("type") if isinstance(err, dict) else None
    return _ERROR_TYPE_STATUS.get(str(kind), 500)  # an error it does not name: the server's


def _error_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(exc.message)
