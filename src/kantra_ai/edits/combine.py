"""Combining the located edits of one reply: merged where they agree, refused in pairs where not.

Every edit is located in the content as given (`locate.py`), so the order of a reply does not
matter. Edits whose named lines overlap are combined hunk by hunk:
- identical changes count once;
- two changes of one line to different parts of it are both made (token by token: a namespace and
  a schema location on one XML line);
- a replacement that holds everything another one says covers it: the same lines replaced by one
  edit and deleted by another, or replaced with lines one of which the other wrote; an insertion next
  to a replacement that starts (ends) with the inserted lines is that replacement;
- lines one edit deletes all go, and a replacement of some of them by the other stands in their
  place; insertions at one place are kept in order;
- anything else is a conflict: both edits are refused, each naming the other, because making one of
  them would leave a file neither described.

An edit the others make redundant (the combined lines are the same without it) is "already
applied": a repeated edit, or one another edit of the reply covers. Of two identical edits, the
first one is the applied one, whatever their order in the file.

An edit not found in the content as given may build on another edit of the reply: it is located in
the current lines and `Document.merge` folds it into the blocks it touches.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import itertools
import re
from dataclasses import dataclass

from kantra_ai.edits.locate import Hunk, Plan, View, contains
from kantra_ai.edits.model import Edit, EditOutcome, EditStatus

# Lines are merged token by token: a word, a run of whitespace, or one other character.
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
# Overlapping edits are combined under every reading of those that read two ways (2^n of them);
# a group with more such edits than this is refused rather than read 2^n times.
MAX_TWO_WAY = 8


@dataclass
class Block:
    """Lines [first, stop) of the content as given became `lines`, by the edits `owners`."""

    first: int
    stop: int
    lines: list[str]
    owners: list[int]


class Document:
    """The content as given, with the changed blocks of the edits applied so far."""

    def __init__(self, view: View) -> None:
        self.base = view
        self.blocks: list[Block] = []  # sorted, not overlapping
        self._view: View | None = view  # the current lines, until a block changes them

    def current_lines(self) -> list[str]:
        out: list[str] = []
        pos = 0
        for block in self.blocks:
            out.extend(self.base.lines[pos : block.first])
            out.extend(block.lines)
            pos = block.stop
        out.extend(self.base.lines[pos:])
        return out

    def delta(self) -> int:
        return sum(len(b.lines) - (b.stop - b.first) for b in self.blocks)

    def view(self) -> View:
        if self._view is not None:
            return self._view
        self._view = View(
            self.current_lines(), self.base.final_newline, self.base.first, self.base.stop + self.delta()
        )
        return self._view

    def positions(self) -> list[int]:
        """Where each block starts in the current lines."""
        out: list[int] = []
        shift = 0
        for block in self.blocks:
            out.append(block.first + shift)
            shift += len(block.lines) - (block.stop - block.first)
        return out

    def merge(self, plan: Plan, index: int) -> None:
        """Apply a plan located in the current lines, merged with the blocks it touches into one."""
        current = self.current_lines()
        starts = self.positions()
        low, high = plan.first, plan.stop
        touched: list[int] = []
        for number, (block, start) in enumerate(zip(self.blocks, starts, strict=True)):
            end = start + len(block.lines)
            # A block of deleted lines sits between two lines: touched only strictly inside the plan.
            if (start < high and low < end) if end > start else (low < start < high):
                touched.append(number)
                low, high = min(low, start), max(high, end)
        # Current line numbers back to the content as given: minus the growth of the blocks before.
        # Deleted lines right at `high` come after the new block, so they do not count there.
        shift_low = shift_high = 0
        for block, start in zip(self.blocks, starts, strict=True):
            end, growth = start + len(block.lines), len(block.lines) - (block.stop - block.first)
            if end <= low:
                shift_low += growth
            if end <= high and not (end == start == high):
                shift_high += growth
        lines = apply_hunks(current, low, high, [(hunk, 0) for hunk in plan.hunks])
        owners = sorted({owner for n in touched for owner in self.blocks[n].owners} | {index})
        for n in reversed(touched):
            del self.blocks[n]
        self.add(Block(low - shift_low, high - shift_high, lines, owners))

    def changed_near(self, first: int, stop: int) -> bool:
        """Whether current lines [first, stop) overlap a block this reply changed."""
        return any(
            start < stop and first < start + len(block.lines)
            for block, start in zip(self.blocks, self.positions(), strict=True)
        )

    def add(self, block: Block) -> None:
        position = bisect.bisect_left([b.first for b in self.blocks], block.first)
        self.blocks.insert(position, block)
        self._view = None


def apply_hunks(base: list[str], first: int, stop: int, hunks: list[tuple[Hunk, int]]) -> list[str]:
    """base[first:stop] with the hunks (and the order they were accepted in) applied."""
    ordered = sorted(hunks, key=lambda item: (item[0].start, item[0].stop != item[0].start, item[1]))
    out: list[str] = []
    pos = first
    for hunk, _ in ordered:
        out.extend(base[pos : hunk.start])
        out.extend(hunk.lines)
        pos = max(pos, hunk.stop)
    out.extend(base[pos:stop])
    return out


@dataclass
class _Accepted:
    hunk: Hunk
    owners: set[int]  # the edits whose change this is: several when their changes merged
    order: int

    @property
    def owner(self) -> int:
        return min(self.owners)


class _Conflict(Exception):
    def __init__(self, first: int, second: int, line: int) -> None:
        super().__init__(f"edits {first} and {second} conflict at line {line}")
        self.first, self.second, self.line = first, second, line


def compose(doc: Document, edits: list[Edit], located: list[tuple[int, Plan]]) -> dict[int, EditOutcome]:
    """Combine the located edits into blocks of `doc`; the outcome of each."""
    outcomes: dict[int, EditOutcome] = {}
    remaining = list(located)
    while True:
        conflicts: dict[int, tuple[int, int]] = {}  # index -> (other index, line)
        groups = _overlapping(remaining)
        for group in groups:
            for a in range(len(group)):
                for b in range(a + 1, len(group)):
                    try:
                        _combine(doc.base.lines, [group[a], group[b]])
                        _one_reading(doc.base.lines, [group[a], group[b]])
                    except _Conflict as conflict:
                        conflicts.setdefault(group[a][0], (group[b][0], conflict.line))
                        conflicts.setdefault(group[b][0], (group[a][0], conflict.line))
        if not conflicts:
            break
        for index, (other, line) in conflicts.items():
            outcomes[index] = EditOutcome(
                edits[index], EditStatus.FAILED, _conflict_reason(edits[other], line)
            )
        remaining = [item for item in remaining if item[0] not in conflicts]

    for group in _overlapping(remaining):
        while True:
            try:
                _combine(doc.base.lines, group)
                if len(group) > 2:  # (pairs were read both ways above)
                    _one_reading(doc.base.lines, group)
                break
            except _Conflict as conflict:  # edits that agree in pairs but not all together
                late, other = max(conflict.first, conflict.second), min(conflict.first, conflict.second)
                reason = _conflict_reason(edits[other], conflict.line)
                outcomes[late] = EditOutcome(edits[late], EditStatus.FAILED, reason)
                group = [item for item in group if item[0] != late]
        kept = _needed(doc.base.lines, group)
        for index, _ in group:
            if any(index == k for k, _ in kept):
                outcomes[index] = EditOutcome(edits[index], EditStatus.APPLIED)
            else:
                reason = "another edit of this reply already makes this change"
                outcomes[index] = EditOutcome(edits[index], EditStatus.ALREADY_APPLIED, reason)
        accepted = _combine(doc.base.lines, kept)
        first, stop = min(p.first for _, p in kept), max(p.stop for _, p in kept)
        lines = apply_hunks(doc.base.lines, first, stop, [(a.hunk, a.order) for a in accepted])
        doc.add(Block(first, stop, lines, [index for index, _ in kept]))
    return outcomes


def _one_reading(base: list[str], group: list[tuple[int, Plan]]) -> None:
    """_Conflict unless the overlapping edits give the same lines whichever way each edit that reads
    two ways is read (`Plan.other_reading`): "a; b;" -> "c; a;" is a and b changed in place, or c
    inserted and b deleted, and a line another edit inserts after a lands on either side of it. Two
    edits can agree with a third each while all three depend on the reading (one swaps two lines,
    one changes the second, one inserts after the first): the whole group is checked too. The
    conflict names the group's first and last edit (the caller refuses the last and tries again).
    Copies of one edit (the same change at the same place) are read the same way: they say one
    thing. A group with more than `MAX_TWO_WAY` distinct edits that read two ways is refused that
    way unread."""
    two_way = list(dict.fromkeys(plan for _, plan in group if plan.other_reading is not None))
    if not two_way:
        return
    first, stop = min(p.first for _, p in group), max(p.stop for _, p in group)
    low, high = min(index for index, _ in group), max(index for index, _ in group)
    if len(two_way) > MAX_TWO_WAY:
        raise _Conflict(low, high, first)
    results: set[tuple[str, ...] | None] = set()
    for readings in itertools.product([False, True], repeat=len(two_way)):
        other = {plan for plan, read_other in zip(two_way, readings, strict=True) if read_other}
        read = [
            (
                index,
                dataclasses.replace(plan, hunks=plan.other_reading)
                if plan in other and plan.other_reading
                else plan,
            )
            for index, plan in group
        ]
        try:
            accepted = _combine(base, read)
        except _Conflict:
            results.add(None)
            continue
        results.add(tuple(apply_hunks(base, first, stop, [(a.hunk, a.order) for a in accepted])))
    if len(results) > 1:
        raise _Conflict(low, high, first)


def _needed(base: list[str], group: list[tuple[int, Plan]]) -> list[tuple[int, Plan]]:
    """The edits of the group without those the others make redundant (the combined lines are the
    same without them). Later edits go first: of two identical edits, the first one stays."""
    first, stop = min(p.first for _, p in group), max(p.stop for _, p in group)

    def result(plans: list[tuple[int, Plan]]) -> list[str] | None:
        try:
            accepted = _combine(base, plans)
        except _Conflict:
            return None
        return apply_hunks(base, first, stop, [(a.hunk, a.order) for a in accepted])

    kept = list(group)
    full = result(kept)
    for item in reversed(group):
        trial = [k for k in kept if k[0] != item[0]]
        if trial and result(trial) == full:
            kept = trial
    return kept


def _conflict_reason(other: Edit, line: int) -> str:
    ids = ", ".join(other.incident_ids)
    whose = f" (incidents {ids})" if ids else ""
    return (
        f"changes line {line + 1} differently than another edit of this reply{whose}; "
        "send one edit for these lines"
    )


def _overlapping(located: list[tuple[int, Plan]]) -> list[list[tuple[int, Plan]]]:
    """Groups of plans whose named lines overlap, each in edit order."""
    groups: list[list[tuple[int, Plan]]] = []
    stop = -1
    for item in sorted(located, key=lambda item: (item[1].first, item[0])):
        if groups and item[1].first < stop:
            groups[-1].append(item)
            stop = max(stop, item[1].stop)
        else:
            groups.append([item])
            stop = item[1].stop
    return [sorted(group, key=lambda item: item[0]) for group in groups]


def _combine(base: list[str], group: list[tuple[int, Plan]]) -> list[_Accepted]:
    """The hunks of the group's plans together; _Conflict if two of them change the same lines
    differently."""
    accepted: list[_Accepted] = []
    for index, plan in group:
        for hunk in plan.hunks:
            _accept(base, accepted, hunk, index)
    return accepted


def _accept(base: list[str], accepted: list[_Accepted], hunk: Hunk, owner: int) -> None:
    """Add `hunk` of edit `owner`: on its own, merged into an accepted one, or covered by it."""
    touching = [a for a in accepted if owner not in a.owners and _touch(a.hunk, hunk)]
    if not touching:
        # An insertion next to another edit's replacement that starts (or ends) with the same lines
        # is that same change, aligned differently.
        for other in accepted:
            if owner in other.owners:
                continue
            if _edge_holds(other.hunk, hunk):
                return
            if _edge_holds(hunk, other.hunk):
                other.hunk, other.owners = hunk, {owner}
                return
        accepted.append(_Accepted(hunk, {owner}, len(accepted)))
        return
    if len(touching) > 1:
        raise _Conflict(touching[0].owner, owner, hunk.start)
    other = touching[0]
    _merge(base, accepted, other, hunk, owner)
    # The merged change may now hold, at its edge, an insertion accepted before on its own (one
    # edit inserts a line, another deletes the next, a third replaces that line with the inserted
    # one): the same change, aligned differently, made once.
    held = [a for a in accepted if not a.owners & other.owners and _edge_holds(other.hunk, a.hunk)]
    for insertion in held:
        accepted.remove(insertion)
        other.owners |= insertion.owners


def _merge(base: list[str], accepted: list[_Accepted], other: _Accepted, hunk: Hunk, owner: int) -> None:
    """Merge `hunk` of edit `owner` into `other`, the accepted change it touches (or accept it
    next to it); _Conflict if they change the same lines differently."""
    mine, theirs = hunk, other.hunk
    if mine == theirs:
        return
    if mine.start == mine.stop and theirs.start == theirs.stop:  # two insertions at one place
        if contains(list(theirs.lines), list(mine.lines)):
            return
        if contains(list(mine.lines), list(theirs.lines)):
            other.hunk, other.owners = mine, {owner}
            return
        accepted.append(_Accepted(hunk, {owner}, len(accepted)))
        return
    same_lines = (mine.start, mine.stop) == (theirs.start, theirs.stop)
    if same_lines and mine.stop - mine.start == 1 and len(mine.lines) == len(theirs.lines) == 1:
        merged = _merge_line(base[mine.start], theirs.lines[0], mine.lines[0])
        if merged is None:
            raise _Conflict(other.owner, owner, mine.start)
        _take(other, Hunk(mine.start, mine.stop, (merged,)), mine, owner)
        return
    if not mine.lines and not theirs.lines and mine.start < mine.stop and theirs.start < theirs.stop:
        # Overlapping deletions: every line either names goes.
        union = Hunk(min(mine.start, theirs.start), max(mine.stop, theirs.stop), ())
        _take(other, union, mine, owner)
        return
    for deletion, replacement in ((mine, theirs), (theirs, mine)):
        if not deletion.lines and replacement.lines and _within(replacement, deletion):
            # Lines one edit deletes, some of which the other replaces: all go, the replacement
            # stands in their place.
            _take(other, Hunk(deletion.start, deletion.stop, replacement.lines), mine, owner)
            return
    # One replaces lines within the other's, with lines the other's replacement holds (a deletion is
    # held by anything): the larger one says everything the smaller one does.
    if _covers(theirs, mine):
        return
    if _covers(mine, theirs):
        other.hunk, other.owners = mine, {owner}
        return
    raise _Conflict(other.owner, owner, max(mine.start, theirs.start))


def _take(other: _Accepted, combined: Hunk, mine: Hunk, owner: int) -> None:
    """`other` becomes `combined`, the merge of its hunk and edit `owner`'s `mine`."""
    if combined == other.hunk:
        return  # mine said nothing new
    if combined == mine:
        other.owners = {owner}  # mine says everything other's said
    else:
        other.owners.add(owner)
    other.hunk = combined


def _edge_holds(replacement: Hunk, insertion: Hunk) -> bool:
    """True if `insertion` puts lines right before (or after) `replacement`'s lines that the
    replacement itself starts (or ends) with."""
    if insertion.start != insertion.stop or replacement.start == replacement.stop:
        return False
    size = len(insertion.lines)
    if insertion.start == replacement.start:
        return replacement.lines[:size] == insertion.lines
    if insertion.start == replacement.stop:
        return (
            len(replacement.lines) >= size
            and replacement.lines[len(replacement.lines) - size :] == insertion.lines
        )
    return False


def _within(inner: Hunk, outer: Hunk) -> bool:
    return outer.start <= inner.start and inner.stop <= outer.stop and inner.start < inner.stop


def _covers(outer: Hunk, inner: Hunk) -> bool:
    return _within(inner, outer) and contains(list(outer.lines), list(inner.lines))


def _touch(a: Hunk, b: Hunk) -> bool:
    if a.start == a.stop and b.start == b.stop:
        return a.start == b.start
    if a.start == a.stop:
        return b.start < a.start < b.stop
    if b.start == b.stop:
        return a.start < b.start < a.stop
    return a.start < b.stop and b.start < a.stop


def _merge_line(base: str, ours: str, theirs: str) -> str | None:
    """Both changes to one line, token by token; None if they change or touch the same part."""
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    base_tokens = _TOKEN.findall(base)
    mine, other = _token_changes(base_tokens, ours), _token_changes(base_tokens, theirs)
    if any(a1 <= b2 and b1 <= a2 for a1, a2, _ in mine for b1, b2, _ in other):
        return None
    merged = list(base_tokens)
    for i1, i2, tokens in sorted(mine + other, key=lambda change: change[0], reverse=True):
        merged[i1:i2] = tokens
    return "".join(merged)


def _token_changes(base_tokens: list[str], changed: str) -> list[tuple[int, int, list[str]]]:
    tokens = _TOKEN.findall(changed)
    matcher = difflib.SequenceMatcher(None, base_tokens, tokens, autojunk=False)
    return [(i1, i2, tokens[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]
