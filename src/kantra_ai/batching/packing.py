"""Several small files in one request.

A request pays a fixed part whatever it carries: the run-wide prefix (read from the provider's cache,
at a tenth of the input price, but on every request) and the request's own framing, in and out (a
reply's frame; a rename said in `subs` once for all the files it asks about). For a file of a few
hundred tokens that part weighs as much as the file, so small files are packed: several of them,
each with its incidents, in one request, up to a token budget, once a run has enough of them
(`PACK_MIN_FILES`). Only whole small files are packed:
a file the batcher split into several requests (they must run one after the other) or sent as
windows goes alone, as does any file at or over `PackSettings.file_tokens`.

Packing changes requests, not files: each file of a pack is read, checked, written and recorded on
its own (`engine/packed.py`), a file is in one pack only, and a pack's files are never in another
request while it is in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import MAX_OUTPUT_TOKENS, FileBatches, pack_output_prior

# Measured on the benchmark's small and coolstore workloads (docs/performance.md): beyond about eight
# files a pack saves little more (the cache reads it removes are already a tenth of the input price),
# while a longer reply streams longer and a cut-off reply costs more to ask again.
PACK_MAX_FILES = 8
PACK_INPUT_TOKENS = 12_000  # the files and incidents of a pack (estimated, without the shared prefix)
# The sum of the files' static output budgets (about 60 low-effort incidents): the reply a pack may
# need at most, so that a cut-off reply is not dear to ask again.
PACK_OUTPUT_TOKENS = 10_000
# A file (with its incidents) under this is small enough to pack. A pack saves more than the prefix's
# cache reads: a rename said once in its reply serves every file of it, and output is the dear part.
# Measured on the benchmark (docs/performance.md), packing files up to 3,000 tokens (12,000 a pack)
# instead of 1,200 (6,000): 5-8% cheaper on the synthetic, daytrader and long-run workloads (the
# synthetic one 161 -> 63 requests and faster too); daytrader's unthrottled run a fifth slower (29
# requests in flight at once -> 14 longer ones); 2,000 (10,000) saved less for the same time.
SMALL_FILE_TOKENS = 3_000
# A run with fewer small files sends each alone: packing them would save a few cache reads (a tenth of
# the input price of the shared prefix, per file) and cost the parallelism of their requests (a packed
# reply streams all its files' edits one after the other).
PACK_MIN_FILES = 12


@dataclass(frozen=True)
class PackSettings:
    max_files: int = PACK_MAX_FILES
    input_tokens: int = PACK_INPUT_TOKENS
    output_tokens: int = PACK_OUTPUT_TOKENS
    file_tokens: int = SMALL_FILE_TOKENS
    max_incidents: int = 10_000  # a pack's incidents (the run's --batch-size: incidents per request)
    min_files: int = PACK_MIN_FILES  # small files a run needs before any are packed

    @property
    def enabled(self) -> bool:
        return self.max_files > 1


DEFAULT_PACKING = PackSettings()
NO_PACKING = PackSettings(max_files=1)


def own_tokens(file_plan: FileBatches) -> int:
    """The estimated tokens of the file's request beyond what every request carries."""
    return sum(b.estimated_input_tokens for b in file_plan.batches) - file_plan.fixed_tokens


def packable(file_plan: FileBatches, settings: PackSettings) -> bool:
    """One whole-file request, small enough."""
    if len(file_plan.batches) != 1 or file_plan.batches[0].window is not None:
        return False
    return own_tokens(file_plan) < settings.file_tokens


def pack_files(files: Sequence[FileBatches], settings: PackSettings) -> list[list[FileBatches]]:
    """The run's requests as groups of files: each group of two or more is one packed request, each
    single file goes as it was planned. Every file is in exactly one group (see `group_files`)."""
    return group_files(files, choose_packs(files, settings))


def choose_packs(
    files: Sequence[FileBatches], settings: PackSettings, kept: Sequence[Sequence[PurePosixPath]] = ()
) -> list[list[PurePosixPath]]:
    """The packs of two or more files among `files`, by path. `kept`: packs to keep as they are (a
    request for them is already with a batch API, `app/batch_run.py`), each where all of its files
    are still packable; the other small files are packed in path order (neighbours in a tree tend to
    be alike), greedily up to the pack's budgets."""
    if not settings.enabled:
        return []
    small = {f.path: f for f in files if packable(f, settings)}
    packs: list[list[PurePosixPath]] = []
    for pack in kept:
        if len(pack) >= 2 and all(path in small for path in pack):
            packs.append(list(pack))
            for path in pack:
                del small[path]
    if len(small) + sum(len(p) for p in packs) < settings.min_files:
        return packs
    current: list[PurePosixPath] = []
    tokens = output = incidents = 0
    for path in sorted(small, key=str):
        file_plan = small[path]
        batch = file_plan.batches[0]
        size = own_tokens(file_plan)
        fits = (
            len(current) < settings.max_files
            and incidents + len(batch.incidents) <= settings.max_incidents
            and tokens + size <= settings.input_tokens
            and output + batch.max_output_tokens <= min(settings.output_tokens, MAX_OUTPUT_TOKENS)
        )
        if current and not fits:
            packs.append(current)
            current, tokens, output, incidents = [], 0, 0, 0
        current.append(path)
        incidents += len(batch.incidents)
        tokens += size
        output += batch.max_output_tokens
    packs.append(current)
    return [pack for pack in packs if len(pack) >= 2]  # (a file left alone is no pack)


def group_files(
    files: Sequence[FileBatches], packs: Sequence[Sequence[PurePosixPath]]
) -> list[list[FileBatches]]:
    """Every file of `files` in exactly one group: the files of each pack together, in the pack's
    order (a pack's incident numbers run in that order), every other file alone. The groups keep the
    order of their first file in `files`; a pack with a file not among `files` is not formed."""
    by_path = {f.path: f for f in files}
    pack_of: dict[PurePosixPath, list[FileBatches]] = {}
    for pack in packs:
        if len(pack) >= 2 and all(path in by_path and path not in pack_of for path in pack):
            members = [by_path[path] for path in pack]
            for path in pack:
                pack_of[path] = members
    groups: list[list[FileBatches]] = []
    placed: set[int] = set()
    for file_plan in files:
        group = pack_of.get(file_plan.path, [file_plan])
        if id(group) in placed:
            continue
        placed.add(id(group))
        groups.append(group)
    return groups


@dataclass(frozen=True)
class PlannedRequest:
    """One request as planned: a file's batch, or a pack of small files (one fixed part, their own
    parts; a rename said once for all of them, as `pack_output_prior` counts it)."""

    input_tokens: int
    incidents: tuple[Incident, ...]
    output_prior: tuple[int, ...] = ()  # per incident, as `Batch.output_prior`


def planned_requests(units: Iterable[Sequence[FileBatches]]) -> list[PlannedRequest]:
    """The requests a run sends for `units` (as `group_files` makes them): what the dry run prices
    and what the runner expects its replies to take."""
    requests: list[PlannedRequest] = []
    for unit in units:
        if len(unit) == 1:
            requests += [
                PlannedRequest(b.estimated_input_tokens, b.incidents, b.output_prior) for b in unit[0].batches
            ]
        else:
            tokens = unit[0].fixed_tokens + sum(own_tokens(f) for f in unit)
            batches = [b for f in unit for b in f.batches]
            incidents = tuple(i for b in batches for i in b.incidents)
            requests.append(PlannedRequest(tokens, incidents, pack_output_prior(batches)))
    return requests
