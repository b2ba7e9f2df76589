"""Per-minute rate limits: token buckets, output reserved from max_tokens, 429 with real headers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from testing.fakeprovider.caching import CachingModel
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.ratelimit import RateLimiter, RateLimits
from testing.fakeprovider.server import FakeProviderServer
from testing.fakeprovider.tokens import count_tokens

ServerFactory = Callable[..., FakeProviderServer]
Sync = Callable[..., anthropic.Anthropic]
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def test_requests_over_rpm_get_429_with_anthropic_headers(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    server = make_server(rate_limits=RateLimits(requests_per_minute=2))
    client = anthropic_for(server)
    ok = client.messages.with_raw_response.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    assert ok.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert ok.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert ok.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    client.messages.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    headers = caught.value.response.headers
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert 25 <= int(headers["retry-after"]) <= 30  # one request refills in 30 s at 2 per minute
    assert int(headers["retry-after-ms"]) > 25_000
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "rate_limit_error"
    assert server.rate_limited_count == 1
    assert server.request_count == 3


def test_openai_rate_limit_uses_x_ratelimit_headers(
    make_server: ServerFactory, openai_for: Callable[..., openai.OpenAI]
) -> None:
    server = make_server(rate_limits=RateLimits(requests_per_minute=1, input_tokens_per_minute=10_000))
    client = openai_for(server)
    ok = client.chat.completions.with_raw_response.create(model="gpt-5", messages=MESSAGES)
    assert ok.headers["x-ratelimit-limit-requests"] == "1"
    assert ok.headers["x-ratelimit-remaining-requests"] == "0"
    assert ok.headers["x-ratelimit-limit-tokens"] == "10000"
    assert int(ok.headers["x-ratelimit-remaining-tokens"]) < 10_000
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"
    assert "x-ratelimit-reset-requests" in caught.value.response.headers


async def test_output_is_reserved_from_max_tokens_while_a_request_runs(
    make_server: ServerFactory, async_anthropic_for: Callable[..., anthropic.AsyncAnthropic]
) -> None:
    server = make_server(
        latency=LatencyModel(ttft=0.4), rate_limits=RateLimits(output_tokens_per_minute=1000)
    )
    client = async_anthropic_for(server)

    async def call() -> str:
        try:
            await client.messages.create(model="claude-sonnet-5", max_tokens=800, messages=MESSAGES)
        except anthropic.RateLimitError:
            return "429"
        return "ok"

    # The reply is one token, but the first request holds 800 of the 1000 output tokens while it runs.
    assert sorted(await asyncio.gather(call(), call())) == ["429", "ok"]
    # Once it finished, its unused reservation came back, so the next request fits again.
    assert await call() == "ok"


def test_cache_reads_do_not_count_against_input_token_limit(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    long_text = "Migrate javax.persistence imports to jakarta.persistence in every entity class. " * 360
    system: Any = [{"type": "text", "text": long_text, "cache_control": {"type": "ephemeral"}}]
    # About 5,000 prompt tokens against a 6000 budget: only a free cache read lets the second one in.
    limits = RateLimits(input_tokens_per_minute=6000)
    server = make_server(rate_limits=limits, caching=CachingModel())
    client = anthropic_for(server)
    first = client.messages.create(model="claude-sonnet-5", max_tokens=10, system=system, messages=MESSAGES)
    assert 3000 < count_tokens(long_text) <= 6000
    assert first.usage.cache_creation_input_tokens == count_tokens(long_text)
    second = client.messages.create(model="claude-sonnet-5", max_tokens=10, system=system, messages=MESSAGES)
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


def test_buckets_refill_continuously() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimits(requests_per_minute=60, clock=lambda: now[0]))
    for _ in range(60):
        assert limiter.acquire(0, 0).allowed
    refused = limiter.acquire(0, 0)
    assert not refused.allowed and refused.exceeded == "requests"
    assert refused.retry_after_s == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.acquire(0, 0).allowed


async def test_strict_mode_keeps_unused_output_reserved(
    make_server: ServerFactory, async_anthropic_for: Callable[..., anthropic.AsyncAnthropic]
) -> None:
    limits = RateLimits(output_tokens_per_minute=1000, strict=True)
    server = make_server(rate_limits=limits)
    client = async_anthropic_for(server)
    await client.messages.create(model="claude-sonnet-5", max_tokens=800, messages=MESSAGES)
    # The reply was one token, but all 800 stay spent: a second request of 800 does not fit.
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.create(model="claude-sonnet-5", max_tokens=800, messages=MESSAGES)


def test_strict_mode_says_nothing_about_the_limits(
    make_server: ServerFactory, anthropic_for: Sync, openai_for: Callable[..., openai.OpenAI]
) -> None:
    server = make_server(rate_limits=RateLimits(requests_per_minute=2, strict=True))
    client = anthropic_for(server)
    ok = client.messages.with_raw_response.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    assert not any(name.lower().startswith("anthropic-ratelimit") for name in ok.headers)
    client.messages.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="claude-sonnet-5", max_tokens=10, messages=MESSAGES)
    headers = {name.lower() for name in caught.value.response.headers}
    assert not headers & {"retry-after", "retry-after-ms"}
    assert not any(name.startswith("anthropic-ratelimit") for name in headers)
    with pytest.raises(openai.RateLimitError) as refused:
        openai_for(server).chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert not any(
        name.lower().startswith(("x-ratelimit", "retry-after")) for name in refused.value.response.headers
    )
