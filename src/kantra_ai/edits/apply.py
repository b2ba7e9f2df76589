"""Apply search/replace edits to file content, safely.

Each edit replaces `old_text` with `new_text` in the running content, in order, so a later edit
sees what earlier ones did. Matching never uses line numbers (models get them wrong):

1. exact: `old_text` must occur exactly once (overlapping occurrences count);
2. whitespace-tolerant, line by line: lines compared without trailing whitespace, allowing one
   uniform indentation difference (the model re-indented the snippet), and if that finds nothing,
   ignoring leading whitespace altogether. `new_text` is re-indented to fit the file;
3. ambiguous at the first level that matches anything: refused ("old text matches N places"),
   since guessing which place the model meant could silently edit the wrong method;
4. not found: refused with the closest lines of the file, so the retry prompt can show them.

An edit whose `old_text` equals its `new_text` is refused ("edit changes nothing"): it cannot fix
anything, and a model that reports an incident fixed with a no-op edit must not be believed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kantra_ai.edits.model import ApplyResult, Edit, FailedEdit

CLOSEST_MAX_LINES = 8
# difflib's ratio is quadratic; only this many windows (ranked by shared words, which is cheap) get
# it, which keeps "not found" fast on files with thousands of lines.
_CLOSEST_CANDIDATES = 25
_WORD = re.compile(r"\w+")


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


def apply_edits(content: str, edits: Sequence[Edit], *, region: tuple[int, int] | None = None) -> ApplyResult:
    """Apply `edits` in order to `content` ("\\n" newlines); failed edits leave the content as it was.

    `region` is the character span [start, end) the model saw; matches must lie inside it. The span
    follows the content as earlier edits grow or shrink it.
    """
    if region is None:
        start, end = 0, len(content)
    else:
        start, end = max(0, region[0]), min(len(content), region[1])
        if start > end:
            raise ValueError(f"region {region} is reversed")
    result = ApplyResult(content=content)
    for edit in edits:
        outcome = _apply_one(result.content, edit, start, end)
        if isinstance(outcome, FailedEdit):
            result.failed.append(outcome)
            continue
        new_content, span_start, span_end, inserted = outcome
        end += inserted - (span_end - span_start)
        result.content = new_content
        result.applied.append(edit)
    return result


def _apply_one(content: str, edit: Edit, start: int, end: int) -> FailedEdit | tuple[str, int, int, int]:
    """Either a failure, or (new content, replaced span start, span end, length inserted)."""
    if not edit.old_text.strip():
        return FailedEdit(edit, "old text is empty")
    if edit.old_text == edit.new_text:
        return FailedEdit(edit, "edit changes nothing")

    exact = _find_all(content, edit.old_text, start, end)
    if len(exact) > 1:
        return FailedEdit(edit, f"old text matches {len(exact)} places")
    if exact:
        pos = exact[0]
        span = (pos, pos + len(edit.old_text))
        return _splice(content, span, edit.new_text)

    lines = _Lines.of(content, start, end)
    old_lines = edit.old_text.split("\n")
    old_ends_with_newline = old_lines[-1] == "" and len(old_lines) > 1
    if old_ends_with_newline:
        old_lines.pop()
    for matcher in (_match_uniform_indent, _match_ignoring_indent):
        matches = [m for i in lines.candidate_starts(len(old_lines)) if (m := matcher(lines, i, old_lines))]
        if len(matches) > 1:
            return FailedEdit(edit, f"old text matches {len(matches)} places (ignoring whitespace)")
        if matches:
            return _splice_lines(content, lines, matches[0], edit.new_text, old_ends_with_newline)
    return FailedEdit(edit, "old text not found", closest=_closest(lines, old_lines))


def _find_all(content: str, needle: str, start: int, end: int) -> list[int]:
    found: list[int] = []
    pos = content.find(needle, start, end)
    while pos != -1:
        found.append(pos)
        pos = content.find(needle, pos + 1, end)  # +1, not +len: overlapping matches are ambiguous too
    return found


def _splice(content: str, span: tuple[int, int], new_text: str) -> tuple[str, int, int, int]:
    return content[: span[0]] + new_text + content[span[1] :], span[0], span[1], len(new_text)


@dataclass(frozen=True)
class _Lines:
    """The file's lines inside the region, with their character offsets."""

    texts: list[str]  # without the newline
    offsets: list[int]  # character offset of each line's start
    first: int  # index of the first line wholly inside the region
    stop: int  # index one past the last line wholly inside the region

    @classmethod
    def of(cls, content: str, start: int, end: int) -> _Lines:
        texts = content.split("\n")
        offsets: list[int] = []
        pos = 0
        for text in texts:
            offsets.append(pos)
            pos += len(text) + 1
        first = next((i for i, off in enumerate(offsets) if off >= start), len(texts))
        stop = first
        while stop < len(texts) and offsets[stop] < end and offsets[stop] + len(texts[stop]) <= end:
            stop += 1
        return cls(texts, offsets, first, stop)

    def candidate_starts(self, count: int) -> range:
        return range(self.first, self.stop - count + 1)


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


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _match_uniform_indent(lines: _Lines, first: int, old_lines: list[str]) -> _LineMatch | None:
    """Lines equal up to trailing whitespace and one indentation prefix added to (or removed from)
    every non-blank line."""
    delta: tuple[str, str] | None = None  # (what old has, what the file has) at the start of each line
    for offset, old in enumerate(old_lines):
        file_line = lines.texts[first + offset].rstrip()
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


def _match_ignoring_indent(lines: _Lines, first: int, old_lines: list[str]) -> _LineMatch | None:
    """Lines equal after stripping all surrounding whitespace."""
    indent_map: dict[str, str] = {}  # the first pair seen wins
    for offset, old in enumerate(old_lines):
        file_line = lines.texts[first + offset]
        if file_line.strip() != old.strip():
            return None
        if old.strip():
            indent_map.setdefault(_indent(old), _indent(file_line))
    if not indent_map:
        return None
    old_indent, file_indent = next(iter(indent_map.items()))
    return _LineMatch(first, len(old_lines), old_indent, file_indent, False, tuple(indent_map.items()))


def _reindent(new_text: str, match: _LineMatch) -> str:
    indent_map = dict(match.indent_map)
    if all(old == file for old, file in indent_map.items()) and match.old_indent == match.file_indent:
        return new_text
    out: list[str] = []
    for line in new_text.split("\n"):
        if not line.strip():
            out.append(line)
        elif _indent(line) in indent_map:
            out.append(indent_map[_indent(line)] + line.lstrip())
        elif line.startswith(match.old_indent):
            out.append(match.file_indent + line[len(match.old_indent) :])
        elif match.uniform:
            # Only reachable when indentation is removed (file_indent is ""): a line indented less
            # than the removed prefix loses what indentation it has.
            out.append(line[min(len(_indent(line)), len(match.old_indent)) :])
        else:
            out.append(line)  # no reliable rule for lines the first line's indentation does not fit
    return "\n".join(out)


def _splice_lines(
    content: str, lines: _Lines, match: _LineMatch, new_text: str, old_ends_with_newline: bool
) -> tuple[str, int, int, int]:
    last = match.first + match.count - 1
    span_start = lines.offsets[match.first]
    span_end = lines.offsets[last] + len(lines.texts[last])  # the last line's newline stays...
    replacement = _reindent(new_text, match)
    if old_ends_with_newline:
        if replacement.endswith("\n"):
            replacement = replacement[:-1]  # ...and stands in for the one new_text ends with
        elif span_end < len(content):
            span_end += 1  # whole lines replaced by text without a final newline: the newline goes too
    return _splice(content, (span_start, span_end), replacement)


def _closest(lines: _Lines, old_lines: list[str]) -> str:
    """The window of file lines most similar to `old_lines`, at most CLOSEST_MAX_LINES long."""
    size = max(1, len(old_lines))
    target = "\n".join(line.strip() for line in old_lines)
    starts = range(lines.first, max(lines.first + 1, lines.stop - size + 1))
    if lines.first >= lines.stop:
        return ""
    # Cheap ranking first: how many of the target's words each window shares (a sliding sum over
    # per-line counts); difflib's exact ratio, quadratic, only scores the best few windows.
    target_words = set(_WORD.findall(target))
    line_scores = [len(target_words.intersection(_WORD.findall(text))) for text in lines.texts]
    ranked: list[tuple[int, int]] = []
    window_score = sum(line_scores[lines.first : min(lines.first + size, lines.stop)])
    for first in starts:
        if first > lines.first:
            window_score += -line_scores[first - 1] + (
                line_scores[first + size - 1] if first + size - 1 < lines.stop else 0
            )
        ranked.append((window_score, first))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    # The target is difflib's second sequence: it indexes that one once and reuses it for every window.
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(target)
    best_score, best_first = -1.0, ranked[0][1]
    for _, first in ranked[:_CLOSEST_CANDIDATES]:
        matcher.set_seq1(
            "\n".join(line.strip() for line in lines.texts[first : min(first + size, lines.stop)])
        )
        score = matcher.ratio()
        if score > best_score:
            best_score, best_first = score, first
    shown = lines.texts[best_first : min(best_first + size, best_first + CLOSEST_MAX_LINES, lines.stop)]
    return "\n".join(shown) if any(line.strip() for line in shown) else ""
