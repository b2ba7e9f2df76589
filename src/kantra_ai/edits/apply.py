"""Apply search/replace edits to file content, line by line, safely.

Edits are about lines: every edit becomes "these lines of the file become those lines", so no edit can
glue two lines together or change a line it did not name. What `old_text` and `new_text` mean in
lines (newlines, edge line breaks, deletions) is defined in `lines.py`.

Finding the lines never uses line numbers (models get them wrong):

1. exact: `old_text` must occur exactly once (overlapping occurrences count);
2. whitespace-tolerant, line by line: lines compared without trailing whitespace, allowing one
   uniform indentation difference (the model re-indented the snippet), and if that finds nothing,
   ignoring leading whitespace altogether;
3. the same again with line numbers removed, when every line of `old_text` starts with consecutive
   numbers ("12: import ...", "  12  import ...": copied from a numbered window or an analyzer snippet);
4. ambiguous at the first level that matches anything: refused ("old text matches N places"), since
   guessing which place the model meant could silently edit the wrong method;
5. not found: refused with the closest lines of the file, so the retry prompt can show them.

What replaces the lines: the lines of `new_text` that equal (up to trailing whitespace) the
`old_text` lines they align with are context and keep the file's line exactly; the others are
re-indented to fit the file (the model's indentation mapped onto the file's, tabs against spaces
included) and lose trailing whitespace. An edit that changes nothing after that is refused ("edit
changes nothing"): it cannot fix anything, and a model that reports an incident fixed with a no-op
edit must not be believed.

The edits of one reply are located in the content as given, so their order does not matter, and
then combined:
- edits naming the same lines are merged when they agree: identical changes count once, changes to
  different parts of a line (token level) are both made, insertions at one place are kept in order;
- edits that change the same lines differently are refused together, each naming the other: making
  one of them would leave a file neither edit described;
- an edit whose `old_text` is not in the content is tried again on the result of the others (an
  edit may build on an earlier one of the same reply);
- an edit whose change is already there is `ALREADY_APPLIED`, not failed: a repeated edit, one an
  earlier edit of the reply covers, or one whose `new_text` stands where its `old_text` would be
  (made by an earlier attempt or run: when it is one of `applied_before`, or `new_text` is found once
  and looks like `old_text`, so a misquoted `old_text` is not taken as proof).
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
    split_content,
    text_lines,
    unify_newlines,
)
from kantra_ai.edits.model import (
    ApplyResult,
    Edit,
    EditOutcome,
    EditStatus,
    Landing,
)

CLOSEST_MAX_LINES = 8
# difflib's ratio is quadratic; only this many windows (ranked by shared words, which is cheap) get
# it, which keeps "not found" fast on files with thousands of lines.
_CLOSEST_CANDIDATES = 25
_WORD = re.compile(r"\w+")
# Lines are merged token by token: a word, a run of whitespace, or one other character.
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
# How line numbers get copied into old_text: "12: x", "12 | x", "12\tx", "  12  x", a bare "12".
_NUMBERED = re.compile(r"^[ \t]*(\d{1,7})(?::[ \t]?|[ \t]*\|[ \t]?|\t|[ \t]{1,2}|$)(.*)$")
# Lines at least this similar (difflib ratio) count as one line changed, not one removed and one added.
_SIMILAR = 0.6
_PAIRING_LIMIT = 400  # pairs of lines compared in one replaced block, at most
# A new_text found once in the file, for an old_text found nowhere, shows the change was already made
# only if it looks like old_text at least this much (difflib ratio of the stripped lines).
_ALREADY_SIMILARITY = 0.6


def plan_region(content: str, first_line: int, last_line: int) -> tuple[int, int]:
    """The character span [start, end) of 1-based lines first_line..last_line (inclusive).

    The span includes the last line's newline. Out-of-range lines are clamped to the content.
    """
    lines = content.split("\n")
    if content.endswith("\n"):
        lines.pop()  # the empty string after the final newline is not a line
    if not lines:
        return (0, 0)
    first = min(max(first_line, 1), len(lines))
    last = min(max(last_line, first), len(lines))
    start = sum(len(line) + 1 for line in lines[: first - 1])
    end = start + sum(len(line) + 1 for line in lines[first - 1 : last])
    return (start, min(end, len(content)))


def apply_edits(
    content: str,
    edits: Sequence[Edit],
    *,
    region: tuple[int, int] | None = None,
    applied_before: Sequence[Edit] = (),
) -> ApplyResult:
    """Apply `edits` (one reply) to `content` ("\\n" newlines); failed edits leave the content as it was.

    `region` is the character span [start, end) the model saw; matches must lie inside it.
    `applied_before` are edits applied to this content earlier (an earlier attempt or run): repeating
    one of them is recognised as already applied even when its new text alone would not prove it.
    """
    lines, final_newline = split_content(content)
    first, stop = _window(content, lines, region)
    view = _View(lines, final_newline, first, stop)
    edits = list(edits)
    texts = [_variants(edit) for edit in edits]
    status: dict[int, EditOutcome] = {}

    # 1. Every edit is located in the content as given.
    located: list[tuple[int, _Plan]] = []
    later: list[int] = []  # not found there: maybe it builds on another edit of the reply
    for index, edit in enumerate(edits):
        refusal = _trivial(edit, texts[index])
        if refusal is not None:
            status[index] = EditOutcome(edit, EditStatus.FAILED, refusal)
            continue
        found = _locate(view, texts[index])
        if found is None:
            later.append(index)
        elif isinstance(found, _Refusal):
            status[index] = EditOutcome(edit, EditStatus.FAILED, found.reason)
        elif isinstance(found, _InPlace):
            status[index] = EditOutcome(edit, EditStatus.ALREADY_APPLIED, found.reason)
        else:
            located.append((index, found))

    # 2. Combined: merged where they agree, refused in pairs where they do not.
    doc = _Doc(view)
    for index, outcome in _compose(doc, edits, located).items():
        status[index] = outcome

    # 3. The rest, on the result of the others, as long as that makes progress.
    progress = True
    while later and progress:
        progress = False
        for index in list(later):
            current = doc.view()
            found = _locate(current, texts[index])
            if found is None:
                continue
            later.remove(index)
            progress = True
            edit = edits[index]
            if isinstance(found, _Refusal):
                status[index] = EditOutcome(edit, EditStatus.FAILED, found.reason)
            elif isinstance(found, _InPlace):
                status[index] = EditOutcome(edit, EditStatus.ALREADY_APPLIED, found.reason)
            else:
                doc.merge(found, index)
                status[index] = EditOutcome(edit, EditStatus.APPLIED)

    # 4. Not found anywhere: already made (earlier attempt or run), or failed.
    if later:
        current = doc.view()
        before = {
            _key(texts[i][0]) for i in range(len(edits)) if status.get(i, _NONE).status is EditStatus.APPLIED
        }
        before.update(_key(_variants(edit)[0]) for edit in applied_before)
        for index in later:
            status[index] = _not_found(current, edits[index], texts[index], before, doc)

    return _result(doc, edits, [status[i] for i in range(len(edits))])


_NONE = EditOutcome(Edit("", ""), EditStatus.FAILED)


# --- what an edit says, in lines ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Texts:
    old: str  # normalised; what exact matching searches for
    new: str
    lead: int  # characters of the line break old starts with (it ends the line before the named ones)
    trail: int  # characters of the line break old ends with (it ends the last named line)
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]  # () when new is empty: the named lines go


def _texts(old: str, new: str) -> _Texts:
    lead, trail = edge_break_chars(old)
    return _Texts(
        old,
        new,
        lead,
        trail,
        tuple(text_lines(old, lead=lead > 0, trail=trail > 0)),
        tuple(text_lines(new, lead=lead > 0, trail=trail > 0)),
    )


def _variants(edit: Edit) -> list[_Texts]:
    """The edit as written, then (if it has them) without line numbers copied into it."""
    variants = [_texts(*normalise_pair(edit.old_text, edit.new_text))]
    unnumbered = _without_line_numbers(unify_newlines(edit.old_text), unify_newlines(edit.new_text))
    if unnumbered is not None:
        variants.append(_texts(*normalise_pair(*unnumbered)))
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
    if not numbers:
        return None
    low, high = numbers[0] - 1, numbers[-1] + new.count("\n") + 1
    stripped_new: list[str] = []
    for row in new.split("\n"):
        match = _NUMBERED.match(row)
        stripped_new.append(match.group(2) if match and low <= int(match.group(1)) <= high else row)
    return "\n".join(stripped_old), "\n".join(stripped_new)


def _key(texts: _Texts) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(line.strip() for line in texts.old_lines), tuple(line.strip() for line in texts.new_lines)


def _trivial(edit: Edit, variants: list[_Texts]) -> str | None:
    if is_blank(edit.old_text):
        return "old text is empty"
    if edit.old_text == edit.new_text or variants[0].old == variants[0].new:
        return "edit changes nothing"
    return None


# --- the content as lines ------------------------------------------------------------------------------


@dataclass
class _View:
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


def _window(content: str, lines: list[str], region: tuple[int, int] | None) -> tuple[int, int]:
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


# --- locating one edit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hunk:
    start: int  # lines [start, stop) of the view become `lines`; start == stop: an insertion
    stop: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class _Plan:
    first: int  # the lines the edit names: [first, stop) of the view
    stop: int
    hunks: tuple[_Hunk, ...]  # what it changes there, context left out


@dataclass(frozen=True)
class _Refusal:
    reason: str


@dataclass(frozen=True)
class _InPlace:
    reason: str


@dataclass(frozen=True)
class _Exact:
    first: int
    stop: int
    prefix: str  # what the first named line holds before the match, and the last one after it
    suffix: str


@dataclass(frozen=True)
class _LineMatch:
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


def _locate(view: _View, variants: list[_Texts]) -> _Plan | _Refusal | _InPlace | None:
    """Where the edit goes and what it does there; a refusal; or None when it is not found."""
    for texts in variants:
        match = _match(view, texts)
        if match is None:
            continue
        if isinstance(match, _Refusal):
            return match
        plan = _plan(view, texts, match)
        if _new_in_place(view, texts, plan):
            return _InPlace("its new text is already in place")
        if not plan.hunks:
            return _Refusal("edit changes nothing")
        return plan
    return None


def _match(view: _View, texts: _Texts) -> _Exact | _LineMatch | _Refusal | None:
    start, end = view.span()
    exact = [_exact(view, texts, pos) for pos in _find_all(view.text, texts.old, start, end)]
    if len(exact) > 1:
        # Edits are about lines: a whole line quoted without its line break is that line, even if it
        # also starts a longer one.
        whole = [m for m in exact if not m.prefix.strip() and not m.suffix.strip()]
        if len(whole) != 1:
            return _Refusal(f"old text matches {len(exact)} places")
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
            return _Refusal(f"old text matches {len(matches)} places (ignoring whitespace)")
        if matches:
            return matches[0]
    return None


def _find_all(content: str, needle: str, start: int, end: int) -> list[int]:
    found: list[int] = []
    pos = content.find(needle, start, end)
    while pos != -1:
        found.append(pos)
        pos = content.find(needle, pos + 1, end)  # +1, not +len: overlapping matches are ambiguous too
    return found


def _exact(view: _View, texts: _Texts, pos: int) -> _Exact:
    core_start = pos + texts.lead
    core_end = pos + len(texts.old) - texts.trail
    first = view.line_of(core_start)
    # The character after the match's core is on its last line: the line's end, or the start of the
    # (blank) line the core's own last line break leads to.
    last = max(first, view.line_of(core_end))
    prefix = view.text[view.offsets[first] : core_start]
    suffix = view.text[core_end : view.offsets[last] + len(view.lines[last])]
    return _Exact(first, last + 1, prefix, suffix)


def _plan(view: _View, texts: _Texts, match: _Exact | _LineMatch) -> _Plan:
    block = view.lines[match.first : match.stop]
    if isinstance(match, _LineMatch):
        tolerant = _tolerant_reindent(match)
        file_indent = _indent(block[0])
        # One line quoted with less indentation than the file has, the lines after it written with
        # the file's: those are as written (as after an exact match, see _later_lines).
        absolute = (
            len(texts.old_lines) == 1
            and len(_indent(texts.old_lines[0])) < len(file_indent)
            and all(line.startswith(file_indent) for line in texts.new_lines[1:] if line.strip())
        )

        def line_reindent(j: int, line: str) -> str:
            return line if absolute and j > 0 else tolerant(j, line)

        hunks = _hunks(match.first, block, list(texts.old_lines), list(texts.new_lines), line_reindent)
        return _Plan(match.first, match.stop, hunks)
    later = _later_lines(texts, block)
    if match.prefix.strip() or match.suffix.strip():
        # Part of a line: replaced literally, inside the named lines.
        new_lines = [line if j == 0 else later(line) for j, line in enumerate(texts.new_lines)]
        replaced = (match.prefix + "\n".join(new_lines) + match.suffix).split("\n")
        return _Plan(
            match.first, match.stop, _hunks(match.first, block, block, replaced, lambda _j, line: line)
        )
    # Whole lines, though the match may start after (part of) the first line's indentation: the
    # model's first old line is the file's without it, and so is its first new line.
    old_lines = [block[0][len(match.prefix) :], *block[1:]]

    def exact_reindent(j: int, line: str) -> str:
        return match.prefix + line if j == 0 else later(line)

    hunks = _hunks(match.first, block, old_lines, list(texts.new_lines), exact_reindent)
    return _Plan(match.first, match.stop, hunks)


def _later_lines(texts: _Texts, block: list[str]) -> Callable[[str], str]:
    """How to indent the new lines after the first, for an exact match. After several old lines,
    copied verbatim, they are as the model wrote them. After a single old line, quoted without (part
    of) its indentation, they are relative to it when any of them is indented less than the file's
    line: the indentation the model left out goes in front of each."""
    file_indent = _indent(block[0])
    later = [line for line in texts.new_lines[1:] if line.strip()]
    if len(texts.old_lines) != 1 or all(line.startswith(file_indent) for line in later):
        return lambda line: line
    left_out = file_indent[: max(0, len(file_indent) - len(_indent(texts.old_lines[0])))]
    return lambda line: left_out + line if line.strip() else line


def _hunks(
    first: int,
    block: list[str],
    old_lines: list[str],
    new_lines: list[str],
    reindent: Callable[[int, str], str],
) -> tuple[_Hunk, ...]:
    """What changes in `block` (the named file lines, aligned with `old_lines`): new lines equal to
    the old line they align with are context and change nothing."""
    matcher = difflib.SequenceMatcher(
        None, [line.rstrip() for line in old_lines], [line.rstrip() for line in new_lines], autojunk=False
    )
    hunks: list[_Hunk] = []
    for tag, o1, o2, n1, n2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for i1, i2, j1, j2 in _pair_similar(old_lines, new_lines, o1, o2, n1, n2):
            new = [reindent(j, new_lines[j]).rstrip() if new_lines[j].strip() else "" for j in range(j1, j2)]
            if i2 - i1 == j2 - j1 == 1:
                # A line changed in place: its own hunk, so that other edits of that line can merge.
                if new[0] != block[i1]:
                    hunks.append(_Hunk(first + i1, first + i2, tuple(new)))
            else:
                hunks.append(_Hunk(first + i1, first + i2, tuple(new)))
    return tuple(hunks)


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


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _tolerant_reindent(match: _LineMatch) -> Callable[[int, str], str]:
    indent_map = dict(match.indent_map)
    unit = _indent_unit(indent_map)

    def reindent(_j: int, line: str) -> str:
        indent = _indent(line)
        body = line[len(indent) :]
        if indent in indent_map:
            return indent_map[indent] + body
        if match.uniform:
            if indent.startswith(match.old_indent):
                return match.file_indent + indent[len(match.old_indent) :] + body
            # Only reachable when indentation is removed (file_indent is ""): a line indented less
            # than the removed prefix loses what indentation it has.
            return body
        # Not seen among the matched lines: the longest known indentation it extends, with the rest
        # converted the way the known ones were (tabs for spaces or back).
        known = max((k for k in indent_map if indent.startswith(k)), key=len, default=None)
        if known is None:
            return line
        rest = indent[len(known) :]
        if unit is not None:
            rest = rest.replace(unit[0], unit[1])
        return indent_map[known] + rest + body

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


def _match_uniform_indent(lines: list[str], first: int, old_lines: list[str]) -> _LineMatch | None:
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
            file_indent, old_indent = _indent(file_line), _indent(old)
            if len(file_indent) >= len(old_indent):
                delta = ("", file_indent[: len(file_indent) - len(old_indent)])
            else:
                delta = (old_indent[: len(old_indent) - len(file_indent)], "")
        removed, added = delta
        if not old.startswith(removed) or added + old[len(removed) :] != file_line:
            return None
    if delta is None:
        return None  # only blank lines: too vague to locate anything
    return _LineMatch(first, len(old_lines), delta[0], delta[1], uniform=True)


def _match_ignoring_indent(lines: list[str], first: int, old_lines: list[str]) -> _LineMatch | None:
    """Lines equal after stripping all surrounding whitespace."""
    indent_map: dict[str, str] = {}  # the first pair seen wins
    for offset, old in enumerate(old_lines):
        file_line = lines[first + offset]
        if file_line.strip() != old.strip():
            return None
        if old.strip():
            indent_map.setdefault(_indent(old), _indent(file_line))
    if not indent_map:
        return None
    old_indent, file_indent = next(iter(indent_map.items()))
    return _LineMatch(first, len(old_lines), old_indent, file_indent, False, tuple(indent_map.items()))


def _new_in_place(view: _View, texts: _Texts, plan: _Plan) -> bool:
    """True when new_text extends old_text (an insertion) and already stands where old_text is."""
    old_key = [line.strip() for line in texts.old_lines]
    new_key = [line.strip() for line in texts.new_lines]
    if len(new_key) <= len(old_key) or not _contains(new_key, old_key):
        return False
    found = _match(view, _texts(texts.new, texts.new))
    if not isinstance(found, (_Exact, _LineMatch)):
        return False
    return found.first <= plan.first and plan.stop <= found.stop


def _contains(outer: list[str], inner: list[str]) -> bool:
    return any(outer[i : i + len(inner)] == inner for i in range(len(outer) - len(inner) + 1))


# --- combining the edits of one reply ------------------------------------------------------------------


@dataclass
class _Block:
    """Lines [first, stop) of the content as given became `lines`, by the edits `owners`."""

    first: int
    stop: int
    lines: list[str]
    owners: list[int]


class _Doc:
    """The content as given, with the changed blocks of the edits applied so far."""

    def __init__(self, view: _View) -> None:
        self.base = view
        self.blocks: list[_Block] = []  # sorted, not overlapping

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

    def view(self) -> _View:
        return _View(
            self.current_lines(), self.base.final_newline, self.base.first, self.base.stop + self.delta()
        )

    def positions(self) -> list[int]:
        """Where each block starts in the current lines."""
        out: list[int] = []
        shift = 0
        for block in self.blocks:
            out.append(block.first + shift)
            shift += len(block.lines) - (block.stop - block.first)
        return out

    def merge(self, plan: _Plan, index: int) -> None:
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
        lines = _apply_hunks(current, low, high, [(hunk, 0) for hunk in plan.hunks])
        owners = sorted({owner for n in touched for owner in self.blocks[n].owners} | {index})
        for n in reversed(touched):
            del self.blocks[n]
        self.add(_Block(low - shift_low, high - shift_high, lines, owners))

    def add(self, block: _Block) -> None:
        position = bisect.bisect_left([b.first for b in self.blocks], block.first)
        self.blocks.insert(position, block)


def _apply_hunks(base: list[str], first: int, stop: int, hunks: list[tuple[_Hunk, int]]) -> list[str]:
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
    hunk: _Hunk
    owner: int
    order: int


class _Conflict(Exception):
    def __init__(self, first: int, second: int, line: int) -> None:
        super().__init__(f"edits {first} and {second} conflict at line {line}")
        self.first, self.second, self.line = first, second, line


def _compose(doc: _Doc, edits: list[Edit], located: list[tuple[int, _Plan]]) -> dict[int, EditOutcome]:
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
                accepted, contributed = _combine(doc.base.lines, group)
                break
            except _Conflict as conflict:  # edits that agree in pairs but not all together
                late, other = max(conflict.first, conflict.second), min(conflict.first, conflict.second)
                reason = _conflict_reason(edits[other], conflict.line)
                outcomes[late] = EditOutcome(edits[late], EditStatus.FAILED, reason)
                group = [item for item in group if item[0] != late]
        owners = [index for index, _ in group if contributed[index]]
        for index, _ in group:
            if not contributed[index]:
                outcomes[index] = EditOutcome(
                    edits[index],
                    EditStatus.ALREADY_APPLIED,
                    "another edit of this reply already makes this change",
                )
            else:
                outcomes[index] = EditOutcome(edits[index], EditStatus.APPLIED)
        if not owners:
            continue
        plans = [plan for index, plan in group if contributed[index]]
        first, stop = min(p.first for p in plans), max(p.stop for p in plans)
        lines = _apply_hunks(doc.base.lines, first, stop, [(a.hunk, a.order) for a in accepted])
        doc.add(_Block(first, stop, lines, owners))
    return outcomes


def _conflict_reason(other: Edit, line: int) -> str:
    ids = ", ".join(other.incident_ids)
    whose = f" (incidents {ids})" if ids else ""
    return (
        f"changes line {line + 1} differently than another edit of this reply{whose}; "
        "send one edit for these lines"
    )


def _overlapping(located: list[tuple[int, _Plan]]) -> list[list[tuple[int, _Plan]]]:
    """Groups of plans whose named lines overlap, each in edit order."""
    groups: list[list[tuple[int, _Plan]]] = []
    stop = -1
    for item in sorted(located, key=lambda item: (item[1].first, item[0])):
        if groups and item[1].first < stop:
            groups[-1].append(item)
            stop = max(stop, item[1].stop)
        else:
            groups.append([item])
            stop = item[1].stop
    return [sorted(group, key=lambda item: item[0]) for group in groups]


def _combine(base: list[str], group: list[tuple[int, _Plan]]) -> tuple[list[_Accepted], dict[int, bool]]:
    """The hunks of the group's plans together, and whether each plan added anything; _Conflict if two
    of them change the same lines differently."""
    accepted: list[_Accepted] = []
    contributed: dict[int, bool] = {}
    for index, plan in group:
        contributed[index] = False
        for hunk in plan.hunks:
            contributed[index] |= _accept(base, accepted, hunk, index)
    return accepted, contributed


def _accept(base: list[str], accepted: list[_Accepted], hunk: _Hunk, owner: int) -> bool:
    touching = [a for a in accepted if a.owner != owner and _touch(a.hunk, hunk)]
    if not touching:
        # An insertion next to another edit's replacement that starts (or ends) with the same lines
        # is that same change, aligned differently.
        for other in accepted:
            if other.owner == owner:
                continue
            if _edge_holds(other.hunk, hunk):
                return False
            if _edge_holds(hunk, other.hunk):
                other.hunk = hunk
                return True
        accepted.append(_Accepted(hunk, owner, len(accepted)))
        return True
    if len(touching) > 1:
        raise _Conflict(touching[0].owner, owner, hunk.start)
    other = touching[0]
    if other.hunk == hunk:
        return False
    mine, theirs = hunk, other.hunk
    if mine.start == mine.stop and theirs.start == theirs.stop:  # two insertions at one place
        if _contains(list(theirs.lines), list(mine.lines)):
            return False
        if _contains(list(mine.lines), list(theirs.lines)):
            other.hunk = mine
            return True
        accepted.append(_Accepted(hunk, owner, len(accepted)))
        return True
    same_lines = (mine.start, mine.stop) == (theirs.start, theirs.stop)
    if same_lines and mine.stop - mine.start == 1 and len(mine.lines) == len(theirs.lines) == 1:
        merged = _merge_line(base[mine.start], theirs.lines[0], mine.lines[0])
        if merged is None:
            raise _Conflict(other.owner, owner, mine.start)
        if merged == theirs.lines[0]:
            return False
        other.hunk = _Hunk(mine.start, mine.stop, (merged,))
        return True
    if not mine.lines and not theirs.lines and mine.start < mine.stop and theirs.start < theirs.stop:
        # Overlapping deletions: every line either names goes.
        union = _Hunk(min(mine.start, theirs.start), max(mine.stop, theirs.stop), ())
        grew = union != theirs
        other.hunk = union
        return grew
    # One replaces lines within the other's, with lines the other's replacement holds (a deletion is
    # held by anything): the larger one says everything the smaller one does.
    if _covers(theirs, mine):
        return False
    if _covers(mine, theirs):
        other.hunk = mine
        return True
    raise _Conflict(other.owner, owner, max(mine.start, theirs.start))


def _edge_holds(replacement: _Hunk, insertion: _Hunk) -> bool:
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


def _covers(outer: _Hunk, inner: _Hunk) -> bool:
    return (
        outer.start <= inner.start
        and inner.stop <= outer.stop
        and inner.start < inner.stop
        and _contains(list(outer.lines), list(inner.lines))
    )


def _touch(a: _Hunk, b: _Hunk) -> bool:
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


# --- what was not found --------------------------------------------------------------------------------


def _not_found(
    view: _View,
    edit: Edit,
    variants: list[_Texts],
    proven: set[tuple[tuple[str, ...], tuple[str, ...]]],
    doc: _Doc,
) -> EditOutcome:
    """Already applied, if its new text stands where it would have put it; else failed, with the
    closest lines of the file."""
    for texts in variants:
        # Only a line the edit adds or changes can show its change was made: a deletion's new text
        # is context that was there all along.
        evidence = {line.strip() for line in texts.new_lines} - {line.strip() for line in texts.old_lines}
        if not texts.new_lines:
            continue
        found = _match(view, _texts(texts.new, texts.new))
        if not isinstance(found, (_Exact, _LineMatch)) or _still_there(view, texts, found.first, found.stop):
            continue
        if _key(texts) in proven or _key(variants[0]) in proven:
            return EditOutcome(edit, EditStatus.ALREADY_APPLIED, "the same edit was applied before")
        if not evidence - {""}:
            continue
        if _changed_by_reply(doc, found.first, found.stop):
            reason = "another edit of this reply already made its change"
            return EditOutcome(edit, EditStatus.ALREADY_APPLIED, reason)
        there = "\n".join(line.strip() for line in view.lines[found.first : found.stop])
        wanted = "\n".join(line.strip() for line in texts.old_lines)
        if difflib.SequenceMatcher(None, wanted, there, autojunk=False).ratio() >= _ALREADY_SIMILARITY:
            return EditOutcome(edit, EditStatus.ALREADY_APPLIED, "its new text is already in the file")
    closest = _closest(view, list(variants[-1].old_lines))
    return EditOutcome(edit, EditStatus.FAILED, "old text not found", closest)


def _still_there(view: _View, texts: _Texts, first: int, stop: int) -> bool:
    """True when a line the edit removes or rewrites still stands near where its new text was
    found (with or without a line number copied in front): the new text is there, but the change
    is not."""
    kept = {line.strip() for line in texts.new_lines}
    gone = {_unnumbered(line) for line in texts.old_lines if line.strip() and line.strip() not in kept}
    reach = len(texts.old_lines)
    near = view.lines[max(0, first - reach) : stop + reach]
    return any(line.strip() in gone for line in near)


def _unnumbered(line: str) -> str:
    match = _NUMBERED.match(line)
    return (match.group(2) if match else line).strip()


def _changed_by_reply(doc: _Doc, first: int, stop: int) -> bool:
    for block, start in zip(doc.blocks, doc.positions(), strict=True):
        if start < stop and first < start + len(block.lines):
            return True
    return False


def _closest(view: _View, old_lines: list[str]) -> str:
    """The window of file lines most similar to `old_lines`, at most CLOSEST_MAX_LINES long."""
    lines, first_line, stop_line = view.lines, view.first, view.stop
    size = max(1, len(old_lines))
    target = "\n".join(line.strip() for line in old_lines)
    starts = range(first_line, max(first_line + 1, stop_line - size + 1))
    if first_line >= stop_line:
        return ""
    # Cheap ranking first: how many of the target's words each window shares (a sliding sum over
    # per-line counts); difflib's exact ratio, quadratic, only scores the best few windows.
    target_words = set(_WORD.findall(target))
    line_scores = [len(target_words.intersection(_WORD.findall(text))) for text in lines]
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
    return "\n".join(shown) if any(line.strip() for line in shown) else ""


# --- the result ----------------------------------------------------------------------------------------


def _result(doc: _Doc, edits: list[Edit], outcomes: list[EditOutcome]) -> ApplyResult:
    landings = [
        Landing(
            before=(block.first, block.stop),
            after=(start, start + len(block.lines)),
            edits=tuple(edits[i] for i in block.owners),
            indices=tuple(block.owners),
        )
        for block, start in zip(doc.blocks, doc.positions(), strict=True)
    ]
    return ApplyResult.of(join_content(doc.current_lines(), doc.base.final_newline), outcomes, landings)
