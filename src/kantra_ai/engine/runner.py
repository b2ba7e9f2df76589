"""Plans the requests of a run and executes them concurrently, one file never twice at once."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import FileBatches, batch_file
from kantra_ai.batching.packing import (
    DEFAULT_PACKING,
    NO_PACKING,
    PackSettings,
    group_files,
    pack_files,
    planned_requests,
)
from kantra_ai.edits.files import SourceFileError, read_text
from kantra_ai.engine.batch_runner import RunContext, run_batch
from kantra_ai.engine.events import ObserverGroup, RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, RunTotals, Status
from kantra_ai.engine.packed import run_pack
from kantra_ai.engine.scheduling import longest_units_first, prepare_run
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.tokens import estimate_tokens

_READERS = 8  # threads reading the files of a run while its requests are planned
_READ_AHEAD = 256  # files read ahead of the planning


@dataclass(frozen=True)
class BatchSettings:
    max_batch_tokens: int = 24_000
    batch_size: int = 25
    parallelism: int = 32  # the ceiling; the adaptive limiter starts lower (engine/scheduling.py)
    packing: PackSettings = DEFAULT_PACKING  # several small files per request, when the prompts allow


@dataclass
class RunBatches:
    files: list[FileBatches]
    unreadable: list[IncidentOutcome] = field(default_factory=list)  # files we could not even read
    packing: PackSettings = NO_PACKING  # small files asked together (batching/packing.py)
    # The packs as a caller chose them (the batch API's driver: as they were submitted), by path;
    # None: chosen by `packing`.
    packs: list[list[PurePosixPath]] | None = None

    def units(self, files: Sequence[FileBatches] | None = None) -> list[list[FileBatches]]:
        """The files (default: all, in plan order) grouped as they are asked: a group of several is
        one packed request, a single file its own requests."""
        files = self.files if files is None else files
        if self.packs is not None:
            return group_files(files, self.packs)
        return pack_files(files, self.packing)

    @property
    def request_count(self) -> int:
        return len(planned_requests(self.units()))

    @property
    def incident_count(self) -> int:
        return sum(f.incident_count for f in self.files)


def batch_incidents(
    incidents: Sequence[Incident],
    input_dir: Path,
    settings: BatchSettings,
    prompts: PromptBuilder,
) -> RunBatches:
    """Group incidents by file and plan each file's requests. Files are read in parallel."""
    by_file: dict[PurePosixPath, list[Incident]] = {}
    for incident in incidents:
        assert incident.path is not None  # only fixable incidents are planned
        by_file.setdefault(incident.path, []).append(incident)
    paths = sorted(by_file)
    system_tokens = prompts.system_tokens()

    def load(path: PurePosixPath) -> list[str] | str:
        try:
            return read_text(input_dir / path).splitlines(keepends=True)
        except (OSError, SourceFileError) as exc:
            return f"cannot read file: {exc}"

    def load_all(chunk: Sequence[PurePosixPath]) -> list[list[str] | str]:
        return [load(path) for path in chunk]

    def contents(pool: ThreadPoolExecutor, workers: int) -> Iterator[tuple[PurePosixPath, list[str] | str]]:
        """Each file with its lines, read `_READ_AHEAD` files at a time: memory holds a window of
        files, never the whole tree. A slice of the window per thread (reads overlap on a slow
        disk), not a task per file: handing out 16,000 tasks cost more than reading the files."""
        for first in range(0, len(paths), _READ_AHEAD):
            window = paths[first : first + _READ_AHEAD]
            read: list[list[str] | str] = [[]] * len(window)
            for n, part in enumerate(pool.map(load_all, [window[n::workers] for n in range(workers)])):
                read[n::workers] = part
            yield from zip(window, read, strict=True)

    packing = dataclasses.replace(settings.packing, max_incidents=settings.batch_size)  # per request
    plan = RunBatches(files=[], packing=packing if prompts.can_pack else NO_PACKING)
    last_guidance, guidance_tokens = "", 0
    workers = max(1, min(_READERS, len(paths)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, content in contents(pool, workers):
            if isinstance(content, str):
                plan.unreadable += [IncidentOutcome(i.id, Status.FAILED, content) for i in by_file[path]]
                continue
            violations = {i.violation.key: i.violation for i in by_file[path]}
            guidance = prompts.guidance(path, [violations[k] for k in sorted(violations)], by_file[path])
            # A run's rule book is usually every file's guidance: estimated once, not once per file.
            if guidance != last_guidance or not guidance:
                last_guidance, guidance_tokens = guidance, estimate_tokens(guidance)
            plan.files.append(
                batch_file(
                    path,
                    content,
                    by_file[path],
                    fixed_tokens=system_tokens + guidance_tokens,
                    max_batch_tokens=settings.max_batch_tokens,
                    batch_size=settings.batch_size,
                    incident_tokens=prompts.incident_tokens,
                    full_verdicts=prompts.full_verdicts,
                )
            )
    return plan


@dataclass
class RunResult:
    outcomes: dict[str, IncidentOutcome]
    records: list[RequestRecord]
    totals: RunTotals
    aborted: str = ""  # why the run stopped early, if it did
    performance: dict[str, Any] = field(default_factory=dict)  # pacing and caching (scheduling.py)


class _Collector(RunObserver):
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def request_finished(self, record: RequestRecord) -> None:
        self.records.append(record)


async def execute_batches(
    plan: RunBatches,
    ctx: RunContext,
    parallelism: int,
    *,
    after_file: Callable[[PurePosixPath], Awaitable[None]] | None = None,
) -> RunResult:
    """Run every file's batches; files run concurrently, a file's batches strictly in order.
    `after_file` is awaited once a file's batches are all done (per-file verification)."""
    started = time.monotonic()
    collector = _Collector()
    outcomes: dict[str, IncidentOutcome] = {o.incident_id: o for o in plan.unreadable}
    semaphore = asyncio.Semaphore(max(1, parallelism))
    # Cache-friendly order, read-ahead, adaptive pacing and cache TTL: see engine/scheduling.py.
    prepared = prepare_run(plan.files, ctx.provider, ctx.input_dir, parallelism)
    run_ctx = dataclasses.replace(
        ctx,
        provider=prepared.provider,
        cache_ttl=prepared.cache_ttl,
        read_file=prepared.read,
        observer=ObserverGroup(collector, ctx.observer),
        calibration=ctx.calibration or prepared.provider.calibration,
    )
    # Small files packed into shared requests; then the longest requests first, packs included.
    units = longest_units_first(plan.units(prepared.files))
    requests = planned_requests(units)
    run_ctx.observer.run_planned(len(requests), plan.incident_count)
    if run_ctx.calibration is not None:
        # What the run expects to write (the dry run's figure): a run that will wait for output
        # tokens per minute sizes its requests for it from the first one (`output_bound`).
        expected = run_ctx.calibration.expected_output
        prepared.provider.limiter.expect_output(sum(expected(r.incidents, r.output_prior) for r in requests))
    prepared.files = [f for unit in units for f in unit]
    starts = [0]
    for unit in units[:-1]:
        starts.append(starts[-1] + len(unit))

    async def run_unit(index: int, unit: list[FileBatches]) -> None:
        # A file's batches are all in its unit: what they wrote (the file before the first of them
        # among it) is kept for them alone and let go with them. Line moves are relative to the
        # files as these batches were planned.
        unit_ctx = dataclasses.replace(run_ctx, changes={})
        async with semaphore:
            prepared.read_ahead(index)
            if len(unit) == 1:
                for batch in unit[0].batches:
                    for outcome in await run_batch(batch, unit_ctx):
                        # Keyed by identity, never by position: replies complete in any order.
                        outcomes[outcome.incident_id] = outcome
            else:
                for outcome in await run_pack([f.batches[0] for f in unit], unit_ctx):
                    outcomes[outcome.incident_id] = outcome
            if after_file is not None:
                for file_batches in unit:
                    await after_file(file_batches.path)

    queue = list(zip(starts, units, strict=True))
    calibration = run_ctx.calibration
    try:
        if (
            queue
            and calibration is not None
            and not calibration.has_output_evidence
            and not ctx.provider.local
        ):
            # Nothing is known yet about how long replies are: the first request goes alone, so that
            # every other request's max_tokens (which rate limits reserve) is sized from its reply
            # rather than from the static budget. One request's latency, once per tree.
            await run_unit(*queue.pop(0))
        await asyncio.gather(*(run_unit(i, u) for i, u in queue))
    finally:
        prepared.close()
    totals = RunTotals(seconds=time.monotonic() - started)
    for record in collector.records:
        totals.add(record)
    return RunResult(outcomes, collector.records, totals, ctx.control.fatal_error, prepared.metrics())
