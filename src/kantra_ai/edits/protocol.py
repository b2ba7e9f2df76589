"""The shape of the answer we ask models for: the `apply_fixes` tool and its JSON schema.

The same schema serves Anthropic tool use and OpenAI function calling; providers without tool
support get the plain-text SEARCH/REPLACE format described in `prompts/templates/protocol_text.j2`.
"""

from __future__ import annotations

from typing import Any

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
