"""A tool call cut off at max_tokens keeps the arguments that arrived, over both SDKs and the batch
result reader: a reply is continued from its whole items (`engine/continuation.py`)."""

from __future__ import annotations

import json
from typing import Any

import openai.types.chat as chat
import pytest

from kantra_ai.edits.partial import whole_items
from kantra_ai.providers.anthropic_provider import AnthropicProvider
from kantra_ai.providers.base import ModelRequest, ModelResponse, ToolSpec
from kantra_ai.providers.openai_provider import OpenAIProvider, response_from_completion
from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall
from testing.fakeprovider.server import FakeProviderServer

TOOL = ToolSpec(
    "apply_fixes", "Apply the edits.", {"type": "object", "properties": {"edits": {"type": "array"}}}
)
EDITS = [{"ids": [n], "old": f"import javax.p{n}.A;", "new": f"import jakarta.p{n}.A;"} for n in range(1, 9)]


def answer(request: FakeRequest) -> FakeReply:
    return FakeReply(tool_calls=[ToolCall("apply_fixes", {"edits": EDITS})])


def _request(max_tokens: int) -> ModelRequest:
    return ModelRequest(system="Fix.", guidance="", prompt="The file.", max_tokens=max_tokens, tool=TOOL)


async def _ask(protocol: str, server: FakeProviderServer, max_tokens: int) -> ModelResponse:
    if protocol == "anthropic":
        provider: Any = AnthropicProvider("claude-sonnet-5", api_key="k", base_url=server.anthropic_base_url)
    else:
        provider = OpenAIProvider("openai", "gpt-5", api_key="k", base_url=server.openai_base_url)
    try:
        response: ModelResponse = await provider.complete(_request(max_tokens))
    finally:
        await provider.aclose()
    return response


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
async def test_a_cut_off_tool_call_keeps_its_arguments_and_whole_items_are_read_from_them(
    protocol: str,
) -> None:
    with FakeProviderServer(answer) as server:
        whole = await _ask(protocol, server, 4_000)
        cut = await _ask(protocol, server, 60)
    assert whole.tool_input == {"edits": EDITS} and whole.tool_arguments == ""  # kept only when cut
    assert cut.truncated and cut.tool_input is None and cut.tool_input_error
    assert json.dumps({"edits": EDITS}).startswith(cut.tool_arguments)
    arrived = whole_items(cut.tool_arguments)["edits"]
    assert 0 < len(arrived) < len(EDITS) and arrived == EDITS[: len(arrived)]


def test_a_batch_result_cut_off_keeps_its_arguments_too() -> None:
    whole = json.dumps({"edits": EDITS})
    raw = whole[: whole.index(json.dumps(EDITS[2])) + 20]  # twenty characters into the third edit
    completion = chat.ChatCompletion.model_validate(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-5",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "length",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "t1",
                                "type": "function",
                                "function": {"name": "apply_fixes", "arguments": raw},
                            }
                        ],
                    },
                }
            ],
        }
    )
    response = response_from_completion(completion, "apply_fixes")
    assert response.truncated and response.tool_arguments == raw
    assert whole_items(response.tool_arguments)["edits"] == EDITS[:2]
