"""The offline token estimate: ASCII text is counted without regular expressions, and must count
exactly what the regular expressions that define the estimate count."""

from __future__ import annotations

import random
import string

from kantra_ai.tokens import _ascii_counts, _pattern_counts, estimate_tokens


def test_the_estimate_weighs_words_humps_digit_groups_punctuation_and_newlines() -> None:
    # one word (1.14) with one hump oW (0.30), digit groups 123 456 7 (3 x 2.13), other ( ) ;
    # (3 x 0.43), one newline (0.83): 9.95
    assert estimate_tokens("helloWorld(1234567);\n") == 10
    assert estimate_tokens("") == 0
    assert estimate_tokens(" ") == 1


def test_ascii_counts_equal_the_regular_expressions_on_every_kind_of_character() -> None:
    rng = random.Random(5)
    alphabet = string.printable + "\x00\x1c\x1d\x1e\x1f\x7f"
    samples = ["", "a", "A", "9", "aA", "1234", "12345678901", "x1y22z333", "\x1c\x1d", "getHTTPResponse2xx"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) for _ in range(5000)]
    samples += ["".join(rng.choice("aB3 _\n") for _ in range(rng.randint(1, 60))) for _ in range(5000)]
    for text in samples:
        assert _ascii_counts(text) == _pattern_counts(text), repr(text)


def test_non_ascii_text_is_counted_by_the_regular_expressions() -> None:
    # "é" is no [A-Za-z] letter (another character), and "٣" is a digit to `\d`.
    assert estimate_tokens("café٣") == round(1.14 + 0.43 + 2.13)
