"""What arrived of a tool call cut off at max_tokens: only items that arrived whole count."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kantra_ai.edits.parse import holds_answer, whole_blocks
from kantra_ai.edits.partial import count_items, merge_items, named_handles, whole_items

REPLY: dict[str, Any] = {
    "subs": [[1, "javax.", "jakarta."], [[2, 3], "a", "b"]],
    "edits": [{"ids": [4], "old": 'say("x")', "new": "y"}, {"ids": [5, 6], "old": "q", "new": "r"}],
    "verdicts": [{"id": 7, "status": "cannot_fix", "reason": "needs a human"}],
}


def test_every_cut_of_a_reply_keeps_exactly_the_items_that_arrived_whole() -> None:
    raw = json.dumps(REPLY)
    for end in range(len(raw) + 1):
        arrived = whole_items(raw[:end])
        for key, items in arrived.items():
            # A prefix of the list, each item as sent, and only items the text holds to their end.
            assert items == REPLY[key][: len(items)]
            last = json.dumps(items[-1])
            assert raw.index(last) + len(last) <= end
    assert whole_items(raw) == REPLY


def test_a_number_cut_short_is_not_taken_for_a_whole_item() -> None:
    assert whole_items('{"subs": [[1, "a", "b"]], "ids": 12') == {"subs": [[1, "a", "b"]]}
    assert whole_items('{"n": [123, 4') == {"n": [123]}
    assert whole_items('{"flag": tru') == {}


def test_text_that_is_not_the_opening_of_an_object_holds_nothing() -> None:
    for raw in ("", "   ", "[1, 2]", "Sure, here are the edits", '"edits"', "{ edits: [1]}"):
        assert whole_items(raw) == {}


def test_parts_merge_into_one_reply_in_the_order_they_arrived() -> None:
    first = {"subs": REPLY["subs"], "edits": REPLY["edits"][:1]}
    rest = {"edits": REPLY["edits"][1:], "verdicts": REPLY["verdicts"]}
    assert merge_items([first, rest]) == REPLY
    assert count_items(first) == 3


def test_the_incidents_named_by_what_arrived_are_those_of_edits_subs_and_verdicts() -> None:
    assert named_handles(REPLY) == {"1", "2", "3", "4", "5", "6", "7"}
    assert named_handles({"edits": [{"ids": ["#8"]}], "verdicts": [{"status": "fixed"}]}) == {"8"}


_leaf = st.one_of(
    st.integers(-1000, 10**6), st.text(max_size=6), st.booleans(), st.none(), st.floats(allow_nan=False)
)
_item = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@given(st.dictionaries(st.text(max_size=5), st.lists(_item, max_size=4) | _leaf, max_size=4), st.data())
def test_any_cut_of_any_object_gives_only_items_it_holds_whole(
    reply: dict[str, Any], data: st.DataObject
) -> None:
    raw = json.dumps(reply, indent=data.draw(st.sampled_from([None, 1])))
    end = data.draw(st.integers(0, len(raw)))
    arrived = whole_items(raw[:end])
    for key, value in arrived.items():
        if isinstance(reply[key], list):
            assert value == reply[key][: len(value)]
        else:
            assert value == reply[key]
    assert whole_items(raw) == {k: v for k, v in reply.items() if v != []}


TEXT = (
    "Here are the edits.\n"
    "<<<<<<< SEARCH [1, 2]\nimport javax.a;\n=======\nimport jakarta.a;\n>>>>>>> REPLACE\n"
    "<<<<<<< SEARCH [#3]\n@Stateless\n=======\n@ApplicationScoped\n>>>>>>> REPLACE\n"
    '```json\n{"verdicts": [{"id": 4, "status": "cannot_fix", "reason": "a human"}]}\n```\n'
)


def test_every_cut_of_a_text_answer_keeps_exactly_its_whole_blocks() -> None:
    first_end = TEXT.index(">>>>>>> REPLACE\n") + len(">>>>>>> REPLACE\n")
    second_end = TEXT.index("```json")
    for end in range(len(TEXT) + 1):
        blocks, named = whole_blocks(TEXT[:end])
        if end < first_end:
            assert (blocks, named) == ("", [])
        elif end < second_end:
            assert (blocks, named) == (TEXT[:first_end], ["1", "2"])
        else:  # the verdicts after the blocks are the rest, whether they arrived or not
            assert (blocks, named) == (TEXT[:second_end], ["1", "2", "#3"])


def test_a_text_rest_answers_only_with_a_block_or_verdicts() -> None:
    assert holds_answer("<<<<<<< SEARCH [2]\na\n=======\nb\n>>>>>>> REPLACE\n")
    assert holds_answer('```json\n{"verdicts": []}\n```')
    assert not holds_answer("That was all of it.")
