"""The analysis reader's fast path gives exactly what `yaml.load` gives, and hands anything else back."""

from __future__ import annotations

import pytest
import yaml

from kantra_ai.analysis.plain_yaml import NotPlain, load_plain

PLAIN_DOCUMENTS = [
    "- name: r\n  violations:\n    rule-1:\n      effort: 3\n      incidents:\n      - uri: file:///a.java\n"
    "        lineNumber: 12\n        message: \"x\\ny\"\n        variables: {}\n",
    # Scalars the resolver types: numbers of every base, floats, booleans, nulls, dates, and their
    # quoted twins, which stay text.
    "a: [1, -2, +3, 0x1f, 0o17, 017, 1_000, 1.5, .inf, -.Inf, .nan, 6.02e+23, 1:20]\n",
    "b: [true, False, yes, No, on, OFF, y, n, ~, null, NULL, '', \"\", '1', \"true\", 2024-01-31]\n",
    "c: 2001-12-14t21:59:43.10-05:00\nd:\ne: -x\nf: ---x\ng: .5\nh: 1e3\ni: 0b101\n",
    "flow: {a: 1, b: [x, {c: d}]}\nlong: >\n  folded\n  text\nlit: |\n  kept\n   lines\n",
    "dup: 1\ndup: 2\n1: int key\ntrue: bool key\n~: null key\n",
    "plain",
    "",
    "# only a comment\n",
    "---\n- x\n...\n",
    "\ufeffkey: bom\n",
]


@pytest.mark.parametrize("text", PLAIN_DOCUMENTS)
def test_plain_documents_load_as_yaml_load_loads_them(text: str) -> None:
    data = text.encode("utf-8")
    expected = yaml.load(data, Loader=yaml.CSafeLoader)
    loaded = load_plain(data)
    assert loaded == expected or (loaded != loaded and expected != expected)  # nan
    assert repr(loaded) == repr(expected)  # same types too (1 is not True, 1.0 is not 1)


def test_equal_strings_are_stored_once() -> None:
    loaded = load_plain(b"- message: the same text\n- message: the same text\n")
    assert isinstance(loaded, list)
    assert loaded[0]["message"] is loaded[1]["message"]


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # a tag
        "a: !custom x\n",
        "base: &b {x: 1}\nother:\n  <<: *b\n",  # a merge key
        "? [1, 2]\n: complex key\n",
        "- a\n---\n- b\n",  # two documents
        "a: =\n",  # the `value` tag, which safe_load refuses
        "a: [1, 2\n",  # a syntax error
        "a: 'unterminated\n",
    ],
)
def test_everything_else_is_handed_back_to_yaml_load(text: str) -> None:
    with pytest.raises(NotPlain):
        load_plain(text.encode("utf-8"))
