"""`--provider simulated`: the scripted model of `kantra_ai.simulated`, answering in process.

No key, no network, no SDK: the demo runs from an installed wheel. The request reaches the scripted
model laid out the way the Anthropic adapter sends it (system block, then the guidance and prompt
as the user turn's text blocks, the `apply_fixes` tool when tools are used), and its answer comes
back the way the real adapters return one: progress reported as the "stream" goes, the stop reason
normalised, a reply longer than `max_tokens` cut off with `max_tokens` as its stop reason, and
usage counted as Anthropic's prompt cache would bill it (the run's shared prefixes are written once,
then read), so the demo's token and cache figures mean what they mean with a real model.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from kantra_ai.providers.base import (
    ModelRequest,
    ModelResponse,
    ProgressCallback,
    decode_tool_json,
    undecoded,
)
from kantra_ai.providers.caching import min_cacheable_tokens, prefix_key, prefix_tokens, static_prefix_tokens
from kantra_ai.providers.pricing import Usage
from kantra_ai.simulated.continuation import continuing
from kantra_ai.simulated.contract import FakeReply, FakeRequest, Responder
from kantra_ai.simulated.recipes import respond
from kantra_ai.tokens import cut_to_tokens, estimate_tokens

NORMALISED_STOPS = frozenset({"end_turn", "tool_use", "max_tokens", "refusal"})
CHUNK_CHARS = 64  # about one streamed delta of a real API (a few tokens)


class SimulatedProvider:
    name = "simulated"
    local = True  # nothing leaves the process, nothing is billed

    def __init__(self, model: str, *, responder: Responder = respond) -> None:
        self.model = model
        self._responder = continuing(responder)  # a cut-off reply is continued, not asked again
        self._cached_prefixes: set[str] = set()  # a run is short: nothing expires

    def scripted_request(self, request: ModelRequest) -> FakeRequest:
        """What the scripted model is asked: the Anthropic adapter's layout, without cache markers."""
        content: list[dict[str, Any]] = []
        if request.guidance:
            content.append({"type": "text", "text": request.guidance})
        content.append({"type": "text", "text": request.prompt})
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        tool = request.tool
        tools: list[dict[str, Any]] = (
            [{"name": tool.name, "description": tool.description, "input_schema": dict(tool.input_schema)}]
            if tool is not None
            else []
        )
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "system": request.system,
            "messages": messages,
        }
        if tools:
            body["tools"] = tools
            body["tool_choice"] = {"type": "tool", "name": tools[0]["name"]}
        return FakeRequest(
            protocol="anthropic",
            model=self.model,
            system=request.system,
            messages=messages,
            tools=tools,
            max_tokens=request.max_tokens,
            stream=True,
            raw=body,
        )

    async def complete(
        self, request: ModelRequest, on_progress: ProgressCallback | None = None
    ) -> ModelResponse:
        request.notify_sent()
        scripted = self.scripted_request(request)
        reply = self._responder(scripted)
        text, arguments, stop = _generated(reply, scripted)
        output_tokens = estimate_tokens(text) + estimate_tokens(arguments)
        if output_tokens > request.max_tokens:
            # A real model stops mid-text or mid-JSON when the budget runs out.
            text, arguments = _cut(text, arguments, request.max_tokens)
            output_tokens, stop = request.max_tokens, "max_tokens"

        if on_progress is not None:
            on_progress(0)  # the "prompt is processed", as after a stream's first event
        for start in range(0, len(text) + len(arguments), CHUNK_CHARS):
            received = min(start + CHUNK_CHARS, len(text) + len(arguments))
            if on_progress is not None:
                on_progress(received)
            await asyncio.sleep(0)  # let the rest of the run go on, as between stream events

        tool_input: Any = None
        tool_error = ""
        if arguments:  # arguments cut short are not JSON: a reply to reject, as from a real stream
            tool_input, tool_error = decode_tool_json(arguments)
        return request.notify_completed(
            ModelResponse(
                text=text,
                tool_input=tool_input,
                stop_reason=stop if stop in NORMALISED_STOPS else "other",
                usage=self._input_usage(request) + Usage(output_tokens=max(1, output_tokens)),
                tool_input_error=tool_error,
                tool_arguments=undecoded(arguments, tool_error),
            )
        )

    def _input_usage(self, request: ModelRequest) -> Usage:
        """Input tokens split the way the Anthropic adapter's two cache breakpoints split them.

        Breakpoint 1 ends after tools and system (shared by every request of the run), breakpoint 2
        after the guidance (shared by the files that hit the same rules); the file comes last.
        """
        breakpoints = [
            (prefix_key(replace(request, guidance=""), self.model), static_prefix_tokens(request)),
            (prefix_key(request, self.model), prefix_tokens(request)),
        ]
        total = prefix_tokens(request) + estimate_tokens(request.prompt)
        minimum = min_cacheable_tokens(self.model)
        read = max((tokens for key, tokens in breakpoints if key in self._cached_prefixes), default=0)
        new = [(key, tokens) for key, tokens in breakpoints if tokens >= minimum and tokens > read]
        written = max((tokens for _, tokens in new), default=read) - read
        self._cached_prefixes.update(key for key, _ in new)
        return Usage(input_tokens=total - read - written, cache_write_tokens=written, cache_read_tokens=read)

    async def aclose(self) -> None:
        """Nothing to release: no client, no connection."""


def _generated(reply: FakeReply, request: FakeRequest) -> tuple[str, str, str]:
    """The reply's text, the `apply_fixes` arguments as JSON text, and its stop reason."""
    offered = {str(tool.get("name")) for tool in request.tools}
    calls = [c for c in reply.tool_calls if c.name in offered]
    text = reply.text
    if reply.tool_calls and not request.tools:
        # No tools offered: a model answers in prose, so any call's arguments become text.
        text = "\n".join([text, *(json.dumps(c.input) for c in reply.tool_calls)]).strip()
    arguments = json.dumps(calls[0].input) if calls else ""
    stop = reply.stop_reason or ("tool_use" if calls else "end_turn")
    return text, arguments, stop


def _cut(text: str, arguments: str, budget: int) -> tuple[str, str]:
    """Text first, then the tool arguments, each cut to what is left of `budget` tokens."""
    text = cut_to_tokens(text, budget)
    return text, cut_to_tokens(arguments, budget - estimate_tokens(text))
