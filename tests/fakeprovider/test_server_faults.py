"""Injected faults: HTTP errors the SDKs retry, bad content, dropped streams, stalls."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall
from testing.fakeprovider.faults import Fault, FaultPlan
from testing.fakeprovider.reply import GARBAGE_TEXT
from testing.fakeprovider.server import FakeProviderServer
from testing.fakeprovider.tokens import count_tokens

ServerFactory = Callable[..., FakeProviderServer]
Sync = Callable[..., anthropic.Anthropic]
OpenAISync = Callable[..., openai.OpenAI]
TEXT = "Replace every javax.persistence import with jakarta.persistence. " * 10
TOOL: Any = {"name": "apply_edit", "input_schema": {"type": "object"}}
OPENAI_TOOL: Any = {"type": "function", "function": {"name": "apply_edit", "parameters": {"type": "object"}}}


def text_and_tool(request: FakeRequest) -> FakeReply:
    if request.tools:
        return FakeReply(
            text="Editing.", tool_calls=[ToolCall("apply_edit", {"path": "A.java", "text": TEXT})]
        )
    return FakeReply(text=TEXT)


def ask(client: anthropic.Anthropic, **params: Any) -> anthropic.types.Message:
    message: anthropic.types.Message = client.messages.create(
        model="claude-sonnet-5", max_tokens=1000, messages=[{"role": "user", "content": "hi"}], **params
    )
    return message


def test_scripted_529_is_retried_by_the_sdk_and_then_succeeds(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(text_and_tool, faults={1: Fault.status(529, retry_after_ms=1)})
    message = ask(anthropic_for(server, max_retries=2))
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    assert server.request_count == 2
    assert server.faults_injected == {"http_529": 1}


def test_529_uses_the_overloaded_error_shape_when_not_retried(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(faults=FaultPlan.sequence(Fault.status(529)))
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask(anthropic_for(server, max_retries=0))
    assert caught.value.status_code == 529
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_fake_000001",
    }
    assert caught.value.response.headers["request-id"] == "req_fake_000001"


def test_retry_after_ms_header_sets_the_sdk_wait(make_server: ServerFactory, anthropic_for: Sync) -> None:
    # The SDK's own first backoff is at most 0.5 s and `retry-after` (whole seconds) says 1 s, so a
    # gap between 0.6 s and 1 s shows the millisecond header was the one obeyed.
    server = make_server(faults={1: Fault.status(429, retry_after_ms=600)})
    ask(anthropic_for(server, max_retries=1))
    first, second = server.arrival_times
    assert 0.6 <= second - first < 0.95


def test_retry_headers_are_sent_on_status_faults(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server(
        faults={1: Fault.status(429, retry_after_ms=2500), 2: Fault.status(500, retry_after_s=3)}
    )
    client = anthropic_for(server, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as rate_limited:
        ask(client)
    assert rate_limited.value.response.headers["retry-after-ms"] == "2500"
    assert rate_limited.value.response.headers["retry-after"] == "3"
    body = rate_limited.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.InternalServerError) as internal:
        ask(client)
    assert internal.value.response.headers["retry-after"] == "3"
    body = internal.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "api_error"


def test_openai_errors_use_the_openai_shape_and_overload_is_503(
    make_server: ServerFactory, openai_for: OpenAISync
) -> None:
    server = make_server(faults=FaultPlan.sequence(Fault.overloaded(), Fault.status(429, retry_after_ms=5)))
    client = openai_for(server, max_retries=0)
    with pytest.raises(openai.InternalServerError) as overloaded:
        client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}])
    assert overloaded.value.status_code == 503
    assert overloaded.value.body == {
        "message": "The engine is currently overloaded, please try again later",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}])
    assert limited.value.response.headers["retry-after-ms"] == "5"
    assert limited.value.code == "rate_limit_exceeded"
    assert server.faults_injected == {"overloaded": 1, "http_429": 1}


def test_openai_sdk_retries_through_scripted_faults(
    make_server: ServerFactory, openai_for: OpenAISync
) -> None:
    fast_429 = Fault.status(429, retry_after_ms=1)
    server = make_server(faults=FaultPlan.every_request(fast_429, 2))
    completion = openai_for(server, max_retries=2).chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "ok"
    assert server.request_count == 3


def test_random_faults_are_reproducible_for_a_seed() -> None:
    def pattern(seed: int) -> list[str | None]:
        plan = FaultPlan(rate_529=0.2, rate_429=0.1, rate_500=0.1, seed=seed)
        return [f.label if (f := plan.fault_for(n)) else None for n in range(1, 201)]

    first, again, other = pattern(7), pattern(7), pattern(8)
    assert first == again
    assert first != other
    share = sum(1 for label in first if label) / len(first)
    assert 0.25 < share < 0.55
    assert {"overloaded", "http_429", "http_500"} <= {label for label in first if label}


def test_scripted_fault_wins_over_random_draw() -> None:
    plan = FaultPlan(scripted={3: Fault.truncate()}, rate_529=1.0)
    first, third = plan.fault_for(1), plan.fault_for(3)
    assert first is not None and first.kind == "overloaded"
    assert third is not None and third.kind == "truncate"


def test_truncate_fault_cuts_text_and_reports_max_tokens(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(text_and_tool, faults={1: Fault.truncate(0.25)})
    message = ask(anthropic_for(server))
    assert message.stop_reason == "max_tokens"
    text = message.content[0].text if message.content[0].type == "text" else ""
    assert TEXT.startswith(text) and len(text) < len(TEXT) / 2
    assert message.usage.output_tokens == int(count_tokens(TEXT) * 0.25)
    assert server.faults_injected == {"truncate": 1}


def test_garbage_fault_breaks_openai_tool_arguments(
    make_server: ServerFactory, openai_for: OpenAISync
) -> None:
    server = make_server(text_and_tool, faults={1: Fault.garbage()})
    completion = openai_for(server).chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}], tools=[OPENAI_TOOL]
    )
    tool_calls = completion.choices[0].message.tool_calls
    assert tool_calls is not None and tool_calls[0].type == "function"
    with pytest.raises(ValueError):
        json.loads(tool_calls[0].function.arguments)
    assert completion.choices[0].message.content == GARBAGE_TEXT


def test_garbage_fault_makes_anthropic_stream_helper_reject_tool_json(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(text_and_tool, faults={1: Fault.garbage()})
    with (
        pytest.raises(ValueError, match="Unable to parse tool parameter JSON"),
        anthropic_for(server).messages.stream(
            model="claude-sonnet-5",
            max_tokens=1000,
            messages=[{"role": "user", "content": "hi"}],
            tools=[TOOL],
        ) as stream,
    ):
        stream.get_final_message()


def test_garbage_fault_replaces_plain_text(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server(text_and_tool, faults={1: Fault.garbage()})
    message = ask(anthropic_for(server))
    assert message.content[0].type == "text" and message.content[0].text == GARBAGE_TEXT


def test_dropped_anthropic_stream_raises_in_the_sdk(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server(text_and_tool, faults={1: Fault.drop(0.5)})
    received: list[str] = []
    with (
        pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)),
        anthropic_for(server, max_retries=2).messages.stream(
            model="claude-sonnet-5", max_tokens=1000, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        for text in stream.text_stream:
            received.append(text)
    assert received  # the stream had started before it broke
    assert "".join(received) != TEXT
    assert server.faults_injected == {"drop": 1}


def test_dropped_openai_stream_raises_connection_error(
    make_server: ServerFactory, openai_for: OpenAISync
) -> None:
    server = make_server(text_and_tool, faults={1: Fault.drop(0.3)})
    stream = openai_for(server).chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        for _ in stream:
            pass


def test_mid_stream_overload_event_raises_status_error_in_both_sdks(
    make_server: ServerFactory, anthropic_for: Sync, openai_for: OpenAISync
) -> None:
    server = make_server(text_and_tool, faults=FaultPlan.every_request(Fault.stream_error(), 3))
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        anthropic_for(server).messages.stream(
            model="claude-sonnet-5", max_tokens=1000, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        stream.get_final_message()
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    with pytest.raises(openai.APIError, match="overloaded"):
        for _ in openai_for(server).chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
    # Without a stream to break into, the same fault is an overload status.
    with pytest.raises(anthropic.OverloadedError):
        ask(anthropic_for(server))
    assert server.faults_injected == {"stream_error": 3}


def test_dropped_json_response_is_retried_by_the_sdk(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server(text_and_tool, faults={1: Fault.drop()})
    message = ask(anthropic_for(server, max_retries=1))
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    assert server.request_count == 2


def test_stall_fault_delays_the_response_past_a_client_timeout(
    make_server: ServerFactory, openai_for: OpenAISync
) -> None:
    server = make_server(faults={1: Fault.stall(1.0)})
    client = openai_for(server).with_options(timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}])
    assert server.faults_injected == {"stall": 1}


def test_responder_exception_becomes_500_and_is_recorded(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    def broken(request: FakeRequest) -> FakeReply:
        raise RuntimeError("responder bug")

    server = make_server(broken)
    with pytest.raises(anthropic.InternalServerError):
        ask(anthropic_for(server))
    (error,) = server.responder_errors
    assert "responder bug" in error
