"""The plain-text format: SEARCH/REPLACE blocks, then a fenced JSON block with the verdicts.

For providers without tool calling (most local servers) and for `--text-edits`.
"""

from __future__ import annotations

from collections.abc import Collection

from kantra_ai.edits.parse import ParsedReply, parse_text_reply
from kantra_ai.formats.base import EditFormat
from kantra_ai.providers.base import ModelResponse


class SearchReplaceFormat(EditFormat):
    name = "search-replace"
    tool = None
    protocol_file = "search_replace.txt"

    def parse(self, response: ModelResponse, expected_ids: Collection[str]) -> ParsedReply:
        return parse_text_reply(response.text, expected_ids)


SEARCH_REPLACE = SearchReplaceFormat()
