"""How the application talks to whoever drives it (the terminal, the web app, a benchmark)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from kantra_ai.engine.events import RunObserver


class Ui(Protocol):
    def say(self, text: str, *, emphasis: bool = False) -> None:
        """One line for the user (what the store skipped, warnings): it stays."""

    def status(self, text: str) -> None:
        """What the run is doing right now (reading the analysis, planning): shown from the first
        moment on a terminal and replaced by the next status, the progress, or the result."""

    def progress(self) -> AbstractContextManager[RunObserver]:
        """A live view of the run, fed by the engine's events while the context is open."""


class SilentUi:
    """Says nothing, shows nothing: for benchmarks and tests that only want the result."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, text: str, *, emphasis: bool = False) -> None:
        self.lines.append(text)

    def status(self, text: str) -> None:
        self.lines.append(text)

    def progress(self) -> AbstractContextManager[RunObserver]:
        return _no_progress()


@contextlib.contextmanager
def _no_progress() -> Iterator[RunObserver]:
    yield RunObserver()
