"""Where one edit goes, and what it changes there.

An edit's texts are first read as lines (`lines.py`); `edit_variants` adds the reading without line
numbers when every line of old_text starts with consecutive ones ("12: import ...", "  12  import
..."). `locate` finds the lines old_text names, in this order, refusing at the first level that
matches more than one place ("old text matches N places"):

1. exact: old_text occurs once (overlapping occurrences count). When it occurs several times but
   only once as whole lines (a line quoted without its line break that also starts a longer line),
   that one: edits are about lines;
2. whitespace-tolerant, line by line: equal without trailing whitespace and with one uniform
   indentation difference (the model re-indented the snippet); failing that, ignoring leading
   whitespace altogether.

What the named lines become (`Plan.hunks`): new lines equal (up to trailing whitespace) to the old
line they align with are context and keep the file's line exactly (lines equal as written align
first, so that of two lines equal but for what trails them the right one is kept); the others are changes,
re-indented to fit the file and stripped of trailing whitespace. Re-indenting follows what the model
did: after an exact match, the first line gets the indentation before the match and the rest is as
written (when old_text is a single line quoted without its indentation, lines after it that are
indented less than the file's line are relative to it); after a tolerant match, each changed line
takes the indentation of the file line it stands for (the one it replaces, or the one above an
inserted line), converting tabs and spaces the way the match did (again, after a single line quoted
with less indentation than the file's, lines written with the file's indentation are as written).
An edit left changing nothing is refused ("edit changes nothing"). Replaced blocks are split around
similar lines (as difflib's Differ does), so that "a; b;" -> "a2;" is one changed and one deleted
line, which lets other edits of those lines merge (`combine.py`).

An edit whose new_text extends old_text and already stands where old_text is (lines or text added)
is `InPlace`: applying it again would add the extension twice.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kantra_ai.edits.lines import (
    edge_break_chars,
    is_blank,
    join_content,
    normalise_pair,
    text_lines,
    unify_newlines,
)
from kantra_ai.edits.model import Edit, Place

CLOSEST_MAX_LINES = 8
MAX_PLACES = 6  # candidate places shown for an ambiguous old_text
# difflib's ratio is quadratic; only this many windows (ranked by shared words, which is cheap) get
# it, which keeps "not found" fast on files with thousands of lines.
_CLOSEST_CANDIDATES = 25
_WORD = re.compile(r"\w+")
# How line numbers get copied into old_text: "12: x", "12 | x", "12\tx", "  12  x", a bare "12".
_NUMBERED = re.compile(r"^[ \t]*(\d{1,7})(?::[ \t]?|[ \t]*\|[ \t]?|\t|[ \t]{1,2}|$)(.*)$")
# Lines at least this similar (difflib ratio) count as one line changed, not one removed and one added.
_SIMILAR = 0.6
_PAIRING_LIMIT = 400  # pairs of lines compared in one replaced block, at most
_ALIGN_LIMIT = 40_000  # pairs of lines compared to align an edit's old and new lines, at most

Reindent = Callable[[int, "int | None", str], str]  # (new line index, aligned old line, line) -> line


@dataclass(frozen=True)
class EditTexts:
    old: str  # normalised; what exact matching searches for
    new: str
    lead: int  # characters of the line break old starts with (it ends the line before the named ones)
    trail: int  # characters of the line break old ends with (it ends the last named line)
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]  # () when new is empty: the named lines go


def edit_texts(old: str, new: str) -> EditTexts:
    lead, trail = edge_break_chars(old)
    return EditTexts(
        old,
        new,
        lead,
        trail,
        tuple(text_lines(old, lead=lead > 0, trail=trail > 0)),
        tuple(text_lines(new, lead=lead > 0, trail=trail > 0)),
    )


def edit_variants(edit: Edit) -> list[EditTexts]:
    """The edit as written, then (if it has them) without line numbers copied into it."""
    variants = [edit_texts(*normalise_pair(edit.old_text, edit.new_text))]
    unnumbered = _without_line_numbers(unify_newlines(edit.old_text), unify_newlines(edit.new_text))
    if unnumbered is not None:
        variants.append(edit_texts(*normalise_pair(*unnumbered)))
    return variants


def _without_line_numbers(old: str, new: str) -> tuple[str, str] | None:
    """old and new without a line-number column, if every line of old starts with consecutive
    numbers (blank lines may lack theirs). Lines of new lose a number only if it is one of old's or
    follows them, so a line that really starts with a number is rarely touched."""
    stripped_old: list[str] = []
    numbers: list[int] = []
    offset: int | None = None  # a line's number minus its position: the same on every line
    for position, row in enumerate(old.split("\n")):
        if not row.strip():
            stripped_old.append("")
            continue
        match = _NUMBERED.match(row)
        if match is None:
            return None
        number = int(match.group(1))
        if offset is None:
            offset = number - position
        elif number - position != offset:
            return None
        numbers.append(number)
        stripped_old.append(match.group(2))
    if not numbers or not any(line.strip() for line in stripped_old):
        return None  # nothing but numbers: they are the text, not a column in front of it
    low, high = numbers[0] - 1, numbers[-1] + new.count("\n") + 1
    stripped_new: list[str] = []
    for row in new.split("\n"):
        match = _NUMBERED.match(row)
        stripped_new.append(match.group(2) if match and low <= int(match.group(1)) <= high else row)
    return "\n".join(stripped_old), "\n".join(stripped_new)


def text_key(texts: EditTexts) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(line.strip() for line in texts.old_lines), tuple(line.strip() for line in texts.new_lines)


def trivial(edit: Edit, variants: list[EditTexts]) -> str | None:
    if is_blank(edit.old_text):
        return "old text is empty"
    if edit.old_text == edit.new_text or variants[0].old == variants[0].new:
        return "edit changes nothing"
    return None


@dataclass
class View:
    """Lines of the content and the window [first, stop) of them that matches must lie in."""

    lines: list[str]
    final_newline: bool
    first: int
    stop: int
    text: str = ""
    offsets: list[int] = field(default_factory=list)  # each line's start; then the text's length

    def __post_init__(self) -> None:
        self.text = join_content(self.lines, self.final_newline)
        pos = 0
        for line in self.lines:
            self.offsets.append(pos)
            pos += len(line) + 1
        self.offsets.append(len(self.text))

    def line_of(self, pos: int) -> int:
        return max(0, min(bisect.bisect_right(self.offsets, pos) - 1, len(self.lines) - 1))

    def span(self) -> tuple[int, int]:
        """The window as a character span."""
        return self.offsets[self.first], self.offsets[self.stop] if self.stop < len(self.lines) else len(
            self.text
        )


def window_lines(content: str, lines: list[str], region: tuple[int, int] | None) -> tuple[int, int]:
    """The lines wholly inside `region` (all of them without one)."""
    if region is None:
        return 0, len(lines)
    start, end = max(0, region[0]), min(len(content), region[1])
    if start > end:
        raise ValueError(f"region {region} is reversed")
    offsets: list[int] = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    first = next((i for i, off in enumerate(offsets) if off >= start), len(lines))
    stop = first
    while stop < len(lines) and offsets[stop] < end and offsets[stop] + len(lines[stop]) <= end:
        stop += 1
    return first, stop


@dataclass(frozen=True)
class Hunk:
    start: int  # lines [start, stop) of the view become `lines`; start == stop: an insertion
    stop: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    first: int  # the lines the edit names: [first, stop) of the view
    stop: int
    hunks: tuple[Hunk, ...]  # what it changes there, context left out
    # The same change read the other way, when it reads two ways (`_changed_blocks`): lines changed
    # in place, or lines kept and shifted by lines inserted and deleted around them. Alone they
    # give the same text; next to another edit of the reply they may not (`combine.compose`).
    other_reading: tuple[Hunk, ...] | None = None


@dataclass(frozen=True)
class Refusal:
    reason: str
    # "matches N places": the places, as line spans [first, stop) of the view (for the retry prompt).
    places: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class InPlace:
    reason: str


@dataclass(frozen=True)
class Exact:
    first: int
    stop: int
    prefix: str  # what the first named line holds before the match, and the last one after it
    suffix: str


@dataclass(frozen=True)
class LineMatch:
    first: int  # index of the first matched file line
    count: int
    old_indent: str  # indentation to replace at the start of each new_text line...
    file_indent: str  # ...with this
    uniform: bool  # True: the difference applies to every line; False: only where it fits
    # Non-uniform matches: indentation of each matched old line -> that of its file line, so lines the
    # model kept keep the file's exact indentation even when the file mixes tabs and spaces.
    indent_map: tuple[tuple[str, str], ...] = ()

    @property
    def stop(self) -> int:
        return self.first + self.count


def locate(view: View, variants: list[EditTexts]) -> Plan | Refusal | InPlace | None:
    """Where the edit goes and what it does there; a refusal; or None when it is not found."""
    for texts in variants:
        match = find_match(view, texts)
        if match is None:
            continue
        if isinstance(match, Refusal):
            return match
        plan = _plan(view, texts, match)
        if _new_in_place(view, texts, plan):
            return InPlace("its new text is already in place")
        if not plan.hunks:
            return Refusal("edit changes nothing")
        return plan
    return None


def find_match(view: View, texts: EditTexts) -> Exact | LineMatch | Refusal | None:
    start, end = view.span()
    exact = [_exact(view, texts, pos) for pos in find_all(view.text, texts.old, start, end)]
    if len(exact) > 1:
        # Edits are about lines: a whole line quoted without its line break is that line, even if it
        # also starts a longer one.
        whole = [m for m in exact if not m.prefix.strip() and not m.suffix.strip()]
        if len(whole) != 1:
            spans = tuple(dict.fromkeys((m.first, m.stop) for m in exact))
            return Refusal(f"old text matches {len(exact)} places", spans)
        exact = whole
    if exact:
        return exact[0]
    old_lines = list(texts.old_lines)
    if not old_lines:
        return None
    for matcher in (_match_uniform_indent, _match_ignoring_indent):
        starts = range(view.first, view.stop - len(old_lines) + 1)
        matches = [m for i in starts if (m := matcher(view.lines, i, old_lines))]
        if len(matches) > 1:
            spans = tuple((m.first, m.stop) for m in matches)
            return Refusal(f"old text matches {len(matches)} places (ignoring whitespace)", spans)
        if matches:
            return matches[0]
    return None


def find_all(content: str, needle: str, start: int, end: int) -> list[int]:
    found: list[int] = []
    pos = content.find(needle, start, end)
    while pos != -1:
        found.append(pos)
        pos = content.find(needle, pos + 1, end)  # +1, not +len: overlapping matches are ambiguous too
    return found


def _exact(view: View, texts: EditTexts, pos: int) -> Exact:
    core_start = pos + texts.lead
    core_end = pos + len(texts.old) - texts.trail
    first = view.line_of(core_start)
    # The character after the match's core is on its last line: the line's end, or the start of the
    # (blank) line the core's own last line break leads to.
    last = max(first, view.line_of(core_end))
    prefix = view.text[view.offsets[first] : core_start]
    suffix = view.text[core_end : view.offsets[last] + len(view.lines[last])]
    return Exact(first, last + 1, prefix, suffix)


def _plan(view: View, texts: EditTexts, match: Exact | LineMatch) -> Plan:
    block = view.lines[match.first : match.stop]
    if isinstance(match, LineMatch):
        reindent = _tolerant_reindent(match, texts, block)
        return _read(match, block, list(texts.old_lines), list(texts.new_lines), reindent)
    later = _later_lines(texts, block)
    if match.prefix.strip() or match.suffix.strip():
        # Part of a line: replaced literally, inside the named lines.
        new_lines = [line if j == 0 else later(line) for j, line in enumerate(texts.new_lines)]
        replaced = (match.prefix + "\n".join(new_lines) + match.suffix).split("\n")
        return _read(match, block, block, replaced, lambda _j, _anchor, line: line)
    # Whole lines, though the match may start after (part of) the first line's indentation: the
    # model's first old line is the file's without it, and so is its first new line.
    old_lines = [block[0][len(match.prefix) :], *block[1:]]

    def exact_reindent(j: int, _anchor: int | None, line: str) -> str:
        return match.prefix + line if j == 0 else later(line)

    return _read(match, block, old_lines, list(texts.new_lines), exact_reindent)


def _read(
    match: Exact | LineMatch, block: list[str], old_lines: list[str], new_lines: list[str], reindent: Reindent
) -> Plan:
    hunks = _hunks(match.first, block, old_lines, new_lines, reindent)
    other: tuple[Hunk, ...] | None = None
    if _reads_in_place(old_lines, new_lines):
        other = _hunks(match.first, block, old_lines, new_lines, reindent, in_place=False)
    return Plan(match.first, match.stop, hunks, other if other != hunks else None)


def _later_lines(texts: EditTexts, block: list[str]) -> Callable[[str], str]:
    """How to indent the new lines after the first, for an exact match. After several old lines,
    copied verbatim, they are as the model wrote them. After a single old line, quoted without (part
    of) its indentation, they are relative to it when any of them is indented less than the file's
    line: the indentation the model left out goes in front of each."""
    file_indent = indent_of(block[0])
    later = [line for line in texts.new_lines[1:] if line.strip()]
    if len(texts.old_lines) != 1 or all(line.startswith(file_indent) for line in later):
        return lambda line: line
    left_out = file_indent[: max(0, len(file_indent) - len(indent_of(texts.old_lines[0])))]
    return lambda line: left_out + line if line.strip() else line


def _hunks(
    first: int,
    block: list[str],
    old_lines: list[str],
    new_lines: list[str],
    reindent: Reindent,
    *,
    in_place: bool = True,
) -> tuple[Hunk, ...]:
    """What changes in `block` (the named file lines, aligned with `old_lines`): new lines equal to
    the old line they align with are context and change nothing. `in_place=False`: never read as
    lines changed in place (the other reading of `_changed_blocks`)."""
    hunks: list[Hunk] = []
    for o1, o2, n1, n2 in _changed_blocks(old_lines, new_lines, in_place=in_place):
        for i1, i2, j1, j2 in _pair_similar(old_lines, new_lines, o1, o2, n1, n2):
            # The old line each new line stands for: the one it replaces, or the one above (below,
            # at the start) the place it is inserted.
            anchors = [
                i1 + min(j - j1, i2 - i1 - 1)
                if i2 > i1
                else (i1 - 1 if i1 > 0 else (0 if old_lines else None))
                for j in range(j1, j2)
            ]
            new = [
                reindent(j, anchor, new_lines[j]).rstrip() if new_lines[j].strip() else ""
                for j, anchor in zip(range(j1, j2), anchors, strict=True)
            ]
            if i2 - i1 == j2 - j1 == 1:
                # A line changed in place: its own hunk, so that other edits of that line can merge.
                if new[0] != block[i1]:
                    hunks.append(Hunk(first + i1, first + i2, tuple(new)))
            else:
                hunks.append(Hunk(first + i1, first + i2, tuple(new)))
    return tuple(hunks)


def _reads_in_place(old: list[str], new: list[str]) -> bool:
    """Whether `_changed_blocks` reads these lines as changed in place, where the subsequence would
    keep some of them and insert and delete others (aligned only where the counts allow it: the
    alignment is the costly part, and most edits change the number of lines)."""
    return len(old) == len(new) and bool(_in_place(old, new, _aligned(old, new)))


def _in_place(old: list[str], new: list[str], aligned: list[tuple[int, int]]) -> list[int] | None:
    """The lines changed in place, when the edit is read that way: as many new lines as old, and
    no more of them changed in place than the subsequence `aligned` leaves unmatched. A line's new
    text equal to another line's old one (words replaced on two lines) otherwise reads as a deletion
    and an insertion, which another edit of the "deleted" line merges with as if the line were gone."""
    if len(old) != len(new):
        return None
    changed = [k for k in range(len(old)) if old[k].rstrip() != new[k].rstrip()]
    return changed if len(changed) <= 2 * (len(old) - len(aligned)) else None


def _changed_blocks(
    old: list[str], new: list[str], *, in_place: bool = True
) -> list[tuple[int, int, int, int]]:
    """The (old, new) line ranges that differ. With as many new lines as old, each line is read as
    changed in place (unless that changes more lines than the alignment below leaves unmatched).
    Otherwise lines equal as written align first (a longest common subsequence); within what is
    left, lines equal up to trailing whitespace (which models drop or add) are context too. Equal up
    to trailing whitespace alone, `a` and `a ` could align a kept line with the wrong one of two
    such lines, and the line kept would lose (or gain) what trailed it. `in_place=False`: the
    subsequence's reading only (the edit's other reading, `Plan.other_reading`)."""
    aligned = _aligned(old, new)
    changed = _in_place(old, new, aligned) if in_place else None
    if changed is not None:
        return [(k, k + 1, k, k + 1) for k in changed]
    blocks: list[tuple[int, int, int, int]] = []
    for i1, i2, j1, j2 in _gaps(aligned, len(old), len(new)):
        loose = _aligned([line.rstrip() for line in old[i1:i2]], [line.rstrip() for line in new[j1:j2]])
        blocks += [(i1 + o1, i1 + o2, j1 + n1, j1 + n2) for o1, o2, n1, n2 in _gaps(loose, i2 - i1, j2 - j1)]
    return blocks


def _aligned(old: Sequence[str], new: Sequence[str]) -> list[tuple[int, int]]:
    """The pairs of equal lines (old index, new index) of a longest common subsequence: as many
    lines as possible kept as context. difflib's matcher takes the longest run first, which is not
    always the most lines: with repeated lines (`}`, blank lines, two equal imports) it can keep a
    line as the copy of another and count the one in place as deleted and inserted again, and two
    edits of one line then read as two insertions instead of one conflict. The common ends are
    kept first (they are part of some longest subsequence); a middle too large to compare line by
    line falls back to difflib."""
    n, m = len(old), len(new)
    lo = 0
    while lo < n and lo < m and old[lo] == new[lo]:
        lo += 1
    hi = 0
    while hi < n - lo and hi < m - lo and old[n - 1 - hi] == new[m - 1 - hi]:
        hi += 1
    a, b = old[lo : n - hi], new[lo : m - hi]
    middle: list[tuple[int, int]] = []
    if a and b and len(a) * len(b) > _ALIGN_LIMIT:
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        middle = [(i + k, j + k) for i, j, size in matcher.get_matching_blocks() for k in range(size)]
    elif a and b:
        # Longest common subsequence lengths of the suffixes, then the earliest pairs that keep it.
        width = len(b) + 1
        length = [0] * ((len(a) + 1) * width)
        for i in range(len(a) - 1, -1, -1):
            for j in range(len(b) - 1, -1, -1):
                here = i * width + j
                if a[i] == b[j]:
                    length[here] = length[here + width + 1] + 1
                else:
                    length[here] = max(length[here + width], length[here + 1])
        i = j = 0
        while i < len(a) and j < len(b):
            here = i * width + j
            if a[i] == b[j] and length[here] == length[here + width + 1] + 1:
                middle.append((i, j))
                i, j = i + 1, j + 1
            elif length[here + width] >= length[here + 1]:
                i += 1
            else:
                j += 1
    return (
        [(k, k) for k in range(lo)]
        + [(lo + i, lo + j) for i, j in middle]
        + [(n - hi + k, m - hi + k) for k in range(hi)]
    )


def _gaps(pairs: Sequence[tuple[int, int]], n: int, m: int) -> list[tuple[int, int, int, int]]:
    """The (old, new) ranges between aligned pairs where something differs."""
    gaps: list[tuple[int, int, int, int]] = []
    i = j = 0
    for pi, pj in [*pairs, (n, m)]:
        if pi > i or pj > j:
            gaps.append((i, pi, j, pj))
        i, j = pi + 1, pj + 1
    return gaps


def _pair_similar(
    old: list[str], new: list[str], i1: int, i2: int, j1: int, j2: int
) -> list[tuple[int, int, int, int]]:
    """A replaced block split around its most similar pair of lines, recursively, as difflib's Differ
    does: "a; b;" -> "a2;" is a changed line and a deleted one, not one block."""
    if (
        i2 - i1 < 1
        or j2 - j1 < 1
        or (i2 - i1 == 1 and j2 - j1 == 1)
        or (i2 - i1) * (j2 - j1) > _PAIRING_LIMIT
    ):
        return [(i1, i2, j1, j2)] if i1 < i2 or j1 < j2 else []
    best, pair = _SIMILAR, (-1, -1)
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    for j in range(j1, j2):
        matcher.set_seq2(new[j].strip())
        for i in range(i1, i2):
            matcher.set_seq1(old[i].strip())
            if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best and matcher.ratio() > best:
                best, pair = matcher.ratio(), (i, j)
    if pair == (-1, -1):
        return [(i1, i2, j1, j2)]
    i, j = pair
    return [
        *_pair_similar(old, new, i1, i, j1, j),
        (i, i + 1, j, j + 1),
        *_pair_similar(old, new, i + 1, i2, j + 1, j2),
    ]


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _tolerant_reindent(match: LineMatch, texts: EditTexts, block: list[str]) -> Reindent:
    indent_map = dict(match.indent_map)
    unit = _indent_unit(indent_map)
    old_lines = texts.old_lines
    file_indent = indent_of(block[0])
    # One line quoted with less indentation than the file has, the lines after it written with the
    # file's: those are as written (as after an exact match, see _later_lines).
    absolute = (
        len(old_lines) == 1
        and len(indent_of(old_lines[0])) < len(file_indent)
        and all(line.startswith(file_indent) for line in texts.new_lines[1:] if line.strip())
    )

    def convert(rest: str) -> str:
        return rest.replace(unit[0], unit[1]) if unit is not None else rest

    head = indent_of(old_lines[0])
    cut = len(file_indent) - len(head)
    partial_head = file_indent[:cut] if cut > 0 and file_indent.endswith(head) else ""

    def reindent(j: int, anchor: int | None, line: str) -> str:
        indent = indent_of(line)
        body = line[len(indent) :]
        if absolute and j > 0:
            return line
        if match.uniform:
            if indent.startswith(match.old_indent):
                return match.file_indent + indent[len(match.old_indent) :] + body
            # Only reachable when indentation is removed (file_indent is ""): a line indented less
            # than the removed prefix loses what indentation it has.
            return body
        # A first old line quoted from inside its indentation is no measure of the lines after it:
        # the model wrote those with the indentation they have (as the old lines after it show).
        if anchor is not None and not (anchor == 0 and partial_head and j > 0):
            # Relative to the file line it stands for: right even where the model's indentation
            # maps to different file indentations on different lines.
            model, actual = indent_of(old_lines[anchor]), indent_of(block[anchor])
            if indent.startswith(model):
                return actual + convert(indent[len(model) :]) + body
        if indent in indent_map:
            return indent_map[indent] + body
        if j == 0 and partial_head:
            # The first old line was quoted from inside its indentation, and the first new line
            # with it (as after an exact match of part of a line): what was left out goes in front.
            return partial_head + line
        # Not seen among the matched lines: the longest known indentation it extends, with the rest
        # converted the way the known ones were (tabs for spaces or back).
        known = max((k for k in indent_map if indent.startswith(k)), key=len, default=None)
        if known is None:
            return line
        return indent_map[known] + convert(indent[len(known) :]) + body

    return reindent


def _indent_unit(indent_map: dict[str, str]) -> tuple[str, str] | None:
    """(what the model wrote, what the file has) for one level, when the map converts spaces to tabs
    or tabs to spaces consistently."""
    for old, new in indent_map.items():
        if old and new and set(old) == {" "} and set(new) == {"\t"} and len(old) % len(new) == 0:
            return " " * (len(old) // len(new)), "\t"
        if old and new and set(old) == {"\t"} and set(new) == {" "} and len(new) % len(old) == 0:
            return "\t", " " * (len(new) // len(old))
    return None


def _match_uniform_indent(lines: list[str], first: int, old_lines: list[str]) -> LineMatch | None:
    """Lines equal up to trailing whitespace and one indentation prefix added to (or removed from)
    every non-blank line."""
    delta: tuple[str, str] | None = None  # (what old has, what the file has) at the start of each line
    for offset, old in enumerate(old_lines):
        file_line = lines[first + offset].rstrip()
        old = old.rstrip()
        if not old or not file_line:
            if old or file_line:
                return None
            continue
        if delta is None:
            # Whether the prefix really is common is checked below, with every other line.
            file_indent, old_indent = indent_of(file_line), indent_of(old)
            if len(file_indent) >= len(old_indent):
                delta = ("", file_indent[: len(file_indent) - len(old_indent)])
            else:
                delta = (old_indent[: len(old_indent) - len(file_indent)], "")
        removed, added = delta
        if not old.startswith(removed) or added + old[len(removed) :] != file_line:
            return None
    if delta is None:
        return None  # only blank lines: too vague to locate anything
    return LineMatch(first, len(old_lines), delta[0], delta[1], uniform=True)


def _match_ignoring_indent(lines: list[str], first: int, old_lines: list[str]) -> LineMatch | None:
    """Lines equal after stripping all surrounding whitespace."""
    indent_map: dict[str, str] = {}  # the first pair seen wins
    for offset, old in enumerate(old_lines):
        file_line = lines[first + offset]
        if file_line.strip() != old.strip():
            return None
        if old.strip():
            indent_map.setdefault(indent_of(old), indent_of(file_line))
    if not indent_map:
        return None
    old_indent, file_indent = next(iter(indent_map.items()))
    return LineMatch(first, len(old_lines), old_indent, file_indent, False, tuple(indent_map.items()))


def _new_in_place(view: View, texts: EditTexts, plan: Plan) -> bool:
    """True when new_text extends old_text (adds lines, or text on a line) and already stands where
    old_text is: applying it again would add the extension twice."""
    start, end = view.span()
    if texts.old in texts.new and len(texts.new) > len(texts.old):
        olds = find_all(view.text, texts.old, start, end)
        news = find_all(view.text, texts.new, start, end)
        if len(news) == 1 and any(
            news[0] <= o and o + len(texts.old) <= news[0] + len(texts.new) for o in olds
        ):
            return True
    old_key = [line.strip() for line in texts.old_lines]
    new_key = [line.strip() for line in texts.new_lines]
    if len(new_key) <= len(old_key) or not contains(new_key, old_key):
        return False
    found = find_match(view, edit_texts(texts.new, texts.new))
    if not isinstance(found, (Exact, LineMatch)):
        return False
    return found.first <= plan.first and plan.stop <= found.stop


def contains(outer: list[str], inner: list[str]) -> bool:
    return any(outer[i : i + len(inner)] == inner for i in range(len(outer) - len(inner) + 1))


def unnumbered(line: str) -> str:
    match = _NUMBERED.match(line)
    return (match.group(2) if match else line).strip()


def closest_lines(view: View, old_lines: list[str]) -> str:
    """The window of file lines most similar to `old_lines`, at most CLOSEST_MAX_LINES long."""
    place = closest_place(view, old_lines)
    return "\n".join(place.lines) if place is not None else ""


def closest_place(view: View, old_lines: list[str]) -> Place | None:
    """`closest_lines` with the number of its first line; None when there is nothing to show."""
    lines, first_line, stop_line = view.lines, view.first, view.stop
    size = max(1, len(old_lines))
    target = "\n".join(line.strip() for line in old_lines)
    starts = range(first_line, max(first_line + 1, stop_line - size + 1))
    if first_line >= stop_line:
        return None
    # Cheap ranking first: how many of the target's words each window shares (a sliding sum over
    # per-line counts); difflib's exact ratio, quadratic, only scores the best few windows.
    target_words = set(_WORD.findall(target))
    line_scores = [0] * len(lines)  # only the window's lines are candidates
    for number in range(first_line, stop_line):
        line_scores[number] = len(target_words.intersection(_WORD.findall(lines[number])))
    ranked: list[tuple[int, int]] = []
    window_score = sum(line_scores[first_line : min(first_line + size, stop_line)])
    for first in starts:
        if first > first_line:
            window_score += -line_scores[first - 1] + (
                line_scores[first + size - 1] if first + size - 1 < stop_line else 0
            )
        ranked.append((window_score, first))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    # The target is difflib's second sequence: it indexes that one once and reuses it for every window.
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(target)
    best_score, best_first = -1.0, ranked[0][1]
    for _, first in ranked[:_CLOSEST_CANDIDATES]:
        matcher.set_seq1("\n".join(line.strip() for line in lines[first : min(first + size, stop_line)]))
        score = matcher.ratio()
        if score > best_score:
            best_score, best_first = score, first
    shown = lines[best_first : min(best_first + size, best_first + CLOSEST_MAX_LINES, stop_line)]
    return Place(best_first + 1, tuple(shown)) if any(line.strip() for line in shown) else None


def places_of(view: View, spans: tuple[tuple[int, int], ...]) -> tuple[Place, ...]:
    """The lines of each span, numbered, at most MAX_PLACES of them and CLOSEST_MAX_LINES lines each."""
    return tuple(
        Place(first + 1, tuple(view.lines[first : min(stop, first + CLOSEST_MAX_LINES)]))
        for first, stop in spans[:MAX_PLACES]
    )
