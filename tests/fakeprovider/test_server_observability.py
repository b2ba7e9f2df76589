"""What tests can observe (requests, connections, credentials), concurrency, latency, lifecycle, CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from kantra_ai.simulated.continuation import Continuing
from kantra_ai.simulated.contract import FakeReply, FakeRequest
from testing.fakeprovider.__main__ import build_parser, load_responder, server_from_args
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.server import FakeProviderServer, ok_responder

ServerFactory = Callable[..., FakeProviderServer]
Sync = Callable[..., anthropic.Anthropic]
MESSAGES: Any = [{"role": "user", "content": "hi"}]
ROOT = Path(__file__).resolve().parents[2]  # `testing` is a package at the repository root


def test_base_urls_point_at_loopback_port(make_server: ServerFactory) -> None:
    server = make_server()
    assert server.port > 0
    assert server.anthropic_base_url == f"http://127.0.0.1:{server.port}"
    assert server.openai_base_url == f"http://127.0.0.1:{server.port}/v1"


def test_non_loopback_host_is_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeProviderServer(host="0.0.0.0")


def test_an_unused_server_has_accepted_no_connections(make_server: ServerFactory) -> None:
    server = make_server()
    anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k")  # building a client sends nothing
    time.sleep(0.05)
    assert server.connection_count == 0
    assert server.request_count == 0
    assert server.requests == []


def test_keep_alive_reuses_one_connection_per_client(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server()
    client = anthropic_for(server)
    for _ in range(3):
        client.messages.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    assert server.request_count == 3
    assert server.connection_count == 1
    anthropic_for(server).messages.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    assert server.connection_count == 2


def test_api_key_arrives_as_bearer_and_no_other_credential_headers(
    make_server: ServerFactory,
    anthropic_for: Sync,
    openai_for: Callable[..., openai.OpenAI],
    api_key: str,
) -> None:
    server = make_server()
    anthropic_for(server).messages.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    openai_for(server).chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert server.seen_auth_headers == [
        {"authorization": f"Bearer {api_key}"},
        {"authorization": f"Bearer {api_key}"},
    ]


def test_sensitive_looking_extra_headers_are_recorded(make_server: ServerFactory) -> None:
    server = make_server()
    httpx2.post(
        f"{server.openai_base_url}/chat/completions",
        json={"model": "gpt-5", "messages": MESSAGES},
        headers={"Authorization": "Bearer a", "X-Github-Token": "ghp_leak", "X-Trace": "fine"},
    )
    assert server.seen_auth_headers == [{"authorization": "Bearer a", "x-github-token": "ghp_leak"}]


def test_reset_stats_restarts_counting(make_server: ServerFactory, anthropic_for: Sync) -> None:
    server = make_server()
    anthropic_for(server).messages.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    server.reset_stats()
    assert (server.request_count, server.connection_count, server.seen_auth_headers) == (0, 0, [])


async def test_thirty_two_concurrent_streams_all_complete(
    make_server: ServerFactory, async_anthropic_for: Callable[..., anthropic.AsyncAnthropic]
) -> None:
    def numbered(request: FakeRequest) -> FakeReply:
        return FakeReply(text=f"answer to {request.last_user_text()} " + "token " * 60)

    server = make_server(numbered, latency=LatencyModel(ttft=0.3, tps=2000))
    client = async_anthropic_for(server)

    async def one(i: int) -> str:
        async with client.messages.stream(
            model="claude-sonnet-5", max_tokens=500, messages=[{"role": "user", "content": f"q{i}"}]
        ) as stream:
            return "".join([text async for text in stream.text_stream])

    started = time.monotonic()
    texts = await asyncio.gather(*(one(i) for i in range(32)))
    elapsed = time.monotonic() - started
    assert [t.split()[2] for t in texts] == [f"q{i}" for i in range(32)]
    assert server.request_count == 32
    assert server.connection_count >= 8  # really concurrent, not serialised over one connection
    assert elapsed < 4.0  # one at a time, 32 x 0.3 s of time to first token alone would take 9.6 s


def test_time_to_first_token_and_output_rate_shape_a_stream(
    make_server: ServerFactory, openai_for: Callable[..., openai.OpenAI]
) -> None:
    text = "word " * 100  # 100 tokens: 0.4 s at 250 tokens/s
    server = make_server(lambda r: FakeReply(text=text), latency=LatencyModel(ttft=0.2, tps=250))
    client = openai_for(server)
    # Warm up (on an instant server): the SDK builds its chunk models on first use, which would
    # otherwise delay the first arrival measured below.
    for _ in openai_for(make_server()).chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True):
        pass
    started = time.monotonic()
    stream = client.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True)
    arrivals: list[float] = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert 0.2 <= arrivals[0] < 0.8
    assert arrivals[-1] >= 0.55
    assert arrivals[-1] - arrivals[0] >= 0.3  # spread out, not one burst


def test_latency_applies_to_json_responses_as_total_time(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(lambda r: FakeReply(text="word " * 100), latency=LatencyModel(ttft=0.1, tps=500))
    started = time.monotonic()
    anthropic_for(server).messages.create(model="claude-sonnet-5", max_tokens=500, messages=MESSAGES)
    assert 0.3 <= time.monotonic() - started < 1.0  # 0.1 s + 100 tokens / 500 per s


def test_stop_ends_a_slow_stream_promptly(make_server: ServerFactory) -> None:
    server = make_server(lambda r: FakeReply(text="word " * 500), latency=LatencyModel(tps=20))
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    stream = client.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True)
    next(iter(stream))
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0
    with pytest.raises(openai.APIConnectionError):
        for _ in stream:
            pass


def test_unknown_path_is_404_in_the_callers_protocol(make_server: ServerFactory) -> None:
    server = make_server()
    anthropic_style = httpx2.post(
        f"{server.anthropic_base_url}/v1/nope", json={}, headers={"anthropic-version": "x"}
    )
    openai_style = httpx2.post(f"{server.openai_base_url}/nope", json={})
    assert anthropic_style.status_code == 404 and anthropic_style.json()["error"]["type"] == "not_found_error"
    assert openai_style.status_code == 404 and "message" in openai_style.json()["error"]


def test_models_endpoint_answers_both_sdks(
    make_server: ServerFactory, anthropic_for: Sync, openai_for: Callable[..., openai.OpenAI]
) -> None:
    server = make_server()
    assert [m.id for m in anthropic_for(server).models.list()]
    assert [m.id for m in openai_for(server).models.list()]


def test_load_responder_imports_module_function() -> None:
    assert load_responder("testing.fakeprovider.server:ok_responder") is ok_responder
    with pytest.raises(ValueError, match="module:function"):
        load_responder("testing.fakeprovider.server")


def test_cli_arguments_configure_the_server() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "0",
            "--ttft",
            "1.5",
            "--tps",
            "80",
            "--fault-rate-529",
            "0.03",
            "--rpm",
            "50",
            "--no-cache",
        ]
    )
    server = server_from_args(args)
    assert server.latency == LatencyModel(ttft=1.5, tps=80)
    assert server.faults.rate_529 == 0.03
    assert server.limiter is not None and server.limiter.limits.requests_per_minute == 50
    assert server.caching.enabled is False
    assert isinstance(server.responder, Continuing) and server.responder.inner is ok_responder


def test_cli_prints_base_urls_and_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "testing.fakeprovider", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        anthropic_url = process.stdout.readline().strip().split("=", 1)[1]
        openai_url = process.stdout.readline().strip().split("=", 1)[1]
        assert first.startswith("fake provider listening on http://127.0.0.1:")
        assert openai_url == anthropic_url + "/v1"
        reply = openai.OpenAI(base_url=openai_url, api_key="k").chat.completions.create(
            model="gpt-5", messages=MESSAGES
        )
        assert reply.choices[0].message.content == "ok"
        process.send_signal(2)  # SIGINT, like Ctrl-C
        output, _ = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "served 1 requests over 1 connections" in output
    finally:
        if process.poll() is None:
            process.kill()
