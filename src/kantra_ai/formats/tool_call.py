"""The tool-call format: the model answers by calling `apply_fixes` with edits and verdicts.

The same JSON schema serves Anthropic tool use and OpenAI function calling. Providers without tool
support get the plain-text format (`search_replace.py`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from kantra_ai.edits.parse import MalformedReply, ParsedReply, parse_tool_input
from kantra_ai.formats.base import EditFormat
from kantra_ai.providers.base import ModelResponse, ToolSpec

TOOL_NAME = "apply_fixes"
TOOL_DESCRIPTION = (
    "Apply targeted edits to the file shown and report, for every incident id given, "
    "whether it was fixed, with a confidence and a one-sentence explanation."
)

VERDICT_STATUSES = ("fixed", "not_applicable", "cannot_fix")

TOOL_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "edits": {
            "type": "array",
            "description": "Replacements, applied in order. old_text must occur exactly once in the file.",
            "items": {
                "type": "object",
                "properties": {
                    "incident_ids": {"type": "array", "items": {"type": "string"}},
                    "old_text": {"type": "string"},
                    "new_text": {"type": "string"},
                },
                "required": ["incident_ids", "old_text", "new_text"],
            },
        },
        "incidents": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": list(VERDICT_STATUSES)},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "explanation": {"type": "string"},
                },
                "required": ["id", "status", "confidence", "explanation"],
            },
        },
    },
    "required": ["edits", "incidents"],
}


class ToolCallFormat(EditFormat):
    name = "tool-call"
    tool = ToolSpec(TOOL_NAME, TOOL_DESCRIPTION, TOOL_INPUT_SCHEMA)
    protocol_file = "tool_call.txt"

    def parse(self, response: ModelResponse, expected_ids: Collection[str]) -> ParsedReply:
        if response.tool_input_error:
            raise MalformedReply(response.tool_input_error)
        if response.tool_input is None:
            raise MalformedReply(f"the reply did not call the {TOOL_NAME} tool")
        return parse_tool_input(response.tool_input, expected_ids)


TOOL_CALL = ToolCallFormat()
