"""Apply one reply's search/replace edits to file content, line by line, safely.

Edits are about lines: every edit becomes "these lines of the file become those lines", so no edit
can glue two lines together or change a line it did not name. What the texts mean in lines is
`lines.py`; where an edit goes and what it changes there, `locate.py`; how the edits of one reply
combine, `combine.py`. This module runs them and decides what was not found:

1. every edit is located in the content as given; trivial ones are refused first ("old text is
   empty", "edit changes nothing": a no-op cannot fix anything, and a model that reports an incident
   fixed with one must not be believed), ambiguous ones refused ("old text matches N places": guessing
   could silently edit the wrong method);
2. the located edits are combined (merged, or refused in pairs);
3. an edit not found in the content as given is tried on the result of the others (it may build on
   one of them), as long as that makes progress;
4. one still not found is `ALREADY_APPLIED` if its change is in the content (`_not_found` says what
   counts as proof), else failed with the closest lines of the file for the retry prompt; one
   refused as ambiguous is `ALREADY_APPLIED` when an edit of the reply for the same incidents made
   its change (a repeat quoting too little), else failed with the places it matches.

`ALREADY_APPLIED` is not a failure: the change is there (a repeated edit, one another edit of the
reply covers, one made by an earlier attempt or run), so nothing needs asking again.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace

from kantra_ai.edits.combine import Document, compose
from kantra_ai.edits.lines import join_content, split_content
from kantra_ai.edits.locate import (
    EditTexts,
    Exact,
    InPlace,
    LineMatch,
    Plan,
    Refusal,
    View,
    closest_place,
    edit_texts,
    edit_variants,
    find_match,
    locate,
    places_of,
    text_key,
    trivial,
    unnumbered,
    window_lines,
)
from kantra_ai.edits.model import ApplyResult, Edit, EditOutcome, EditStatus, Landing, Place

# A new_text found once in the file, for an old_text found nowhere, shows the change was already made
# only if it looks like old_text at least this much (difflib ratio of the stripped lines).
_ALREADY_SIMILARITY = 0.6

_Key = tuple[tuple[str, ...], tuple[str, ...]]
_APPLIED_BEFORE = "the same edit was applied before"


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
    `applied_before` are edits applied (or found already applied) to this content earlier, by an
    earlier attempt or run: repeating one of them is recognised as already applied even when other
    edits have changed its context since.
    """
    lines, final_newline = split_content(content)
    first, stop = window_lines(content, lines, region)
    doc = Document(View(lines, final_newline, first, stop))
    edits = list(edits)
    texts = [edit_variants(edit) for edit in edits]
    status: dict[int, EditOutcome] = {}
    before = {text_key(edit_variants(edit)[0]) for edit in applied_before}

    located: list[tuple[int, Plan]] = []
    later: list[int] = []  # not found in the content as given
    ambiguous: list[int] = []  # refused as matching several places
    for index, edit in enumerate(edits):
        refusal = trivial(edit, texts[index])
        if refusal is not None:
            status[index] = EditOutcome(edit, EditStatus.FAILED, refusal)
            continue
        if _repeats(doc.base, texts[index], before):
            # Never twice: its old text may be back (another edit wrote it), its change is there.
            status[index] = EditOutcome(edit, EditStatus.ALREADY_APPLIED, _APPLIED_BEFORE)
            continue
        found = locate(doc.base, texts[index])
        if found is None:
            later.append(index)
        elif isinstance(found, Plan):
            located.append((index, found))
        else:
            status[index] = _outcome(edit, found)
            if isinstance(found, Refusal) and found.places:
                ambiguous.append(index)
    status.update(compose(doc, edits, located))

    progress = True
    while later and progress:
        progress = False
        for index in list(later):
            found = locate(doc.view(), texts[index])
            if found is None:
                continue
            later.remove(index)
            progress = True
            if isinstance(found, Plan):
                doc.merge(found, index)
                status[index] = EditOutcome(edits[index], EditStatus.APPLIED)
            else:
                status[index] = _outcome(edits[index], found)
                if isinstance(found, Refusal) and found.places:
                    ambiguous.append(index)

    if later:
        current = doc.view()
        landed = (EditStatus.APPLIED, EditStatus.ALREADY_APPLIED)
        proven = {text_key(texts[i][0]) for i, outcome in status.items() if outcome.status in landed} | before
        for index in later:
            status[index] = _not_found(current, edits[index], texts[index], proven, doc, edits)

    for index in ambiguous:
        if _made_by_sibling(edits[index], texts[index], doc, edits):
            # A repeat quoting too little to be unique, whose change an edit for the same incidents made.
            reason = "another edit of this reply for the same incidents already made its change"
            status[index] = EditOutcome(edits[index], EditStatus.ALREADY_APPLIED, reason)
            continue
        # Numbered in the result (the content the retry shows): other edits may have moved them.
        status[index] = replace(status[index], places=_ambiguous_places(doc.view(), texts[index]))
    return _result(doc, edits, [status[i] for i in range(len(edits))])


def _outcome(edit: Edit, found: Refusal | InPlace) -> EditOutcome:
    if isinstance(found, InPlace):
        return EditOutcome(edit, EditStatus.ALREADY_APPLIED, found.reason)
    return EditOutcome(edit, EditStatus.FAILED, found.reason)


def _ambiguous_places(view: View, variants: list[EditTexts]) -> tuple[Place, ...]:
    """Where an ambiguous old_text matches in `view`, for the retry prompt."""
    for texts in variants:
        match = find_match(view, texts)
        if isinstance(match, Refusal) and match.places:
            return places_of(view, match.places)
        if isinstance(match, (Exact, LineMatch)):
            return places_of(view, ((match.first, match.stop),))
    return ()


def _not_found(
    view: View, edit: Edit, variants: list[EditTexts], proven: set[_Key], doc: Document, edits: list[Edit]
) -> EditOutcome:
    """Already applied, if its change is in the content; else failed, with the closest lines.

    For an edit applied before (`proven`), the lines it adds or changes (or the parts of them it
    quotes) standing in the window are enough: other edits may have changed its context since. For
    any other edit, its whole new text must stand once in the content, none of the lines it removes
    or rewrites next to it, and it must be a change of this reply's or look like old_text (a
    misquoted old_text proves nothing). A repeat of an edit of this reply for the same incidents may
    quote part of a line (a text format then adds the line break the line does not end with): its
    change is made when what it adds stands in the lines that edit changed, and what it removes
    does not."""
    if _repeats(view, variants, proven):
        return EditOutcome(edit, EditStatus.ALREADY_APPLIED, _APPLIED_BEFORE)
    for texts in variants:
        evidence = _evidence(texts)
        if not evidence:
            continue
        found = find_match(view, edit_texts(texts.new, texts.new))
        if not isinstance(found, (Exact, LineMatch)) or _still_there(view, texts, found.first, found.stop):
            continue
        if doc.changed_near(found.first, found.stop):
            reason = "another edit of this reply already made its change"
            return EditOutcome(edit, EditStatus.ALREADY_APPLIED, reason)
        there = "\n".join(line.strip() for line in view.lines[found.first : found.stop])
        wanted = "\n".join(line.strip() for line in texts.old_lines)
        if difflib.SequenceMatcher(None, wanted, there, autojunk=False).ratio() >= _ALREADY_SIMILARITY:
            return EditOutcome(edit, EditStatus.ALREADY_APPLIED, "its new text is already in the file")
    if _made_by_sibling(edit, variants, doc, edits):
        reason = "another edit of this reply for the same incidents already made its change"
        return EditOutcome(edit, EditStatus.ALREADY_APPLIED, reason)
    place = closest_place(view, list(variants[-1].old_lines))
    closest = "\n".join(place.lines) if place is not None else ""
    places = (place,) if place is not None else ()
    return EditOutcome(edit, EditStatus.FAILED, "old text not found", closest, places)


def _made_by_sibling(edit: Edit, variants: list[EditTexts], doc: Document, edits: list[Edit]) -> bool:
    if not edit.incident_ids:
        return False
    for block in doc.blocks:
        if not any(set(edits[i].incident_ids) == set(edit.incident_ids) for i in block.owners):
            continue
        made = [line.strip() for line in block.lines]
        for texts in variants:
            evidence = _evidence(texts)
            kept = {line.strip() for line in texts.new_lines}
            gone = {line.strip() for line in texts.old_lines if line.strip() and line.strip() not in kept}
            added = evidence and all(any(piece in line for line in made) for piece in evidence)
            if added and not any(piece in line for piece in gone for line in made):
                return True
    return False


def _evidence(texts: EditTexts) -> set[str]:
    """The lines (or parts of lines) the edit adds or changes, stripped: only they can show its
    change was made. A deletion's new text is context that was there all along, and a line that is
    part of one of old_text's (cut short) is that old line."""
    old = [line.strip() for line in texts.old_lines]
    return {
        line.strip() for line in texts.new_lines if line.strip() and not any(line.strip() in o for o in old)
    }


def _repeats(view: View, variants: list[EditTexts], proven: set[_Key]) -> bool:
    """Whether the edit is one made before (`proven`) whose change stands in the window: what it
    adds or changes is there (found as text: an edit quoting part of a line adds part of one)."""
    if text_key(variants[0]) not in proven:
        return False
    window = "\n".join(line.strip() for line in view.lines[view.first : view.stop])
    return any(all(piece in window for piece in _evidence(texts)) for texts in variants)


def _still_there(view: View, texts: EditTexts, first: int, stop: int) -> bool:
    """True when a line the edit removes or rewrites still stands near where its new text was
    found (with or without a line number copied in front): the new text is there, but the change
    is not."""
    kept = {line.strip() for line in texts.new_lines}
    gone = {unnumbered(line) for line in texts.old_lines if line.strip() and line.strip() not in kept}
    reach = len(texts.old_lines)
    near = view.lines[max(0, first - reach) : stop + reach]
    return any(line.strip() in gone for line in near)


def _result(doc: Document, edits: list[Edit], outcomes: list[EditOutcome]) -> ApplyResult:
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
