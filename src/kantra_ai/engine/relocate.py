"""Where an incident is now: the analyzer's line numbers describe the file before any fix.

An earlier run (or an earlier batch of the same file) may have added or removed lines above an
incident; the prompt would then point the model at the wrong line. The analyzer's `codeSnip` holds
the numbered lines around the incident as they were, so the incident's own line is looked up in the
current file: unchanged where it still is; otherwise the occurrence whose neighbours best match the
snippet, the nearest one on a tie. Without a snippet, or when the line is gone, the analyzer's line
stays (the model is told the line, never trusted with it). Identity (`Incident.id`) never changes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import Batch

_SNIP_LINE = re.compile(r"^\s*(\d+)(?:\s(.*))?$")


def snippet_lines(code_snip: str) -> dict[int, str]:
    """The snippet's lines by number, stripped; lines without a number are ignored."""
    found: dict[int, str] = {}
    for raw in code_snip.split("\n"):
        match = _SNIP_LINE.match(raw)
        if match:
            found[int(match.group(1))] = (match.group(2) or "").strip()
    return found


def relocate(incident: Incident, lines: Sequence[str]) -> Incident:
    """The incident with `line` pointing where its line is in `lines` (stripped file lines)."""
    if incident.line is None or not incident.code_snip:
        return incident
    snippet = snippet_lines(incident.code_snip)
    wanted = snippet.get(incident.line, "")
    if not wanted:
        return incident
    if 0 < incident.line <= len(lines) and lines[incident.line - 1] == wanted:
        return incident
    candidates = [n for n, text in enumerate(lines, 1) if text == wanted]
    if not candidates:
        return incident

    def context(n: int) -> int:
        shift = n - (incident.line or 0)
        return sum(
            1
            for k, text in snippet.items()
            if text and 0 < k + shift <= len(lines) and lines[k + shift - 1] == text
        )

    best = max(candidates, key=lambda n: (context(n), -abs(n - (incident.line or 0))))
    return dataclasses.replace(incident, line=best)


def relocate_batch(batch: Batch, text: str) -> Batch:
    lines = [line.strip() for line in text.split("\n")]
    moved = tuple(relocate(i, lines) for i in batch.incidents)
    return batch if moved == batch.incidents else dataclasses.replace(batch, incidents=moved)
