"""The Anthropic Messages wire protocol, driven through the real `anthropic` SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall
from testing.fakeprovider.server import FakeProviderServer
from testing.fakeprovider.tokens import count_tokens

MODEL = "claude-sonnet-5"
EDIT_TOOL: Any = {
    "name": "apply_edit",
    "description": "Replace the contents of a file.",
    "input_schema": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "new_text": {"type": "string"}},
        "required": ["path", "new_text"],
    },
}
EDIT_INPUT: dict[str, Any] = {
    "path": "src/main/java/com/acme/Order.java",
    "new_text": "import jakarta.persistence.Entity;\nimport jakarta.persistence.Id;\n" * 3,
}

ServerFactory = Callable[..., FakeProviderServer]
Sync = Callable[..., anthropic.Anthropic]
Async = Callable[..., anthropic.AsyncAnthropic]


def edit_responder(request: FakeRequest) -> FakeReply:
    if request.tools:
        return FakeReply(text="Applying the edit.", tool_calls=[ToolCall("apply_edit", dict(EDIT_INPUT))])
    return FakeReply(text="Replace javax with jakarta in the imports.")


def test_json_text_reply_carries_responder_text_and_estimated_usage(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(lambda r: FakeReply(text="Use jakarta.persistence instead."))
    message = anthropic_for(server).messages.create(
        model=MODEL,
        max_tokens=200,
        system="You fix Java migration issues.",
        messages=[{"role": "user", "content": "Fix the javax import."}],
    )
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == MODEL
    assert message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == "Use jakarta.persistence instead."
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == count_tokens("You fix Java migration issues.") + count_tokens(
        "Fix the javax import."
    )
    assert message.usage.output_tokens == count_tokens("Use jakarta.persistence instead.")
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0


def test_request_reaches_responder_as_fake_request(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server(edit_responder)
    anthropic_for(server).messages.create(
        model=MODEL,
        max_tokens=321,
        system=[{"type": "text", "text": "Part one."}, {"type": "text", "text": "Part two."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Fix it."}]}],
        tools=[EDIT_TOOL],
    )
    (request,) = server.requests
    assert request.protocol == "anthropic"
    assert request.model == MODEL
    assert request.system == "Part one.\n\nPart two."
    assert request.max_tokens == 321
    assert request.stream is False
    assert request.tools == [EDIT_TOOL]
    assert request.last_user_text() == "Fix it."


def test_json_tool_use_reply_has_parsed_input_and_tool_use_stop_reason(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(edit_responder)
    message = anthropic_for(server).messages.create(
        model=MODEL, max_tokens=1000, messages=[{"role": "user", "content": "Fix it."}], tools=[EDIT_TOOL]
    )
    assert [b.type for b in message.content] == ["text", "tool_use"]
    tool = message.content[1]
    assert tool.type == "tool_use"
    assert tool.name == "apply_edit"
    assert tool.input == EDIT_INPUT
    assert tool.id.startswith("toolu_")
    assert message.stop_reason == "tool_use"
    expected_output = count_tokens("Applying the edit.") + count_tokens(json.dumps(EDIT_INPUT))
    assert message.usage.output_tokens == expected_output


def test_stream_helper_assembles_text_and_tool_use_from_sse_events(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(edit_responder)
    event_types: list[str] = []
    with anthropic_for(server).messages.stream(
        model=MODEL, max_tokens=1000, messages=[{"role": "user", "content": "Fix it."}], tools=[EDIT_TOOL]
    ) as stream:
        for event in stream:
            event_types.append(event.type)
        final = stream.get_final_message()
    assert event_types[0] == "message_start"
    assert event_types[-1] == "message_stop"
    assert "input_json" in event_types  # the helper's own event for input_json_delta chunks
    assert event_types.count("content_block_stop") == 2
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "text" and final.content[0].text == "Applying the edit."
    assert final.content[1].type == "tool_use" and final.content[1].input == EDIT_INPUT
    assert final.usage.output_tokens == count_tokens("Applying the edit.") + count_tokens(
        json.dumps(EDIT_INPUT)
    )
    assert final.usage.input_tokens > 0
    assert server.requests[0].stream is True


def test_raw_stream_sends_event_lines_ping_and_cumulative_usage(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    text = "A fairly long answer that needs several deltas to stream. " * 5
    server = make_server(lambda r: FakeReply(text=text))
    with anthropic_for(server).messages.with_streaming_response.create(
        model=MODEL, max_tokens=1000, messages=[{"role": "user", "content": "hi"}], stream=True
    ) as response:
        raw = response.read().decode()
    events = [line.removeprefix("event: ") for line in raw.splitlines() if line.startswith("event: ")]
    datas = [
        json.loads(line.removeprefix("data: ")) for line in raw.splitlines() if line.startswith("data: ")
    ]
    assert len(events) == len(datas)
    assert events[:2] == ["message_start", "ping"]
    assert events.count("content_block_delta") > 1
    assert events[-2:] == ["message_delta", "message_stop"]
    deltas = "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta")
    assert deltas == text
    message_delta = datas[-2]
    assert message_delta["usage"]["output_tokens"] == count_tokens(text)
    assert message_delta["usage"]["input_tokens"] == datas[0]["message"]["usage"]["input_tokens"]


async def test_async_stream_text_matches_final_message(
    make_server: ServerFactory, async_anthropic_for: Async
) -> None:
    server = make_server(lambda r: FakeReply(text="streamed " * 20))
    pieces: list[str] = []
    async with async_anthropic_for(server).messages.stream(
        model=MODEL, max_tokens=500, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        async for piece in stream.text_stream:
            pieces.append(piece)
        final = await stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == "streamed " * 20
    assert final.stop_reason == "end_turn"


async def test_async_json_tool_use(make_server: ServerFactory, async_anthropic_for: Async) -> None:
    server = make_server(edit_responder)
    message = await async_anthropic_for(server).messages.create(
        model=MODEL, max_tokens=1000, messages=[{"role": "user", "content": "Fix."}], tools=[EDIT_TOOL]
    )
    assert message.stop_reason == "tool_use"
    assert message.content[-1].type == "tool_use" and message.content[-1].input == EDIT_INPUT


def test_text_longer_than_max_tokens_is_cut_with_max_tokens_stop_reason(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    long_text = "word " * 200
    server = make_server(lambda r: FakeReply(text=long_text))
    message = anthropic_for(server).messages.create(
        model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 20
    text = message.content[0].text if message.content[0].type == "text" else ""
    assert long_text.startswith(text)
    assert 0 < count_tokens(text) <= 20


def test_the_server_records_why_each_reply_ended(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server(lambda r: FakeReply(text="word " * 200))
    client = anthropic_for(server)
    for budget in (20, 1000):
        client.messages.create(model=MODEL, max_tokens=budget, messages=[{"role": "user", "content": "hi"}])
    assert server.stop_reasons == ["max_tokens", "end_turn"]


def test_tool_input_cut_by_max_tokens_streams_partial_json(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(edit_responder)
    budget = count_tokens("Applying the edit.") + 12
    with anthropic_for(server).messages.with_streaming_response.create(
        model=MODEL,
        max_tokens=budget,
        messages=[{"role": "user", "content": "hi"}],
        tools=[EDIT_TOOL],
        stream=True,
    ) as response:
        raw = response.read().decode()
    datas = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    partial = "".join(
        d["delta"]["partial_json"]
        for d in datas
        if d["type"] == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    )
    assert partial and json.dumps(EDIT_INPUT).startswith(partial)
    with pytest.raises(ValueError):
        json.loads(partial)
    message_delta = next(d for d in datas if d["type"] == "message_delta")
    assert message_delta["delta"]["stop_reason"] == "max_tokens"
    assert message_delta["usage"]["output_tokens"] == budget


def test_stop_sequence_cuts_text_and_is_reported(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server(lambda r: FakeReply(text="keep this END drop this"))
    message = anthropic_for(server).messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}], stop_sequences=["END"]
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "END"
    assert message.content[0].type == "text" and message.content[0].text == "keep this "


def test_count_tokens_matches_input_tokens_of_create(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server(edit_responder)
    client = anthropic_for(server)
    params: dict[str, Any] = {
        "model": MODEL,
        "system": "You fix Java code.",
        "messages": [{"role": "user", "content": "Fix the javax imports in Order.java please."}],
        "tools": [EDIT_TOOL],
    }
    counted = client.messages.count_tokens(**params)
    created = client.messages.create(max_tokens=1000, **params)
    assert counted.input_tokens > 0
    assert counted.input_tokens == created.usage.input_tokens
    assert server.count_tokens_calls == 1
    assert server.request_count == 1  # count_tokens is not a generation request


def test_missing_max_tokens_is_a_400_invalid_request(make_server: ServerFactory, api_key: str) -> None:
    import httpx2

    server = make_server()
    response = httpx2.post(
        f"{server.anthropic_base_url}/v1/messages",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {api_key}", "anthropic-version": "2026-10-21"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
    assert server.request_count == 0


def test_tool_choice_none_turns_tool_calls_into_text(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server(edit_responder)
    message = anthropic_for(server).messages.create(
        model=MODEL,
        max_tokens=1000,
        messages=[{"role": "user", "content": "hi"}],
        tools=[EDIT_TOOL],
        tool_choice={"type": "none"},
    )
    assert [b.type for b in message.content] == ["text"]
    assert message.stop_reason == "end_turn"
