"""Pieces both wire protocols share: request errors, SSE frames, token-sized chunks."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kantra_ai.tokens import estimate_tokens
from testing.fakeprovider.caching import CacheLookup

# The same pieces `estimate_tokens` counts, so chunks cut on piece boundaries add up to the whole.
_PIECE = re.compile(r"[A-Za-z_]+|\d+|[^\sA-Za-z_\d]|\s+")
DELTA_TOKENS = 6  # roughly what real APIs put in one streamed delta


class WireError(Exception):
    """A request the real API would refuse with an HTTP 4xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ResponseAborted(Exception):
    """The response cannot continue: the client went away, a drop fault fired, or the server stops."""


@dataclass(frozen=True)
class Frame:
    data: bytes
    tokens: int = 0  # output tokens this frame carries, for pacing


@dataclass(frozen=True)
class Usage:
    cache: CacheLookup
    output_tokens: int


def sse(payload: dict[str, Any], *, event: str | None = None, tokens: int = 0) -> Frame:
    head = f"event: {event}\n" if event is not None else ""
    return Frame(f"{head}data: {json.dumps(payload)}\n\n".encode(), tokens)


def token_chunks(text: str, size: int = DELTA_TOKENS) -> list[tuple[str, int]]:
    """`text` split into consecutive chunks of about `size` tokens, each with its token count."""
    chunks: list[tuple[str, int]] = []
    current: list[str] = []
    count = 0
    for match in _PIECE.finditer(text):
        piece = match.group()
        current.append(piece)
        count += estimate_tokens(piece)
        if count >= size:
            chunks.append(("".join(current), count))
            current, count = [], 0
    if current:
        chunks.append(("".join(current), count))
    return chunks


def strip_cache_control(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def require_int(body: dict[str, Any], name: str, default: int | None = None) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WireError(400, f"{name}: Field required and must be a positive integer")
    return value
