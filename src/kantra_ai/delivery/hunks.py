"""One write's change as line hunks, each attributed to the incidents whose edits made it.

A write replaced a file's bytes `before` with `after`; its recorded edits (old text, new text,
incident ids) say what each incident asked for. The change is split into hunks (difflib opcodes on
lines; a replacement of n lines by n lines is split line by line, so neighbouring lines fixed for
different incidents stay apart), and a hunk belongs to every incident whose edit removes one of its
old lines or adds one of its new lines (lines compared without surrounding whitespace; an edit's
unchanged context lines count for nothing). A hunk no edit explains belongs to every incident the
write fixed: it is never lost, only less finely attributed.

Any subset of a write's hunks applied to `before` (`splice`) is the file with only those changes:
that is how a commit carries one incident's or one violation's fixes of a file that holds others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kantra_ai.edits.linediff import LineMatcher


@dataclass(frozen=True)
class HunkEdit:
    """A recorded edit: the texts and the incidents it was for."""

    old_text: str
    new_text: str
    incident_ids: tuple[str, ...]


@dataclass(frozen=True)
class Hunk:
    """Lines [start, end) of `before` became `new` (bytes, line endings kept)."""

    index: int  # position among the write's hunks
    start: int
    end: int
    new: tuple[bytes, ...]
    owners: frozenset[str]  # incident ids
    explained: bool  # some edit named these lines (else: every incident of the write)

    def touches(self, other: Hunk) -> bool:
        """Overlapping or adjacent: git's merge cannot take one without the other."""
        return self.start <= other.end and other.start <= self.end


def lines_of(content: bytes) -> list[bytes]:
    return content.splitlines(keepends=True)


def _key(line: bytes | str) -> str:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    return text.strip()


def _changed_lines(edit: HunkEdit) -> tuple[set[str], set[str]]:
    """(lines the edit removes, lines it adds), whitespace-stripped, context lines left out."""
    old = {_key(line) for line in edit.old_text.splitlines()} - {""}
    new = {_key(line) for line in edit.new_text.splitlines()} - {""}
    return old - new, new - old


def diff_hunks(before: bytes, after: bytes, edits: Sequence[HunkEdit], fixed: Iterable[str]) -> list[Hunk]:
    """The write's hunks, in file order, with their owners (see the module docstring)."""
    old, new = lines_of(before), lines_of(after)
    everyone = frozenset(fixed) | frozenset(i for e in edits for i in e.incident_ids)
    changed = [(_changed_lines(e), frozenset(e.incident_ids) or everyone) for e in edits]
    spans: list[tuple[int, int, int, int]] = []
    matcher = LineMatcher(old, new)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            spans.extend((i1 + k, i1 + k + 1, j1 + k, j1 + k + 1) for k in range(i2 - i1))
        else:
            spans.append((i1, i2, j1, j2))
    hunks = []
    for index, (i1, i2, j1, j2) in enumerate(spans):
        removed = {_key(line) for line in old[i1:i2]} - {""}
        added = {_key(line) for line in new[j1:j2]} - {""}
        owners: set[str] = set()
        for (takes_out, puts_in), incidents in changed:
            if removed & takes_out or added & puts_in:
                owners |= incidents
        explained = bool(owners)
        hunks.append(Hunk(index, i1, i2, tuple(new[j1:j2]), frozenset(owners or everyone), explained))
    return hunks


def splice(before: bytes, hunks: Iterable[Hunk]) -> bytes:
    """`before` with only these hunks (all of one write) applied."""
    old = lines_of(before)
    out: list[bytes] = []
    position = 0
    for hunk in sorted(hunks, key=lambda h: (h.start, h.index)):
        out.extend(old[position : hunk.start])
        out.extend(hunk.new)
        position = hunk.end
    out.extend(old[position:])
    return b"".join(out)


def new_line_of(hunks: Iterable[Hunk], target: Hunk) -> int:
    """The 1-based line where `target` starts in the content `splice` makes of `hunks` (which hold it)."""
    shift = 0
    for hunk in sorted(hunks, key=lambda h: (h.start, h.index)):
        if hunk.index == target.index:
            return hunk.start + shift + 1
        shift += len(hunk.new) - (hunk.end - hunk.start)
    raise ValueError("the hunk is not among those given")
