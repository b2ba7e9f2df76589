"""The adaptive provider against the fake server: cache warming, our own retries, billing of retries."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kantra_ai.engine.adaptive import DEFAULT_MAX_ATTEMPTS, UNREACHABLE_ATTEMPTS, AdaptiveProvider
from kantra_ai.engine.ratelimit import AdaptiveLimiter, RateLimitConfig
from kantra_ai.engine.scheduling import wrap_provider
from kantra_ai.formats import TOOL_CALL
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.anthropic_provider import AnthropicProvider
from kantra_ai.providers.base import ModelRequest, ProviderError
from kantra_ai.providers.openai_provider import OpenAIProvider
from kantra_ai.providers.pricing import Usage
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.faults import Fault, FaultPlan
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.server import FakeProviderServer

MODEL = "claude-sonnet-5-5"
GUIDANCE = "## Rules involved\n\n### Rule javax-to-jakarta-import-00001 (mandatory, effort 1)\n" + (
    "Replace the javax packages by their jakarta equivalents. " * 20
)


def _request(n: int, guidance: str = GUIDANCE) -> ModelRequest:
    prompt = f"## File: src/F{n}.java\n\n```java\nclass F{n} {{}}\n```\n\n## Incidents\n"
    # Instructions long enough to be cached on their own (with worked examples, as a padded run has).
    system = PromptBuilder(TOOL_CALL).system() + "\n" + TOOL_CALL.example
    return ModelRequest(system, guidance, prompt, max_tokens=400, tool=TOOL_CALL.tool)


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    # A time to first token long enough that parallel requests are all in flight before any of them
    # has written the cache (a zero-latency server would let the first finish before the next).
    with FakeProviderServer(respond, latency=LatencyModel(ttft=0.3)) as fake:
        yield fake


def _adaptive(server: FakeProviderServer, *, warm: bool = True) -> AdaptiveProvider:
    inner = AnthropicProvider(MODEL, api_key="test-key", base_url=server.anthropic_base_url, max_retries=0)
    return AdaptiveProvider(inner, AdaptiveLimiter(initial_window=16, time_scale=1000.0), warm_prefixes=warm)


async def _fan_out(provider: AdaptiveProvider, count: int) -> Usage:
    try:
        responses = await asyncio.gather(*(provider.complete(_request(n)) for n in range(count)))
    finally:
        await provider.aclose()
    return sum((r.usage for r in responses), Usage())


async def test_parallel_requests_sharing_a_prefix_write_it_once_and_read_it_after(
    server: FakeProviderServer,
) -> None:
    provider = _adaptive(server)
    usage = await _fan_out(provider, 8)
    one_write = usage.cache_write_tokens
    assert provider.cache_stats.leaders == 1  # one request warmed instructions and guidance
    assert provider.cache_stats.held_back == 7
    assert usage.cache_read_tokens == 7 * one_write > 0


async def test_without_warming_parallel_requests_all_pay_the_cache_write(server: FakeProviderServer) -> None:
    usage = await _fan_out(_adaptive(server, warm=False), 8)
    assert usage.cache_read_tokens == 0
    assert usage.cache_write_tokens > 0


async def test_the_instructions_prefix_is_shared_across_rule_sets(server: FakeProviderServer) -> None:
    provider = _adaptive(server)
    other = GUIDANCE.replace("javax-to-jakarta-import-00001", "ee-to-quarkus-00000")
    try:
        first = await provider.complete(_request(1))
        second = await provider.complete(_request(2, other))
    finally:
        await provider.aclose()
    assert first.usage.cache_read_tokens == 0
    # The second rule set reads the instructions and writes only its own guidance.
    assert 0 < second.usage.cache_read_tokens < first.usage.cache_write_tokens


async def test_overload_and_rate_limit_answers_are_retried_by_the_limiter_not_the_sdk() -> None:
    faults = FaultPlan.sequence(Fault.overloaded(retry_after_ms=1), Fault.status(429, retry_after_ms=1))
    with FakeProviderServer(respond, faults=faults) as server:
        provider = wrap_provider(
            AnthropicProvider(MODEL, api_key="k", base_url=server.anthropic_base_url), time_scale=1000.0
        )
        try:
            response = await provider.complete(_request(1))
        finally:
            await provider.aclose()
        assert server.request_count == 3
    assert response.stop_reason == "tool_use"
    assert provider.limiter.stats.overloaded == 1
    assert provider.limiter.stats.rate_limited == 1


async def test_a_rejected_key_is_not_retried() -> None:
    faults = FaultPlan.every_request(Fault.status(401), 5)
    with FakeProviderServer(respond, faults=faults) as server:
        provider = wrap_provider(
            AnthropicProvider(MODEL, api_key="k", base_url=server.anthropic_base_url), time_scale=1000.0
        )
        with pytest.raises(ProviderError) as raised:
            await provider.complete(_request(1))
        await provider.aclose()
        assert server.request_count == 1
    assert raised.value.fatal


@pytest.fixture
def hang_up() -> Iterator[tuple[str, list[int]]]:
    """An endpoint that takes each connection and closes it at once: never an answer. Yields its
    URL and the count of connections it took."""
    listener = socket.create_server(("127.0.0.1", 0))
    taken = [0]

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            taken[0] += 1
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", taken
    listener.close()
    thread.join(timeout=5)


async def test_an_endpoint_that_never_answered_stops_the_run_after_a_few_quiet_retries(
    hang_up: tuple[str, list[int]],
) -> None:
    url, taken = hang_up
    inner = AnthropicProvider(MODEL, api_key="k", base_url=url, max_retries=0)
    provider = wrap_provider(inner, time_scale=1000.0)
    announced: list[float] = []
    quiet = provider.limiter.sleep

    async def announcing(seconds: float) -> None:  # as run.py wraps it: "waiting on the rate limit"
        announced.append(seconds)
        await quiet(seconds)

    provider.limiter.sleep = announcing
    with pytest.raises(ProviderError) as raised:
        await provider.complete(_request(1))
    await provider.aclose()
    assert raised.value.fatal  # the run stops: every other request would wait as long
    assert "no answer from the provider yet" in str(raised.value)
    assert taken[0] == UNREACHABLE_ATTEMPTS < DEFAULT_MAX_ATTEMPTS
    assert announced == []  # a connection retry is not a rate-limit wait


async def test_once_the_endpoint_answered_a_dropped_connection_gets_every_attempt() -> None:
    drops = UNREACHABLE_ATTEMPTS + 1
    faults = FaultPlan(scripted={n: Fault.drop(0.0) for n in range(2, drops + 2)})
    with FakeProviderServer(respond, faults=faults) as server:
        provider = wrap_provider(
            AnthropicProvider(MODEL, api_key="k", base_url=server.anthropic_base_url, max_retries=0),
            time_scale=1000.0,
        )
        try:
            await provider.complete(_request(1))
            response = await provider.complete(_request(2))  # a blip mid-run: patience
        finally:
            await provider.aclose()
        assert server.request_count == drops + 2
    assert response.stop_reason == "tool_use"


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
async def test_a_stream_that_began_and_broke_off_is_an_answer_not_a_wrong_address(protocol: str) -> None:
    # From the first request on, every response starts (HTTP 200, half its events) and breaks off:
    # the endpoint is there, so each gets every attempt, as a blip mid-run does.
    drops = UNREACHABLE_ATTEMPTS + 1
    faults = FaultPlan(scripted={n: Fault.drop(0.5) for n in range(1, drops + 1)})
    with FakeProviderServer(respond, faults=faults) as server:
        inner: Any = (
            AnthropicProvider(MODEL, api_key="k", base_url=server.anthropic_base_url, max_retries=0)
            if protocol == "anthropic"
            else OpenAIProvider(
                "openai", "gpt-5", api_key="k", base_url=server.openai_base_url, max_retries=0
            )
        )
        provider = wrap_provider(inner, time_scale=1000.0)
        try:
            response = await provider.complete(_request(1))
        finally:
            await provider.aclose()
        assert server.request_count == drops + 1
    assert response.tool_input is not None


async def test_tokens_billed_by_a_broken_stream_are_added_to_the_retried_reply() -> None:
    with FakeProviderServer(respond, faults={1: Fault.drop(0.9)}) as server:
        provider = wrap_provider(
            AnthropicProvider(MODEL, api_key="k", base_url=server.anthropic_base_url), time_scale=1000.0
        )
        try:
            response = await provider.complete(_request(1))
        finally:
            await provider.aclose()
    # The dropped attempt already reported its input at message_start: it is billed too.
    single = (
        response.usage.input_tokens + response.usage.cache_write_tokens + response.usage.cache_read_tokens
    )
    assert server.request_count == 2
    assert single > 0
    assert response.usage.cache_write_tokens + response.usage.cache_read_tokens > 0


async def test_the_next_requests_are_sized_for_output_tokens_once_requests_wait_for_them(
    server: FakeProviderServer,
) -> None:
    # An output limit of two requests' max_tokens a minute: of three sent at once, one waits for it.
    # The limiter's clock moves only when it sleeps, so that no bucket refills while the three are
    # admitted, however slowly a loaded machine schedules them.
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    inner = AnthropicProvider(MODEL, api_key="test-key", base_url=server.anthropic_base_url, max_retries=0)
    limiter = AdaptiveLimiter(
        RateLimitConfig(output_tokens_per_minute=800), clock=lambda: now[0], sleep=sleep
    )
    provider = AdaptiveProvider(inner, limiter, warm_prefixes=False)
    try:
        await provider.complete(_request(0))
        assert not provider.calibration.output_bound
        await asyncio.gather(*(provider.complete(_request(n)) for n in range(1, 4)))
        assert provider.calibration.output_bound
    finally:
        await provider.aclose()
