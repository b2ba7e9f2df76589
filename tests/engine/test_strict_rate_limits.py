"""The limiter against the strict fake provider: unused output never handed back, 429s that say
nothing (no rate-limit headers, no retry-after). Not one request is given up for pushback.

The fake's clock and the limiter's minute run `SCALE` times faster, so a minute is 1 s here.
"""

from __future__ import annotations

import asyncio
import time

from kantra_ai.engine.adaptive import AdaptiveProvider
from kantra_ai.engine.ratelimit import AdaptiveLimiter, RateLimitConfig
from kantra_ai.formats import TOOL_CALL
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.anthropic_provider import AnthropicProvider
from kantra_ai.providers.base import ModelRequest
from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall
from testing.fakeprovider.ratelimit import RateLimits
from testing.fakeprovider.server import FakeProviderServer

SCALE = 60.0  # a minute is 1 s: the burst of requests meets the limits even on a loaded machine
REQUESTS = 24


def _short_reply(request: FakeRequest) -> FakeReply:
    return FakeReply(tool_calls=[ToolCall("apply_fixes", {"edits": [], "verdicts": []})])


def _request(n: int) -> ModelRequest:
    prompt = f"## File: src/F{n}.java\n\n```java\nclass F{n} {{}}\n```\n\n## Incidents\n"
    return ModelRequest(PromptBuilder(TOOL_CALL).system(), "", prompt, max_tokens=400, tool=TOOL_CALL.tool)


async def _run_all(server: FakeProviderServer, max_attempts: int) -> AdaptiveProvider:
    inner = AnthropicProvider(
        "claude-sonnet-5-5", api_key="k", base_url=server.anthropic_base_url, max_retries=0
    )
    # The user gave the tier's limits; the provider's accounting is harsher than the limiter assumes.
    limiter = AdaptiveLimiter(
        RateLimitConfig(requests_per_minute=1000, output_tokens_per_minute=2000),
        initial_window=16,
        max_window=16,
        time_scale=SCALE,
    )
    provider = AdaptiveProvider(inner, limiter, max_attempts=max_attempts)
    try:
        await asyncio.gather(*(provider.complete(_request(n)) for n in range(REQUESTS)))
    finally:
        await provider.aclose()
    return provider


async def test_every_request_waits_its_turn_however_many_429s_it_meets() -> None:
    origin = time.monotonic()
    limits = RateLimits(
        requests_per_minute=1000,
        output_tokens_per_minute=2000,
        clock=lambda: (time.monotonic() - origin) * SCALE,
        strict=True,
    )
    with FakeProviderServer(_short_reply, rate_limits=limits) as server:
        # One attempt each: any 429 would have lost its request before; pushback is not an attempt.
        provider = await _run_all(server, max_attempts=1)
        refused = server.rate_limited_count
    assert refused > 0  # the strict provider did push back...
    assert provider.pushback_retries >= refused  # ...every 429 was waited out, none was fatal
    assert provider.limiter.stats.refunds_stopped  # and the limiter learned that nothing comes back
