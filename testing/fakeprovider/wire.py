"""Pieces both wire protocols share: request errors, SSE frames, token-sized chunks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from testing.fakeprovider import tokens
from testing.fakeprovider.caching import CacheLookup

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


def token_chunks(text: str, vocabulary: tokens.Vocabulary, size: int = DELTA_TOKENS) -> list[tuple[str, int]]:
    """`text` split into consecutive chunks of `size` tokens, each with its token count."""
    return tokens.token_chunks(text, size, vocabulary)


def strip_cache_control(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def require_int(body: dict[str, Any], name: str, default: int | None = None) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WireError(400, f"{name}: Field required and must be a positive integer")
    return value
