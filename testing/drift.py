"""Edits drifted the way models drift them, for the fidelity fuzzer (`tests/edits/test_edit_drift.py`).

A *case* is a file and the correct change to it as line operations (from `examples/*/app` against
`examples/*/expected`, or generated for the realistic files in `tests/data/edit-corpus/`). A
*canonical edit* per operation says that change the way the protocol asks: whole lines copied
verbatim, unique. A *drift* rewrites an edit the way real models do. Every edit knows which
operations it performs, so the intended file for any set of landed edits is known without asking
the product.

This is a test double: it splits lines, counts matches and computes intended files on its own,
sharing nothing with `kantra_ai.edits` but its data types (and, in `measure`, the function under
test, `apply_checked`).

As a script it prints the fidelity table per drift kind (README, "Set up and run"):
`.venv/bin/python -m testing.drift --replies 2000`.
"""

from __future__ import annotations

import argparse
import difflib
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from kantra_ai.edits.model import ApplyResult, Edit, EditStatus

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "data" / "edit-corpus"

# Per edit. Each has a docstring below saying what a model does.
EDIT_KINDS = (
    "newline_asymmetry",
    "crlf",
    "trailing_whitespace",
    "tabs_spaces",
    "indentation",
    "final_newline",
    "partial_lines",
    "context_lines",
    "line_numbers",
    "whitespace_only",
    "neighbour",
)
# Per reply.
REPLY_KINDS = ("reverse", "duplicate")
KINDS = EDIT_KINDS + REPLY_KINDS
# What the SEARCH/REPLACE text format can carry: its blocks are whole lines, so line breaks at the
# edges of a text, and the kind of line break, do not exist there.
TEXT_KINDS = tuple(k for k in KINDS if k not in ("newline_asymmetry", "final_newline", "crlf"))


# --- files and the intended result ----------------------------------------------------------------------


def split(text: str) -> tuple[list[str], bool]:
    if not text:
        return [], False
    parts = text.split("\n")
    if parts[-1] == "":
        return parts[:-1], True
    return parts, False


def join(lines: Sequence[str], final_newline: bool) -> str:
    return "\n".join(lines) + ("\n" if final_newline and lines else "")


@dataclass(frozen=True)
class Op:
    """Lines [start, stop) of the original (0-based) become `lines`; start == stop inserts."""

    start: int
    stop: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # its suffix picks the syntax and integrity checks
    original: str  # "\n" newlines
    ops: tuple[Op, ...]

    @cached_property
    def lines(self) -> list[str]:
        return split(self.original)[0]

    @cached_property
    def final_newline(self) -> bool:
        return split(self.original)[1]

    def offset(self, line: int) -> int:
        """Where line `line` starts in `original` (its length for the end)."""
        return min(len(self.original), sum(len(text) + 1 for text in self.lines[:line]))

    def text(self, first: int, stop: int) -> str:
        """Lines [first, stop) exactly as the file has them, line breaks included."""
        return self.original[self.offset(first) : self.offset(stop)]

    def intended(self, ops: set[int] | frozenset[int]) -> str:
        """The file with the operations `ops` made (and no others)."""
        lines = list(self.lines)
        for index in sorted(ops, key=lambda i: (self.ops[i].start, self.ops[i].stop), reverse=True):
            op = self.ops[index]
            lines[op.start : op.stop] = op.lines
        return join(lines, self.final_newline)


def ops_from_diff(before: list[str], after: list[str]) -> tuple[Op, ...]:
    """Per-line operations turning `before` into `after`: changed lines paired one to one, the
    rest of a changed block deleted or inserted as one operation."""
    ops: list[Op] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)
        ops.extend(Op(i1 + k, i1 + k + 1, (after[j1 + k],)) for k in range(paired))
        if i2 - i1 > paired:
            ops.append(Op(i1 + paired, i2, ()))
        elif j2 - j1 > paired:
            ops.append(Op(i2, i2, tuple(after[j1 + paired : j2])))
    return tuple(ops)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").replace("\r\n", "\n")


def case_from_edits(path: str, content: str, edits: Sequence[Edit]) -> Case:
    """The change well-formed edits make to `content`, one operation per edit, as a Case.

    The edits are applied in order, each replacing whole lines (a deletion may carry the line
    break before or after its lines) found exactly once in the content as the edits before it
    left it, and in line order, as a careful model (or `kantra_ai.simulated.recipes`) writes them.
    Raises ValueError for anything else."""
    running = content.replace("\r\n", "\n")
    ops: list[Op] = []
    growth = 0
    for edit in edits:
        old, new = edit.old_text, edit.new_text
        if not old or occurrences(running, old) != 1:
            raise ValueError(f"old text not found exactly once: {old!r}")
        lead = 1 if old.startswith("\n") else 0
        pos = running.find(old) + lead
        body = old[lead:]
        if pos and running[pos - 1] != "\n":
            raise ValueError(f"old text does not start a line: {old!r}")
        end = running.find(old) + len(old)
        if end < len(running) and not old.endswith("\n") and running[end] != "\n":
            raise ValueError(f"old text does not end a line: {old!r}")
        first = running.count("\n", 0, pos) - growth
        old_lines = body[:-1].split("\n") if body.endswith("\n") else body.split("\n")
        if not new:
            new_lines: tuple[str, ...] = ()
        elif old.endswith("\n") and new.endswith("\n"):
            new_lines = tuple(new[:-1].split("\n"))
        else:
            new_lines = tuple(new.split("\n"))
        if ops and first < ops[-1].stop:
            raise ValueError("edits out of line order")
        ops.append(Op(first, first + len(old_lines), new_lines))
        growth += len(new_lines) - len(old_lines)
        running = running.replace(old, new, 1)
    return Case(path, path, content.replace("\r\n", "\n"), tuple(ops))


def example_cases() -> list[Case]:
    """Every file the bundled examples change, with the change from `expected/`."""
    cases: list[Case] = []
    for app in sorted(REPO.glob("examples/*/app")):
        for source in sorted(p for p in app.rglob("*") if p.is_file()):
            relative = source.relative_to(app)
            target = app.parent / "expected" / relative
            if not target.is_file():
                continue
            before, after = _read(source), _read(target)
            if before != after:
                ops = ops_from_diff(split(before)[0], split(after)[0])
                cases.append(Case(f"{app.parent.name}/{relative}", str(relative), before, ops))
    return cases


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_file())


# --- generated changes for the corpus files -------------------------------------------------------------

_KEYWORDS_TEXT = """
    abstract assert boolean break byte case catch char class const continue default do double else
    enum extends final finally float for goto if implements import instanceof int interface long
    native new package private protected public return short static strictfp super switch
    synchronized this throw throws transient try void volatile while var record null true false
"""
_JAVA_KEYWORDS = frozenset(_KEYWORDS_TEXT.split())
_ANNOTATIONS = {"@Stateless": "@ApplicationScoped", "@EJB": "@Inject", "@RequestScoped": "@ApplicationScoped"}


def _unit(lines: list[str]) -> str:
    if any(line.startswith("\t") for line in lines):
        return "\t"
    widths = [
        len(line) - len(line.lstrip(" "))
        for line in lines
        if line.strip() and line.startswith(" ") and not line.lstrip().startswith("*")  # javadoc
    ]
    return " " * (min(widths) if widths else 4)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def candidate_ops(path: str, lines: list[str]) -> list[tuple[int, Op]]:
    """(owner line, operation) pairs a migration might make: one per owner line gets chosen."""
    suffix = Path(path).suffix
    unit = _unit(lines)
    found: list[tuple[int, Op]] = []
    body = "\n".join(lines)
    for i, line in enumerate(lines):
        text, indent = line.strip(), _indent(line)
        level = len(indent) // max(1, len(unit)) if unit != "\t" else indent.count("\t")
        if suffix == ".java":
            found.extend(_java_candidates(i, line, text, indent, level, body))
        elif suffix == ".xml":
            found.extend(_xml_candidates(i, line, text, indent))
        elif suffix == ".properties" and "=" in text and not text.startswith("#"):
            key, value = text.split("=", 1)
            found.append((i, Op(i, i + 1, (f"{key.replace('javax.', 'jakarta.')}={value}2",))))
            found.append((i, Op(i, i + 1, ())))
            found.append((i, Op(i + 1, i + 1, (f"added.key{i}=1",))))
    return found


def _java_candidates(
    i: int, line: str, text: str, indent: str, level: int, body: str
) -> list[tuple[int, Op]]:
    out: list[tuple[int, Op]] = []
    if text.startswith("import "):
        if "javax." in text:
            out.append((i, Op(i, i + 1, (line.replace("javax.", "jakarta.", 1),))))
        simple = text.rstrip(";").rsplit(".", 1)[-1]
        if len(re.findall(rf"\b{re.escape(simple)}\b", body)) == 1:  # unused: may go
            out.append((i, Op(i, i + 1, ())))
        out.append((i, Op(i + 1, i + 1, (f"{indent}import com.acme.extra.Added{i};",))))
    elif re.fullmatch(r"@\w+", text):
        out.append((i, Op(i, i + 1, (indent + _ANNOTATIONS.get(text, text + "Migrated"),))))
    elif text.endswith(";") and not text.startswith(("package ", "//", "*")):
        names = [n for n in re.findall(r"\b[a-z][A-Za-z0-9]*\b", text) if n not in _JAVA_KEYWORDS]
        if names:
            renamed = re.sub(rf"\b{names[0]}\b", names[0] + "V2", line, count=1)
            out.append((i, Op(i, i + 1, (renamed,))))
            if level >= 2:  # inside a method: statements may be added
                out.append((i, Op(i, i + 1, (renamed, f'{indent}LOG.fine("migrated");'))))
                out.append((i, Op(i + 1, i + 1, (f"{indent}counter{i}++;",))))
    elif text.endswith("{") and "(" in text and level >= 1:
        name = re.search(r"(\w+)\s*\(", text)
        if name and name.group(1) not in _JAVA_KEYWORDS:
            out.append((i, Op(i, i + 1, (line.replace(name.group(1) + "(", name.group(1) + "V2(", 1),))))
    return out


def _xml_candidates(i: int, line: str, text: str, indent: str) -> list[tuple[int, Op]]:
    out: list[tuple[int, Op]] = []
    element = re.fullmatch(r"<([\w.:-]+)>([^<]*)</\1>", text)
    if element:
        value = element.group(2)
        changed = value.replace("javax", "jakarta") if "javax" in value else value + "-next"
        out.append((i, Op(i, i + 1, (line.replace(f">{value}<", f">{changed}<", 1),))))
        out.append((i, Op(i, i + 1, ())))
        out.append((i, Op(i + 1, i + 1, (f"{indent}<!-- migrated {i} -->",))))
    else:
        attribute = re.search(r'(\w[\w:.-]*)="([^"]*)"', text)
        if attribute and not text.startswith("<?"):
            value = attribute.group(2)
            changed = value.replace("xmlns.jcp.org/xml/ns/javaee", "jakarta.ee/xml/ns/jakartaee") + "-2"
            out.append((i, Op(i, i + 1, (line.replace(f'"{value}"', f'"{changed}"', 1),))))
    return out


def generated_case(path: Path, rng: random.Random) -> Case:
    original = _read(path)
    lines = split(original)[0]
    candidates = candidate_ops(path.name, lines)
    rng.shuffle(candidates)
    chosen: dict[int, Op] = {}
    for owner, op in candidates[: rng.randint(1, 8) * 2]:
        chosen.setdefault(owner, op)
    ops = sorted(chosen.values(), key=lambda op: (op.start, op.stop))
    return Case(f"edit-corpus/{path.name}", path.name, original, tuple(ops))


# --- canonical and drifted edits ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One edit of a reply, with the operations it performs and how it drifted."""

    edit: Edit
    ops: frozenset[int]
    span: tuple[int, int]  # the original lines its old_text was copied from
    kinds: tuple[str, ...] = ()


def occurrences(text: str, needle: str) -> int:
    count, pos = 0, text.find(needle)
    while pos != -1:
        count += 1
        pos = text.find(needle, pos + 1)
    return count


def canonical(case: Case, index: int) -> Sent:
    """The operation as a well-formed edit: whole lines, with context until old_text is unique."""
    op = case.ops[index]
    above = 1 if op.start == op.stop and op.start > 0 else 0
    below = 1 if op.start == op.stop and not above else 0
    while True:
        first, stop = op.start - above, min(len(case.lines), op.stop + below)
        old = case.text(first, stop)
        if (old.strip() and occurrences(case.original, old) == 1) or (first == 0 and stop == len(case.lines)):
            break
        if (above <= below or stop == len(case.lines)) and first > 0:
            above += 1
        else:
            below += 1
    new_lines = [*case.lines[first : op.start], *op.lines, *case.lines[op.stop : stop]]
    new = "\n".join(new_lines) + ("\n" if old.endswith("\n") else "") if new_lines else ""
    return Sent(Edit(old, new, (f"op-{index}",)), frozenset({index}), (first, stop))


def _with(
    sent: Sent,
    old: str,
    new: str,
    kind: str,
    *,
    ops: frozenset[int] | None = None,
    span: tuple[int, int] | None = None,
) -> Sent:
    return Sent(
        Edit(old, new, sent.edit.incident_ids),
        sent.ops if ops is None else ops,
        sent.span if span is None else span,
        (*sent.kinds, kind),
    )


def _map_lines(text: str, change: Callable[[int, str], str]) -> str:
    """Change each line of `text` (not the empty string after a final line break)."""
    rows = text.split("\n")
    last = len(rows) - 1 if text.endswith("\n") else len(rows)
    return "\n".join(change(n, row) if n < last else row for n, row in enumerate(rows))


Drift = Callable[[Case, Sent, random.Random], "Sent | None"]


def newline_asymmetry(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """One text ends (or starts) with a line break and the other does not."""
    old, new = sent.edit.old_text, sent.edit.new_text
    options: list[tuple[str, str]] = []
    if old.endswith("\n") and new.strip():
        options.append((old, new.rstrip("\n")))  # new forgets the break: the classic glue
        options.append((old.rstrip("\n"), new))  # old without it, new with it
    if sent.span[0] > 0 and new.strip() and not old.startswith("\n") and not new.startswith("\n"):
        options.append(("\n" + old, new))  # old starts with the previous line's break
    if not options:
        return None
    old, new = rng.choice(options)
    return _with(sent, old, new, "newline_asymmetry")


def crlf(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """Windows or old-Mac line endings in one or both texts."""
    if "\n" not in sent.edit.old_text + sent.edit.new_text or "\r" in sent.edit.old_text + sent.edit.new_text:
        return None
    ending = rng.choice(["\r\n", "\r\n", "\r"])
    which = rng.choice(["both", "old", "new"])
    old = sent.edit.old_text.replace("\n", ending) if which != "new" else sent.edit.old_text
    new = sent.edit.new_text.replace("\n", ending) if which != "old" else sent.edit.new_text
    return _with(sent, old, new, "crlf")


def trailing_whitespace(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """Spaces or tabs at line ends that the file does not have, in old, new or both."""

    def padder(text: str) -> Callable[[int, str], str]:
        # A text cut short (partial_lines) does not end at a line end: its last row stays.
        last = text.count("\n") if "partial_lines" in sent.kinds and not text.endswith("\n") else -1

        def pad(n: int, row: str) -> str:
            if n == last or rng.random() >= 0.5:
                return row
            return row + rng.choice([" ", "  ", "\t", " \t"])

        return pad

    which = rng.choice(["both", "old", "new"])
    old = _map_lines(sent.edit.old_text, padder(sent.edit.old_text)) if which != "new" else sent.edit.old_text
    new = _map_lines(sent.edit.new_text, padder(sent.edit.new_text)) if which != "old" else sent.edit.new_text
    if (old, new) == (sent.edit.old_text, sent.edit.new_text):
        return None
    return _with(sent, old, new, "trailing_whitespace")


def tabs_spaces(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """Indentation rendered with spaces where the file has tabs, or tabs where it has spaces."""
    unit = _unit(case.lines)
    model = rng.choice(["    ", "  "]) if unit == "\t" else "\t"

    def convert(_n: int, row: str) -> str:
        indent = _indent(row)
        return indent.replace(unit, model) + row[len(indent) :]

    old, new = _map_lines(sent.edit.old_text, convert), _map_lines(sent.edit.new_text, convert)
    if old == sent.edit.old_text:
        return None
    return _with(sent, old, new, "tabs_spaces")


def indentation(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """The whole snippet shifted: its common indentation left out, or two spaces more."""
    rows = [r for r in (sent.edit.old_text + "\n" + sent.edit.new_text).split("\n") if r.strip()]
    common = min((len(_indent(r)) for r in rows), default=0)
    if common and rng.random() < 0.7:

        def shift(_n: int, row: str) -> str:
            return row[common:] if row.strip() else row
    else:

        def shift(_n: int, row: str) -> str:
            return "  " + row if row.strip() else row

    old, new = _map_lines(sent.edit.old_text, shift), _map_lines(sent.edit.new_text, shift)
    return _with(sent, old, new, "indentation")


def final_newline(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """Both texts without their final line break, or both with one the file lacks."""
    old, new = sent.edit.old_text, sent.edit.new_text
    if old.endswith("\n") and (new.endswith("\n") or not new):
        return _with(sent, old[:-1], new[:-1] if new else new, "final_newline")
    if not old.endswith("\n") and not new.endswith("\n"):
        return _with(sent, old + "\n", new + "\n" if new else new, "final_newline")
    return None  # one has it and the other not: that is newline_asymmetry


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def partial_lines(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """old and new start after the beginning of the first line (often just after its indentation),
    or stop before the end of the last one; both the same way."""
    old, new = sent.edit.old_text, sent.edit.new_text
    if not new.strip():
        return None
    if rng.random() < 0.6:
        first_old, first_new = old.split("\n", 1)[0], new.split("\n", 1)[0]
        shared = _common_prefix(first_old, first_new)
        indent = len(_indent(first_old))
        shared = min(shared, len(first_old.rstrip()) - 1)  # something of the line is left
        if shared <= 0:
            return None
        cut = indent if indent and rng.random() < 0.6 and indent <= shared else rng.randint(1, shared)
        return _with(sent, old[cut:], new[cut:], "partial_lines")
    core_old, core_new = old.rstrip("\n"), new.rstrip("\n")
    last_old, last_new = core_old.rsplit("\n", 1)[-1], core_new.rsplit("\n", 1)[-1]
    shared = _common_prefix(last_old[::-1], last_new[::-1])
    if shared == 0 or shared >= len(core_old):
        return None
    cut = rng.randint(1, shared)
    return _with(sent, core_old[:-cut], core_new[:-cut], "partial_lines")


def context_lines(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """One or two more lines above and/or below, copied on both sides."""
    first, stop = sent.span
    old, new = sent.edit.old_text, sent.edit.new_text
    above = (
        min(first, rng.randint(0, 2))
        if not old.startswith(("\n", "\r")) and not new.startswith(("\n", "\r"))
        else 0
    )
    ends = old.endswith("\n") and (new.endswith("\n") or not new)
    below = min(len(case.lines) - stop, rng.randint(0, 2)) if ends else 0
    if not above and not below:
        return None
    before, after = case.text(first - above, first), case.text(stop, stop + below)
    old = before + sent.edit.old_text + after
    new = before + sent.edit.new_text + after
    return _with(sent, old, new, "context_lines", span=(first - above, stop + below))


_NUMBER_FORMATS = ("{n}: ", "{n:>4}  ", "{n} | ", "{n}\t", "{n}  ")


def line_numbers(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """The window's line numbers copied in front of every line of old (and maybe of new)."""
    if sent.edit.old_text.startswith("\n"):
        return None
    form = rng.choice(_NUMBER_FORMATS)

    def number(n: int, row: str) -> str:
        return form.format(n=sent.span[0] + n + 1) + row

    old = _map_lines(sent.edit.old_text, number)
    numbered_new = sent.edit.new_text.strip() and rng.random() < 0.5
    new = _map_lines(sent.edit.new_text, number) if numbered_new else sent.edit.new_text
    return _with(sent, old, new, "line_numbers")


def whitespace_only(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """Lines the edit keeps (context, blank lines) differ from the file in whitespace only, the same
    way in old and new."""
    if not {r for r in sent.edit.old_text.split("\n") if r} & {
        r for r in sent.edit.new_text.split("\n") if r
    }:
        sent = context_lines(case, sent, rng) or sent
    old, new = sent.edit.old_text, sent.edit.new_text
    kept = {r for r in old.split("\n") if r} & {r for r in new.split("\n") if r}
    if "partial_lines" in sent.kinds:  # the cut rows do not end (or start) at a line edge
        kept -= {old.split("\n")[0], old.split("\n")[-1], new.split("\n")[0], new.split("\n")[-1]}
    if not kept:
        return None
    changed = {r: (r + rng.choice([" ", "\t"]) if r.strip() else r + "    ") for r in kept}

    def alter(_n: int, row: str) -> str:
        return changed.get(row, row)

    return _with(sent, _map_lines(old, alter), _map_lines(new, alter), "whitespace_only")


def neighbour(case: Case, sent: Sent, rng: random.Random) -> Sent | None:
    """The edit reaches into the neighbouring line that another edit of the reply changes: as
    unchanged context (the edits overlap), or making that change too (one edit covers the other)."""
    first, stop = sent.span
    if not sent.edit.old_text.endswith("\n") or sent.edit.old_text.startswith("\n"):
        return None
    for index, op in enumerate(case.ops):
        if index in sent.ops or op.start == op.stop:
            continue
        covering = rng.random() < 0.5
        if op.start == stop:
            original = case.text(op.start, op.stop)
            made = "\n".join(op.lines) + ("\n" if original.endswith("\n") and op.lines else "")
            new_tail = made if covering else original
            ops = sent.ops | {index} if covering else sent.ops
            old, new = sent.edit.old_text + original, sent.edit.new_text + new_tail
            return _with(sent, old, new, "neighbour", ops=ops, span=(first, op.stop))
        if op.stop == first:
            original = case.text(op.start, op.stop)
            made = "\n".join(op.lines) + ("\n" if op.lines else "")
            new_head = made if covering else original
            ops = sent.ops | {index} if covering else sent.ops
            old, new = original + sent.edit.old_text, new_head + sent.edit.new_text
            return _with(sent, old, new, "neighbour", ops=ops, span=(op.start, stop))
    return None


DRIFTS: dict[str, Drift] = {
    "newline_asymmetry": newline_asymmetry,
    "crlf": crlf,
    "trailing_whitespace": trailing_whitespace,
    "tabs_spaces": tabs_spaces,
    "indentation": indentation,
    "final_newline": final_newline,
    "partial_lines": partial_lines,
    "context_lines": context_lines,
    "line_numbers": line_numbers,
    "whitespace_only": whitespace_only,
    "neighbour": neighbour,
}


# In which order drifts combine, as a model would make them: which lines it quotes, what it does to
# their text, how it shifts the whole snippet, then how the text is framed: a number column copied in
# front of the lines, then the line endings.
_DRIFT_ORDER = (
    "context_lines",
    "neighbour",
    "whitespace_only",
    "partial_lines",
    "newline_asymmetry",
    "final_newline",
    "trailing_whitespace",
    "indentation",
    "tabs_spaces",
    "line_numbers",
    "crlf",
)


_SHIFTS = {"partial_lines", "indentation", "tabs_spaces"}


def drift_reply(case: Case, rng: random.Random, rate: float, kinds: Sequence[str] = KINDS) -> list[Sent]:
    """The canonical edits of `case`, each drifted with probability `rate` by one of `kinds` (now and
    then two), then reply-level drift (order, duplicates) with the same probability."""
    edit_kinds = [k for k in kinds if k in DRIFTS]

    def drifted(index: int) -> Sent:
        sent = canonical(case, index)
        if edit_kinds and rng.random() < rate:
            chosen = rng.sample(edit_kinds, 2 if len(edit_kinds) > 1 and rng.random() < 0.2 else 1)
            if len(set(chosen) & _SHIFTS) > 1:  # one way of getting the indentation wrong at a time
                chosen = chosen[:1]
            for kind in sorted(chosen, key=_DRIFT_ORDER.index):
                sent = DRIFTS[kind](case, sent, rng) or sent
        return sent

    sents = [drifted(index) for index in range(len(case.ops))]
    if "duplicate" in kinds and sents and rng.random() < rate:
        # The same edit again: repeated as it was, or the same change drifted another way.
        copy = rng.choice(sents) if rng.random() < 0.5 else drifted(rng.randrange(len(case.ops)))
        sents.insert(rng.randint(0, len(sents)), replace(copy, kinds=(*copy.kinds, "duplicate")))
    if "reverse" in kinds and len(sents) > 1 and rng.random() < rate:
        sents = [replace(s, kinds=(*s.kinds, "reverse")) for s in reversed(sents)]
    return sents


# --- judging a result -----------------------------------------------------------------------------------


@dataclass
class Judgement:
    landed: list[bool] = field(default_factory=list)  # per edit sent
    problems: list[str] = field(default_factory=list)  # anything but "exactly intended or refused"


def judge(case: Case, sents: Sequence[Sent], result: ApplyResult) -> Judgement:
    judgement = Judgement()
    statuses = [outcome.status for outcome in result.outcomes]
    if len(statuses) != len(sents):
        judgement.problems.append(f"{len(statuses)} outcomes for {len(sents)} edits")
        return judgement
    landed_ops: set[int] = set()
    applied_ops: set[int] = set()
    for sent, status in zip(sents, statuses, strict=True):
        judgement.landed.append(status is not EditStatus.FAILED)
        if status is not EditStatus.FAILED:
            landed_ops |= sent.ops
        if status is EditStatus.APPLIED:
            applied_ops |= sent.ops
    wanted = case.intended(landed_ops)
    if result.content != wanted:
        diff = "\n".join(
            difflib.unified_diff(
                wanted.split("\n"), result.content.split("\n"), "intended", "result", n=1, lineterm=""
            )
        )
        judgement.problems.append(f"{case.name}: the result is not the intended file:\n{diff}")
    for sent, status in zip(sents, statuses, strict=True):
        if status is EditStatus.ALREADY_APPLIED and not sent.ops <= applied_ops:
            judgement.problems.append(f"{case.name}: reported already applied, but it was not: {sent.edit!r}")
    return judgement


def describe(sents: Sequence[Sent], result: ApplyResult) -> str:
    rows = []
    for sent, outcome in zip(sents, result.outcomes, strict=False):
        rows.append(
            f"  {sent.kinds or ('canonical',)} ops={sorted(sent.ops)} -> {outcome.status.value} "
            f"{outcome.reason}\n    old={sent.edit.old_text!r}\n    new={sent.edit.new_text!r}"
        )
    return "\n".join(rows)


# --- the fidelity table ---------------------------------------------------------------------------------


@dataclass
class Tally:
    edits: int = 0
    landed: int = 0
    refused: int = 0
    wrong_replies: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # why drifted edits were refused


def measure(replies: int, rate: float, kinds: Sequence[str], seed: int) -> Tally:
    """Apply `replies` drifted replies (examples and corpus files in turn) behind both gates."""
    from kantra_ai.edits.checked import apply_checked  # the product, only here and in the tests

    rng = random.Random(seed)
    examples = example_cases()
    files = corpus_files()
    tally = Tally()
    for number in range(replies):
        pick = number % (len(examples) + len(files))
        case = examples[pick] if pick < len(examples) else generated_case(files[pick - len(examples)], rng)
        sents = drift_reply(case, rng, rate, kinds)
        result = apply_checked(case.path, case.original, [s.edit for s in sents])
        judgement = judge(case, sents, result)
        tally.wrong_replies += bool(judgement.problems)
        for sent, landed, outcome in zip(sents, judgement.landed, result.outcomes, strict=True):
            if set(sent.kinds) & set(kinds):
                tally.edits += 1
                tally.landed += landed
                tally.refused += not landed
                if not landed:
                    tally.reasons[re.sub(r"\d+", "N", outcome.reason.split(":")[0])] += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=1000, help="replies per row")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--reasons", action="store_true", help="also list why drifted edits were refused")
    args = parser.parse_args()
    print("| drift | drifted edits | landed exactly | refused cleanly | replies with a wrong result |")
    print("|---|---:|---:|---:|---:|")
    rows = [(kind, 1.0, (kind,)) for kind in KINDS] + [("all kinds mixed, 30% of edits", 0.3, KINDS)]
    for name, rate, kinds in rows:
        tally = measure(args.replies, rate, kinds, args.seed)
        share = tally.landed / tally.edits if tally.edits else 1.0
        landed = f"{tally.landed} ({share:.1%})"
        print(f"| {name} | {tally.edits} | {landed} | {tally.refused} | {tally.wrong_replies} |")
        if args.reasons:
            for reason, count in tally.reasons.most_common():
                print(f"|  refused: {reason} | | | {count} | |")


if __name__ == "__main__":
    main()
