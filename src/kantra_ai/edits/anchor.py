"""Edits that name their lines through their incidents instead of quoting them.

Quoting the replaced text is most of what an edit costs in output tokens, and output is what a run
pays most for. When an edit only replaces words on its incidents' own lines, the reply may leave
`old` out and give the `sub` pairs alone (`parse.py` keeps them in `Edit.line_sub`); the lines are
the incidents' lines as the request showed them, which the analysis gave and the engine keeps where
the lines are now (`engine/relocate.py`). Line numbers the model writes are still never trusted:
the model names incidents, and the lines are ours.

`anchor_edits` turns each such edit into an ordinary one quoting those lines, so every gate of the
applier runs on it unchanged. What may not happen, and is refused with a reason for the retry:
- an incident without a line, or whose line lies outside the file or the part of it shown;
- a `from` found on none of the lines (a sub that applies nowhere says the model meant other lines),
  or no line changing at all;
- lines that cannot be quoted uniquely within the part shown, even with every neighbour added.

Lines of the named incidents that the pairs leave as they are take no part. Their incidents stay
the edit's only when they report the same finding as an incident whose line it changes (`findings`:
analyzers report one finding at several lines, e.g. an XML root's attribute at the root and at a
child element); any other incident whose line keeps its words was not fixed by them, and the placed
edit no longer names it (it must not be reported fixed for another line's change). The quoted span
runs from the first changed line to the last, the lines between kept as they are, and is widened
with neighbouring lines, above first, until it occurs once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kantra_ai.edits.lines import split_content
from kantra_ai.edits.locate import find_all, window_lines
from kantra_ai.edits.model import Edit


class AnchorRefused(ValueError):
    """The edit cannot be placed; `shown` is what it named, quoted for the retry prompt."""

    def __init__(self, reason: str, shown: Edit) -> None:
        super().__init__(reason)
        self.reason = reason
        self.shown = shown


def anchor_edits(
    content: str,
    edits: Sequence[Edit],
    incident_lines: Mapping[str, int | None] | None,
    *,
    region: tuple[int, int] | None = None,
    findings: Mapping[str, object] | None = None,
) -> tuple[list[Edit], dict[int, AnchorRefused]]:
    """`edits` with every line-addressed one quoting its lines, and the refused ones by position (in
    the list returned they stay as given, texts empty, so the applier refuses them too)."""
    resolved = list(edits)
    refused: dict[int, AnchorRefused] = {}
    if not any(edit.line_sub for edit in edits):
        return resolved, refused
    lines, _ = split_content(content)
    window = window_lines(content, lines, region)
    for index, edit in enumerate(edits):
        if not edit.line_sub:
            continue
        try:
            resolved[index] = _anchor(lines, window, edit, incident_lines or {}, findings)
        except AnchorRefused as refusal:
            refused[index] = refusal
    return resolved, refused


def _anchor(
    lines: list[str],
    window: tuple[int, int],
    edit: Edit,
    incident_lines: Mapping[str, int | None],
    findings: Mapping[str, object] | None,
) -> Edit:
    first, stop = window
    numbers: list[int] = []
    for incident_id in edit.incident_ids:
        line = incident_lines.get(incident_id)
        if line is None:
            raise AnchorRefused("an edit without old names an incident with no line: quote old", edit)
        if not first < line <= stop:
            raise AnchorRefused(f"an edit without old names line {line}, outside the lines shown", edit)
        if line - 1 not in numbers:
            numbers.append(line - 1)
    numbers.sort()
    changed: dict[int, str] = {}
    for number in numbers:
        text = lines[number]
        for before, after in edit.line_sub:
            text = text.replace(before, after)
        if text != lines[number]:
            changed[number] = text
    named = _quoted(lines, numbers[0], numbers[-1], edit)
    for before, _ in edit.line_sub:
        if not any(before in lines[n] for n in numbers):
            # No line numbers in the reason: a retry shows the file after the reply's other edits,
            # where the lines may have moved; it shows the lines themselves instead.
            raise AnchorRefused(f"sub {before!r} occurs on none of the incidents' lines", named)
    if not changed:
        raise AnchorRefused("edit changes nothing", named)
    top, bottom = min(changed), max(changed)
    window_text = "\n".join(lines[first:stop])
    while len(find_all(window_text, "\n".join(lines[top : bottom + 1]), 0, len(window_text))) > 1:
        if top > first:
            top -= 1
        elif bottom + 1 < stop:
            bottom += 1
        else:
            raise AnchorRefused(
                "the incidents' lines occur more than once in the lines shown: quote old", named
            )
    old = lines[top : bottom + 1]
    new = [changed.get(top + k, line) for k, line in enumerate(old)]
    return Edit("\n".join(old), "\n".join(new), _fixed_by(edit, changed, incident_lines, findings))


def _fixed_by(
    edit: Edit,
    changed: Mapping[int, str],
    incident_lines: Mapping[str, int | None],
    findings: Mapping[str, object] | None,
) -> tuple[str, ...]:
    """The incidents the placed edit fixes: those whose lines it changes, and those reporting the same
    finding as one of them (every named one when `findings` is not known)."""
    if findings is None:
        return edit.incident_ids
    on_changed = [i for i in edit.incident_ids if (incident_lines.get(i) or 0) - 1 in changed]
    fixed = {findings.get(i) for i in on_changed}
    return tuple(i for i in edit.incident_ids if i in on_changed or findings.get(i) in fixed)


def _quoted(lines: list[str], top: int, bottom: int, edit: Edit) -> Edit:
    """The edit as quoting the lines it named, pairs applied to them: how a refusal shows it."""
    old = "\n".join(lines[top : bottom + 1])
    new = old
    for before, after in edit.line_sub:
        new = new.replace(before, after)
    return Edit(old, new, edit.incident_ids)
