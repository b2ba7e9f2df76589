"""A provider wrapper that paces requests, retries pushback itself, and warms shared cache prefixes.

`AdaptiveProvider` sits between the engine and a provider adapter (whose SDK client then makes no
retries of its own, so that every 429 and 529 reaches the limiter):

- pacing: each attempt waits for the `AdaptiveLimiter` (rate-limit buckets and the AIMD window);
- retries: 429, 529/503, 5xx and dropped connections are retried after the server's `retry-after`
  or an exponential backoff, up to `max_attempts`; the tokens of failed attempts are still billed;
- cache warming: requests sharing a cacheable prefix (the instructions, then the rule guidance)
  do not all write it in parallel. The first request for a prefix goes alone; the others wait until
  its response has started (the provider has then written the cache) and read it instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kantra_ai.engine.ratelimit import AdaptiveLimiter
from kantra_ai.providers.base import ModelRequest, ModelResponse, ProgressCallback, Provider, ProviderError
from kantra_ai.providers.caching import min_cacheable_tokens, prefix_key, prefix_tokens, static_prefix_tokens
from kantra_ai.providers.pricing import Usage
from kantra_ai.tokens import estimate_tokens

DEFAULT_MAX_ATTEMPTS = 12


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
        if static >= self._min_cacheable:
            found.append((prefix_key(static_request, self.model), static))
        if request.guidance and full >= self._min_cacheable:
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
        for attempt in range(self.max_attempts):
            leading = [key for key, _ in prefixes if await self._enter(key)]
            self.cache_stats.leaders += bool(leading)
            warm = bool(prefixes) and all(self._gates[key].warm for key, _ in prefixes)
            # Cache reads do not count against input-token limits: a warm prefix costs no budget.
            estimate = body_tokens + (0 if warm else shared)
            self.cache_stats.prefix_tokens += shared
            if prefixes:
                self.cache_stats.cacheable_prefix_tokens += max(t for _, t in prefixes)
            try:
                response = await self._attempt(request, estimate, leading, on_progress)
            except ProviderError as exc:
                billed_before = billed_before + exc.usage
                if not exc.retryable or attempt == self.max_attempts - 1:
                    raise ProviderError(
                        str(exc),
                        fatal=exc.fatal,
                        status=exc.status,
                        usage=billed_before,
                        retry_after=exc.retry_after,
                        headers=exc.headers,
                    ) from exc
                await self.limiter.sleep(self.limiter.pushback_delay(attempt, exc.retry_after))
                continue
            response.usage = billed_before + response.usage
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

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
