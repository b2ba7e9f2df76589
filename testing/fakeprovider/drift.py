"""Drift mode: the fake model's edits, drifted the way real models drift them (`testing/drift.py`).

`DriftingResponder` wraps a responder that writes well-formed edits (the scripted model of
`kantra_ai.simulated.recipes`): it asks it for an `apply_fixes` call, turns the edits into
`testing.drift` operations on the file as the prompt shows it, drifts each edit with probability
`rate` by one (now and then two) of `kinds`, drifts the reply (order, a duplicate) likewise, and
answers in the format the request asked for: the tool call on either protocol, or SEARCH/REPLACE
text when no tool was offered (where only `TEXT_KINDS` can be expressed).

Every reply is logged (`DriftLog`): which edits drifted how and which incidents they were for (by
the numbers the request showed them by, #1, #2, ...: the request carries no incident ids), and
whether the request was a retry (it asked about an incident of the file asked about before, or
said that edits failed or a reply was unusable), so a benchmark can say, per drift kind, what became
of the drifted edits and what their retries cost.

Deterministic: each reply's drift is seeded from the seed and the request's text, whatever order
concurrent requests arrive in. A reply the wrapper cannot read as well-formed edits goes out as it
came.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kantra_ai.edits.model import Edit
from kantra_ai.simulated.continuation import CONTINUED
from kantra_ai.simulated.contract import FakeReply, FakeRequest, Responder, ToolCall
from kantra_ai.simulated.recipes import parse_prompts, quoting, request_text
from testing.drift import KINDS, TEXT_KINDS, Sent, case_from_edits, drift_reply

TOOL_NAME = "apply_fixes"
# What a retry request says (prompts/templates/retry_request.j2).
RETRY_MARKERS = (
    "could not be applied to the file as it is now",
    "Your previous answer could not be used",
    "Your previous answer said nothing about",
)


@dataclass(frozen=True)
class DriftSettings:
    rate: float = 0.3  # the probability that an edit (and, separately, a reply) drifts
    kinds: tuple[str, ...] = KINDS  # which drifts to choose from (text replies: those it can carry)
    seed: int = 0


@dataclass(frozen=True)
class DriftedEdit:
    kinds: tuple[str, ...]  # () for an edit sent as the scripted model wrote it
    incident_ids: tuple[str, ...]


@dataclass(frozen=True)
class DriftedReply:
    path: str
    incident_ids: tuple[str, ...]  # the incidents the request asked about (their numbers in it)
    retry: bool  # one of them was asked about before, or the request said it was a retry
    edits: tuple[DriftedEdit, ...]
    content: str = field(default="", repr=False)  # the file (or window) as the request showed it
    given: tuple[Edit, ...] = field(default=(), repr=False)  # the edits before they drifted


@dataclass
class DriftLog:
    replies: list[DriftedReply] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _asked: set[str] = field(default_factory=set, repr=False)

    def record(
        self,
        path: str,
        incident_ids: Sequence[str],
        edits: Sequence[DriftedEdit],
        content: str = "",
        given: Sequence[Edit] = (),
        *,
        retry: bool = False,
    ) -> None:
        asked = {f"{path}#{i}" for i in incident_ids}
        with self._lock:
            retry = retry or bool(self._asked & asked)
            self._asked |= asked
            self.replies.append(
                DriftedReply(path, tuple(incident_ids), retry, tuple(edits), content, tuple(given))
            )


class DriftingResponder:
    """A responder whose edits drift; see the module docstring."""

    def __init__(self, inner: Responder, settings: DriftSettings | None = None) -> None:
        self.inner = inner
        self.settings = settings or DriftSettings()
        self.log = DriftLog()

    def __call__(self, request: FakeRequest) -> FakeReply:
        text = request_text(request)
        prompts = parse_prompts(text)
        wants_text = not request.tools
        asked = request if request.tools else dataclasses.replace(request, tools=[{"name": TOOL_NAME}])
        # Drifts are made on quoted text: every edit the scripted model writes quotes its lines.
        asked = quoting(asked)
        reply = self.inner(asked)
        if not prompts or not reply.tool_calls:
            return reply
        call = reply.tool_calls[0]
        edits = [_edit(e) for e in call.input.get("edits", [])]
        kinds = tuple(k for k in self.settings.kinds if not wants_text or k in TEXT_KINDS)
        digest = hashlib.sha256(f"{self.settings.seed}\x1f{text}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        retry = any(marker in request.last_user_text() for marker in RETRY_MARKERS)
        # A request packing several files: each file's edits (those naming its incidents) drift on
        # the file as shown and are logged under it.
        sent_edits: list[Edit] = []
        for prompt in prompts:
            numbers = [i.id for i in prompt.incidents]
            own = [e for e in edits if set(e.incident_ids) <= set(numbers)] if len(prompts) > 1 else edits
            try:
                case = case_from_edits(prompt.path, prompt.content, own)
            except ValueError:
                return _as_text(call.input) if wants_text else reply
            sents = drift_reply(case, rng, self.settings.rate, kinds)
            drifted_edits = [_with_ids(sent, own) for sent in sents]
            drifted = [
                DriftedEdit(s.kinds, e.incident_ids) for s, e in zip(sents, drifted_edits, strict=True)
            ]
            if not request.raw.get(CONTINUED):  # (a continuation's edits were logged with its first part)
                self.log.record(prompt.path, numbers, drifted, prompt.content, own, retry=retry)
            sent_edits += drifted_edits
        answer: dict[str, Any] = {
            "edits": [
                {"ids": [_number(i) for i in e.incident_ids], "old": e.old_text, "new": e.new_text}
                for e in sent_edits
            ],
        }
        if "verdicts" in call.input:
            answer["verdicts"] = call.input["verdicts"]
        if wants_text:
            return _as_text(answer)
        return FakeReply(tool_calls=[ToolCall(call.name, answer)])


def _number(handle: str) -> int | str:
    return int(handle) if handle.isdigit() else handle


def _edit(given: dict[str, Any]) -> Edit:
    """An edit of the tool call (`new`, or `sub`: [from, to] pairs replaced in turn inside `old`)."""
    old = str(given["old"])
    if "new" in given:
        new = str(given["new"])
    else:
        new = old
        for before, after in given.get("sub") or ():
            new = new.replace(str(before), str(after))
    return Edit(old, new, tuple(str(i) for i in given.get("ids") or ()))


def _with_ids(sent: Sent, edits: Sequence[Edit]) -> Edit:
    """The drifted edit, tied to the incidents of the operations it performs (one per edit given)."""
    ids: list[str] = []
    for op in sorted(sent.ops):
        ids += [i for i in edits[op].incident_ids if i not in ids]
    return Edit(sent.edit.old_text, sent.edit.new_text, tuple(ids))


def _as_text(answer: dict[str, Any]) -> FakeReply:
    """SEARCH/REPLACE blocks (whole lines: a text's line break at either edge goes), then the verdicts.

    Old and new start at the same place in the file. So a line break leading `old` is an edge (the
    end of the line before), and leads `new` as one too; where `old` starts a line, a line break
    leading `new` is a blank line of its own (context copied below a deletion: "\nimport b;"),
    written as one, or the block would delete that line too."""
    parts = []
    for edit in answer.get("edits", []):
        plain = _edit(edit)
        edge = plain.old_text.startswith("\n")
        old, new = _lines(plain.old_text), _lines(plain.new_text, edge=edge)
        block = [f"<<<<<<< SEARCH [{', '.join(plain.incident_ids)}]", old, "======="]
        if new:
            block.append(new)
        block.append(">>>>>>> REPLACE")
        parts.append("\n".join(block))
    if "verdicts" in answer or not parts:
        parts.append("```json\n" + json.dumps({"verdicts": answer.get("verdicts", [])}) + "\n```")
    return FakeReply(text="\n\n".join(parts) + "\n")


def _lines(text: str, *, edge: bool = True) -> str:
    """`text` as a block's lines: its trailing line break goes, and its leading one when it is an
    edge (`edge`), not a blank line."""
    text = text[:-1] if text.endswith("\n") else text
    return text[1:] if edge and text.startswith("\n") else text
