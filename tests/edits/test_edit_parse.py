"""Parsing model replies: the apply_fixes tool input and the plain-text SEARCH/REPLACE format."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kantra_ai.edits.model import Edit, VerdictStatus
from kantra_ai.edits.parse import MalformedReply, parse_text_reply, parse_tool_input

IDS = ("inc-1", "inc-2")


def tool_input(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "edits": [
            {
                "incident_ids": ["inc-1"],
                "old_text": "import javax.ejb.Stateless;",
                "new_text": "import jakarta.ejb.Stateless;",
            }
        ],
        "incidents": [
            {"id": "inc-1", "status": "fixed", "confidence": 0.9, "explanation": "renamed the package"},
            {"id": "inc-2", "status": "not_applicable", "confidence": 0.6, "explanation": "test code"},
        ],
    }
    data.update(overrides)
    return data


def verdict(**fields: Any) -> dict[str, Any]:
    return {"id": "inc-1", "status": "fixed", "confidence": 0.9, "explanation": "x", **fields}


def test_good_tool_input_becomes_edits_and_verdicts() -> None:
    fix = parse_tool_input(tool_input(), IDS)
    assert fix.edits == [Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;", ("inc-1",))]
    assert [(v.incident_id, v.status, v.confidence) for v in fix.verdicts] == [
        ("inc-1", VerdictStatus.FIXED, 0.9),
        ("inc-2", VerdictStatus.NOT_APPLICABLE, 0.6),
    ]
    assert fix.verdicts[0].explanation == "renamed the package"
    assert fix.notes == []


def test_tool_input_as_json_text_is_accepted() -> None:
    fix = parse_tool_input(json.dumps(tool_input()), IDS)
    assert len(fix.edits) == 1 and len(fix.verdicts) == 2


def test_invalid_json_text_is_malformed() -> None:
    with pytest.raises(MalformedReply, match="not valid JSON"):
        parse_tool_input('{"edits": [', IDS)


@pytest.mark.parametrize("data", [["edits"], "[]", 42, None])
def test_tool_input_that_is_not_an_object_is_malformed(data: object) -> None:
    with pytest.raises(MalformedReply, match="must be an object"):
        parse_tool_input(data, IDS)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"edits": []}, "verdicts"),
        (tool_input(edits=[{"incident_ids": [], "new_text": "x"}]), "edits.0.old"),
        (tool_input(incidents=[{"id": "inc-1", "confidence": 0.9}]), "incidents.0.status"),
        (tool_input(incidents=[{"status": "fixed", "confidence": 0.9}]), "incidents.0.id"),
        (tool_input(incidents=[{"id": "inc-1", "status": "fixed"}]), "verdicts.0.confidence"),
    ],
)
def test_missing_required_field_is_malformed(data: dict[str, Any], where: str) -> None:
    with pytest.raises(MalformedReply, match=f"missing field {where}"):
        parse_tool_input(data, IDS)


def test_missing_explanation_and_incident_ids_are_tolerated() -> None:
    data = {
        "edits": [{"old_text": "a", "new_text": "b"}],
        "incidents": [{"id": "inc-1", "status": "fixed", "confidence": 1}],
    }
    fix = parse_tool_input(data, IDS)
    assert fix.edits == [Edit("a", "b", ())]
    assert fix.verdicts[0].explanation == ""


def test_unknown_status_is_malformed() -> None:
    with pytest.raises(MalformedReply, match=r"incidents\.0\.status"):
        parse_tool_input(tool_input(incidents=[verdict(status="done")]), IDS)


@pytest.mark.parametrize(
    ("written", "status"),
    [("Fixed", "fixed"), ("not-applicable", "not_applicable"), (" CANNOT_FIX ", "cannot_fix")],
)
def test_status_spelling_is_normalised(written: str, status: str) -> None:
    fix = parse_tool_input(tool_input(incidents=[verdict(status=written)]), IDS)
    assert fix.verdicts[0].status == VerdictStatus(status)


@pytest.mark.parametrize("confidence", ["0.9", True, None, 1.5, -0.1, float("nan")])
def test_confidence_that_is_not_a_number_in_range_is_malformed(confidence: object) -> None:
    with pytest.raises(MalformedReply, match="confidence"):
        parse_tool_input(tool_input(incidents=[verdict(confidence=confidence)]), IDS)


def test_confidence_float_noise_is_clamped() -> None:
    fix = parse_tool_input(tool_input(incidents=[verdict(confidence=1.0000000001)]), IDS)
    assert fix.verdicts[0].confidence == 1.0


def test_empty_old_text_is_malformed() -> None:
    with pytest.raises(MalformedReply, match="edit 1: old is empty"):
        parse_tool_input(
            tool_input(edits=[{"incident_ids": ["inc-1"], "old_text": " \n", "new_text": "x"}]), IDS
        )


def test_invented_incident_ids_never_produce_verdicts_or_attributions() -> None:
    data = tool_input(
        edits=[{"incident_ids": ["inc-1", "inc-99"], "old_text": "a", "new_text": "b"}],
        incidents=[verdict(id="inc-99"), verdict(id="inc-2", status="cannot_fix")],
    )
    fix = parse_tool_input(data, IDS)
    assert [v.incident_id for v in fix.verdicts] == ["inc-2"]
    assert fix.verdicts[0].status is VerdictStatus.CANNOT_FIX
    assert fix.edits[0].incident_ids == ("inc-1",)
    assert fix.notes == ["ignored unknown incident ids: inc-99"]


def test_unmentioned_incidents_get_no_verdict() -> None:
    fix = parse_tool_input(tool_input(incidents=[verdict()]), IDS)
    assert [v.incident_id for v in fix.verdicts] == ["inc-1"]


def test_contradictory_verdicts_for_one_incident_are_malformed() -> None:
    with pytest.raises(MalformedReply, match="contradictory"):
        parse_tool_input(tool_input(incidents=[verdict(), verdict(status="cannot_fix")]), IDS)


@pytest.mark.parametrize("confidences", [(0.9, 0.4), (0.4, 0.9)])
def test_repeated_verdict_keeps_the_lower_confidence(confidences: tuple[float, float]) -> None:
    incidents = [verdict(confidence=c) for c in confidences]
    fix = parse_tool_input(tool_input(incidents=incidents), IDS)
    assert [v.confidence for v in fix.verdicts] == [0.4]


def test_malformed_reason_is_one_line() -> None:
    with pytest.raises(MalformedReply) as caught:
        parse_tool_input(tool_input(incidents=[verdict(status="what\never")]), IDS)
    assert "\n" not in caught.value.reason and str(caught.value) == caught.value.reason


TEXT_REPLY = """\
I'll migrate the imports and the annotation.

```java
<<<<<<< SEARCH [inc-1]
import javax.ejb.Stateless;
=======
import jakarta.ejb.Stateless;
>>>>>>> REPLACE
```

Next, the injection:

<<<<<<< SEARCH [inc-2, "inc-1"]
    @Inject
    OrderRepository repo;
=======
    @Inject
    OrderRepository repository;
>>>>>>> REPLACE

```json
{"incidents": [
  {"id": "inc-1", "status": "fixed", "confidence": 0.95, "explanation": "jakarta namespace"},
  {"id": "inc-2", "status": "fixed", "confidence": 0.8, "explanation": "renamed"}
]}
```
Done.
"""


def test_text_reply_with_several_blocks_and_text_around_them() -> None:
    fix = parse_text_reply(TEXT_REPLY, IDS)
    assert fix.edits == [
        Edit("import javax.ejb.Stateless;\n", "import jakarta.ejb.Stateless;\n", ("inc-1",)),
        Edit(
            "    @Inject\n    OrderRepository repo;\n",
            "    @Inject\n    OrderRepository repository;\n",
            ("inc-2", "inc-1"),
        ),
    ]
    assert [(v.incident_id, v.confidence) for v in fix.verdicts] == [("inc-1", 0.95), ("inc-2", 0.8)]


def test_text_reply_with_crlf_newlines_parses_like_lf() -> None:
    assert parse_text_reply(TEXT_REPLY.replace("\n", "\r\n"), IDS) == parse_text_reply(TEXT_REPLY, IDS)


def test_text_block_without_id_list_is_attributed_to_no_incident() -> None:
    reply = TEXT_REPLY.replace("<<<<<<< SEARCH [inc-1]", "<<<<<<< SEARCH")
    assert parse_text_reply(reply, IDS).edits[0].incident_ids == ()


def test_text_block_with_empty_replacement_deletes_lines() -> None:
    reply = '<<<<<<< SEARCH [inc-1]\nold line\n=======\n>>>>>>> REPLACE\n```json\n{"incidents": []}\n```'
    assert parse_text_reply(reply, IDS).edits == [Edit("old line\n", "", ("inc-1",))]


@pytest.mark.parametrize(
    ("block", "missing"),
    [
        ("<<<<<<< SEARCH [inc-1]\nimport a;\n", "======="),
        ("<<<<<<< SEARCH [inc-1]\nimport a;\n=======\nimport b;\n", ">>>>>>> REPLACE"),
    ],
)
def test_block_cut_short_by_the_next_block_is_malformed(block: str, missing: str) -> None:
    reply = "Intro\n\n" + block + TEXT_REPLY[TEXT_REPLY.index("<<<<<<< SEARCH [inc-2") :]
    with pytest.raises(MalformedReply, match=f"SEARCH block starting at line 3 has no '{missing}' line"):
        parse_text_reply(reply, IDS)


def test_unterminated_block_at_end_of_reply_is_malformed() -> None:
    with pytest.raises(MalformedReply, match="has no '>>>>>>> REPLACE' line"):
        parse_text_reply("<<<<<<< SEARCH [inc-1]\na\n=======\nb\n", IDS)


def test_text_reply_without_json_verdicts_is_malformed() -> None:
    reply = TEXT_REPLY[: TEXT_REPLY.index("```json")]
    with pytest.raises(MalformedReply, match="no ```json block"):
        parse_text_reply(reply, IDS)


def test_invalid_verdict_json_is_malformed() -> None:
    reply = TEXT_REPLY.replace('"confidence": 0.8,', '"confidence": 0.8,,')
    with pytest.raises(MalformedReply, match="verdict JSON is invalid"):
        parse_text_reply(reply, IDS)


def test_last_json_verdict_block_is_the_answer() -> None:
    draft = '```json\n{"incidents": [{"id": "inc-1", "status": "cannot_fix", "confidence": 0.2}]}\n```\n'
    fix = parse_text_reply("First thought:\n" + draft + "On reflection:\n" + TEXT_REPLY, IDS)
    assert [v.status for v in fix.verdicts] == [VerdictStatus.FIXED, VerdictStatus.FIXED]


def test_bare_verdict_object_without_fence_is_accepted() -> None:
    reply = (
        'Nothing to change.\n{"incidents": [{"id": "inc-2", "status": "not_applicable", '
        '"confidence": 0.7, "explanation": "generated code"}]}\n'
    )
    fix = parse_text_reply(reply, IDS)
    assert fix.edits == []
    assert fix.verdicts[0].status is VerdictStatus.NOT_APPLICABLE


def test_text_reply_verdicts_are_validated_like_tool_input() -> None:
    with pytest.raises(MalformedReply, match=r"verdicts\.0\.status"):
        parse_text_reply(
            TEXT_REPLY.replace('"status": "fixed", "confidence": 0.95', '"status": "ok", "confidence": 0.95'),
            IDS,
        )


def test_text_reply_invented_ids_are_dropped() -> None:
    reply = TEXT_REPLY.replace('"id": "inc-2"', '"id": "inc-7"').replace("[inc-2, ", "[inc-7, ")
    fix = parse_text_reply(reply, IDS)
    assert [v.incident_id for v in fix.verdicts] == ["inc-1"]
    assert fix.edits[1].incident_ids == ("inc-1",)


def test_tool_input_crlf_in_edit_text_becomes_lf() -> None:
    data = tool_input(edits=[{"incident_ids": ["inc-1"], "old_text": "a\r\nb", "new_text": "c\r\nd"}])
    assert parse_tool_input(data, IDS).edits == [Edit("a\nb", "c\nd", ("inc-1",))]


def test_single_incident_id_string_is_read_as_a_list() -> None:
    data = tool_input(edits=[{"incident_ids": "inc-2", "old_text": "a", "new_text": "b"}])
    assert parse_tool_input(data, IDS).edits[0].incident_ids == ("inc-2",)


# --- terse replies with numbered incidents (the protocol requests use) ---------------------------------

HANDLES = {"1": "inc-1", "2": "inc-2", "3": "inc-3"}


def test_terse_reply_edits_mark_their_incidents_fixed_and_verdicts_cover_the_rest() -> None:
    data = {
        "edits": [
            {"ids": [1, 2], "old": "import javax.ejb.Stateless;", "new": "import jakarta.ejb.Stateless;"}
        ],
        "verdicts": [{"id": 3, "status": "cannot_fix", "reason": "needs a human"}],
    }
    fix = parse_tool_input(data, HANDLES, full_verdicts=False)
    assert fix.edits[0].incident_ids == ("inc-1", "inc-2")
    statuses = {v.incident_id: (v.status, v.confidence) for v in fix.verdicts}
    assert statuses == {
        "inc-1": (VerdictStatus.FIXED, None),
        "inc-2": (VerdictStatus.FIXED, None),
        "inc-3": (VerdictStatus.CANNOT_FIX, None),
    }
    assert fix.verdicts[0].explanation == "needs a human"


@pytest.mark.parametrize("written", [2, "2", "#2", " 2 "])
def test_handles_may_be_numbers_or_strings(written: object) -> None:
    data = {"edits": [{"ids": [written], "old": "a", "new": "b"}]}
    assert parse_tool_input(data, HANDLES, full_verdicts=False).edits[0].incident_ids == ("inc-2",)


def test_terse_reply_that_accounts_for_nothing_is_malformed() -> None:
    with pytest.raises(MalformedReply, match="neither edits"):
        parse_tool_input({"edits": []}, HANDLES, full_verdicts=False)


def test_full_mode_does_not_count_an_edit_as_a_verdict() -> None:
    data = {"edits": [{"ids": [1], "old": "a", "new": "b"}], "verdicts": []}
    assert parse_tool_input(data, HANDLES).verdicts == []


def test_an_explicit_verdict_beats_the_one_an_edit_implies() -> None:
    data = {
        "edits": [{"ids": [1], "old": "a", "new": "b"}],
        "verdicts": [{"id": 1, "status": "not_applicable", "reason": "generated code"}],
    }
    fix = parse_tool_input(data, HANDLES, full_verdicts=False)
    assert [(v.incident_id, v.status) for v in fix.verdicts] == [("inc-1", VerdictStatus.NOT_APPLICABLE)]


def test_terse_text_reply_needs_no_verdict_block_when_every_incident_was_edited() -> None:
    reply = (
        "<<<<<<< SEARCH [1, 2]\nimport javax.ejb.Stateless;\n=======\n"
        "import jakarta.ejb.Stateless;\n>>>>>>> REPLACE\n"
    )
    fix = parse_text_reply(reply, HANDLES, full_verdicts=False)
    assert sorted(v.incident_id for v in fix.verdicts) == ["inc-1", "inc-2"]
    with pytest.raises(MalformedReply, match="no ```json block"):
        parse_text_reply(reply, HANDLES)  # full mode: the verdicts are required


def test_terse_text_reply_without_blocks_or_verdicts_is_malformed() -> None:
    with pytest.raises(MalformedReply, match="neither edits"):
        parse_text_reply("I could not do it.", HANDLES, full_verdicts=False)


def test_sub_pairs_rename_every_occurrence_inside_old() -> None:
    data = {
        "edits": [
            {"ids": [1, 2], "old": "import javax.a.A;\nimport javax.b.B;", "sub": [["javax.", "jakarta."]]}
        ]
    }
    (edit,) = parse_tool_input(data, HANDLES, full_verdicts=False).edits
    assert edit == Edit(
        "import javax.a.A;\nimport javax.b.B;", "import jakarta.a.A;\nimport jakarta.b.B;", ("inc-1", "inc-2")
    )


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"ids": [1], "old": "a"}, "missing field edits.0.new"),
        ({"ids": [1], "old": "a", "sub": [["z", "y"]]}, "sub 'z' does not occur in old"),
        ({"ids": [1], "old": "a", "sub": [["", "y"]]}, "does not occur in old"),
    ],
)
def test_an_edit_without_new_text_or_with_a_sub_that_does_not_apply_is_malformed(
    edit: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MalformedReply, match=reason):
        parse_tool_input({"edits": [edit]}, HANDLES, full_verdicts=False)
