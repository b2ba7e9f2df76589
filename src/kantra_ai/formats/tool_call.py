"""The tool-call format: the model answers by calling `apply_fixes` with edits and, where needed, verdicts.

The same JSON schema serves Anthropic tool use and OpenAI function calling. Keys are short (`old`,
`new`, `ids`), incidents are numbers, and an edit that only renames something inside `old` may say
so (`sub`: [from, to] pairs) instead of repeating the lines, and words renamed on the incidents' own
lines need no quoting at all (`subs`: [ids, from, to, ...], placed by `edits/anchor.py`): output is
what a run pays most for.
Providers without tool support get the plain-text format (`search_replace.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kantra_ai.edits.parse import MalformedReply, ParsedReply, parse_tool_input
from kantra_ai.formats.base import EditFormat
from kantra_ai.providers.base import ModelResponse, ToolSpec

TOOL_NAME = "apply_fixes"
TOOL_DESCRIPTION = "Apply targeted edits to the file shown; give verdicts as the instructions ask."

VERDICT_STATUSES = ("fixed", "not_applicable", "cannot_fix")

TOOL_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "edits": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "ids": {"type": "array", "items": {"type": "integer"}},
                    "old": {"type": "string"},
                    "new": {"type": "string"},
                    "sub": {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
                    },
                },
                # `old` may be left out when `sub` is given (the pairs then apply to the lines of
                # the incidents in `ids`, as `subs` says more briefly): the parser enforces that.
                "required": ["ids"],
            },
        },
        # [ids, from, to, ...]: words replaced on the incidents' own lines (`edits/anchor.py`).
        "subs": {
            "type": "array",
            "items": {"type": "array", "minItems": 3, "items": {"type": ["integer", "array", "string"]}},
        },
        "verdicts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "status": {"type": "string", "enum": list(VERDICT_STATUSES)},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "reason": {"type": "string"},
                },
                "required": ["id", "status"],
            },
        },
    },
    "required": [],
}


class ToolCallFormat(EditFormat):
    name = "tool-call"
    tool = ToolSpec(TOOL_NAME, TOOL_DESCRIPTION, TOOL_INPUT_SCHEMA)
    protocol_file = "tool_call.txt"
    example_file = "tool_call_example.txt"
    terse_verdicts = (
        "- `verdicts`: only for incidents you did not fix: `id`, `status` (`not_applicable`: the finding\n"
        "  does not apply to this code; `cannot_fix`: it needs a human) and a short `reason`. An incident\n"
        "  named in an edit's `ids` and without a verdict counts as fixed."
    )
    full_verdicts = (
        "- `verdicts`: one per incident: `id`, `status` (`fixed`; `not_applicable`: the finding does not\n"
        "  apply to this code; `cannot_fix`: it needs a human), `confidence` (0 to 1) and a one-sentence\n"
        "  `reason`."
    )

    def parse(
        self, response: ModelResponse, handles: Mapping[str, str], *, full_verdicts: bool
    ) -> ParsedReply:
        if response.tool_input_error:
            raise MalformedReply(response.tool_input_error)
        if response.tool_input is None:
            raise MalformedReply(f"the reply did not call the {TOOL_NAME} tool")
        return parse_tool_input(response.tool_input, handles, full_verdicts=full_verdicts)


TOOL_CALL = ToolCallFormat()
