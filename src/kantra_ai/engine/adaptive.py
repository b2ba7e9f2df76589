"""A provider wrapper that paces requests, retries pushback itself, and warms shared cache prefixes.

`AdaptiveProvider` sits between the engine and a provider adapter (whose SDK client then makes no
retries of its own, so that every 429 and 529 reaches the limiter):

- pacing: each attempt waits for the `AdaptiveLimiter` (rate-limit buckets and the AIMD window);
- retries: a rate-limited (429) or overloaded (529/503) request waits its turn as long as it takes:
  it is never given up for pushback alone, only when the run's deadline passes (`deadline_seconds`,
  none by default). Other retryable failures (5xx, dropped connections) are retried up to
  `max_attempts` (an endpoint that has not answered once this run: `UNREACHABLE_ATTEMPTS`, then
  the run stops); a non-retryable one (bad key, bad request) fails at once. Waits follow the
  server's `retry-after`, else an exponential backoff, and the limiter's buckets (a 429 empties
  them); the tokens of failed attempts are still billed;
- cache warming: requests sharing a cacheable prefix (the instructions, then the rule guidance)
  do not all write it in parallel. The first request for a prefix goes alone; the others wait until
  its response has started (the provider has then written the cache) and read it instead.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.ratelimit import AdaptiveLimiter
from kantra_ai.providers.base import ModelRequest, ModelResponse, ProgressCallback, Provider, ProviderError
from kantra_ai.providers.caching import min_cacheable_tokens, prefix_key, prefix_tokens, static_prefix_tokens
from kantra_ai.providers.pricing import Usage
from kantra_ai.tokens import estimate_tokens

DEFAULT_MAX_ATTEMPTS = 12
# An endpoint that has not answered once this run (connection refused, unknown host, no route) is
# given this many attempts of one request, about 15 s of backoff, before the run stops: a mistyped
# --base-url or a server that is not up fails in seconds, not after every request's twelve
# attempts. Once it has answered, a dropped connection is a blip and gets `max_attempts`.
UNREACHABLE_ATTEMPTS = 6


@dataclass
class _Gate:
    warm: bool = False
    leader: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


@dataclass
class CacheWarmStats:
    leaders: int = 0  # requests that went first for at least one prefix (and wrote it)
    held_back: int = 0  # requests that waited for a leader instead of writing the prefix again
    prefix_tokens: int = 0  # estimated shared-prefix tokens over all attempts (cacheable or not)
    cacheable_prefix_tokens: int = 0  # the same, counting only prefixes long enough to be cached

    def as_dict(self) -> dict[str, int]:
        return {
            "leaders": self.leaders,
            "held_back": self.held_back,
            "prefix_tokens": self.prefix_tokens,
            "cacheable_prefix_tokens": self.cacheable_prefix_tokens,
        }


class AdaptiveProvider:
    """Implements `Provider`; see the module docstring."""

    def __init__(
        self,
        inner: Provider,
        limiter: AdaptiveLimiter,
        *,
        protocol: str = "anthropic",
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        warm_prefixes: bool = True,
        calibration: Calibration | None = None,
        deadline_seconds: float | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.local = inner.local
        self.limiter = limiter
        self.protocol = protocol
        self.max_attempts = max(1, max_attempts)
        self.warm_prefixes = warm_prefixes and not inner.local
        self.cache_stats = CacheWarmStats()
        self._gates: dict[str, _Gate] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._min_cacheable = min_cacheable_tokens(inner.model, protocol=protocol)
        # Real/estimated token ratios learned from usage: pacing and cache decisions use real counts.
        self.calibration = calibration if calibration is not None else Calibration()
        self.deadline = None if deadline_seconds is None else time.monotonic() + deadline_seconds
        self.pushback_retries = 0  # 429/529 answers retried (never given up on before the deadline)
        self.answered = False  # the endpoint has answered once this run (any response, any status)
        # Retries after a failure that is not pushback wait without being announced as a rate-limit
        # wait (run.py announces the limiter's own sleep): captured before anyone wraps it.
        self._retry_sleep = limiter.sleep

    def set_cache_ttl(self, ttl: str) -> None:
        """The TTL of the cache entries the inner provider asks for (Anthropic; OpenAI has none)."""
        if hasattr(self.inner, "cache_ttl"):
            setattr(self.inner, "cache_ttl", ttl)  # noqa: B010 - not part of the Provider protocol

    async def aclose(self) -> None:
        await self.inner.aclose()

    # -- cache warming ---------------------------------------------------------------------------

    def _prefixes(self, request: ModelRequest) -> list[tuple[str, int]]:
        """(key, tokens) of the request's cacheable prefixes, shortest first."""
        static = static_prefix_tokens(request)
        full = prefix_tokens(request)
        static_request = ModelRequest(request.system, "", "", 0, request.tool)
        found = []
        real = self.calibration.real_tokens  # the minimum is in the provider's tokens, not ours
        if real(static) >= self._min_cacheable:
            found.append((prefix_key(static_request, self.model), static))
        if request.guidance and real(full) >= self._min_cacheable:
            found.append((prefix_key(request, self.model), full))
        return found

    async def _enter(self, key: str) -> bool:
        """Wait until `key` is warm or this request may write it; True: this request leads."""
        gate = self._gates.setdefault(key, _Gate())
        waited = False
        async with gate.changed:
            while not gate.warm:
                if not gate.leader:
                    gate.leader = True
                    return True
                if not waited:
                    self.cache_stats.held_back += 1
                    waited = True
                await gate.changed.wait()
        return False

    async def _settle_gates(self, keys: list[str], started: bool) -> None:
        for key in keys:
            gate = self._gates[key]
            async with gate.changed:
                if started:
                    gate.warm = True
                gate.leader = False
                gate.changed.notify_all()

    # -- requests --------------------------------------------------------------------------------

    async def complete(
        self, request: ModelRequest, on_progress: ProgressCallback | None = None
    ) -> ModelResponse:
        prefixes = self._prefixes(request) if self.warm_prefixes else []
        shared = prefix_tokens(request)
        body_tokens = estimate_tokens(request.prompt)
        billed_before = Usage()
        failures = 0  # failed attempts other than pushback
        pushbacks = 0
        while True:
            leading = [key for key, _ in prefixes if await self._enter(key)]
            self.cache_stats.leaders += bool(leading)
            warm = bool(prefixes) and all(self._gates[key].warm for key, _ in prefixes)
            # Cache reads do not count against input-token limits: a warm prefix costs no budget.
            estimate = self.calibration.real_tokens(body_tokens + (0 if warm else shared))
            self.cache_stats.prefix_tokens += shared
            if prefixes:
                self.cache_stats.cacheable_prefix_tokens += max(t for _, t in prefixes)
            try:
                response = await self._attempt(request, estimate, leading, on_progress)
            except ProviderError as exc:
                billed_before = billed_before + exc.usage
                # Any status, or a response that began (its headers came) and then broke off.
                self.answered = self.answered or exc.status is not None or bool(exc.headers)
                pushback = exc.overloaded
                if pushback:
                    pushbacks += 1
                    self.pushback_retries += 1
                else:
                    failures += 1
                late = self.deadline is not None and time.monotonic() >= self.deadline
                unreachable = not self.answered and failures >= UNREACHABLE_ATTEMPTS
                # Each attempt is billed: another goes out only within the run's budget.
                refused = request.retry_refusal(exc.usage) if exc.retryable else ""
                if not exc.retryable or failures >= self.max_attempts or late or unreachable or refused:
                    reason = f"{exc} (the run's deadline passed)" if late and exc.retryable else str(exc)
                    if refused and not late:
                        reason = f"{exc} (not asked again: {refused})"
                    if unreachable and not late:
                        reason = (
                            f"{exc} ({failures} attempts, no answer from the provider yet this run: "
                            "check --base-url, the network, or that the server is up)"
                        )
                    raise ProviderError(
                        reason,
                        fatal=exc.fatal or unreachable,  # every other request would wait as long
                        status=exc.status,
                        usage=billed_before,
                        retry_after=exc.retry_after,
                        headers=exc.headers,
                    ) from exc
                delay = self.limiter.pushback_delay(
                    (pushbacks if pushback else failures) - 1, exc.retry_after
                )
                await (self.limiter.sleep if pushback else self._retry_sleep)(delay)
                continue
            self.answered = True
            response.usage = billed_before + response.usage
            # What the provider counted against what we estimated: the next estimates are real counts.
            self.calibration.observe_input(
                shared + body_tokens, response.usage.total_input - billed_before.total_input
            )
            return response

    async def _attempt(
        self,
        request: ModelRequest,
        estimate: int,
        leading: list[str],
        on_progress: ProgressCallback | None,
    ) -> ModelResponse:
        started = False

        def progress(received: int) -> None:
            nonlocal started
            if not started:
                started = True
                if leading:
                    # Followers may go as soon as the response has started (the cache is written).
                    task = asyncio.get_running_loop().create_task(self._settle_gates(leading, True))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            if on_progress is not None:
                on_progress(received)

        ticket = await self.limiter.acquire(estimate, request.max_tokens)
        # Whether the run now waits for output reservations: the next requests are sized for it.
        self.calibration.output_bound = self.limiter.output_bound
        try:
            response = await self.inner.complete(request, on_progress=progress)
        except ProviderError as exc:
            status = exc.status or 0
            await self.limiter.release(ticket, usage=exc.usage, headers=exc.headers, status=status)
            if leading and not started:
                await self._settle_gates(leading, False)  # let another request lead
            raise
        await self.limiter.release(ticket, usage=response.usage, headers=response.headers)
        if leading and not started:
            await self._settle_gates(leading, True)
        return response
