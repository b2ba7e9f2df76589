"""Replies already paid for: a request's fingerprint and where a stored reply can come from.

A run that was killed after a reply arrived but before it was applied must not pay for the same
reply again. The engine fingerprints every request (everything that determines the answer: provider,
model, the full prompt, the answer protocol) and asks a `ReplySource` (the run store) for an unused
reply with that fingerprint before it calls the provider. The output budget (`max_tokens`) is left
out: it is sized from the replies a run has seen so far, so a resumed run may size the same request
differently, and a complete reply does not depend on it (a cut-off one is never applied anyway).
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

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


class ReplySource(Protocol):
    def stored_reply(self, fingerprint: str) -> ModelResponse | None:
        """A reply received earlier for this exact request and not applied yet, or None."""
        ...
