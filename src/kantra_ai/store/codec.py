"""JSON forms of what the store keeps: replies, outcomes, edits, shares of packed replies."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kantra_ai.edits.model import Edit, ProposedFix, Verdict, VerdictStatus
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.engine.replies import PackShare
from kantra_ai.providers.base import ModelResponse
from kantra_ai.providers.pricing import Usage


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def reply_to_json(response: ModelResponse) -> str:
    """The reply as the engine needs it to apply it again; headers are not kept."""
    usage = response.usage
    return dump(
        {
            "text": response.text,
            "tool_input": response.tool_input,
            "stop_reason": response.stop_reason,
            "tool_input_error": response.tool_input_error,
            "tool_arguments": response.tool_arguments,
            "usage": [
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_write_tokens,
                usage.cache_read_tokens,
            ],
        }
    )


def reply_from_json(text: str) -> ModelResponse:
    data = json.loads(text)
    return ModelResponse(
        text=data["text"],
        tool_input=data["tool_input"],
        stop_reason=data["stop_reason"],
        usage=Usage(*data["usage"]),
        tool_input_error=data["tool_input_error"],
        tool_arguments=data.get("tool_arguments", ""),  # absent from replies stored before it was kept
    )


@dataclass(frozen=True)
class Decided:
    """An outcome plus whether a model reply covered the incident (re-asking would cost money)."""

    outcome: IncidentOutcome
    answered: bool


def outcomes_to_json(decided: Iterable[Decided]) -> str:
    return dump(
        [
            {
                "id": d.outcome.incident_id,
                "status": d.outcome.status.value,
                "reason": d.outcome.reason,
                "confidence": d.outcome.confidence,
                "explanation": d.outcome.explanation,
                "threshold": d.outcome.threshold,
                "answered": d.answered,
            }
            for d in decided
        ]
    )


def outcomes_from_json(text: str) -> list[Decided]:
    return [
        Decided(
            IncidentOutcome(
                item["id"],
                Status(item["status"]),
                item["reason"],
                item["confidence"],
                item["explanation"],
                item.get("threshold"),  # absent in intents written before schema 2
            ),
            bool(item["answered"]),
        )
        for item in json.loads(text)
    ]


def _edit_to_dict(edit: Edit) -> dict[str, Any]:
    data: dict[str, Any] = {
        "old_text": edit.old_text,
        "new_text": edit.new_text,
        "incident_ids": list(edit.incident_ids),
    }
    if edit.line_sub:  # (an edit placed on its incidents' lines has none: a write's never do)
        data["line_sub"] = [list(pair) for pair in edit.line_sub]
    return data


def _edit_from_dict(data: Mapping[str, Any]) -> Edit:
    return Edit(
        str(data["old_text"]),
        str(data["new_text"]),
        tuple(str(i) for i in data.get("incident_ids", ())),
        tuple((str(before), str(after)) for before, after in data.get("line_sub", ())),
    )


def edits_to_json(edits: Iterable[Edit]) -> str:
    return dump([_edit_to_dict(e) for e in edits])


def edits_from_json(text: str) -> list[Edit]:
    return [_edit_from_dict(e) for e in json.loads(text)]


def share_to_json(share: PackShare) -> str:
    """What of a `PackShare` its row does not hold in columns of its own."""
    return dump(
        {
            "incident_ids": list(share.incident_ids),
            "handle_offset": share.handle_offset,
            "edits": [_edit_to_dict(e) for e in share.reply.edits],
            "verdicts": [
                [v.incident_id, v.status.value, v.confidence, v.explanation] for v in share.reply.verdicts
            ],
            "across": list(share.across),
        }
    )


def share_from_json(path: str, fingerprint: str, content_sha: str, text: str) -> PackShare:
    data = json.loads(text)
    edits = [_edit_from_dict(e) for e in data["edits"]]
    verdicts = [
        Verdict(str(incident_id), VerdictStatus(status), confidence, str(explanation))
        for incident_id, status, confidence, explanation in data["verdicts"]
    ]
    return PackShare(
        path,
        fingerprint,
        tuple(str(i) for i in data["incident_ids"]),
        int(data["handle_offset"]),
        content_sha,
        ProposedFix(edits, verdicts),
        tuple(str(i) for i in data["across"]),
    )
