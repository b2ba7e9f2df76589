"""Credential shapes are masked in large texts too: each shape's pattern runs only where its gate (a
literal part of every match) is found, and that must never let a shape through."""

from __future__ import annotations

import random
import re
import sys

import pytest

from kantra_ai.redact import _CHUNK, _SHAPES, ASCII_LETTER_LOOKALIKES, MASK, redact

# One credential per shape (and case variants for the shapes that ignore case).
SECRETS = [
    ("https://deploy:Tr0ub4dor-x@git.example.com/app.git", "Tr0ub4dor-x"),
    ("sk-ant-api03-Zx9vQ2mN7pL4kR8t", "api03-Zx9vQ2mN7pL4kR8t"),
    ("sk-proj-abcdef0123456789ghij", "abcdef0123456789ghij"),
    ("ghp_abcdefghij0123456789abcd", "abcdefghij0123456789abcd"),
    ("github_pat_11ABCDEFG0123456789_xyz", "11ABCDEFG0123456789_xyz"),
    ("glpat-abcdefghij0123456789", "abcdefghij0123456789"),
    ("AKIAABCDEFGHIJ012345", "ABCDEFGHIJ012345"),
    ("Aws_Secret_Access_Key = abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789"),
    ("AIzaSyA0123456789abcdefghijklmnopqrstu", "SyA0123456789abcdefghijklmnopqrstu"),
    ("gsk_abcdefghij0123456789", "abcdefghij0123456789"),
    ("hf_abcdefghij0123456789", "abcdefghij0123456789"),
    ("xoxb-0123456789-abcdef", "0123456789-abcdef"),
    ("Authorization: BEARER eyJhbGci0iJIUzI1", "eyJhbGci0iJIUzI1"),
    ("X-Api-Key: 0123456789abcdef", "0123456789abcdef"),
]

# What plans and reports are made of: file URIs (`://` on every line) and messages.
FILLER = "".join(
    f"  - uri: file:///opt/input/source/src/main/java/com/acme/Service{n:04d}.java\n"
    f"    message: Replace `javax.ejb` with `jakarta.ejb` (line {n})\n"
    for n in range(2000)
)


@pytest.mark.parametrize(("credential", "secret"), SECRETS, ids=[s[0][:12] for s in SECRETS])
def test_every_shape_is_masked_in_the_middle_of_a_large_text(credential: str, secret: str) -> None:
    half = len(FILLER) // 2
    masked = redact(FILLER[:half] + credential + "\n" + FILLER[half:])
    assert secret not in masked
    assert MASK in masked


@pytest.mark.parametrize(("credential", "secret"), SECRETS, ids=[s[0][:12] for s in SECRETS])
def test_every_shape_is_masked_in_a_short_text(credential: str, secret: str) -> None:
    # A report is redacted value by value: short texts are looked at with all the gates at once.
    for text in (credential, f"see {credential} here"):
        assert secret not in redact(text), text


def test_caseless_shapes_follow_unicode_case_rules_in_non_ascii_text() -> None:
    # The Kelvin sign is a `k` and `İ` an `i` to the regular expression: text that is not ASCII
    # cannot be lower-cased to look for the gate.
    for header in ("X-API-\u212aEY: 0123456789abcdef", "x-apİ-key: 0123456789abcdef"):
        assert "0123456789abcdef" not in redact(f"{FILLER}é {header}\n")
        assert "0123456789abcdef" not in redact(f"é {header}")  # a short text: one search, all gates


def _every_pattern(text: str) -> str:
    for shape in _SHAPES:
        text = shape.pattern.sub(shape.replacement, text)
    return text


def test_gated_masking_masks_exactly_what_every_pattern_would() -> None:
    rng = random.Random(11)
    pieces = [c for c, _ in SECRETS] + ["://", "file:///a", "sk-", "bearer ", "BeArEr\n", "é", " ", "\n"]
    pieces += ["@", ":"]
    pieces += ["x-api-key", "aws_secret_access_key=", "0123456789", "abcXYZ", "_", "-", "'", '"']
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        assert redact(text) == _every_pattern(text), text


def test_the_ascii_letter_lookalikes_are_all_the_characters_that_match_ascii_letters_ignoring_case() -> None:
    letter = re.compile("(?i)[a-z]")
    found = "".join(chr(c) for c in range(128, sys.maxunicode + 1) if letter.match(chr(c)))
    assert found == ASCII_LETTER_LOOKALIKES


def test_url_passwords_are_masked_wherever_the_url_stands() -> None:
    # Masked around each `://` only: at the start and end of the text, after a word character,
    # next to other links, several in one stretch without whitespace.
    texts = [
        "https://u:Pa55word-1@h",
        "see https://u:Pa55word-1@h/x.",
        'href="https://u:Pa55word-1@h">https://docs.example.com</a>',
        "a,ftp://u:Pa55word-1@h,b;git+ssh://v:Pa55word-2@g",
        "x_https://u:Pa55word-1@h",  # no word boundary before the scheme: not a URL to mask
        "file:///opt/a.java\nhttps://u:Pa55word-1@h\tfile:///b",
        "https://a.b/c?x=https://u:Pa55word-1@h",
    ]
    for text in texts:
        assert redact(text) == _every_pattern(text), text
    assert "Pa55word" not in redact(" ".join(texts[:4]))


@pytest.mark.parametrize("cut", [1, 3, 5, 9])
def test_a_caseless_shape_cut_by_a_chunk_boundary_is_still_masked(cut: int) -> None:
    # Caseless gates are looked for a chunk of the text at a time: `cut` characters of the header
    # fall before the boundary.
    for header in ("Bearer ", "X-Api-Key: "):
        text = "x " * ((_CHUNK - cut) // 2) + " " * ((_CHUNK - cut) % 2) + header + "0123456789abcdef\n"
        assert text[_CHUNK - cut : _CHUNK - cut + 3] == header[:3]
        assert "0123456789abcdef" not in redact(text)
