"""The plain-text format: SEARCH/REPLACE blocks, then (where needed) a fenced JSON block of verdicts.

For providers without tool calling (most local servers) and for `--text-edits`.
"""

from __future__ import annotations

from collections.abc import Mapping

from kantra_ai.edits.parse import ParsedReply, parse_text_reply
from kantra_ai.formats.base import EditFormat
from kantra_ai.providers.base import ModelResponse


class SearchReplaceFormat(EditFormat):
    name = "search-replace"
    tool = None
    protocol_file = "search_replace.txt"
    example_file = "search_replace_example.txt"
    terse_verdicts = (
        "After the last block, only for incidents you did not fix, write a ```json block holding\n"
        '{"verdicts": [{"id": 3, "status": "cannot_fix", "reason": "..."}]} (`status`: `not_applicable`\n'
        "when the finding does not apply to this code, `cannot_fix` when it needs a human). An incident\n"
        "named by a block and without a verdict counts as fixed."
    )
    full_verdicts = (
        "After the last block, write a ```json block holding\n"
        '{"verdicts": [{"id": 1, "status": "fixed", "confidence": 0.9, "reason": "..."}]},\n'
        "one per incident: `status` is `fixed`, `not_applicable` (the finding does not apply to this\n"
        "code) or `cannot_fix` (it needs a human); `confidence` is between 0 and 1; `reason` is one\n"
        "sentence."
    )

    def parse(
        self, response: ModelResponse, handles: Mapping[str, str], *, full_verdicts: bool
    ) -> ParsedReply:
        return parse_text_reply(response.text, handles, full_verdicts=full_verdicts)


SEARCH_REPLACE = SearchReplaceFormat()
