"""Where an incident is now: the analyzer's line numbers describe the file before any fix.

An earlier run (or an earlier batch of the same file) may have added or removed lines above an
incident; the prompt would then point the model at the wrong line. The analyzer's `codeSnip` holds
the numbered lines around the incident as they were, so the incident's own line is looked up in the
current file: unchanged where it still is; otherwise the occurrence whose neighbours best match the
snippet, the nearest one on a tie. Without a snippet, or when the line is gone, the analyzer's line
stays (the model is told the line, never trusted with it). Identity (`Incident.id`) never changes.

Within a run the engine knows exactly how earlier batches of a file moved its lines (`LineMap`, from
the landings of the edits written): an incident's line is first carried through those moves, then
checked against its snippet. A batch's window (planned on the file as the run found it) moves with
its incidents: carried through the same moves (growing over lines inserted inside it), then shifted
by however far the snippets moved the incidents beyond that.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import Batch
from kantra_ai.edits.model import Landing

_SNIP_LINE = re.compile(r"^\s*(\d+)(?:\s(.*))?$")


def snippet_lines(code_snip: str) -> dict[int, str]:
    """The snippet's lines by number, stripped; lines without a number are ignored."""
    found: dict[int, str] = {}
    for raw in code_snip.split("\n"):
        match = _SNIP_LINE.match(raw)
        if match:
            found[int(match.group(1))] = (match.group(2) or "").strip()
    return found


def relocate(incident: Incident, lines: Sequence[str], near: int | None = None) -> Incident:
    """The incident with `line` pointing where its line is in `lines` (stripped file lines).

    `near` is where the line is expected to be (the analyzer's line carried through known moves;
    default the analyzer's line): kept when it holds the snippet's text, preferred on a tie."""
    if incident.line is None:
        return incident
    expected = incident.line if near is None else near
    moved = incident if expected == incident.line else dataclasses.replace(incident, line=expected)
    if not incident.code_snip:
        return moved
    snippet = snippet_lines(incident.code_snip)
    wanted = snippet.get(incident.line, "")
    if not wanted:
        return moved
    if 0 < expected <= len(lines) and lines[expected - 1] == wanted:
        return moved
    candidates = [n for n, text in enumerate(lines, 1) if text == wanted]
    if not candidates:
        return moved

    def context(n: int) -> int:
        shift = n - (incident.line or 0)
        return sum(
            1
            for k, text in snippet.items()
            if text and 0 < k + shift <= len(lines) and lines[k + shift - 1] == text
        )

    best = max(candidates, key=lambda n: (context(n), -abs(n - expected)))
    return dataclasses.replace(incident, line=best)


@dataclass
class LineMap:
    """How the lines of one file moved: the landings of each application of edits, in order."""

    steps: list[tuple[Landing, ...]] = field(default_factory=list)

    def add(self, landings: Sequence[Landing]) -> None:
        if landings:
            self.steps.append(tuple(landings))

    def line(self, number: int, *, end: bool = False) -> int:
        """Where 1-based line `number` is now. A line inside a changed block goes to the block's
        first line (`end`: its last line), as the changed lines stand for it; inside a block changed
        line for line (as many lines after as before), to its own line."""
        index = number - 1
        for landings in self.steps:
            index = _through(landings, index, end)
        return index + 1


def _through(landings: Sequence[Landing], index: int, end: bool) -> int:
    """0-based line `index` of the content before one application, in the content after it."""
    shift = 0
    for landing in landings:
        (b0, b1), (a0, a1) = landing.before, landing.after
        if b1 <= index:  # wholly above it (lines inserted at `index` go above it too)
            shift += (a1 - a0) - (b1 - b0)
        elif b0 <= index:  # inside a changed block: the block's lines stand for it
            if b1 - b0 == a1 - a0:
                # Changed line for line (words replaced on several lines in one edit): each line
                # is where it was, not at the block's first line with another incident's text.
                return a0 + (index - b0)
            if not end:
                return a0
            return a1 - 1 if a1 > a0 else max(a0 - 1, 0)
    return index + shift


def relocate_batch(batch: Batch, text: str, moves: LineMap | None = None) -> Batch:
    """The batch with its incidents where they are in `text`, and its window moved with them."""
    lines = [line.strip() for line in text.split("\n")]
    carried = batch.incidents
    if moves is not None and moves.steps:
        carried = tuple(
            i if i.line is None else dataclasses.replace(i, line=moves.line(i.line)) for i in batch.incidents
        )
    moved = tuple(
        relocate(planned, lines, near=now.line) for planned, now in zip(batch.incidents, carried, strict=True)
    )
    window = batch.window
    if window is not None:
        total = len(lines) - 1 if text.endswith("\n") else len(lines)
        window = _moved_window(window, carried, moved, moves, total)
    if moved == batch.incidents and window == batch.window:
        return batch
    return dataclasses.replace(batch, incidents=moved, window=window)


def _moved_window(
    window: tuple[int, int],
    carried: Sequence[Incident],
    moved: Sequence[Incident],
    moves: LineMap | None,
    total: int,
) -> tuple[int, int]:
    first, last = window
    if moves is not None and moves.steps:
        first, last = moves.line(first), moves.line(last, end=True)
    before = [i.line for i in carried if i.line is not None]
    after = [i.line for i in moved if i.line is not None]
    if before and after:
        first += min(after) - min(before)
        last += max(after) - max(before)
        # A window planned clamped to the file's end (an analyzer line past it) shifts short of
        # the incidents found above it: slid, its size kept, to show them.
        if max(after) > last:
            first, last = first + max(after) - last, max(after)
        if min(after) < first:
            first, last = min(after), last - (first - min(after))
        last = max(last, max(after))
    last = max(1, min(last, total))
    first = max(1, min(first, last))
    return first, last
