"""What arrived of a tool call cut off at max_tokens: its whole items, and the reply they make up.

A reply cut off mid-JSON is not thrown away: the items of its lists (`subs`, `edits`, `verdicts`)
that arrived whole are kept, and the model is asked for the rest only (`engine/batch_runner.py`).
Nothing is applied from a part: the parts are merged into one tool input, which then goes through
the usual parse (`parse.py`) as any reply does, so a continuation that does not parse, or whose
edits conflict with what arrived, is refused like any reply.

An item counts only when it is followed by the comma or bracket that closes it: a number or
keyword cut short (`12` of `123`, `tru`) is valid JSON on its own and must not be taken as sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


def _skip(raw: str, pos: int) -> int:
    while pos < len(raw) and raw[pos] in _SPACE:
        pos += 1
    return pos


def _value(raw: str, pos: int) -> tuple[Any, int] | None:
    """The JSON value at `pos` and where it ends, when it is complete and closed by `,`, `]` or `}`."""
    try:
        value, end = _DECODER.raw_decode(raw, pos)
    except json.JSONDecodeError:
        return None
    after = _skip(raw, end)
    if after >= len(raw) or raw[after] not in ",]}":
        return None  # perhaps cut short: `12` of `123`
    return value, after


def _whole_elements(raw: str, pos: int, into: list[Any]) -> tuple[int, bool]:
    """Append the whole elements of the array opening at `pos`; (where it ended, whether it closed)."""
    pos = _skip(raw, pos + 1)
    if pos < len(raw) and raw[pos] == "]":
        return pos + 1, True
    while True:
        found = _value(raw, _skip(raw, pos))
        if found is None:
            return pos, False
        value, pos = found
        into.append(value)
        if raw[pos] == "]":
            return pos + 1, True
        if raw[pos] != ",":
            return pos, False
        pos += 1


def whole_items(raw: str) -> dict[str, Any]:
    """The whole items of the arguments text `raw` of a cut-off tool call: for each list, the
    elements that arrived whole (a list cut short keeps its whole elements); other values only when
    whole. Empty when not even the opening of an object arrived."""
    items: dict[str, Any] = {}
    pos = _skip(raw, 0)
    if pos >= len(raw) or raw[pos] != "{":
        return items
    pos += 1
    while True:
        pos = _skip(raw, pos)
        if pos >= len(raw) or raw[pos] != '"':
            return items
        try:
            key, pos = _DECODER.raw_decode(raw, pos)
        except json.JSONDecodeError:
            return items
        pos = _skip(raw, pos)
        if pos >= len(raw) or raw[pos] != ":":
            return items
        pos = _skip(raw, pos + 1)
        if pos < len(raw) and raw[pos] == "[":
            elements: list[Any] = []
            pos, closed = _whole_elements(raw, pos, elements)
            if elements:
                items[str(key)] = elements
            if not closed:
                return items
        else:
            found = _value(raw, pos)
            if found is None:
                return items
            items[str(key)], pos = found
        pos = _skip(raw, pos)
        if pos >= len(raw) or raw[pos] != ",":
            return items
        pos += 1


def count_items(items: Mapping[str, Any]) -> int:
    """How many list items `items` holds."""
    return sum(len(v) for v in items.values() if isinstance(v, list))


def merge_items(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One tool input from the parts of a reply, in the order they arrived: lists joined, any
    other value as the last part that gave it says."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            before = merged.get(key)
            if isinstance(value, list) and isinstance(before, list):
                merged[key] = [*before, *value]
            else:
                merged[key] = list(value) if isinstance(value, list) else value
    return merged


def _handles_of(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(v).strip().lstrip("#") for v in values if isinstance(v, (int, str))]


def named_handles(items: Mapping[str, Any]) -> set[str]:
    """The incident numbers the items name (an edit's `ids`, a `subs` entry's first element, a
    verdict's `id`): incidents some of whose answer arrived (more of it may still be to come)."""
    named: set[str] = set()
    for edit in items.get("edits") or ():
        if isinstance(edit, dict):
            named.update(_handles_of(edit.get("ids")))
    for sub in items.get("subs") or ():
        if isinstance(sub, list) and sub:
            named.update(_handles_of(sub[0]))
    for verdict in items.get("verdicts") or ():
        if isinstance(verdict, dict):
            named.update(_handles_of(verdict.get("id")))
    return named
