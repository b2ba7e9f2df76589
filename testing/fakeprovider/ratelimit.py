"""Per-minute rate limits as token buckets, the way Anthropic and OpenAI enforce them.

Buckets refill continuously (limit / 60 per second) up to the per-minute limit. A request takes one
request slot, its uncached input tokens (cache reads are free, as on current Anthropic models) and
its whole `max_tokens` of output up front; unused output is handed back when the response ends.

`strict=True` is the harsher provider clients must also survive: unused output is never handed
back (the whole `max_tokens` stays spent), and no response says anything about the limits: no
rate-limit headers, and 429s without `retry-after`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class RateLimits:
    """Per-minute limits; None means unlimited. Example: `RateLimits(requests_per_minute=50)`."""

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None
    clock: Callable[[], float] = time.monotonic
    strict: bool = False  # no refund of unused output; no rate-limit headers, no retry-after


class _Bucket:
    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.level = float(limit)
        self.rate = limit / 60.0
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(float(self.limit), self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: int) -> float:
        # A request larger than the whole bucket is admitted once the bucket is full, instead of never.
        needed = min(float(amount), float(self.limit))
        return 0.0 if self.level >= needed else (needed - self.level) / self.rate

    def seconds_to_full(self) -> float:
        return (self.limit - self.level) / self.rate


@dataclass(frozen=True)
class BucketState:
    limit: int
    remaining: int
    reset_seconds: float


@dataclass
class RateDecision:
    allowed: bool
    retry_after_s: float = 0.0
    exceeded: str = ""  # "requests", "input_tokens" or "output_tokens" when refused
    states: dict[str, BucketState] = field(default_factory=dict)

    def anthropic_headers(self) -> dict[str, str]:
        names = {"requests": "requests", "input_tokens": "input-tokens", "output_tokens": "output-tokens"}
        now = datetime.now(UTC)
        headers: dict[str, str] = {}
        for key, state in self.states.items():
            prefix = f"anthropic-ratelimit-{names[key]}"
            reset = (now + timedelta(seconds=state.reset_seconds)).replace(microsecond=0)
            headers[f"{prefix}-limit"] = str(state.limit)
            headers[f"{prefix}-remaining"] = str(state.remaining)
            headers[f"{prefix}-reset"] = reset.isoformat().replace("+00:00", "Z")
        return headers

    def openai_headers(self) -> dict[str, str]:
        # OpenAI has one token limit; the input bucket stands in for it.
        names = {"requests": "requests", "input_tokens": "tokens"}
        headers: dict[str, str] = {}
        for key, suffix in names.items():
            state = self.states.get(key)
            if state is None:
                continue
            headers[f"x-ratelimit-limit-{suffix}"] = str(state.limit)
            headers[f"x-ratelimit-remaining-{suffix}"] = str(state.remaining)
            headers[f"x-ratelimit-reset-{suffix}"] = _openai_duration(state.reset_seconds)
        return headers


def _openai_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.3g}s" if minutes else f"{rest:.3g}s"


class RateLimiter:
    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        now = limits.clock()
        self._buckets: dict[str, _Bucket] = {}
        for key, limit in (
            ("requests", limits.requests_per_minute),
            ("input_tokens", limits.input_tokens_per_minute),
            ("output_tokens", limits.output_tokens_per_minute),
        ):
            if limit is not None:
                self._buckets[key] = _Bucket(limit, now)

    def _states(self) -> dict[str, BucketState]:
        return {
            key: BucketState(bucket.limit, max(0, math.floor(bucket.level)), bucket.seconds_to_full())
            for key, bucket in self._buckets.items()
        }

    def acquire(self, input_tokens: int, output_reserve: int) -> RateDecision:
        amounts = {"requests": 1, "input_tokens": input_tokens, "output_tokens": output_reserve}
        with self._lock:
            now = self.limits.clock()
            for bucket in self._buckets.values():
                bucket.refill(now)
            worst_key, worst_wait = "", 0.0
            for key, bucket in self._buckets.items():
                wait = bucket.wait_for(amounts[key])
                if wait > worst_wait:
                    worst_key, worst_wait = key, wait
            if worst_wait > 0:
                return RateDecision(False, worst_wait, worst_key, self._states())
            for key, bucket in self._buckets.items():
                bucket.level -= min(float(amounts[key]), float(bucket.limit))
            return RateDecision(True, states=self._states())

    def settle(self, output_reserved: int, output_used: int) -> None:
        bucket = self._buckets.get("output_tokens")
        if bucket is None or self.limits.strict:
            return
        refund = min(output_reserved, bucket.limit) - output_used
        if refund <= 0:
            return
        with self._lock:
            bucket.refill(self.limits.clock())
            bucket.level = min(float(bucket.limit), bucket.level + refund)
