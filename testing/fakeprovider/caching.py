"""Prompt caching as the real APIs account for it.

A prompt is a sequence of `Segment`s (tool definitions, system blocks, message blocks, in the order
the provider reads them). Each prefix is identified by a chained hash, so two prompts share a cache
entry exactly when they agree on every segment up to that point.

Anthropic caches explicitly: only prefixes ending at a `cache_control` breakpoint are written, a
lookup also tries up to 20 blocks before each breakpoint, and prefixes below the model's minimum are
silently not cached. OpenAI caches automatically: every prefix of a prompt of 1024+ tokens is
remembered, and hits are reported in 128-token steps.

Entries become readable only when `CacheLookup.commit()` runs, which the server calls once the
response starts: requests that are in flight together all pay for the write, as on the real APIs.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

TTL_SECONDS: dict[str, float] = {"5m": 300.0, "1h": 3600.0}
ANTHROPIC_LOOKBACK_BLOCKS = 20
MAX_BREAKPOINTS = 4


@dataclass(frozen=True)
class Segment:
    key: str  # canonical form: two prompts share a prefix iff their keys agree
    tokens: int
    cache_ttl: str | None = None  # Anthropic: "5m" or "1h" when the block carries cache_control


# The shortest prefix each Anthropic model caches, from Anthropic's prompt-caching documentation,
# written down here independently of the product's own table (providers/caching.py), so that a
# wrong entry there shows up as missing cache reads in tests and benchmarks. Keyed by a substring of
# the model name; the longest matching key wins; models not listed get 1,024 (Sonnet, Opus).
ANTHROPIC_MIN_CACHEABLE: dict[str, int] = {
    "haiku": 2048,  # Claude 3 and 3.5 Haiku
    "claude-haiku-4-5": 4096,
    "claude-opus-4-5": 4096,
    "sonnet": 1024,
    "opus": 1024,
}


@dataclass
class CachingModel:
    """How the fake provider caches. `CachingModel(enabled=False)` turns caching off entirely."""

    enabled: bool = True
    anthropic_default_min_tokens: int = 1024
    # Keyed by a substring of the model name; the longest matching key wins.
    anthropic_min_tokens: Mapping[str, int] = field(default_factory=lambda: dict(ANTHROPIC_MIN_CACHEABLE))
    openai_min_tokens: int = 1024
    openai_step_tokens: int = 128
    openai_ttl_seconds: float = 600.0
    clock: Callable[[], float] = time.monotonic  # injectable so tests can expire entries

    def anthropic_minimum(self, model: str) -> int:
        best: tuple[int, int] | None = None
        for key, minimum in self.anthropic_min_tokens.items():
            if key in model and (best is None or len(key) > best[0]):
                best = (len(key), minimum)
        return best[1] if best is not None else self.anthropic_default_min_tokens


@dataclass
class CacheLookup:
    """Token accounting of one prompt against the cache, plus the write to perform on commit."""

    total_tokens: int
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    creation_5m_tokens: int = 0
    creation_1h_tokens: int = 0
    _writes: list[tuple[str, int, float]] = field(default_factory=list)  # (hash, tokens, ttl seconds)
    _store: PromptCache | None = None

    @property
    def uncached_tokens(self) -> int:
        """Anthropic `input_tokens`: what is neither read from nor written to the cache."""
        return self.total_tokens - self.cache_read_tokens - self.cache_creation_tokens

    def commit(self) -> None:
        if self._store is not None and self._writes:
            self._store.write(self._writes)
            self._writes = []


def prefix_hashes(namespace: str, segments: Sequence[Segment]) -> tuple[list[str], list[int]]:
    """Chained hash and cumulative token count of every prefix ending after segment i."""
    hashes: list[str] = []
    cumulative: list[int] = []
    digest = hashlib.sha256(namespace.encode()).hexdigest()
    running = 0
    for segment in segments:
        digest = hashlib.sha256((digest + "\x00" + segment.key).encode()).hexdigest()
        running += segment.tokens
        hashes.append(digest)
        cumulative.append(running)
    return hashes, cumulative


class PromptCache:
    """Prefix-hash store with expiry, shared by all requests of one server."""

    def __init__(self, model: CachingModel) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, float, float]] = {}  # hash -> (tokens, expires_at, ttl)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _live(self, digest: str, now: float) -> bool:
        entry = self._entries.get(digest)
        return entry is not None and entry[1] > now

    def _touch(self, digest: str, now: float) -> None:
        # A cache hit refreshes the entry's lifetime at no cost, as on the real APIs.
        tokens, _, ttl = self._entries[digest]
        self._entries[digest] = (tokens, now + ttl, ttl)

    def write(self, writes: Sequence[tuple[str, int, float]]) -> None:
        now = self.model.clock()
        with self._lock:
            for digest, tokens, ttl in writes:
                old = self._entries.get(digest)
                expires = now + ttl
                if old is not None:
                    expires = max(expires, old[1])
                    ttl = max(ttl, old[2])
                self._entries[digest] = (tokens, expires, ttl)
            if len(self._entries) > 50_000:
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}

    def lookup_anthropic(self, model_name: str, segments: Sequence[Segment]) -> CacheLookup:
        hashes, cumulative = prefix_hashes(f"anthropic\x00{model_name}", segments)
        total = cumulative[-1] if cumulative else 0
        breakpoints = [i for i, s in enumerate(segments) if s.cache_ttl is not None]
        if not self.model.enabled or not breakpoints:
            return CacheLookup(total_tokens=total)
        minimum = self.model.anthropic_minimum(model_name)
        eligible = [b for b in breakpoints if cumulative[b] >= minimum]
        if not eligible:
            return CacheLookup(total_tokens=total)

        candidates: set[int] = set()
        for b in breakpoints:
            candidates.update(range(max(0, b - ANTHROPIC_LOOKBACK_BLOCKS + 1), b + 1))
        now = self.model.clock()
        read = 0
        with self._lock:
            for position in sorted(candidates, reverse=True):
                if self._live(hashes[position], now):
                    read = cumulative[position]
                    self._touch(hashes[position], now)
                    break

        lookup = CacheLookup(total_tokens=total, cache_read_tokens=read, _store=self)
        covered = read
        for b in eligible:
            ttl_name = segments[b].cache_ttl or "5m"
            lookup._writes.append((hashes[b], cumulative[b], TTL_SECONDS[ttl_name]))
            if cumulative[b] > covered:
                written = cumulative[b] - covered
                if ttl_name == "1h":
                    lookup.creation_1h_tokens += written
                else:
                    lookup.creation_5m_tokens += written
                covered = cumulative[b]
        lookup.cache_creation_tokens = lookup.creation_5m_tokens + lookup.creation_1h_tokens
        return lookup

    def lookup_openai(self, model_name: str, segments: Sequence[Segment]) -> CacheLookup:
        hashes, cumulative = prefix_hashes(f"openai\x00{model_name}", segments)
        total = cumulative[-1] if cumulative else 0
        minimum = self.model.openai_min_tokens
        if not self.model.enabled or total < minimum:
            return CacheLookup(total_tokens=total)
        now = self.model.clock()
        hit = 0
        with self._lock:
            for position in range(len(segments) - 1, -1, -1):
                if cumulative[position] < minimum:
                    break
                if self._live(hashes[position], now):
                    hit = cumulative[position]
                    self._touch(hashes[position], now)
                    break
        step = self.model.openai_step_tokens
        cached = (hit // step) * step if hit >= minimum else 0
        ttl = self.model.openai_ttl_seconds
        writes = [(h, t, ttl) for h, t in zip(hashes, cumulative, strict=True) if t >= minimum]
        # OpenAI reports no cache writes; only the read share is visible in usage.
        return CacheLookup(total_tokens=total, cache_read_tokens=cached, _writes=writes, _store=self)
