"""Two versions of a file compared line by line, in the time a run's edits take.

difflib's matcher, with `autojunk` off (every line may anchor a match, so a diff never shows a kept
line as changed), takes time quadratic in how often a line repeats: a 20,000-line file of one
repeated line costs it a minute, 150,000 of them hours, after the edit itself took a second. Every
comparison of a file before and after kantra-ai wrote it (the report's diff, git delivery's hunks,
the next run's look at what changed since) goes through `LineMatcher`, which sets aside the lines
both versions start and end with first: an edit changes lines in one part of a file, and the rest
is equal by construction. What is left in between is matched by difflib as before, so the opcodes
are the ones a diff of that part gives, shifted to the file's line numbers.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Sequence
from typing import Literal, TypeVar

Opcode = tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]
Line = TypeVar("Line", bound=Hashable)  # str, or bytes for lines as read


class LineMatcher(difflib.SequenceMatcher[Line]):
    """`difflib.SequenceMatcher(None, a, b, autojunk=False)` over lines, the common ends set aside
    first (see the module docstring); `get_opcodes` and `get_grouped_opcodes` use them."""

    def __init__(self, a: Sequence[Line], b: Sequence[Line]) -> None:
        super().__init__(None, a, b, autojunk=False)
        self._lines = (a, b)
        self._found: list[Opcode] | None = None

    def get_opcodes(self) -> list[Opcode]:
        if self._found is None:
            self._found = _opcodes(*self._lines)
        return list(self._found)


def _opcodes(a: Sequence[Line], b: Sequence[Line]) -> list[Opcode]:
    head = 0
    while head < len(a) and head < len(b) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < len(a) - head and tail < len(b) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    middle = difflib.SequenceMatcher(None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False)
    found: list[Opcode] = [("equal", 0, head, 0, head)] if head else []
    for tag, i1, i2, j1, j2 in middle.get_opcodes():
        found.append((tag, head + i1, head + i2, head + j1, head + j2))
    if tail:
        found.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    merged: list[Opcode] = []
    for opcode in found:
        if merged and opcode[0] == merged[-1][0] == "equal":
            merged[-1] = ("equal", merged[-1][1], opcode[2], merged[-1][3], opcode[4])
        else:
            merged.append(opcode)
    return merged
