"""`--json` documents are written a list item at a time, and read exactly as `json.dumps` writes them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kantra_ai.cli.remediate import json_pieces

DOCUMENTS: list[dict[str, Any]] = [
    {"dry_run": True},
    {
        "dry_run": True,
        "requests": [
            {"file": "src/A.java", "incidents": ["a1", "a2"], "notes": {"why": "é\nx"}},
            {"file": "B"},
        ],
        "totals": {"requests": 2, "cost_usd": 0.25},
        "empty": [],
        "mixed": [1, "two", None, [3, {"k": []}], {}],
    },
    {"requests": [{}], "verification": None},
    {"nested": [[]], "after": "text"},
    {"stand_in": "\x00list\x00", "items": [1]},  # a value that reads as the stand-in
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_pieces_make_the_text_json_dumps_writes(document: dict[str, Any]) -> None:
    assert "".join(json_pieces(document)) == json.dumps(document, indent=2)


def test_each_item_of_a_long_list_is_a_piece_of_its_own() -> None:
    rows = [{"file": f"F{n}.java", "incidents": n} for n in range(1000)]
    pieces = list(json_pieces({"dry_run": True, "requests": rows, "totals": {}}))
    assert len(pieces) > 1000
    assert max(len(piece) for piece in pieces) < 200  # never the whole list in one text
    assert json.loads("".join(pieces))["requests"] == rows
