"""Turn a model's reply into a validated `ProposedFix`, or refuse it with `MalformedReply`.

Two shapes arrive: the `apply_fixes` tool input (a dict, or the JSON string OpenAI sends as function
arguments) and the plain-text SEARCH/REPLACE format. Both end up in the same validation.

Requests name their incidents by short handles (`1`, `2`, ...), not by their 12-hex-digit ids: the
caller passes the handles it used (`{handle: incident id}`), and the reply comes back in ids.

Two ways of answering (`full_verdicts`):
- terse (the default for runs without confidence filtering): an incident named by an edit counts
  as fixed; verdicts (`not_applicable`, `cannot_fix`, with a short reason) only for the others.
  A reply that neither edits nor gives any verdict is refused.
- full (confidence filtering on): every incident needs a verdict with a confidence; an incident
  without one gets none (the caller marks it failed), whatever the edits say.

Decisions:
- Words replaced on the incidents' own lines come as `subs` items, [ids, from, to, ...] (the
  compact form the instructions ask for), or as an edit that leaves `old` out and gives `sub`: the
  pairs then apply to the lines of the incidents named (`anchor.py` resolves them against the file;
  here they are only carried). Without `sub` a missing `old` is refused, and such an edit naming no
  known incident is dropped with a note. `edits` may be left out when `subs` says everything.
- Refused (MalformedReply): not an object, invalid JSON, a missing `edits`/`old`/`new`/`id`/`status`
  (and in full mode `verdicts` and `confidence`), an unknown status, a confidence that is not a number
  or lies outside [0, 1] (beyond float noise, which is clamped), an empty `old`, contradictory
  verdicts for one incident, a SEARCH block that never closes, a full-mode text reply without its
  JSON verdicts.
- Tolerated: the long key names of earlier versions (`old_text`, `new_text`, `incident_ids`,
  `incidents`, `explanation`), handles written as numbers or strings (`1`, `"1"`, `"#1"`), a missing
  `reason` or `ids`, status spelling ("Fixed", "not-applicable"), extra keys, text around blocks,
  CRLF, a block without its id list.
- Unknown incident handles (the model invented or mistyped them) are dropped, with a note, never
  refused: they cannot mark a real incident fixed because only expected ones survive, and refusing
  would throw away (and pay again for) the valid rest of the reply. An edit keeps applying after its
  unknown ids are dropped; if it cited none it is attributed to no incident.
- Incidents the reply does not account for get no verdict; the caller asks about them once more and
  then marks them failed ("no verdict").
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

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


def _handle(value: object) -> object:
    """A handle as the model wrote it: 3, "3" and "#3" are the same; other values fail validation."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip().removeprefix("#")
    return value


class _EditIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    incident_ids: list[Annotated[str, Field(strict=True)]] = Field(
        default=[], validation_alias=AliasChoices("ids", "incident_ids")
    )
    # None: left out, which only an edit giving `sub` may do (the pairs then apply to its incidents'
    # own lines, `anchor.py`).
    old_text: Annotated[str | None, Field(strict=True, validation_alias=AliasChoices("old", "old_text"))] = (
        None
    )
    new_text: Annotated[str | None, Field(strict=True, validation_alias=AliasChoices("new", "new_text"))] = (
        None
    )
    # Instead of `new`: [from, to] pairs; every occurrence of `from` in `old` becomes `to`.
    sub: list[tuple[Annotated[str, Field(strict=True)], Annotated[str, Field(strict=True)]]] | None = None

    @field_validator("incident_ids", mode="before")
    @classmethod
    def _single_id(cls, value: object) -> object:
        # "inc-1" for ["inc-1"], 3 for [3]: harmless to accept.
        items = value if isinstance(value, list) else [value] if isinstance(value, (str, int)) else value
        return [_handle(item) for item in items] if isinstance(items, list) else items

    @field_validator("old_text", "new_text", mode="after")
    @classmethod
    def _lf_newlines(cls, value: str | None) -> str | None:
        return None if value is None else value.replace("\r\n", "\n")  # content is matched with "\n"

    def replacement(self, number: int) -> str:
        """The new text: `new` as given, or `old` with the `sub` pairs applied in order."""
        if self.new_text is not None:
            return self.new_text
        if not self.sub:
            raise MalformedReply(f"missing field edits.{number - 1}.new")
        text = self.old_text or ""
        for before, after in self.sub:
            if not before or before not in text:
                raise MalformedReply(f"edit {number}: sub {before!r} does not occur in old")
            text = text.replace(before, after)
        return text


class _VerdictIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(strict=True)]
    status: VerdictStatus
    confidence: float | None = None
    explanation: str = Field(default="", validation_alias=AliasChoices("reason", "explanation"))

    @field_validator("id", mode="before")
    @classmethod
    def _id_handle(cls, value: object) -> object:
        return _handle(value)

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
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"confidence must be a number, got {json.dumps(value, default=repr)[:20]}")
        return value

    @field_validator("confidence", mode="after")
    @classmethod
    def _check_confidence(cls, value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value) or not -_CONFIDENCE_SLACK <= value <= 1 + _CONFIDENCE_SLACK:
            raise ValueError(f"confidence {value} is outside [0, 1]")
        return min(1.0, max(0.0, float(value)))

    @field_validator("explanation", mode="before")
    @classmethod
    def _null_explanation(cls, value: object) -> object:
        return "" if value is None else value


class _ReplyIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # May be left out when `subs` says everything (or nothing is edited).
    edits: list[_EditIn] = Field(default_factory=list)
    verdicts: list[_VerdictIn] | None = Field(
        default=None, validation_alias=AliasChoices("verdicts", "incidents")
    )


Expected = Collection[str] | Mapping[str, str]


def handle_map(expected: Expected) -> dict[str, str]:
    """{handle: incident id}: a mapping as given, or ids that are their own handles."""
    if isinstance(expected, Mapping):
        return {str(k): str(v) for k, v in expected.items()}
    return {str(i): str(i) for i in expected}


def parse_tool_input(data: object, expected: Expected, *, full_verdicts: bool = True) -> ParsedReply:
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
    return _validate(data, expected, full_verdicts)


def _validate(data: dict[str, Any], expected: Expected, full_verdicts: bool) -> ParsedReply:
    if "subs" in data:
        edits = data.get("edits")
        if edits is not None and not isinstance(edits, list):
            raise MalformedReply("edits: Input should be a valid list")
        data = {**data, "edits": [*(edits or []), *_subs_as_edits(data["subs"])]}
    try:
        reply = _ReplyIn.model_validate(data)
    except ValidationError as exc:
        raise MalformedReply(_describe(exc)) from None
    handles = handle_map(expected)
    result = ParsedReply()
    unknown: set[str] = set()
    verdicts_in = reply.verdicts
    if full_verdicts:
        if verdicts_in is None:
            raise MalformedReply("missing field verdicts")
        for number, verdict_in in enumerate(verdicts_in):
            if verdict_in.confidence is None:
                raise MalformedReply(f"missing field verdicts.{number}.confidence")

    for number, edit_in in enumerate(reply.edits, start=1):
        ids: list[str] = []
        for handle in edit_in.incident_ids:
            incident_id = handles.get(handle.strip())
            if incident_id is None:
                unknown.add(handle.strip())
            elif incident_id not in ids:
                ids.append(incident_id)
        if edit_in.old_text is None:
            anchored = _anchored(edit_in, number, ids)
            if anchored is None:
                result.notes.append(f"ignored edit {number}: it has no old and names no known incident")
            else:
                result.edits.append(anchored)
            continue
        if not edit_in.old_text.strip():
            raise MalformedReply(f"edit {number}: old is empty")
        result.edits.append(Edit(edit_in.old_text, edit_in.replacement(number), tuple(ids)))

    by_id: dict[str, Verdict] = {}
    for verdict_in in verdicts_in or []:
        incident_id = handles.get(verdict_in.id.strip())
        if incident_id is None:
            unknown.add(verdict_in.id.strip())
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
            if (verdict.confidence or 0.0) >= (previous.confidence or 0.0):
                continue
        by_id[incident_id] = verdict
    if not full_verdicts:
        if not result.edits and not by_id and handles:
            raise MalformedReply("the reply neither edits the file nor gives a verdict for any incident")
        # Terse answers: an incident an edit names, without a verdict of its own, was fixed.
        for edit in result.edits:
            for incident_id in edit.incident_ids:
                by_id.setdefault(incident_id, Verdict(incident_id, VerdictStatus.FIXED, None))
    result.verdicts = list(by_id.values())

    if unknown:
        note = f"ignored unknown incident ids: {', '.join(sorted(unknown))}"
        result.notes.append(note)
        log.warning("model reply %s", note)
    return result


def _subs_as_edits(subs: object) -> list[dict[str, Any]]:
    """`subs` items, [ids, from, to, from, to, ...] (ids: a number or a list of them), as the edits
    without `old` they stand for."""
    if not isinstance(subs, list):
        raise MalformedReply("subs: Input should be a valid list")
    edits: list[dict[str, Any]] = []
    for number, item in enumerate(subs):
        texts = item[1:] if isinstance(item, list) else []
        if len(texts) < 2 or len(texts) % 2 or not all(isinstance(text, str) for text in texts):
            raise MalformedReply(f"subs.{number}: should be [ids, from, to, ...] with texts in pairs")
        pairs = [[texts[k], texts[k + 1]] for k in range(0, len(texts), 2)]
        edits.append({"ids": item[0], "sub": pairs})
    return edits


def _anchored(edit_in: _EditIn, number: int, ids: list[str]) -> Edit | None:
    """An edit without `old`: its `sub` pairs for the lines of the incidents it names (None when it
    names no known incident: there is nowhere to apply it). Without `sub` it is malformed: `new`
    alone would replace lines nobody quoted."""
    if edit_in.new_text is not None or not edit_in.sub:
        raise MalformedReply(f"missing field edits.{number - 1}.old")
    for before, _ in edit_in.sub:
        if not before:
            raise MalformedReply(f"edit {number}: sub has an empty text to replace")
    if not ids:
        return None
    return Edit("", "", tuple(ids), line_sub=tuple((before, after) for before, after in edit_in.sub))


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
_VERDICTS_OBJECT = re.compile(r'\{\s*"(?:verdicts|incidents)"\s*:')
_VERDICT_KEYS = ("verdicts", "incidents")


def parse_text_reply(text: str, expected: Expected, *, full_verdicts: bool = True) -> ParsedReply:
    """Parse SEARCH/REPLACE blocks plus the ```json verdict block (formats/search_replace.txt); in
    terse mode the verdict block may be left out when every incident was edited."""
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
    verdicts = _find_verdicts(outside, required=full_verdicts)
    reply: dict[str, Any] = {"edits": edits}
    if verdicts is not None:
        reply["verdicts"] = verdicts
    return _validate(reply, expected, full_verdicts)


def whole_blocks(text: str) -> tuple[str, list[str]]:
    """The start of a SEARCH/REPLACE reply cut short: its text up to the end of the last block that
    arrived whole (opened, divided, and its REPLACE line ended by a line break), and the incident
    numbers those blocks name. ("", []) when no block arrived whole."""
    ends = list(_whole_block_ends(text))
    return text[: ends[-1][0] if ends else 0], [handle for _, ids in ends for handle in ids]


def count_whole_blocks(text: str) -> int:
    """How many SEARCH/REPLACE blocks `text` holds whole (see `whole_blocks`)."""
    return sum(1 for _ in _whole_block_ends(text))


def _whole_block_ends(text: str) -> Iterator[tuple[int, list[str]]]:
    """For each block that arrived whole: where it ends (after its REPLACE line's line break) and
    the incident numbers it names."""
    offset = 0
    opened: re.Match[str] | None = None
    divided = False
    for line in text.split("\n")[:-1]:  # the last piece has no line break after it: perhaps cut short
        offset += len(line) + 1
        if opening := _SEARCH.match(line):
            opened, divided = opening, False
        elif opened is not None and not divided and _DIVIDER.match(line):
            divided = True
        elif opened is not None and divided and _REPLACE.match(line):
            yield offset, _split_ids(opened.group("ids"))
            opened = None


def holds_answer(text: str) -> bool:
    """Whether `text` holds a SEARCH block or a verdict object: prose alone answers nothing."""
    return bool(_VERDICTS_OBJECT.search(text)) or any(_SEARCH.match(line) for line in text.splitlines())


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


def _verdict_list(value: object) -> object:
    """The verdict list of a decoded object (`verdicts`, or `incidents` as earlier versions wrote)."""
    if isinstance(value, dict):
        for key in _VERDICT_KEYS:
            if key in value:
                return value[key]
    return None


def _find_verdicts(lines: list[str], *, required: bool) -> object:
    """The verdict list of the last ```json block (or, failing that, bare object) holding one;
    None when there is none and none is `required`."""
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
                if '"incidents"' in body or '"verdicts"' in body:
                    raise MalformedReply(f"verdict JSON is invalid: {exc.msg} (line {exc.lineno})") from None
            else:
                if _verdict_list(value) is not None:
                    found = _verdict_list(value)
        i = closing + 1
    if found is not None:
        return found
    # No fenced block: accept a bare {"verdicts": ...} object written straight into the text.
    joined = "\n".join(lines)
    for match in reversed(list(_VERDICTS_OBJECT.finditer(joined))):
        try:
            value, _ = json.JSONDecoder().raw_decode(joined, match.start())
        except json.JSONDecodeError:
            continue
        if _verdict_list(value) is not None:
            return _verdict_list(value)
    if required:
        raise MalformedReply('no ```json block with {"verdicts": [...]} found')
    return None
