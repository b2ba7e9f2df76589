"""Replies already paid for: a request's fingerprint and where a stored reply can come from.

A run that was killed after a reply arrived but before it was applied must not pay for the same
reply again. The engine fingerprints every request (everything that determines the answer: provider,
model, the full prompt, the answer protocol) and asks a `ReplySource` (the run store) for an unused
reply with that fingerprint before it calls the provider. The output budget (`max_tokens`) is left
out: it is sized from the replies a run has seen so far, so a resumed run may size the same request
differently, and a complete reply does not depend on it (a cut-off one is never applied anyway).

A packed request (several small files, `engine/packed.py`) cannot be made again once some of its
files were written: the reply is split by file before anything is applied, and each file's share is
kept (`PackShare`) until that file is finished. A run killed in between applies the shares of the
files not finished yet, each to its file as the pack showed it, without asking again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol

from kantra_ai.edits.model import ProposedFix
from kantra_ai.providers.base import ModelRequest, ModelResponse


def request_fingerprint(request: ModelRequest, provider: str, model: str) -> str:
    """A stable hash of what the provider would be asked; equal requests get equal fingerprints."""
    payload = json.dumps(
        [
            provider,
            model,
            request.system,
            request.guidance,
            request.prompt,
            request.tool is not None,
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PackShare:
    """One file's share of a packed reply, kept until the file is finished."""

    path: str
    fingerprint: str  # of the packed request
    incident_ids: tuple[str, ...]  # the file's incidents the pack asked about
    handle_offset: int  # where the file's incident numbers started in the pack (its retries use them)
    content_sha: str  # of the file's bytes as the pack showed them: the share applies to those only
    reply: ProposedFix  # the edits and verdicts for the file's incidents
    # Its incidents named by an edit quoting text of several files: applied to none, asked again.
    across: tuple[str, ...] = ()


class ReplySource(Protocol):
    def stored_reply(self, fingerprint: str) -> ModelResponse | None:
        """A reply received earlier for this exact request and not applied yet, or None."""
        ...

    def pack_share(self, path: str, content_sha: str) -> PackShare | None:
        """The share of a packed reply kept for `path` and not applied yet, made when the file's
        bytes had this hash, or None."""
        ...
