"""The OpenAI Chat Completions wire protocol, driven through the real `openai` SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest

from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall
from testing.fakeprovider.server import FakeProviderServer
from testing.fakeprovider.tokens import OPENAI_VOCABULARY
from testing.fakeprovider.tokens import count_tokens as _count


def count_tokens(text: str) -> int:
    return _count(text, OPENAI_VOCABULARY)


MODEL = "gpt-5"
EDIT_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "apply_edit",
        "description": "Replace the contents of a file.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "new_text": {"type": "string"}},
            "required": ["path", "new_text"],
        },
    },
}
EDIT_INPUT: dict[str, Any] = {
    "path": "src/main/java/com/acme/Order.java",
    "new_text": "import jakarta.persistence.Entity;\nimport jakarta.persistence.Id;\n" * 3,
}

ServerFactory = Callable[..., FakeProviderServer]
Sync = Callable[..., openai.OpenAI]
Async = Callable[..., openai.AsyncOpenAI]


def edit_responder(request: FakeRequest) -> FakeReply:
    if request.tools:
        return FakeReply(tool_calls=[ToolCall("apply_edit", dict(EDIT_INPUT))])
    return FakeReply(text="Replace javax with jakarta in the imports.")


def test_json_text_reply_with_usage_from_estimates(make_server: ServerFactory, openai_for: Sync) -> None:
    server = make_server(lambda r: FakeReply(text="Use jakarta.persistence instead."))
    completion = openai_for(server).chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You fix Java migration issues."},
            {"role": "user", "content": "Fix the javax import."},
        ],
    )
    choice = completion.choices[0]
    assert completion.object == "chat.completion"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Use jakarta.persistence instead."
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == count_tokens("You fix Java migration issues.") + count_tokens(
        "Fix the javax import."
    )
    assert usage.completion_tokens == count_tokens("Use jakarta.persistence instead.")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 0


def test_system_messages_are_split_out_of_the_conversation(
    make_server: ServerFactory, openai_for: Sync
) -> None:
    server = make_server()
    openai_for(server).chat.completions.create(
        model=MODEL,
        max_completion_tokens=77,
        messages=[
            {"role": "system", "content": "Rule one."},
            {"role": "developer", "content": "Rule two."},
            {"role": "user", "content": [{"type": "text", "text": "Fix it."}]},
        ],
    )
    (request,) = server.requests
    assert request.protocol == "openai"
    assert request.system == "Rule one.\n\nRule two."
    assert [m["role"] for m in request.messages] == ["user"]
    assert request.max_tokens == 77
    assert request.last_user_text() == "Fix it."


def test_json_tool_call_reply_has_function_arguments_as_json_string(
    make_server: ServerFactory, openai_for: Sync
) -> None:
    server = make_server(edit_responder)
    completion = openai_for(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Fix."}], tools=[EDIT_TOOL], tool_choice="auto"
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "apply_edit"
    assert json.loads(call.function.arguments) == EDIT_INPUT
    assert completion.usage is not None
    assert completion.usage.completion_tokens == count_tokens(json.dumps(EDIT_INPUT))
    assert completion.usage.prompt_tokens == count_tokens("Fix.") + count_tokens(json.dumps(EDIT_TOOL))


def test_stream_sends_role_then_content_then_finish_then_usage(
    make_server: ServerFactory, openai_for: Sync
) -> None:
    text = "A fairly long answer that needs several deltas to stream. " * 4
    server = make_server(lambda r: FakeReply(text=text))
    chunks = list(
        openai_for(server).chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) > 1
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == text
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == count_tokens(text)
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_chunk(
    make_server: ServerFactory, openai_for: Sync
) -> None:
    server = make_server()
    chunks = list(
        openai_for(server).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


async def test_async_stream_tool_call_deltas_reassemble_to_arguments(
    make_server: ServerFactory, async_openai_for: Async
) -> None:
    server = make_server(edit_responder)
    stream = await async_openai_for(server).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Fix."}],
        tools=[EDIT_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    fragments = 0
    async for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                entry["id"] = delta.id
            if delta.function and delta.function.name:
                entry["name"] = delta.function.name
            if delta.function and delta.function.arguments:
                entry["arguments"] += delta.function.arguments
                fragments += 1
    assert finish == "tool_calls"
    assert list(calls) == [0]
    assert calls[0]["name"] == "apply_edit" and calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["arguments"]) == EDIT_INPUT
    assert fragments > 1


async def test_sdk_stream_helper_collects_final_tool_call(
    make_server: ServerFactory, async_openai_for: Async
) -> None:
    server = make_server(edit_responder)
    async with async_openai_for(server).chat.completions.stream(
        model=MODEL, messages=[{"role": "user", "content": "Fix."}], tools=[EDIT_TOOL]
    ) as stream:
        final = await stream.get_final_completion()
    tool_calls = final.choices[0].message.tool_calls
    assert tool_calls is not None
    assert json.loads(tool_calls[0].function.arguments) == EDIT_INPUT


def test_max_completion_tokens_cut_gives_finish_reason_length(
    make_server: ServerFactory, openai_for: Sync
) -> None:
    server = make_server(lambda r: FakeReply(text="word " * 200))
    completion = openai_for(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_completion_tokens=15
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 15
    content = completion.choices[0].message.content or ""
    assert ("word " * 200).startswith(content) and 0 < count_tokens(content) <= 15


def test_tool_arguments_cut_by_max_tokens_are_partial_json(
    make_server: ServerFactory, openai_for: Sync
) -> None:
    server = make_server(edit_responder)
    completion = openai_for(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=[EDIT_TOOL], max_tokens=10
    )
    assert completion.choices[0].finish_reason == "length"
    tool_calls = completion.choices[0].message.tool_calls
    assert tool_calls is not None and tool_calls[0].type == "function"
    arguments = tool_calls[0].function.arguments
    assert arguments and json.dumps(EDIT_INPUT).startswith(arguments)
    with pytest.raises(ValueError):
        json.loads(arguments)


def test_tool_choice_none_answers_in_prose(make_server: ServerFactory, openai_for: Sync) -> None:
    server = make_server(edit_responder)
    completion = openai_for(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=[EDIT_TOOL], tool_choice="none"
    )
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"
    assert json.loads(completion.choices[0].message.content or "") == EDIT_INPUT


def test_stop_string_cuts_content(make_server: ServerFactory, openai_for: Sync) -> None:
    server = make_server(lambda r: FakeReply(text="first part\n\nsecond part"))
    completion = openai_for(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stop="\n\n"
    )
    assert completion.choices[0].message.content == "first part"
    assert completion.choices[0].finish_reason == "stop"


def test_malformed_request_is_refused_with_openai_error_shape(
    make_server: ServerFactory, openai_for: Sync
) -> None:
    server = make_server()
    with pytest.raises(openai.BadRequestError) as caught:
        openai_for(server).chat.completions.create(model=MODEL, messages=[])
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    assert "messages" in body["message"]
