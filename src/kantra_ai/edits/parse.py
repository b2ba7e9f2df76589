"""Turn a model's reply into a validated `ProposedFix`, or refuse it with `MalformedReply`.

Two shapes arrive: the `apply_fixes` tool input (a dict, or the JSON string OpenAI sends as function
arguments) and the plain-text SEARCH/REPLACE format. Both end up in the same validation.

Decisions:
- Refused (MalformedReply): not an object, invalid JSON, a missing `edits`/`incidents`/`old_text`/
  `new_text`/`id`/`status`/`confidence`, an unknown status, a confidence that is not a number or lies
  outside [0, 1] (beyond float noise, which is clamped), an empty `old_text`, contradictory verdicts
  for one incident, a SEARCH block that never closes, a text reply without its JSON verdicts.
- Tolerated: a missing `explanation` or `incident_ids` (informational only), status spelling
  ("Fixed", "not-applicable"), extra keys, text around blocks, CRLF, a block without its id list.
- Unknown incident ids (the model invented or mistyped them) are dropped, with a note, never
  refused: they cannot mark a real incident fixed because only expected ids survive, and refusing
  would throw away (and pay again for) the valid rest of the reply. An edit keeps applying after its
  unknown ids are dropped; if it cited none it is attributed to no incident.
- Incidents the model did not mention get no verdict; the caller marks them failed ("no verdict").
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kantra_ai.edits.model import Edit, ProposedFix, Verdict, VerdictStatus

log = logging.getLogger(__name__)

# Confidences this far outside [0, 1] are float noise (1.0000000002) and are clamped, not refused.
_CONFIDENCE_SLACK = 1e-6


class MalformedReply(ValueError):
    """The reply does not have the shape we asked for; `reason` is one line for logs and retries."""

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(reason.split())
        super().__init__(self.reason)


@dataclass
class ParsedReply(ProposedFix):
    """A `ProposedFix` plus what parsing had to drop or tolerate (for logs and the report)."""

    notes: list[str] = field(default_factory=list)


class _EditIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    incident_ids: list[Annotated[str, Field(strict=True)]] = []
    old_text: Annotated[str, Field(strict=True)]
    new_text: Annotated[str, Field(strict=True)]

    @field_validator("incident_ids", mode="before")
    @classmethod
    def _single_id(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value  # "inc-1" for ["inc-1"]: harmless to accept

    @field_validator("old_text", "new_text", mode="after")
    @classmethod
    def _lf_newlines(cls, value: str) -> str:
        return value.replace("\r\n", "\n")  # file content is matched with "\n" newlines


class _VerdictIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(strict=True)]
    status: VerdictStatus
    confidence: float
    explanation: str = ""

    @field_validator("status", mode="before")
    @classmethod
    def _normalise_status(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower().replace("-", "_").replace(" ", "_")
        return value

    @field_validator("confidence", mode="before")
    @classmethod
    def _number_only(cls, value: object) -> object:
        # "0.9" or true are not numbers: a model that writes them is not following the schema.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"confidence must be a number, got {json.dumps(value, default=repr)[:20]}")
        return value

    @field_validator("confidence", mode="after")
    @classmethod
    def _check_confidence(cls, value: float) -> float:
        if not math.isfinite(value) or not -_CONFIDENCE_SLACK <= value <= 1 + _CONFIDENCE_SLACK:
            raise ValueError(f"confidence {value} is outside [0, 1]")
        return min(1.0, max(0.0, float(value)))

    @field_validator("explanation", mode="before")
    @classmethod
    def _null_explanation(cls, value: object) -> object:
        return "" if value is None else value


class _ReplyIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    edits: list[_EditIn]
    incidents: list[_VerdictIn]


def parse_tool_input(data: object, expected_ids: Collection[str]) -> ParsedReply:
    """Validate the `apply_fixes` tool input: a dict, or its JSON text (OpenAI function arguments)."""
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise MalformedReply(f"tool input is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(data, dict):
        raise MalformedReply(f"tool input must be an object, got {type(data).__name__}")
    return _validate(data, expected_ids)


def _validate(data: dict[str, Any], expected_ids: Collection[str]) -> ParsedReply:
    try:
        reply = _ReplyIn.model_validate(data)
    except ValidationError as exc:
        raise MalformedReply(_describe(exc)) from None
    expected = set(expected_ids)
    result = ParsedReply()
    unknown: set[str] = set()

    for number, edit_in in enumerate(reply.edits, start=1):
        if not edit_in.old_text.strip():
            raise MalformedReply(f"edit {number}: old_text is empty")
        ids: list[str] = []
        for incident_id in edit_in.incident_ids:
            incident_id = incident_id.strip()
            if incident_id not in expected:
                unknown.add(incident_id)
            elif incident_id not in ids:
                ids.append(incident_id)
        result.edits.append(Edit(edit_in.old_text, edit_in.new_text, tuple(ids)))

    by_id: dict[str, Verdict] = {}
    for verdict_in in reply.incidents:
        incident_id = verdict_in.id.strip()
        if incident_id not in expected:
            unknown.add(incident_id)
            continue
        verdict = Verdict(
            incident_id, verdict_in.status, verdict_in.confidence, verdict_in.explanation.strip()
        )
        previous = by_id.get(incident_id)
        if previous is not None:
            if previous.status != verdict.status:
                raise MalformedReply(
                    f"incident {incident_id} has contradictory verdicts: "
                    f"{previous.status.value} and {verdict.status.value}"
                )
            # Repeated with the same status: keep the less confident one, the cautious reading.
            if verdict.confidence >= previous.confidence:
                continue
        by_id[incident_id] = verdict
    result.verdicts = list(by_id.values())

    if unknown:
        note = f"ignored unknown incident ids: {', '.join(sorted(unknown))}"
        result.notes.append(note)
        log.warning("model reply %s", note)
    return result


def _describe(exc: ValidationError) -> str:
    """One line naming the first problem, e.g. "incidents.0.status: Input should be 'fixed', ..."."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "reply"
    if error["type"] == "missing":
        return f"missing field {where}"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


# --- plain-text format -------------------------------------------------------------------------------

# Models sometimes miscount the 7 marker characters; 5 to 9 is accepted, as aider does.
_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\b\s*(?:\[(?P<ids>[^\]]*)\])?.*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\b.*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*$")
_INCIDENTS_OBJECT = re.compile(r'\{\s*"incidents"\s*:')


def parse_text_reply(text: str, expected_ids: Collection[str]) -> ParsedReply:
    """Parse SEARCH/REPLACE blocks plus the ```json verdict block (see protocol_text.j2)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    edits: list[dict[str, Any]] = []
    outside: list[str] = []  # lines not inside a SEARCH/REPLACE block: where the verdicts live
    i = 0
    while i < len(lines):
        opening = _SEARCH.match(lines[i])
        if not opening:
            outside.append(lines[i])
            i += 1
            continue
        start = i
        old, i = _collect(lines, i + 1, _DIVIDER, start)
        new, i = _collect(lines, i, _REPLACE, start)
        edits.append(
            {"incident_ids": _split_ids(opening.group("ids")), "old_text": _join(old), "new_text": _join(new)}
        )
    incidents = _find_verdicts(outside)
    return _validate({"edits": edits, "incidents": incidents}, expected_ids)


def _collect(lines: list[str], i: int, end: re.Pattern[str], start: int) -> tuple[list[str], int]:
    """Lines from i up to the `end` marker, and the index after the marker."""
    body: list[str] = []
    while i < len(lines):
        if end.match(lines[i]):
            return body, i + 1
        if _SEARCH.match(lines[i]):
            break  # a new block opened first: this one was never closed
        body.append(lines[i])
        i += 1
    missing = "=======" if end is _DIVIDER else ">>>>>>> REPLACE"
    raise MalformedReply(f"SEARCH block starting at line {start + 1} has no '{missing}' line")


def _join(lines: list[str]) -> str:
    # Blocks hold whole lines, so both sides end with a newline; an empty side stays empty, which
    # makes "replace these lines with nothing" delete the lines, not leave a blank one behind.
    return "".join(line + "\n" for line in lines)


def _split_ids(raw: str | None) -> list[str]:
    if not raw:
        return []
    return [part.strip().strip("\"'`") for part in raw.split(",") if part.strip().strip("\"'`")]


def _find_verdicts(lines: list[str]) -> object:
    """The `incidents` list of the last ```json block (or, failing that, bare object) holding one."""
    found: object = None
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        closing = i + 1
        while closing < len(lines) and lines[closing].strip() != fence.group(1):
            closing += 1
        body = "\n".join(lines[i + 1 : closing])
        if fence.group("lang").lower() in ("json", "") and body.lstrip().startswith("{"):
            try:
                value = json.loads(body)
            except json.JSONDecodeError as exc:
                if '"incidents"' in body:
                    raise MalformedReply(f"verdict JSON is invalid: {exc.msg} (line {exc.lineno})") from None
            else:
                if isinstance(value, dict) and "incidents" in value:
                    found = value["incidents"]
        i = closing + 1
    if found is not None:
        return found
    # No fenced block: accept a bare {"incidents": ...} object written straight into the text.
    joined = "\n".join(lines)
    for match in reversed(list(_INCIDENTS_OBJECT.finditer(joined))):
        try:
            value, _ = json.JSONDecoder().raw_decode(joined, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value["incidents"]
    raise MalformedReply('no ```json block with {"incidents": [...]} found')
