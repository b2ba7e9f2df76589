"""Offline token estimates.

No provider tokenizer can run offline here (tiktoken downloads its vocabularies at run time and
Anthropic's counter is a network call), so the count is estimated from what BPE vocabularies do
with text: most words are one token, camelCase identifiers split at their humps, numbers go in
groups of up to three digits, punctuation is mostly a token of its own and a newline with its
indentation is about one. The weights were fitted to a real BPE (cl100k) on Java, XML, YAML,
Python and English prose: within about 5% on average, 20% on the worst sample. Counting is a few
regular-expression passes in C, fast enough for 100,000-incident analyses.

A run then corrects the estimate with the usage the provider reports (`engine/calibration.py`),
and the run store keeps that correction for the next run.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z]+")
_HUMP = re.compile(r"[a-z][A-Z]")
_DIGITS = re.compile(r"\d{1,3}")
_OTHER = re.compile(r"[^\sA-Za-z\d]")

_PER_WORD = 1.14
_PER_HUMP = 0.30
_PER_DIGIT_GROUP = 2.13
_PER_OTHER = 0.43
_PER_NEWLINE = 0.83


def estimate_tokens(text: str) -> int:
    """Estimated BPE token count of `text` (always >= 1 for non-empty text)."""
    if not text:
        return 0
    total = (
        _PER_WORD * len(_WORD.findall(text))
        + _PER_HUMP * len(_HUMP.findall(text))
        + _PER_DIGIT_GROUP * len(_DIGITS.findall(text))
        + _PER_OTHER * len(_OTHER.findall(text))
        + _PER_NEWLINE * text.count("\n")
    )
    return max(1, round(total))


def cut_to_tokens(text: str, budget: int) -> str:
    """The longest prefix of `text` estimated at no more than `budget` tokens (where a model that
    runs out of output tokens stops)."""
    if budget <= 0:
        return ""
    if estimate_tokens(text) <= budget:
        return text
    low, high = 0, len(text)
    while low < high:  # estimates grow with the prefix, so bisect
        middle = (low + high + 1) // 2
        if estimate_tokens(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def estimate_message_tokens(parts: list[str], overhead_per_part: int = 4) -> int:
    """Tokens of a request made of several text blocks, with the per-block framing overhead."""
    return sum(estimate_tokens(p) + overhead_per_part for p in parts)
