"""Apply one reply's edits behind the gates: what this returns is safe to write.

`apply_edits` first; then the syntax gate (`syntax.py`: the result must parse where the content did),
the integrity gate (`integrity.py`: no unnamed line changed, no glued lines, no import removed that
is still used, line counts the edits explain, no bulk removal or placeholder for code left out) and
the secret gate: no edit writes a credential (the user's API key, a token, a URL's password) that
was not on its lines already; the report would show it masked, and a commit would publish it.

An edit a gate blames is refused with the gate's reason and the others are applied again without
it, until every gate passes; each round refuses at least one edit, so this ends. A syntax error is
blamed on the edits that break the file on their own; if none does alone, on every edit that
applied (the error comes from their combination).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kantra_ai.edits.anchor import anchor_edits
from kantra_ai.edits.apply import apply_edits
from kantra_ai.edits.integrity import check_integrity
from kantra_ai.edits.model import ApplyResult, Edit, EditOutcome, EditStatus, Landing
from kantra_ai.edits.syntax import breaks_syntax
from kantra_ai.redact import redact


def apply_checked(
    path: str,
    content: str,
    edits: Sequence[Edit],
    *,
    region: tuple[int, int] | None = None,
    applied_before: Sequence[Edit] = (),
    incident_lines: Mapping[str, int | None] | None = None,
) -> ApplyResult:
    """`apply_edits` for the file at `path`, with the edits the gates blame refused. Edits that name
    their lines through their incidents (`anchor.py`) are placed with `incident_lines` (incident id
    -> its line in `content`, 1-based) first; without it they are refused."""
    edits, unplaced = anchor_edits(content, edits, incident_lines, region=region)
    refused: dict[int, str] = {index: refusal.reason for index, refusal in unplaced.items()}
    for index, refusal in unplaced.items():
        edits[index] = refusal.shown  # the retry prompt shows the lines it named
    while True:
        active = [i for i in range(len(edits)) if i not in refused]
        result = apply_edits(
            content, [edits[i] for i in active], region=region, applied_before=applied_before
        )
        blamed = _blame(path, content, result, region, applied_before) or _partners(
            edits, active, result, refused
        )
        if not blamed:
            return _in_original_order(result, edits, active, refused)
        for position, reason in blamed.items():
            refused.setdefault(active[position], reason)


def _partners(
    edits: Sequence[Edit], active: list[int], result: ApplyResult, refused: Mapping[int, str]
) -> dict[int, str]:
    """An incident's edits apply together or not at all: the applied edits that name an incident
    another edit of which failed (positions in `active`, with the reason). Half of a fix is no fix,
    and what it changed would stay in the file of an incident reported failed (the retry sends its
    edits again, on the file as it was)."""
    failed: dict[str, str] = {}
    for index, reason in refused.items():
        for incident_id in edits[index].incident_ids:
            failed.setdefault(incident_id, reason)
    for outcome in result.outcomes:
        if outcome.status is EditStatus.FAILED:
            for incident_id in outcome.edit.incident_ids:
                failed.setdefault(incident_id, outcome.reason)
    partners: dict[int, str] = {}
    for position, outcome in enumerate(result.outcomes):
        if outcome.status is not EditStatus.APPLIED:
            continue
        shared = [i for i in edits[active[position]].incident_ids if i in failed]
        if shared:
            partners[position] = f"another edit for the same incident failed: {failed[shared[0]]}"
    return partners


def _blame(
    path: str,
    content: str,
    result: ApplyResult,
    region: tuple[int, int] | None,
    applied_before: Sequence[Edit],
) -> dict[int, str]:
    """Positions (in the list given to apply_edits) of the edits to refuse, with the reason."""
    applied = [k for k, outcome in enumerate(result.outcomes) if outcome.status is EditStatus.APPLIED]
    if not applied:
        return {}
    broken = breaks_syntax(path, content, result.content)
    if broken:
        alone: dict[int, str] = {}
        for k in applied:
            solo = apply_edits(
                content, [result.outcomes[k].edit], region=region, applied_before=applied_before
            )
            error = breaks_syntax(path, content, solo.content) if solo.applied else None
            if error:
                alone[k] = f"the edited file no longer parses: {error}"
        return alone or {k: f"the edited file no longer parses: {broken}" for k in applied}
    blamed: dict[int, str] = {}
    for problem in check_integrity(path, content, result.content, result.landings):
        for k in problem.edits or tuple(applied):
            blamed.setdefault(k, problem.reason)
    for k in applied:
        if k not in blamed and writes_secret(result.outcomes[k].edit):
            blamed[k] = (
                "the edit writes a credential (an API key, a token or a password) into the file: "
                "leave the value out (a placeholder or the environment)"
            )
    return blamed


def writes_secret(edit: Edit) -> bool:
    """Whether the edit's new text holds a secret its old text did not (as the redaction layer
    knows secrets: configured keys, token shapes, a URL's password)."""
    old = set(edit.old_text.splitlines())
    added = "\n".join(line for line in edit.new_text.splitlines() if line not in old)
    return redact(added) != added  # one pass of the layer over what the edit adds


def _in_original_order(
    result: ApplyResult, edits: list[Edit], active: list[int], refused: dict[int, str]
) -> ApplyResult:
    """`result` (of the active edits) described in terms of every edit given."""
    if not refused:
        return result
    outcomes: dict[int, EditOutcome] = {active[k]: outcome for k, outcome in enumerate(result.outcomes)}
    for index, reason in refused.items():
        outcomes[index] = EditOutcome(edits[index], EditStatus.FAILED, reason)
    landings = [
        Landing(landing.before, landing.after, landing.edits, tuple(active[k] for k in landing.indices))
        for landing in result.landings
    ]
    return ApplyResult.of(result.content, [outcomes[i] for i in range(len(edits))], landings)
