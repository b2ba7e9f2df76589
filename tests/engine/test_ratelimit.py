"""The adaptive limiter: rate-limit buckets, AIMD window, limits from config and from headers.

Time is virtual: the limiter gets a clock and a sleep that advances it, so these tests assert on
how long the limiter *decided* to wait, never on wall time.
"""

from __future__ import annotations

import asyncio

import pytest

from kantra_ai.engine.ratelimit import (
    OVERLOAD_CUT,
    RATE_LIMIT_CUT,
    AdaptiveLimiter,
    BucketSet,
    RateLimitConfig,
)
from kantra_ai.providers.pricing import Usage


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def limiter(
    limits: RateLimitConfig | None = None,
    *,
    initial_window: int = 8,
    max_window: int = 32,
    time_scale: float = 1.0,
) -> tuple[AdaptiveLimiter, VirtualTime]:
    time = VirtualTime()
    made = AdaptiveLimiter(
        limits,
        initial_window=initial_window,
        max_window=max_window,
        time_scale=time_scale,
        clock=time.clock,
        sleep=time.sleep,
    )
    return made, time


def test_rate_limit_spec_accepts_any_subset_with_k_and_m_suffixes() -> None:
    config = RateLimitConfig.parse("rpm=1000, itpm=450k,otpm=0.09m")
    assert config == RateLimitConfig(1000, 450_000, 90_000)
    assert RateLimitConfig.parse("otpm=8000") == RateLimitConfig(output_tokens_per_minute=8000)


@pytest.mark.parametrize("spec", ["rpm", "tpm=5", "rpm=-3", "rpm=lots"])
def test_a_bad_rate_limit_spec_is_refused_with_the_culprit_named(spec: str) -> None:
    with pytest.raises(ValueError, match="rate limits"):
        RateLimitConfig.parse(spec)


async def test_output_is_reserved_from_max_tokens_so_requests_wait_for_the_output_budget() -> None:
    lim, time = limiter(RateLimitConfig(output_tokens_per_minute=6000), initial_window=10)
    for _ in range(3):
        await lim.acquire(100, 2000)  # the full bucket admits three at once
    assert time.now == 0.0
    await lim.acquire(100, 2000)  # the fourth waits for 2000 tokens to refill at 100/s
    assert time.now == pytest.approx(20.0, rel=0.05)


async def test_unused_output_reservation_is_handed_back_when_the_request_ends() -> None:
    lim, time = limiter(RateLimitConfig(output_tokens_per_minute=6000), initial_window=10)
    tickets = [await lim.acquire(100, 2000) for _ in range(3)]
    for ticket in tickets:
        await lim.release(ticket, usage=Usage(input_tokens=100, output_tokens=200), headers={})
    await lim.acquire(100, 2000)
    assert time.now == 0.0  # 3 x 1800 unused tokens came back


async def test_cache_reads_do_not_use_input_budget_but_writes_do() -> None:
    lim, _ = limiter(RateLimitConfig(input_tokens_per_minute=10_000), initial_window=10)
    ticket = await lim.acquire(5000, 100)
    await lim.release(ticket, usage=Usage(input_tokens=500, cache_read_tokens=4500), headers={})
    level_after_read = lim._buckets["input"].level
    ticket = await lim.acquire(5000, 100)
    await lim.release(ticket, usage=Usage(input_tokens=500, cache_write_tokens=4500), headers={})
    assert level_after_read == pytest.approx(9500, abs=1)
    assert lim._buckets["input"].level == pytest.approx(4500, abs=1)


async def test_the_window_caps_requests_in_flight_until_one_finishes() -> None:
    lim, _ = limiter(initial_window=2, max_window=2)
    first = await lim.acquire(10, 10)
    await lim.acquire(10, 10)
    assert lim.in_flight == 2
    third = asyncio.ensure_future(lim.acquire(10, 10))
    await asyncio.sleep(0)
    assert not third.done()
    await lim.release(first, usage=Usage(), headers={})
    await asyncio.wait_for(third, 1)
    assert lim.in_flight == 2


async def test_successes_grow_the_window_up_to_its_ceiling() -> None:
    lim, _ = limiter(initial_window=4, max_window=6)
    for _ in range(10):
        await lim.release(await lim.acquire(1, 1), usage=Usage(), headers={})
    assert lim.window == 6


async def test_a_429_halves_the_window_once_per_round_trip() -> None:
    lim, time = limiter(initial_window=16, max_window=16)
    early = [await lim.acquire(1, 1) for _ in range(3)]
    time.now = 1.0
    for ticket in early:  # three 429s for requests sent together: one congestion event, one cut
        await lim.release(ticket, usage=None, headers={}, status=429)
    assert lim.window == 16 * RATE_LIMIT_CUT
    time.now = 2.0
    later = await lim.acquire(1, 1)
    await lim.release(later, usage=None, headers={}, status=429)  # sent after the cut: cuts again
    assert lim.window == 16 * RATE_LIMIT_CUT * RATE_LIMIT_CUT
    assert lim.stats.rate_limited == 4


async def test_a_lone_529_is_noise_but_two_within_a_request_duration_cut_the_window() -> None:
    lim, time = limiter(initial_window=20, max_window=20)
    first, second = await lim.acquire(1, 1), await lim.acquire(1, 1)
    time.now = 0.1
    await lim.release(first, usage=None, headers={}, status=529)
    assert lim.window == 20
    await lim.release(second, usage=None, headers={}, status=529)
    assert lim.window == 20 * OVERLOAD_CUT


async def test_limits_announced_in_headers_are_learned_but_configured_ones_win() -> None:
    lim, _ = limiter(RateLimitConfig(requests_per_minute=50))
    headers = {
        "anthropic-ratelimit-requests-limit": "4000",
        "anthropic-ratelimit-output-tokens-limit": "80000",
        "anthropic-ratelimit-input-tokens-limit": "400000",
    }
    await lim.release(await lim.acquire(1, 1), usage=Usage(), headers=headers)
    assert lim.limits == {"requests": 50, "output": 80_000, "input": 400_000}


async def test_after_a_429_the_providers_remaining_count_replaces_an_optimistic_one() -> None:
    lim, _ = limiter(RateLimitConfig(output_tokens_per_minute=90_000))
    ticket = await lim.acquire(1, 1000)
    headers = {"anthropic-ratelimit-output-tokens-remaining": "1200", "retry-after-ms": "500"}
    await lim.release(ticket, usage=None, headers=headers, status=429)
    assert lim._buckets["output"].level <= 1200 + 1


def test_backoff_follows_retry_after_and_otherwise_grows_exponentially() -> None:
    lim, _ = limiter(time_scale=1.0)
    assert lim.pushback_delay(0, 2.5) == 2.5
    assert lim.pushback_delay(4, None) > lim.pushback_delay(0, None)


async def test_a_429_empties_every_bucket_until_it_refills() -> None:
    made, time = limiter(RateLimitConfig(requests_per_minute=60))
    ticket = await made.acquire(10, 10)
    await made.release(ticket, usage=None, headers={}, status=429)
    started = time.now
    await made.acquire(10, 10)
    assert time.now - started >= 0.99  # one request's worth (1 s at 60 per minute) had to refill


async def test_without_headers_a_429_teaches_the_limits_nobody_configured() -> None:
    made, time = limiter()
    for _ in range(30):
        ticket = await made.acquire(100, 50)
        await made.release(ticket, usage=Usage(input_tokens=100, output_tokens=50), headers={})
        time.now += 1.0  # 30 requests over 30 s: one a second
    ticket = await made.acquire(100, 50)
    await made.release(ticket, usage=None, headers={}, status=429)
    assert made.stats.learned_limits == 1
    # What was sent per minute (31 requests in 30 s is 62 a minute), a little less.
    assert 50 <= made.limits["requests"] <= 62


async def test_a_provider_that_keeps_unused_output_makes_the_limiter_stop_refunding() -> None:
    made, time = limiter(RateLimitConfig(output_tokens_per_minute=1000))
    ticket = await made.acquire(10, 800)
    await made.release(ticket, usage=Usage(input_tokens=10, output_tokens=10), headers={})
    assert made.refund_output  # 790 handed back, as a lenient provider does
    ticket = await made.acquire(10, 800)
    await made.release(ticket, usage=None, headers={}, status=429)  # but this one did not
    assert not made.refund_output and made.stats.refunds_stopped
    ticket = await made.acquire(10, 800)
    await made.release(ticket, usage=Usage(input_tokens=10, output_tokens=10), headers={})
    started = time.now
    await made.acquire(10, 800)
    assert time.now - started >= 47  # 800 tokens at 1000 a minute: nothing was handed back


async def test_429s_for_requests_sent_before_a_lesson_do_not_lower_the_limit_again() -> None:
    made, time = limiter(RateLimitConfig(output_tokens_per_minute=10_000))
    assert isinstance(made.buckets, BucketSet)
    made.buckets.refund_output = False  # refunds already ruled out: each lesson lowers the limit
    together = [await made.acquire(10, 100) for _ in range(6)]
    time.now = 1.0
    for ticket in together:  # one overdraft answered six times: one lesson
        await made.release(ticket, usage=None, headers={}, status=429)
    assert made.limits["output"] == 9_000 and made.stats.learned_limits == 1
    time.now = 10.0
    later = await made.acquire(10, 100)
    await made.release(later, usage=None, headers={}, status=429)  # sent after it: a new lesson
    assert made.limits["output"] == 8_100 and made.stats.learned_limits == 2


def test_a_run_is_output_bound_while_requests_wait_for_output_tokens() -> None:
    async def scenario() -> None:
        lim, time = limiter(RateLimitConfig(output_tokens_per_minute=1_000))
        await lim.acquire(10, 900)
        assert not lim.output_bound  # nothing waited yet
        await lim.acquire(10, 900)  # waits for the output bucket to refill
        assert lim.output_bound and time.now > 0
        time.now += 61
        assert not lim.output_bound  # nobody waited for output within the last minute

    asyncio.run(scenario())


def test_a_run_expecting_more_output_than_a_minutes_allowance_is_output_bound_before_any_wait() -> None:
    async def scenario() -> None:
        lim, time = limiter(RateLimitConfig(output_tokens_per_minute=1_000))
        lim.expect_output(900)
        assert not lim.output_bound  # it fits the first minute's allowance
        lim.expect_output(2_500)
        assert lim.output_bound and time.now == 0  # the first bucket will not hold it
        for _ in range(2):
            await lim.release(await lim.acquire(10, 900), usage=Usage(10, 800), headers={})
        time.now += 61  # (the second request waited for the bucket: that wait is a minute old now)
        assert not lim.output_bound  # 900 tokens still to come: a minute's allowance holds them
        unknown, _ = limiter(RateLimitConfig(input_tokens_per_minute=1_000))
        unknown.expect_output(1_000_000)
        assert not unknown.output_bound  # no output limit known: nothing to be bound by yet

    asyncio.run(scenario())


def test_waiting_for_input_tokens_does_not_make_a_run_output_bound() -> None:
    async def scenario() -> None:
        lim, time = limiter(RateLimitConfig(input_tokens_per_minute=1_000, output_tokens_per_minute=1_000))
        await lim.acquire(900, 10)
        await lim.acquire(900, 10)
        assert time.now > 0 and not lim.output_bound

    asyncio.run(scenario())
