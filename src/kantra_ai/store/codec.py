"""JSON forms of what the store keeps: replies, outcomes, edits, shares of packed replies."""

from __future__ import annotations

import json
from collections.abc import Iterable
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


def edits_to_json(edits: Iterable[Edit]) -> str:
    return dump(
        [
            {"old_text": e.old_text, "new_text": e.new_text, "incident_ids": list(e.incident_ids)}
            for e in edits
        ]
    )


def edits_from_json(text: str) -> list[Edit]:
    return [
        Edit(str(e["old_text"]), str(e["new_text"]), tuple(str(i) for i in e.get("incident_ids", ())))
        for e in json.loads(text)
    ]


def share_to_json(share: PackShare) -> str:
    """What of a `PackShare` its row does not hold in columns of its own."""
    return dump(
        {
            "incident_ids": list(share.incident_ids),
            "handle_offset": share.handle_offset,
            "edits": [
                {
                    "old_text": e.old_text,
                    "new_text": e.new_text,
                    "incident_ids": list(e.incident_ids),
                    "line_sub": [list(pair) for pair in e.line_sub],
                }
                for e in share.reply.edits
            ],
            "verdicts": [
                [v.incident_id, v.status.value, v.confidence, v.explanation] for v in share.reply.verdicts
            ],
            "across": list(share.across),
        }
    )


def share_from_json(path: str, fingerprint: str, content_sha: str, text: str) -> PackShare:
    data = json.loads(text)
    edits = [
        Edit(
            str(e["old_text"]),
            str(e["new_text"]),
            tuple(str(i) for i in e["incident_ids"]),
            tuple((str(before), str(after)) for before, after in e["line_sub"]),
        )
        for e in data["edits"]
    ]
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
