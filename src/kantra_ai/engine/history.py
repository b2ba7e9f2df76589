"""What kantra-ai already wrote to a file: earlier runs (the run store's write log) and this run.

The engine uses it for two things. Edits written before are passed to the edit library as
`applied_before`, so a reply that repeats one of them is recognised as already applied (not failed,
not retried) even when later edits changed its context. And an incident whose fix is already in the
file needs no request (`already_fixed.py`): that needs the file as the analysis saw it (the content
before kantra-ai's first write to it) and the writes that reported incidents fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kantra_ai.edits.model import Edit
from kantra_ai.engine.relocate import LineMap


@dataclass(frozen=True)
class EarlierWrite:
    """One write of ours to a file that still stands (not undone): its edits and what it fixed."""

    edits: tuple[Edit, ...]
    fixed: frozenset[str]  # incidents the write reported fixed


@dataclass(frozen=True)
class FileHistory:
    """Earlier runs' writes to one file, oldest first, and the file before the first of them."""

    writes: tuple[EarlierWrite, ...] = ()
    original: str | None = None  # the text before our first write (None: unknown or never written)


class WriteLog(Protocol):
    def file_history(self, path: str) -> FileHistory:
        """What earlier runs (and earlier batches of this run) wrote to `path`, relative to the tree."""
        ...


@dataclass
class FileChanges:
    """What this run's earlier batches wrote to one file: the text before the first of them, their
    edits, and how they moved its lines (windows and incidents of later batches follow)."""

    original: str
    edits: list[Edit] = field(default_factory=list)
    moves: LineMap = field(default_factory=LineMap)
