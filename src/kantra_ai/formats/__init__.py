"""Edit formats: how the model answers (a tool call, or SEARCH/REPLACE text). See `base.py`."""

from __future__ import annotations

from kantra_ai.formats.base import EditFormat
from kantra_ai.formats.search_replace import SEARCH_REPLACE
from kantra_ai.formats.tool_call import TOOL_CALL

FORMATS: dict[str, EditFormat] = {f.name: f for f in (TOOL_CALL, SEARCH_REPLACE)}


def choose_format(*, supports_tools: bool, text_edits: bool) -> EditFormat:
    """Tool calls where the provider supports them and the user did not ask for text edits."""
    return TOOL_CALL if supports_tools and not text_edits else SEARCH_REPLACE


__all__ = ["FORMATS", "SEARCH_REPLACE", "TOOL_CALL", "EditFormat", "choose_format"]
