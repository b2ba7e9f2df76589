"""Incidents whose fix is already in the file: they need no request.

Two incidents on one line are often fixed by one edit, tied by the model to the one it was asked
about; the other, asked in a later request (another phase, another run with other rule filters),
would be answered "fixed" with no edit, which cannot be believed on its own. Evidence that the fix
is there, each enough alone and neither a guess:

1. an earlier write of ours reported the incident fixed, and every edit of that write tied to it
   still stands in the file (the edit library finds each of them already applied);
2. the line shows the rule's target state: the analyzer's message says what replaces what ("Replace
   the `javax.ejb` import statement with `jakarta.ejb`", "... by replacing the `@Stateless`
   annotation with a scope eg `@ApplicationScoped`"), and the incident's line, followed from the file
   as analysed (checked against the analyzer's snippet) through every change since, has changed,
   holds a replacement and none of what it replaces.

Without the file as analysed (no write of ours, or a store from before write contents were kept)
there is no line to follow, and the incident is asked about as usual.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property

from kantra_ai.analysis.model import Incident
from kantra_ai.edits.apply import apply_edits
from kantra_ai.edits.linediff import LineMatcher
from kantra_ai.edits.model import EditStatus
from kantra_ai.engine.history import EarlierWrite
from kantra_ai.engine.relocate import snippet_lines

# "Replace `X` ... with `Y`": the first quoted name after a form of "replace", the first after "with".
_REPLACEMENT = re.compile(r"\breplac\w*\b[^`\n]*?`([^`\n]+)`[^`]*?\bwith\b[^`\n]*?`([^`\n]+)`", re.IGNORECASE)
# "... with `Y` and change the schema version number": the replacement is not all the rule asks for.
_MORE_TO_DO = re.compile(r"\b(?:and|also|then|plus|as well)\b", re.IGNORECASE)
_MIN_NAME = 3  # shorter quoted names ("a", "==") say too little about a line
_SIMILAR = 0.5  # a changed line stands for the original line it is at least this similar to
EDITED_ELSEWHERE = "an edit naming it changed other lines"


def replacements(message: str, *, only: bool = True) -> list[tuple[str, str]]:
    """The (old, new) pairs the message asks for; none when it names no replacement, or (`only`)
    when the sentence asks for more than the replacement."""
    pairs: list[tuple[str, str]] = []
    for match in _REPLACEMENT.finditer(message):
        old, new = match.group(1).strip(), match.group(2).strip()
        rest = re.split(r"[.\n]", message[match.end() :], maxsplit=1)[0]
        if only and _MORE_TO_DO.search(rest):
            return []
        if len(old) >= _MIN_NAME and len(new) >= _MIN_NAME and old not in new:
            pairs.append((old, new))
    return pairs


def shows_target(message: str, line: str) -> str:
    """Which replacement the line shows ("`Y` instead of `X`"), or "" when it does not show one."""
    pairs = replacements(message)
    if not pairs or any(old in line for old, _ in pairs):
        return ""
    shown = [(old, new) for old, new in pairs if new in line]
    return f"`{shown[0][1]}` instead of `{shown[0][0]}`" if shown else ""


@dataclass
class FileNow:
    """One file as analysed and as it is now, to follow incidents' lines from one to the other."""

    original: str  # the file as the analysis saw it (before our first write)
    current: str

    @cached_property
    def _original_lines(self) -> list[str]:
        return self.original.split("\n")

    @cached_property
    def current_lines(self) -> list[str]:
        return self.current.split("\n")

    @cached_property
    def _opcodes(self) -> Sequence[tuple[str, int, int, int, int]]:
        matcher = LineMatcher(self._original_lines, self.current_lines)
        return matcher.get_opcodes()

    def line_now(self, incident: Incident) -> int | None:
        """The 0-based index of the incident's line in `current`, when it can be followed."""
        if incident.line is None:
            return None
        index = incident.line - 1
        if not 0 <= index < len(self._original_lines):
            return None
        snippet = snippet_lines(incident.code_snip).get(incident.line)
        if not snippet or self._original_lines[index].strip() != snippet:
            return None  # not the file the analyzer saw: its line numbers mean nothing here
        for tag, i1, i2, j1, j2 in self._opcodes:
            if not i1 <= index < i2:
                continue
            if tag == "equal":
                return j1 + index - i1
            if tag != "replace":
                return None  # deleted
            if i2 - i1 == j2 - j1:
                return j1 + index - i1
            wanted = self._original_lines[index].strip()
            scored = [
                (difflib.SequenceMatcher(None, wanted, self.current_lines[j].strip()).ratio(), -j)
                for j in range(j1, j2)
            ]
            ratio, best = max(scored)
            return -best if ratio >= _SIMILAR else None
        return None

    def changed(self, incident: Incident, index: int) -> bool:
        assert incident.line is not None
        return self._original_lines[incident.line - 1].strip() != self.current_lines[index].strip()


def target_state(incident: Incident, file: FileNow) -> str:
    """Why the incident's line shows its rule's target state (evidence 2), or ""."""
    index = file.line_now(incident)
    if index is None or not file.changed(incident, index):
        return ""
    shown = shows_target(incident.message, file.current_lines[index])
    return f"line {index + 1} shows {shown}" if shown else ""


def source_state(incident: Incident, file: FileNow, quoted: Collection[str]) -> str:
    """Why the incident, reported fixed with an edit that landed, is still to do, or "": its line,
    followed from the file as analysed, still holds what its rule's message says to replace (whatever
    else the rule asks for, "... and change the schema version number"), and either no edit of it
    touched the line (`quoted`: the stripped lines its edits replaced) or the line holds nothing of
    what replaces it (the edit changed another part of the line, for another rule)."""
    index = file.line_now(incident)
    if index is None:
        return ""
    line = file.current_lines[index]
    pairs = replacements(incident.message, only=False)
    left = [old for old, _ in pairs if old in line]
    if not left:
        return ""
    if not file.changed(incident, index) and line.strip() not in quoted:
        return f"{EDITED_ELSEWHERE}: line {index + 1} still shows `{left[0]}`"
    if any(new in line for _, new in pairs):
        return ""
    return f"its edit left `{left[0]}` on line {index + 1}, with no `{pairs[0][1]}`"


def fixed_by_earlier_write(incident: Incident, writes: Sequence[EarlierWrite], content: str) -> bool:
    """Evidence 1: the last write of ours that reported it fixed still stands for it."""
    for write in reversed(writes):
        if incident.id not in write.fixed:
            continue
        tied = [e for e in write.edits if incident.id in e.incident_ids]
        if not tied:
            return False
        outcomes = apply_edits(content, tied, applied_before=tied).outcomes
        return all(o.status is EditStatus.ALREADY_APPLIED for o in outcomes)
    return False


def already_fixed(
    incident: Incident, writes: Sequence[EarlierWrite], content: str, file: FileNow | None
) -> str:
    """Why the incident needs no request (the outcome's reason), or "" when it must be asked.
    `content` is the file now; `file` follows lines from the file as analysed (None: unknown)."""
    if fixed_by_earlier_write(incident, writes, content):
        return "already fixed: an earlier run's edits for it are still in the file"
    why = target_state(incident, file) if file is not None else ""
    return f"already fixed: {why}" if why else ""
