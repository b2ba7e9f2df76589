"""How a planned run is scheduled: cache-friendly file order, read-ahead, pacing and cache TTL.

- Order: files are grouped by the rule set of their requests (the rule guidance is the cached
  prefix after the instructions). The first file of every group goes first, so that each group's
  prefix is written once, early; then the longest requests first, a pack of small files counting
  all its files' work (`longest_units_first`), so the run does not end on a straggler.
  `AdaptiveProvider` holds a group's followers back until its first request has written the prefix.
- Read-ahead: the files of the next requests are read and hashed in worker threads before their
  turn (`Prefetcher`), so no request waits for disk and the event loop never blocks on it.
- Pacing: the provider is wrapped in an `AdaptiveProvider` (rate-limit buckets, AIMD window,
  retries), with the SDK's own retries off.
- TTL: runs expected to last longer than a few minutes ask for the 1 h cache TTL.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kantra_ai.batching.batches import FileBatches
from kantra_ai.edits.files import SourceFile, read_source
from kantra_ai.engine.adaptive import AdaptiveProvider
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.ratelimit import AdaptiveLimiter, RateBuckets, RateLimitConfig
from kantra_ai.providers.base import Provider
from kantra_ai.providers.caching import choose_ttl

INITIAL_WINDOW = 8
READ_AHEAD_FILES = 16
# For the TTL choice only: a request takes a few seconds (time to first token plus output).
TYPICAL_REQUEST_SECONDS = 8.0


def rule_set(file_plan: FileBatches) -> tuple[str, ...]:
    """The rules whose guidance the file's first request carries: its cache group."""
    if not file_plan.batches:
        return ()
    return tuple(v.key for v in file_plan.batches[0].violations)


def _work(file_plan: FileBatches) -> int:
    return sum(b.max_output_tokens for b in file_plan.batches)


def cache_friendly_order(files: Sequence[FileBatches]) -> list[FileBatches]:
    """The first file of every cache group first (largest groups first), then the rest longest first.

    Leaders first: each group's prefix is written once, early, and every later file of the group
    reads it. Longest first (by planned output, which is what takes time): the run does not end on
    a straggler started last. Groups are not kept together: runs long enough for a 5 m entry to
    expire between two files of a group get the 1 h TTL (`choose_ttl`).
    """
    groups: dict[tuple[str, ...], list[FileBatches]] = {}
    for file_plan in sorted(files, key=lambda f: (-_work(f), str(f.path))):
        groups.setdefault(rule_set(file_plan), []).append(file_plan)
    ordered_groups = sorted(groups.values(), key=lambda g: (-len(g), str(g[0].path)))
    leaders = [group[0] for group in ordered_groups]
    rest = sorted((f for group in ordered_groups for f in group[1:]), key=lambda f: (-_work(f), str(f.path)))
    return leaders + rest


def longest_units_first(units: Sequence[list[FileBatches]]) -> list[list[FileBatches]]:
    """The run's requests (`units`: a file alone or a pack of files, in `cache_friendly_order`) with
    the cache groups' leaders first, as they were, then the longest first, a pack counting all its
    files' work: a pack of files each small on its own must not be the straggler started last."""
    seen: set[tuple[str, ...]] = set()
    leading: set[int] = set()
    for index, unit in enumerate(units):
        for file_plan in unit:
            group = rule_set(file_plan)
            if group not in seen:
                seen.add(group)
                leading.add(index)
    order = sorted(
        range(len(units)),
        key=lambda i: (i not in leading, 0 if i in leading else -sum(_work(f) for f in units[i]), i),
    )
    return [units[i] for i in order]


def expected_run_seconds(files: Sequence[FileBatches], parallelism: int) -> float:
    requests = sum(len(f.batches) for f in files)
    return requests * TYPICAL_REQUEST_SECONDS / max(1, parallelism)


def wrap_provider(
    provider: Provider,
    *,
    limits: RateLimitConfig | None = None,
    max_in_flight: int = 32,
    time_scale: float = 1.0,
    protocol: str | None = None,
    buckets: RateBuckets | None = None,
    calibration: Calibration | None = None,
    deadline_seconds: float | None = None,
) -> AdaptiveProvider:
    """Put `provider` behind the adaptive limiter (idempotent), with the SDK's retries off;
    `deadline_seconds`: from now, when retrying stops (the run's time limit)."""
    if isinstance(provider, AdaptiveProvider):
        return provider
    set_retries = getattr(provider, "set_sdk_retries", None)
    if callable(set_retries):
        set_retries(0)
    # Known limits: the buckets pace the run from the start, so the window may start wide open.
    # Unknown limits: start small and grow (slow start) while the provider keeps up.
    known = limits is not None and not limits.empty
    limiter = AdaptiveLimiter(
        limits,
        initial_window=max_in_flight if known else min(INITIAL_WINDOW, max_in_flight),
        max_window=max_in_flight,
        time_scale=time_scale,
        buckets=buckets,
    )
    if protocol is None:
        protocol = "anthropic" if hasattr(provider, "cache_ttl") else "openai"
    return AdaptiveProvider(
        provider, limiter, protocol=protocol, calibration=calibration, deadline_seconds=deadline_seconds
    )


class Prefetcher:
    """Reads and hashes files ahead of their turn in worker threads; each read is used once.

    A prefetched copy is only handed out if the file's size and modification time are still what
    they were when it was read; otherwise (or when nothing was prefetched) the file is read now.
    Either way the write that follows re-checks the file on disk, so a stale copy can never win.
    """

    def __init__(self, input_dir: Path, workers: int = 4) -> None:
        self.input_dir = input_dir
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kantra-read-ahead")
        self._pending: dict[Path, Future[tuple[SourceFile, tuple[int, int]]]] = {}
        self.hits = 0
        self.misses = 0

    def schedule(self, paths: Sequence[Path]) -> None:
        for path in paths:
            full = self.input_dir / path
            if full not in self._pending:
                self._pending[full] = self._pool.submit(_read_with_stat, full)

    async def read(self, path: Path) -> SourceFile:
        """The file's current content (prefetched when possible). Raises what `read_source` raises."""
        future = self._pending.pop(path, None)
        if future is not None:
            try:
                source, seen = await asyncio.wrap_future(future)
                if _signature(path) == seen:
                    self.hits += 1
                    return source
            except Exception:  # fall through to a fresh read, which reports the error
                pass
        self.misses += 1
        return await asyncio.to_thread(read_source, path)

    def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _read_with_stat(path: Path) -> tuple[SourceFile, tuple[int, int]]:
    before = os.stat(path)
    return read_source(path), (before.st_size, before.st_mtime_ns)


@dataclass
class PreparedRun:
    files: list[FileBatches]
    provider: AdaptiveProvider
    prefetcher: Prefetcher
    cache_ttl: str

    async def read(self, path: Path) -> SourceFile:
        return await self.prefetcher.read(path)

    def read_ahead(self, index: int) -> None:
        """Called when file `index` starts: read it and the next few files in the background."""
        upcoming = self.files[index : index + READ_AHEAD_FILES]
        self.prefetcher.schedule([Path(f.path) for f in upcoming])

    def close(self) -> None:
        self.prefetcher.close()

    def metrics(self) -> dict[str, Any]:
        limiter = self.provider.limiter
        return {
            "cache_ttl": self.cache_ttl,
            "rate_limits_per_minute": limiter.limits,
            "concurrency": {"final_window": round(limiter.window, 1), "max_window": limiter.max_window},
            "pacing": limiter.stats.as_dict(),
            "prefix_warming": self.provider.cache_stats.as_dict(),
            "input_token_ratio": round(self.provider.calibration.input_ratio, 4),  # real / estimated
            "pushback_retries": self.provider.pushback_retries,
            "read_ahead": {"hits": self.prefetcher.hits, "misses": self.prefetcher.misses},
        }


def prepare_run(
    files: Sequence[FileBatches], provider: Provider, input_dir: Path, parallelism: int
) -> PreparedRun:
    """Order the files, wrap the provider (unless already wrapped) and choose the cache TTL."""
    ordered = cache_friendly_order(files)
    adaptive = wrap_provider(provider, max_in_flight=parallelism)
    ttl = choose_ttl(expected_run_seconds(ordered, min(parallelism, adaptive.limiter.max_window)))
    adaptive.set_cache_ttl(ttl)
    return PreparedRun(ordered, adaptive, Prefetcher(input_dir), ttl)
