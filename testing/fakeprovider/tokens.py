"""How the fake provider counts tokens: a real BPE, never the product's estimator.

A fake that counted with `kantra_ai.tokens` would agree with the product's assumptions by
construction (a prefix the product believes is long enough to cache would be, by the same count),
so benchmarks could not find where those assumptions are wrong. The fake therefore tokenizes with
OpenAI's published BPE vocabularies from `bpe-openai`, which ships them inside the package (no
download, unlike tiktoken): `o200k_base` for the OpenAI protocol, `cl100k_base` for the Anthropic one
(Claude's own vocabulary is not published; cl100k is the usual stand-in, about 4 characters a token
on source code). Usage, prompt-cache minimums, rate limits, `max_tokens` cuts and stream pacing all
use these counts.
"""

from __future__ import annotations

from functools import cache
from typing import Literal, Protocol, cast

import bpe_openai

Vocabulary = Literal["cl100k_base", "o200k_base"]
ANTHROPIC_VOCABULARY: Vocabulary = "cl100k_base"
OPENAI_VOCABULARY: Vocabulary = "o200k_base"
# bpe-openai refuses texts of a million characters and more: longer texts are encoded in pieces
# cut after a newline (where the vocabularies' pre-tokenizers split anyway, give or take a token).
_PIECE_CHARS = 200_000


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...
    def decode_bytes(self, tokens: list[int]) -> bytes: ...


@cache
def _encoding(vocabulary: Vocabulary) -> _Encoding:
    return cast(_Encoding, bpe_openai.get_encoding(vocabulary))


def _pieces(text: str) -> list[str]:
    if len(text) <= _PIECE_CHARS:
        return [text]
    pieces, start = [], 0
    while start < len(text):
        end = text.rfind("\n", start, start + _PIECE_CHARS)
        end = start + _PIECE_CHARS if end <= start else end + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def encode(text: str, vocabulary: Vocabulary = ANTHROPIC_VOCABULARY) -> list[int]:
    encoding = _encoding(vocabulary)
    return [token for piece in _pieces(text) for token in encoding.encode_ordinary(piece)]


def count_tokens(text: str, vocabulary: Vocabulary = ANTHROPIC_VOCABULARY) -> int:
    """The number of BPE tokens of `text` (0 for the empty text)."""
    return len(encode(text, vocabulary)) if text else 0


def cut_to_tokens(text: str, budget: int, vocabulary: Vocabulary = ANTHROPIC_VOCABULARY) -> str:
    """The first `budget` tokens of `text` (where a model that runs out of output tokens stops)."""
    if budget <= 0:
        return ""
    tokens = encode(text, vocabulary)
    if len(tokens) <= budget:
        return text
    # A token may end inside a multi-byte character: drop the incomplete tail, as a stream would.
    return _encoding(vocabulary).decode_bytes(tokens[:budget]).decode("utf-8", errors="ignore")


def token_chunks(
    text: str, size: int, vocabulary: Vocabulary = ANTHROPIC_VOCABULARY
) -> list[tuple[str, int]]:
    """`text` as consecutive chunks of `size` tokens (the last may be shorter), each with its count.

    The chunks add up to `text` exactly; a chunk boundary inside a multi-byte character moves to the
    character's end, so every chunk is valid text.
    """
    if not text:
        return []
    encoding = _encoding(vocabulary)
    tokens = encode(text, vocabulary)
    chunks: list[tuple[str, int]] = []
    pending = b""
    for start in range(0, len(tokens), size):
        part = tokens[start : start + size]
        raw = pending + encoding.decode_bytes(part)
        cut = len(raw)
        while cut > 0:
            try:
                piece = raw[:cut].decode("utf-8")
                break
            except UnicodeDecodeError:
                cut -= 1
        else:
            piece = ""
        pending = raw[cut:]
        chunks.append((piece, len(part)))
    if pending:
        last, count = chunks[-1]
        chunks[-1] = (last + pending.decode("utf-8", errors="replace"), count)
    return chunks
