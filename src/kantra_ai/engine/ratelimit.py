"""Adaptive concurrency: token buckets for the provider's per-minute limits plus an AIMD window.

Providers limit requests, input tokens and output tokens per minute, and reserve a request's whole
`max_tokens` of output when it starts. `AdaptiveLimiter` keeps a bucket per limit (from the user's
configuration or learned from the `anthropic-ratelimit-*-limit` / `x-ratelimit-limit-*` response
headers), so a request only starts when the provider will accept it, and a congestion window
(additive increase, multiplicative decrease) that caps the requests in flight:

- every completed request grows the window (by one per request while below the slow-start
  threshold, then by one per window's worth of requests);
- a 429 halves it; a 529/503 (the provider overloaded) cuts it by a fifth when two arrive within
  one request duration (a single 529 from a shared fleet is noise, a cluster is a signal);
- at most one cut per round trip: only a request sent after the last cut can cause the next one.

A 429 also says the provider's count is lower than ours: every bucket is emptied (nothing more is
sent until they refill), and when the answer carries no rate-limit headers the limiter learns from
the 429 itself. With unknown limits it adopts, per dimension, what was sent in the last minute (a
little less), and raises these learned limits slowly while no 429 comes. With known limits the
provider disagrees with our accounting: first suspect is the output refund (some providers keep a
request's whole `max_tokens` spent, used or not), so refunds stop; after that, the busiest
dimension's limit is lowered by a tenth per 429. Like the window, the limits learn at most once
per round trip: the 429s of requests sent before the last lesson answer the same overdraft.

The buckets are a `RateBuckets`: the limiter's own (`BucketSet`), or one set shared by every worker
of a portfolio (on Ray a named actor holds a `BucketSet`; `kantra_ai.portfolio.ray_engine`). A
request reserves its estimate before it starts and settles with its real usage after; the window
stays each worker's own, so a 429 still backs that worker off.

`time_scale` runs the limiter's notion of a minute faster (benchmarks shrink latency and rate-limit
windows together); it is 1 in real use.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kantra_ai import bounds
from kantra_ai.providers.pricing import Usage

SLOW_START_THRESHOLD = 64.0
OVERLOAD_CUT = 0.8
RATE_LIMIT_CUT = 0.5
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
LEARNED_SHARE = 0.9  # a limit learned from a 429: this share of the rate sent over the last minute
ADOPTED_GROWTH = 1.5  # limits adopted from nothing grow this much per minute without a 429...
LOWERED_GROWTH = 1.05  # ...limits lowered below the configured ones this much (up to them)
LIMIT_CUT = 0.9  # a known limit the provider disagrees with, lowered by this per 429
# Refunds stop being trusted when a 429 arrives after at least this share of the output limit was
# given back within the last minute (below it, the refunds cannot explain the refusal).
REFUND_SUSPECT_SHARE = 0.05


@dataclass(frozen=True)
class RateLimitConfig:
    """Per-minute limits of the user's tier; None: unknown (learned from headers, if sent)."""

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None

    @classmethod
    def parse(cls, spec: str) -> RateLimitConfig:
        """`"rpm=1000,itpm=450000,otpm=90000"` (any subset, `k` and `m` suffixes allowed)."""
        names = {
            "rpm": "requests_per_minute",
            "itpm": "input_tokens_per_minute",
            "otpm": "output_tokens_per_minute",
        }
        values: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, raw = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in names:
                raise ValueError(f"rate limits: expected rpm=N, itpm=N or otpm=N, got {part!r}")
            values[names[key]] = _count(raw.strip())
        return cls(**values)

    @property
    def empty(self) -> bool:
        return (
            self.requests_per_minute is None
            and self.input_tokens_per_minute is None
            and self.output_tokens_per_minute is None
        )


def _count(raw: str) -> int:
    scale = {"k": 1_000, "m": 1_000_000}.get(raw[-1:].lower(), 1)
    digits = raw[:-1] if scale != 1 else raw
    try:
        value = int(float(digits) * scale)
    except ValueError:
        raise ValueError(f"rate limits: {raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"rate limits: {raw!r} must be positive")
    return value


class TokenBucket:
    """Refills continuously at limit per window up to the limit; may go negative (debt)."""

    def __init__(self, limit: int, window_seconds: float, now: float) -> None:
        self.limit = limit
        self.level = float(limit)
        self.rate = limit / window_seconds
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(float(self.limit), self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        # A request larger than the whole bucket is admitted once the bucket is full, never refused.
        needed = min(amount, float(self.limit))
        return 0.0 if self.level >= needed else (needed - self.level) / self.rate

    def adjust(self, amount: float) -> None:
        self.level = min(float(self.limit), self.level + amount)


@dataclass
class LimiterStats:
    requests: int = 0
    rate_limited: int = 0  # 429s
    overloaded: int = 0  # 529s / 503s
    other_errors: int = 0
    window_cuts: int = 0
    peak_in_flight: int = 0
    budget_wait_seconds: float = 0.0  # total time requests waited for rate-limit budget
    window_history: list[tuple[float, float]] = field(default_factory=list)  # (seconds, window)

    learned_limits: int = 0  # limits adopted or lowered from 429s without headers
    refunds_stopped: bool = False  # the provider keeps unused output reserved: we no longer refund it

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "rate_limited_429": self.rate_limited,
            "limits_learned_from_429": self.learned_limits,
            "output_refunds_stopped": self.refunds_stopped,
            "overloaded_529": self.overloaded,
            "other_errors": self.other_errors,
            "concurrency_cuts": self.window_cuts,
            "peak_in_flight": self.peak_in_flight,
            "budget_wait_seconds": round(self.budget_wait_seconds, 2),
        }


@dataclass
class Ticket:
    """One admitted request: what it took from the buckets, to settle when it ends."""

    sent_at: float
    input_tokens: int
    output_tokens: int


_HEADER_LIMITS = {
    "requests": ("anthropic-ratelimit-requests-limit", "x-ratelimit-limit-requests"),
    "input": ("anthropic-ratelimit-input-tokens-limit", "x-ratelimit-limit-tokens"),
    "output": ("anthropic-ratelimit-output-tokens-limit",),
}


_HEADER_REMAINING = {
    "requests": ("anthropic-ratelimit-requests-remaining", "x-ratelimit-remaining-requests"),
    "input": ("anthropic-ratelimit-input-tokens-remaining", "x-ratelimit-remaining-tokens"),
    "output": ("anthropic-ratelimit-output-tokens-remaining",),
}


# What `RateBuckets.refused` learned from a 429 (stats count it).
LEARNED_LIMITS = "learned limits"
STOPPED_REFUNDS = "stopped refunds"


class RateBuckets(Protocol):
    """The per-minute buckets a limiter takes from; async so that they may live in another process."""

    async def take(self, amounts: Mapping[str, float]) -> float:
        """Take `amounts` (requests, input, output) if every bucket holds them and return 0; else
        take nothing and return how many seconds until they would."""

    async def true_up(self, reserved: Mapping[str, float], billed: Mapping[str, float]) -> None:
        """A finished request: give back what was reserved beyond its real usage (or take more)."""

    async def learn(self, limits: Mapping[str, int]) -> None:
        """Limits the provider announced, for dimensions nobody configured."""

    async def refused(self, remaining: Mapping[str, float], *, said: bool, learn: bool = True) -> str:
        """A 429: the provider's count of what is left (`remaining`, when the answer `said` it)
        beats ours; without it, learn from the 429 itself (unless not to `learn`: a lesson already
        drawn from the same overdraft). Every bucket is emptied. Returns LEARNED_LIMITS,
        STOPPED_REFUNDS or "" (what was learned)."""

    async def grow_learned(self) -> None:
        """A request went through: limits learned from 429s creep back up (once a minute)."""

    def known_limits(self) -> dict[str, int]:
        """The limits known so far (configured or learned; a shared set: as of the last call)."""

    def holding(self) -> str:
        """The bucket the last `take` that had to wait waited for ("requests", "input", "output";
        "" before any did; a shared set: as of the last call)."""


class BucketSet:
    """The buckets themselves, thread-safe: a limiter's own, or what a portfolio's shared actor
    holds for every worker (`RateBuckets`). It remembers what was sent and given back in the last
    minute, which is what a 429 without headers is learned from."""

    def __init__(
        self,
        limits: RateLimitConfig | None = None,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.minute = window_seconds
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        limits = limits or RateLimitConfig()
        for name, value in (
            ("requests", limits.requests_per_minute),
            ("input", limits.input_tokens_per_minute),
            ("output", limits.output_tokens_per_minute),
        ):
            if value is not None:
                self.buckets[name] = TokenBucket(value, window_seconds, clock())
        self.configured = set(self.buckets)
        self._started = clock()
        self._ceiling = {name: bucket.limit for name, bucket in self.buckets.items()}  # as configured
        self._learned: set[str] = set()  # limits adopted or lowered from 429s (they grow back)
        self._adopted: set[str] = set()  # of those, the ones nobody configured
        self._last_growth = clock()
        self.refund_output = True  # give back the output a reply did not use (until a 429 says no)
        self._sent: deque[tuple[float, float, float, float]] = deque()  # (time, requests, input, output)
        self._refunds: deque[tuple[float, float]] = deque()  # (time, output tokens given back)
        self._holding = ""  # the bucket the last take that had to wait waited for

    def take_now(self, amounts: Mapping[str, float]) -> float:
        with self._lock:
            now = self.clock()
            wait = 0.0
            for name, bucket in self.buckets.items():
                bucket.refill(now)
                needed = bucket.wait_for(amounts.get(name, 0.0))
                if needed > wait:
                    wait, self._holding = needed, name
            if wait > 0:
                return wait
            for name, bucket in self.buckets.items():
                bucket.adjust(-min(amounts.get(name, 0.0), float(bucket.limit)))
            sent = (amounts.get("requests", 0.0), amounts.get("input", 0.0), amounts.get("output", 0.0))
            self._sent.append((now, *sent))
            self._forget(now)
            return 0.0

    def true_up_now(self, reserved: Mapping[str, float], billed: Mapping[str, float]) -> None:
        with self._lock:
            if "input" in self.buckets:
                bucket = self.buckets["input"]
                bucket.adjust(min(reserved.get("input", 0.0), bucket.limit) - billed.get("input", 0.0))
            if "output" in self.buckets and self.refund_output:
                bucket = self.buckets["output"]
                refund = max(0.0, min(reserved.get("output", 0.0), bucket.limit) - billed.get("output", 0.0))
                bucket.adjust(refund)
                self._refunds.append((self.clock(), refund))

    def learn_now(self, limits: Mapping[str, int]) -> None:
        with self._lock:
            for name, limit in limits.items():
                if name in self.configured or limit <= 0:
                    continue
                bucket = self.buckets.get(name)
                if bucket is None:
                    # Start half full: what the provider has already seen is unknown; be careful.
                    bucket = TokenBucket(limit, self.minute, self.clock())
                    bucket.level = limit / 2
                    self.buckets[name] = bucket
                elif bucket.limit != limit:
                    bucket.limit, bucket.rate = limit, limit / self.minute
                    bucket.level = min(bucket.level, float(limit))

    def sync_remaining_now(self, remaining: Mapping[str, float]) -> None:
        with self._lock:
            self._sync_remaining(remaining)

    def _sync_remaining(self, remaining: Mapping[str, float]) -> None:
        for name, value in remaining.items():
            bucket = self.buckets.get(name)
            if bucket is not None:
                bucket.refill(self.clock())
                bucket.level = min(bucket.level, value)

    def refused_now(self, remaining: Mapping[str, float], *, said: bool, learn: bool = True) -> str:
        with self._lock:
            now = self.clock()
            learned = ""
            if said:
                self._sync_remaining(remaining)
            elif learn:
                learned = self._learn_from_429(now)
            # The provider refused: whatever we thought was left, it has none. Wait for the refill.
            for bucket in self.buckets.values():
                bucket.refill(now)
                bucket.level = min(bucket.level, 0.0)
            self._last_growth = now  # learned limits grow only while no 429 comes
            return learned

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0][0] < now - self.minute:
            self._sent.popleft()
        while self._refunds and self._refunds[0][0] < now - self.minute:
            self._refunds.popleft()

    def _learn_from_429(self, now: float) -> str:
        """A 429 without rate-limit headers: adopt, or correct, limits from what was sent."""
        self._forget(now)
        sent = {
            "requests": sum(s[1] for s in self._sent),
            "input": sum(s[2] for s in self._sent),
            "output": sum(s[3] for s in self._sent),
        }
        unknown = [name for name in sent if name not in self.buckets]
        if unknown and not self.configured:
            # What was sent per minute (a run younger than a minute: at the rate it went).
            span = max(min(self.minute, now - self._started), self.minute / 60)
            for name in unknown:
                limit = max(1, int(sent[name] * self.minute / span * LEARNED_SHARE))
                self.buckets[name] = TokenBucket(limit, self.minute, now)
                self._learned.add(name)
                self._adopted.add(name)
            return LEARNED_LIMITS
        output = self.buckets.get("output")
        refunded = sum(r[1] for r in self._refunds)
        if output is not None and self.refund_output and refunded >= REFUND_SUSPECT_SHARE * output.limit:
            # The provider does not give back unused output: stop assuming it does.
            self.refund_output = False
            return STOPPED_REFUNDS
        if not self.buckets:
            return ""
        busiest = max(self.buckets, key=lambda name: sent.get(name, 0.0) / self.buckets[name].limit)
        bucket = self.buckets[busiest]
        bucket.limit = max(1, int(bucket.limit * LIMIT_CUT))
        bucket.rate = bucket.limit / self.minute
        self._learned.add(busiest)
        return LEARNED_LIMITS

    def grow_learned_now(self) -> None:
        """Learned limits creep back up while the provider accepts everything."""
        with self._lock:
            now = self.clock()
            if not self._learned or now - self._last_growth < self.minute:
                return
            self._last_growth = now
            for name in self._learned:
                bucket = self.buckets[name]
                growth = ADOPTED_GROWTH if name in self._adopted else LOWERED_GROWTH
                grown = int(bucket.limit * growth) + 1
                bucket.limit = min(grown, self._ceiling.get(name, grown))  # never above what was configured
                bucket.rate = bucket.limit / self.minute

    def known_limits(self) -> dict[str, int]:
        with self._lock:
            return {name: bucket.limit for name, bucket in self.buckets.items()}

    def holding(self) -> str:
        return self._holding

    # RateBuckets, in process: nothing to wait for.
    async def take(self, amounts: Mapping[str, float]) -> float:
        return self.take_now(amounts)

    async def true_up(self, reserved: Mapping[str, float], billed: Mapping[str, float]) -> None:
        self.true_up_now(reserved, billed)

    async def learn(self, limits: Mapping[str, int]) -> None:
        self.learn_now(limits)

    async def refused(self, remaining: Mapping[str, float], *, said: bool, learn: bool = True) -> str:
        return self.refused_now(remaining, said=said, learn=learn)

    async def grow_learned(self) -> None:
        self.grow_learned_now()


def header_limits(headers: Mapping[str, str]) -> dict[str, int]:
    """The per-minute limits a response announces."""
    lowered = {k.lower(): v for k, v in headers.items()}
    found: dict[str, int] = {}
    for name, candidates in _HEADER_LIMITS.items():
        for header in candidates:
            value = lowered.get(header)
            if value is not None and value.isdigit() and int(value) > 0:
                found[name] = int(value)
                break
    return found


def header_remaining(headers: Mapping[str, str]) -> dict[str, float]:
    lowered = {k.lower(): v for k, v in headers.items()}
    found: dict[str, float] = {}
    for name, candidates in _HEADER_REMAINING.items():
        value = next((lowered[h] for h in candidates if h in lowered), None)
        if value is not None and value.isdigit():
            found[name] = float(value)
    return found


def says_remaining(headers: Mapping[str, str]) -> bool:
    """Whether a response says anything about what is left (a 429 without it is learned from)."""
    lowered = {k.lower() for k in headers}
    return any(h in lowered for candidates in _HEADER_REMAINING.values() for h in candidates)


class AdaptiveLimiter:
    def __init__(
        self,
        limits: RateLimitConfig | None = None,
        *,
        initial_window: int = 8,
        max_window: int = 32,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        buckets: RateBuckets | None = None,
    ) -> None:
        """`buckets`: shared with other workers (a portfolio); None: this limiter's own, from `limits`."""
        self.time_scale = time_scale
        self.minute = 60.0 / time_scale
        self.clock = clock
        self.sleep = sleep
        self.max_window = max(1, max_window)
        self.window = float(min(max(1, initial_window), self.max_window))
        self.threshold = SLOW_START_THRESHOLD
        self.in_flight = 0
        self.stats = LimiterStats()
        self._started = clock()
        self.buckets: RateBuckets = buckets or BucketSet(limits, window_seconds=self.minute, clock=clock)
        self._admission = asyncio.Lock()  # first come, first served: big requests are not starved
        self._changed = asyncio.Condition()
        self._last_cut = -math.inf
        self._last_lesson = -math.inf  # when a 429 last taught the buckets something
        self._overloads: deque[float] = deque()
        self._duration = 5.0 / time_scale  # running estimate of one request's duration
        self._output_held_at = -math.inf  # when a request last waited for output tokens
        self._output_ahead = 0.0  # the output the run still expects to produce (`expect_output`)

    @property
    def limits(self) -> dict[str, int]:
        return self.buckets.known_limits()

    @property
    def refund_output(self) -> bool:
        """Whether unused output is given back (until a 429 says the provider keeps it reserved)."""
        own = self.buckets.refund_output if isinstance(self.buckets, BucketSet) else True
        return own and not self.stats.refunds_stopped

    @property
    def output_bound(self) -> bool:
        """The `max_tokens` a request reserves is what the run is waiting on, or soon will be
        (`Calibration.output_bound`): requests waited for the output-token bucket within the last
        minute, or the output the run still expects to produce is more than a minute's allowance of
        a known output limit (then the first bucket is spent on reservations too, before any wait
        could tell)."""
        if self.clock() - self._output_held_at < self.minute:
            return True
        limit = self.limits.get("output")
        return limit is not None and self._output_ahead > limit

    def expect_output(self, tokens: float) -> None:
        """The output the run expects to produce from now on (its plan's estimate); each reply's
        output is taken off it."""
        self._output_ahead = max(0.0, tokens)

    @property
    def _buckets(self) -> dict[str, TokenBucket]:
        """The buckets of a limiter that holds its own (tests look at their levels)."""
        assert isinstance(self.buckets, BucketSet), "shared buckets live elsewhere"
        return self.buckets.buckets

    async def acquire(self, input_tokens: int, output_tokens: int) -> Ticket:
        """Wait until a request of this size fits the window and every bucket, then take its share."""
        amounts = {"requests": 1.0, "input": float(input_tokens), "output": float(output_tokens)}
        asked = self.clock()
        async with self._admission:
            async with self._changed:
                await self._changed.wait_for(lambda: self.in_flight < int(self.window))
            while (wait := await self.buckets.take(amounts)) > 0:
                if self.buckets.holding() == "output":
                    self._output_held_at = self.clock()
                await self.sleep(min(wait, self.minute / 12))
            self.in_flight += 1
        now = self.clock()
        self.stats.requests += 1
        self.stats.budget_wait_seconds += now - asked
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.in_flight)
        return Ticket(now, input_tokens, output_tokens)

    async def release(
        self,
        ticket: Ticket,
        *,
        usage: Usage | None,
        headers: Mapping[str, str],
        status: int | None = None,
    ) -> None:
        """Settle a finished request: true up the buckets, learn limits, move the window."""
        now = self.clock()
        self.in_flight -= 1
        if headers:
            announced = header_limits(headers)
            if announced:
                await self.buckets.learn(announced)
        if status == 429:
            # A 429 without a word about what is left: learn from the 429 itself (see BucketSet.refused).
            remaining = header_remaining(headers)
            # Requests sent before the last lesson were refused for the overdraft it answered:
            # learning from each of them would cut a limit once per request in flight.
            fresh = ticket.sent_at > self._last_lesson
            learned = await self.buckets.refused(remaining, said=says_remaining(headers), learn=fresh)
            if learned:
                self._last_lesson = now
            if learned == LEARNED_LIMITS:
                self.stats.learned_limits += 1
            elif learned == STOPPED_REFUNDS:
                self.stats.refunds_stopped = True
        if usage is not None:
            self._output_ahead = max(0.0, self._output_ahead - usage.output_tokens)
            # Input: cache reads are free against the limit; writes and uncached input count.
            await self.buckets.true_up(
                {"input": float(ticket.input_tokens), "output": float(ticket.output_tokens)},
                {
                    "input": float(usage.input_tokens + usage.cache_write_tokens),
                    "output": float(usage.output_tokens),
                },
            )
        if status is None:
            self._duration = 0.8 * self._duration + 0.2 * max(now - ticket.sent_at, 1e-3)
            self._grow()
            await self.buckets.grow_learned()
        elif status == 429:
            self.stats.rate_limited += 1
            self._cut(ticket, RATE_LIMIT_CUT)
        elif status in (503, 529):
            self.stats.overloaded += 1
            self._overloads.append(now)
            while self._overloads and self._overloads[0] < now - self._duration:
                self._overloads.popleft()
            if len(self._overloads) >= 2:
                self._cut(ticket, OVERLOAD_CUT)
        else:
            self.stats.other_errors += 1
        async with self._changed:
            self._changed.notify_all()

    def _grow(self) -> None:
        step = 1.0 if self.window < self.threshold else 1.0 / self.window
        self.window = min(float(self.max_window), self.window + step)
        self._record()

    def _cut(self, ticket: Ticket, factor: float) -> None:
        if ticket.sent_at <= self._last_cut:
            return  # sent before the last cut: that cut already answered this congestion
        self._last_cut = self.clock()
        self._overloads.clear()
        self.window = max(1.0, self.window * factor)
        self.threshold = max(2.0, self.window)
        self.stats.window_cuts += 1
        self._record()

    def _record(self) -> None:
        self.stats.window_history.append((round(self.clock() - self._started, 3), round(self.window, 2)))

    def pushback_delay(self, attempt: int, retry_after: float | None) -> float:
        """How long to wait before retrying: the server's word, else exponential backoff."""
        if retry_after is not None:
            return retry_after
        backoff = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) / self.time_scale
        return float(backoff * random.uniform(0.75, 1.25))  # jitter: retries must not march in step


def checked_rate_limits(spec: str) -> RateLimitConfig:
    """`spec` parsed and each limit in range (bounds.RATE_LIMIT); ValueError, one phrase, otherwise.
    The one check of the flag and the config file's key."""
    try:
        config = RateLimitConfig.parse(spec)
    except OverflowError as exc:  # "rpm=inf"
        raise ValueError(f"rate limits: {exc}") from None
    for name in ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute"):
        value = getattr(config, name)
        problem = None if value is None else bounds.RATE_LIMIT.problem(value)
        if problem:
            raise ValueError(f"{name.replace('_', ' ')}: {problem}")
    return config
