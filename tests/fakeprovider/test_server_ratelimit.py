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
    long_text = "Migrate javax.persistence imports to jakarta.persistence in every entity class. " * 150
    system: Any = [{"type": "text", "text": long_text, "cache_control": {"type": "ephemeral"}}]
    # 5100 prompt tokens against a 6000 budget: only a free cache read lets the second request in.
    limits = RateLimits(input_tokens_per_minute=6000)
    server = make_server(rate_limits=limits, caching=CachingModel())
    client = anthropic_for(server)
    first = client.messages.create(model="claude-sonnet-5", max_tokens=10, system=system, messages=MESSAGES)
    assert first.usage.cache_creation_input_tokens == 5100
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
