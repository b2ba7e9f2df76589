"""The second gate, after the syntax gate: what still parses but is wrong.

A pure function of the content before, the content after, and where the applied edits landed (the
`Landing`s `apply_edits` reports). It trusts none of the application logic: it compares lines. Each
problem is one line (it goes into the retry prompt) and names the edits to blame:

- a line that no edit named changed: outside the landings, before and after must hold the same lines;
- a landing whose line count changed by other than its edits' texts say (`lines.edit_line_counts`);
- two lines glued into one: Java `;import`, an annotation run into its declaration
  (`@ApplicationScopedpublic class`), `;}`, ...; XML tags of two lines on one. A join that was already
  there, or that an edit's new text writes itself, is not held against it, except the forms nobody
  writes on purpose (`;import`, `@Foopublic`);
- a Java import removed while its simple name is still used (and no other import, wildcard or
  declaration in the file can provide it);
- most of the file removed: a landing that takes away more than a third of the file's lines (and
  more than a few), more than half of a small file's, all of them, or more than
  `MAX_REMOVED_LINES` in one place. An edit changes what its
  incidents need; a reply that quotes the whole file and answers with a shell of it (or nothing)
  still parses, and would leave nothing to compile;
- a placeholder written for code left out ("// ... rest of the class unchanged ..."): the model
  meant the lines it did not repeat to stay, and they would be gone.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from kantra_ai.edits.lines import (
    edge_break_chars,
    edit_line_counts,
    is_blank,
    normalise_pair,
    split_content,
    text_lines,
)
from kantra_ai.edits.model import Edit, Landing

_SHOWN_CHARS = 60
# A migration edit rewrites a few lines near its incidents; it never takes away a screenful of them.
MAX_REMOVED_LINES = 40
_FEW_LINES = 10  # below this, a small file may lose a third of its lines to an ordinary edit
# A comment standing for code left out, as models write it when they abridge: "// ... rest unchanged",
# "/* existing code */", "<!-- ... -->", "# ... same as before".
_PLACEHOLDER = re.compile(
    r"^\s*(?://|/\*|#|<!--)\s*(?:\.\.\.|…)?\s*(?:\(?\s*)?"
    r"(?:(?:the\s+)?rest\b|(?:the\s+)?remaining\b|existing\b|unchanged\b|same\s+as\s+(?:before|above)"
    r"|other\s+(?:methods|fields|code)\b|omitted\b|etc\b)"
    r"|^\s*(?://|/\*|#|<!--)\s*(?:\.\.\.|…)\s*(?:\*/|-->)?\s*$",
    re.IGNORECASE,
)
_XML_SUFFIXES = {".xml", ".pom", ".xsd", ".xsl", ".xslt", ".wsdl", ".tld", ".fxml", ".xhtml"}


@dataclass(frozen=True)
class IntegrityProblem:
    reason: str  # one line
    edits: tuple[int, ...]  # the edits to blame, as positions in the list given to apply_edits


@dataclass(frozen=True)
class _Glue:
    pattern: re.Pattern[str]
    deliberate: bool  # an edit's new text may write it on purpose


_JAVA_GLUE = (
    _Glue(re.compile(r";(?:import|package)\b"), deliberate=False),
    _Glue(re.compile(r"@[A-Za-z_][\w.]*?[a-z0-9_](?:public|protected|private)\s"), deliberate=False),
    _Glue(re.compile(r";[ \t]+(?:import|package)\b"), deliberate=True),
    _Glue(re.compile(r";[ \t]*@\w"), deliberate=True),
    _Glue(re.compile(r";[ \t]*(?:public|protected|private)\b"), deliberate=True),
    _Glue(
        re.compile(r"@\w+(?:\([^()]*\))?[ \t]+(?:public|protected|private|class|interface|enum|record)\b"),
        deliberate=True,
    ),
    _Glue(re.compile(r";[ \t]*\}"), deliberate=True),
    _Glue(re.compile(r"\}[ \t]*(?:public|protected|private|@)"), deliberate=True),
)
_XML_GLUE = (_Glue(re.compile(r"<[^<>\n]*>[ \t]*<[^<>\n]*>"), deliberate=True),)

_IMPORT = re.compile(r"^[ \t]*import[ \t]+(static[ \t]+)?([\w.]+?)(\.\*)?[ \t]*;")
_PACKAGE = re.compile(r"^[ \t]*package[ \t]+[\w.]+[ \t]*;")
# Comments, text blocks, strings and char literals: blanked out before looking for names.
_NOT_CODE = re.compile(
    r'//[^\n]*|/\*.*?\*/|"""(?:\\.|[^\\])*?"""|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.DOTALL
)


def check_integrity(
    path: str, before: str, after: str, landings: Sequence[Landing]
) -> list[IntegrityProblem]:
    """The problems the applied edits left in `after`, or an empty list."""
    old_lines, old_final = split_content(before)
    new_lines, new_final = split_content(after)
    problems = _unnamed_changes(old_lines, new_lines, landings)
    if old_final != new_final and old_lines and new_lines:
        everyone = tuple(i for landing in landings for i in landing.indices)
        problems.append(IntegrityProblem("the file's final newline changed", everyone))
    for landing in landings:
        problems.extend(_line_count(landing))
    suffix = PurePath(path).suffix.lower()
    glue = _JAVA_GLUE if suffix == ".java" else _XML_GLUE if suffix in _XML_SUFFIXES else ()
    for landing in landings:
        problems.extend(_glued(landing, old_lines, new_lines, glue))
    if suffix == ".java":
        problems.extend(_removed_imports(old_lines, new_lines, landings))
    problems.extend(_removed_bulk(old_lines, new_lines, landings))
    problems.extend(_placeholders(landings))
    return problems


def _removed_bulk(
    old_lines: list[str], new_lines: list[str], landings: Sequence[Landing]
) -> list[IntegrityProblem]:
    """Landings that take away most of the file (see the module's docstring); lines with text only."""

    def counted(lines: list[str]) -> int:
        return sum(1 for line in lines if not is_blank(line))

    lines = counted(old_lines) or 1
    problems = []
    for landing in landings:
        old, new = landing.before, landing.after
        removed = counted(old_lines[old[0] : old[1]]) - counted(new_lines[new[0] : new[1]])
        if (
            removed > MAX_REMOVED_LINES
            or (removed > _FEW_LINES and removed * 3 > lines)
            or (removed >= 3 and removed * 2 > lines)  # most of a small file
            or (removed > 0 and removed == lines)  # all of it
        ):
            problems.append(
                IntegrityProblem(
                    f"the edit removes {removed} of the file's {lines} lines ({_line_range(old)}): an edit "
                    "changes only what its incidents need; quote the lines to change and leave the rest",
                    landing.indices,
                )
            )
    return problems


def _placeholders(landings: Sequence[Landing]) -> list[IntegrityProblem]:
    """New text that stands for code left out instead of repeating it (it would be deleted)."""
    problems = []
    for landing in landings:
        for edit, index in zip(landing.edits, landing.indices, strict=True):
            old = set(edit.old_text.split("\n"))
            written = [line for line in _new_lines(edit) if line not in old and _PLACEHOLDER.search(line)]
            if written:
                problems.append(
                    IntegrityProblem(
                        f"the edit writes a placeholder for code it left out ({_shown(written[0])}): the "
                        "lines it stands for would be deleted; quote only the lines to change",
                        (index,),
                    )
                )
    return problems


def _unnamed_changes(
    old_lines: list[str], new_lines: list[str], landings: Sequence[Landing]
) -> list[IntegrityProblem]:
    """Between and around the landings, the lines must be the same, in the same order."""
    ordered = sorted(landings, key=lambda landing: (landing.before, landing.after))
    old_pos = new_pos = 0
    previous: Landing | None = None
    for landing in [*ordered, None]:
        old_end, new_end = (
            (len(old_lines), len(new_lines))
            if landing is None
            else (
                landing.before[0],
                landing.after[0],
            )
        )
        blamed = tuple(i for near in (previous, landing) if near is not None for i in near.indices)
        if old_end < old_pos or new_end < new_pos:
            return [IntegrityProblem("edits landed on overlapping lines", blamed)]
        gap_old, gap_new = old_lines[old_pos:old_end], new_lines[new_pos:new_end]
        if gap_old != gap_new:
            return [_unnamed(gap_old, gap_new, old_pos, blamed)]
        if landing is not None:
            old_pos, new_pos = landing.before[1], landing.after[1]
            previous = landing
    return []


def _unnamed(
    gap_old: list[str], gap_new: list[str], old_pos: int, blamed: tuple[int, ...]
) -> IntegrityProblem:
    shorter = min(len(gap_old), len(gap_new))
    k = next((k for k in range(shorter) if gap_old[k] != gap_new[k]), shorter)
    was = _shown(gap_old[k]) if k < len(gap_old) else "(end of the lines)"
    now = _shown(gap_new[k]) if k < len(gap_new) else "(removed)"
    return IntegrityProblem(
        f"line {old_pos + k + 1} changed although no edit named it: {was} became {now}", blamed
    )


def _line_count(landing: Landing) -> list[IntegrityProblem]:
    """The landing grew or shrank by what its edits' texts say. Edits merged into one landing may
    share a change (made once): there the count lies between one edit's additions less everyone's
    removals and everyone's additions less one edit's removals."""
    actual = (landing.after[1] - landing.after[0]) - (landing.before[1] - landing.before[0])
    counts = [_added_removed(edit) for edit in landing.edits]
    if len(counts) == 1:
        low, high = min(a - r for a, r in counts[0]), max(a - r for a, r in counts[0])
    else:
        low = max(min(a for a, _ in c) for c in counts) - sum(max(r for _, r in c) for c in counts)
        high = sum(max(a for a, _ in c) for c in counts) - max(min(r for _, r in c) for c in counts)
    if low <= actual <= high:
        return []
    said = f"{low:+d}" if low == high else f"{low:+d} to {high:+d}"
    where = _line_range(landing.before)
    reason = f"{where}: the line count changed by {actual:+d}, but the edit text says {said}"
    return [IntegrityProblem(reason, landing.indices)]


def _added_removed(edit: Edit) -> list[tuple[int, int]]:
    """(lines added, lines removed) by the edit's texts; a deletion may keep a line (part of it)."""
    named, put = edit_line_counts(edit.old_text, edit.new_text)
    if not put:
        return [(0, named), (0, named - 1)]
    old, new = _text_lines_of(edit)
    kept = sum(
        block.size for block in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks()
    )
    return [(put - kept, named - kept)]


def _text_lines_of(edit: Edit) -> tuple[list[str], list[str]]:
    old, new = normalise_pair(edit.old_text, edit.new_text)
    lead, trail = (chars > 0 for chars in edge_break_chars(old))
    return (
        [line.strip() for line in text_lines(old, lead=lead, trail=trail)],
        [line.strip() for line in text_lines(new, lead=lead, trail=trail)],
    )


def _glued(
    landing: Landing, old_lines: list[str], new_lines: list[str], glue: Sequence[_Glue]
) -> list[IntegrityProblem]:
    before = old_lines[landing.before[0] : landing.before[1]]
    after = new_lines[landing.after[0] : landing.after[1]]
    written = [line for edit in landing.edits for line in _new_lines(edit)]
    for kind in glue:
        allowed = _count(kind.pattern, before) + (_count(kind.pattern, written) if kind.deliberate else 0)
        if _count(kind.pattern, after) <= allowed:
            continue
        for offset, line in enumerate(after):
            if kind.pattern.search(line):
                number = landing.after[0] + offset + 1
                return [
                    IntegrityProblem(
                        f"line {number} joins two lines into one: {_shown(line)}", landing.indices
                    )
                ]
    return []


def _new_lines(edit: Edit) -> list[str]:
    _, new = normalise_pair(edit.old_text, edit.new_text)
    return [] if is_blank(new) else new.split("\n")


def _count(pattern: re.Pattern[str], lines: Iterable[str]) -> int:
    return sum(len(pattern.findall(line)) for line in lines)


def _removed_imports(
    old_lines: list[str], new_lines: list[str], landings: Sequence[Landing]
) -> list[IntegrityProblem]:
    kept = {match.groups() for line in new_lines if (match := _IMPORT.match(line))}
    if any(wildcard for _, _, wildcard in kept):
        return []  # a wildcard import may provide any name: nothing can be concluded without a classpath
    provided = {name.rsplit(".", 1)[-1] for _, name, _ in kept}
    code = _code_lines(new_lines)
    problems: list[IntegrityProblem] = []
    for number, line in enumerate(old_lines):
        match = _IMPORT.match(line)
        if match is None or match.groups() in kept or match.group(3):
            continue
        name = match.group(2)
        simple = name.rsplit(".", 1)[-1]
        if simple in provided or _declares(code, simple):
            continue
        used = re.compile(rf"(?<![\w.$]){re.escape(simple)}\b")
        use = next((n for n, text in enumerate(code) if used.search(text)), None)
        if use is None:
            continue
        blamed = _removers(line, [landing for landing in landings if _inside(number, landing.before)])
        everyone = tuple(i for landing in landings for i in landing.indices)
        problems.append(
            IntegrityProblem(
                f"import {name} was removed but {simple} is still used (line {use + 1})", blamed or everyone
            )
        )
    return problems


def _removers(line: str, landings: list[Landing]) -> tuple[int, ...]:
    """The edits whose texts remove `line`; failing that, every edit of the landings holding it."""
    text = line.strip()
    removers = tuple(
        index
        for landing in landings
        for edit, index in zip(landing.edits, landing.indices, strict=True)
        if text in (lines := _text_lines_of(edit))[0] and text not in lines[1]
    )
    return removers or tuple(i for landing in landings for i in landing.indices)


def _code_lines(lines: list[str]) -> list[str]:
    """The file's lines with comments, strings, imports and the package line blanked out."""
    text = "\n".join("" if _IMPORT.match(line) or _PACKAGE.match(line) else line for line in lines)
    return _NOT_CODE.sub(lambda match: re.sub(r"[^\n]", " ", match.group()), text).split("\n")


def _declares(code: list[str], simple: str) -> bool:
    declaration = re.compile(rf"\b(?:class|interface|enum|record|@interface)\s+{re.escape(simple)}\b")
    return any(declaration.search(line) for line in code)


def _inside(line: int, span: tuple[int, int]) -> bool:
    return span[0] <= line < span[1]


def _line_range(span: tuple[int, int]) -> str:
    first, last = span[0] + 1, span[1]
    return f"line {first}" if last <= first else f"lines {first}-{last}"


def _shown(line: str) -> str:
    text = line.strip()
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "..."
    return repr(text)
