"""OpenAI Chat Completions and every server that speaks it, through the official SDK, streamed."""

from __future__ import annotations

from typing import Any

import httpx2
import openai

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
from kantra_ai.providers.caching import prefix_key
from kantra_ai.providers.pricing import Usage

_FINISH = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}


class OpenAIProvider:
    def __init__(
        self,
        name: str,
        model: str,
        *,
        api_key: str,
        base_url: str | None = None,
        max_retries: int = 8,
        timeout: float = 600.0,
        local: bool = False,
        supports_tools: bool = True,
        max_tokens_field: str = "max_tokens",
        usage_in_stream: bool = True,
    ) -> None:
        self.name = name
        self.model = model
        self.local = local
        self.supports_tools = supports_tools
        self._max_tokens_field = max_tokens_field
        self._usage_in_stream = usage_in_stream
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=timeout,
            http_client=openai.DefaultAsyncHttpxClient(timeout=timeout, event_hooks=send_hooks()),
        )

    def build_params(self, request: ModelRequest) -> dict[str, Any]:
        """The request body (minus `stream`): exposed so dry runs and `prompt` can show it.

        The instructions and the run's rule book make the system message, the file and its incidents
        the user message: the shared part is a whole message, the prefix OpenAI caches (1024+
        tokens) ends where the request's own text begins, on any server's notion of a prefix.
        """
        system = f"{request.system}\n\n{request.guidance}" if request.guidance else request.system
        params: dict[str, Any] = {
            "model": self.model,
            self._max_tokens_field: request.max_tokens,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": request.prompt},
            ],
        }
        if request.tool is not None and self.supports_tools:
            tool = request.tool
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": dict(tool.input_schema),
                    },
                }
            ]
            params["tool_choice"] = {"type": "function", "function": {"name": tool.name}}
        if request.cache_key and not self.local:
            # Requests with the same instructions and rule book share a key, so they are routed to
            # the same cache.
            params["prompt_cache_key"] = f"{request.cache_key}-{prefix_key(request, self.model)}"
        return params

    async def complete(
        self, request: ModelRequest, on_progress: ProgressCallback | None = None
    ) -> ModelResponse:
        params = self.build_params(request)
        if self._usage_in_stream:
            params["stream_options"] = {"include_usage": True}
        text_parts: list[str] = []
        arguments: dict[int, list[str]] = {}
        names: dict[int, str] = {}
        finish: str | None = None
        usage = Usage()
        headers: dict[str, str] = {}
        received = 0
        try:
            with sending(request):  # reports `sent` once the body is on the wire
                stream = await self._client.chat.completions.create(stream=True, **params)
            request.notify_sent()  # the response has started: sent, whatever the transport reported
            headers = dict(stream.response.headers)
            if on_progress is not None:
                on_progress(0)  # the response has started: the prompt is processed and cached
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = _usage_of(chunk.usage)
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        text_parts.append(delta.content)
                        received += len(delta.content)
                    for call in delta.tool_calls or []:
                        if call.function is not None:
                            if call.function.name:
                                names[call.index] = call.function.name
                            if call.function.arguments:
                                arguments.setdefault(call.index, []).append(call.function.arguments)
                                received += len(call.function.arguments)
                    if choice.finish_reason:
                        finish = choice.finish_reason
                if on_progress is not None:
                    on_progress(received)
        except openai.APIStatusError as exc:
            raise status_error(self.model, exc.status_code, exc.message, exc.response.headers, usage) from exc
        except openai.APIConnectionError as exc:
            raise connection_error(self.model, "connection failed", exc, usage, headers) from exc
        except httpx2.HTTPError as exc:
            # A stream dropped mid-response surfaces as the transport's own error, not the SDK's.
            raise connection_error(self.model, "connection lost", exc, usage, headers) from exc
        except openai.OpenAIError as exc:
            raise connection_error(self.model, "request failed", exc, usage, headers) from exc

        tool_input: Any = None
        tool_error = ""
        raw = ""
        wanted = request.tool.name if request.tool is not None else None
        for index in sorted(arguments):
            if wanted is None or names.get(index, wanted) != wanted:
                continue
            raw = "".join(arguments[index])
            tool_input, tool_error = decode_tool_json(raw)
            break
        stop = _FINISH.get(finish or "", "other")
        if finish is None:
            # A stream that ended without a finish reason was cut off: treat it as truncated.
            stop = "max_tokens"
        # The run store keeps it now, before anything else can happen (a kill would lose it).
        return request.notify_completed(
            ModelResponse(
                text="".join(text_parts),
                tool_input=tool_input,
                stop_reason=stop,
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


def response_from_completion(completion: Any, tool_name: str | None) -> ModelResponse:
    """A complete (not streamed) ChatCompletion as the engine takes a reply: a batch result's body."""
    choice = completion.choices[0] if completion.choices else None
    message = choice.message if choice is not None else None
    tool_input: Any = None
    tool_error = ""
    raw = ""
    for call in (message.tool_calls if message is not None else None) or []:
        function = getattr(call, "function", None)
        # A call without a name is taken for the one tool offered, as the streamed path takes it.
        if function is None or tool_name is None or (function.name or tool_name) != tool_name:
            continue
        raw = function.arguments or "{}"
        tool_input, tool_error = decode_tool_json(raw)
        break
    finish = choice.finish_reason if choice is not None else None
    return ModelResponse(
        text=(message.content or "") if message is not None else "",
        tool_input=tool_input,
        stop_reason=_FINISH.get(finish or "", "other") if finish is not None else "max_tokens",
        usage=_usage_of(completion.usage) if completion.usage is not None else Usage(),
        tool_input_error=tool_error,
        tool_arguments=undecoded(raw, tool_error),
    )


def _usage_of(usage: Any) -> Usage:
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cache_read_tokens=cached,
    )
