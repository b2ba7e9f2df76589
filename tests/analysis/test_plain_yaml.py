"""The analysis reader's fast path gives exactly what `yaml.load` gives, and hands anything else back."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
import yaml

from kantra_ai.analysis.plain_yaml import NotPlain, dump_plain, emit_plain, load_plain

PLAIN_DOCUMENTS = [
    "- name: r\n  violations:\n    rule-1:\n      effort: 3\n      incidents:\n      - uri: file:///a.java\n"
    '        lineNumber: 12\n        message: "x\\ny"\n        variables: {}\n',
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
        "[" * 500 + "]" * 500,  # deeper than Python's stack allows (yaml.load's composer is C)
    ],
)
def test_everything_else_is_handed_back_to_yaml_load(text: str) -> None:
    with pytest.raises(NotPlain):
        load_plain(text.encode("utf-8"))


DUMPED_DOCUMENTS: list[object] = [
    {"version": "1.0", "metadata": {"created_at": "2026-12-06T09:00:00Z", "notes": []}, "phases": []},
    {"strings": ["true", "12", "1.5", "~", "", " lead", "trail ", "a: b", "- x", "#c", "'q'", '"d"', "@at"]},
    {"multi": "line one\nline two\n", "tabs": "a\tb", "unicode": "café – ✓", "control": "bell\x07"},
    {"long": "word " * 60, "url": "file:///opt/input/source/src/main/java/A.java", "colon": "x:y"},
    {1: "int key", False: "bool key", None: "null key", 1.5: "float key", "nested": [[1, [2]], {"a": {}}]},
    {"numbers": [0, -7, 10**20, 0.1, 1e-7, 2.5e300, float("inf"), -float("inf"), float("nan")]},
    {"empty": {}, "none": [], "flags": [True, False, None]},
    ["top", "level", "list"],
    "just a string",
    12,
]


@pytest.mark.parametrize("data", DUMPED_DOCUMENTS)
def test_plain_dumps_write_what_yaml_dump_writes(data: object) -> None:
    expected = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, width=100)
    assert dump_plain(data) == expected


@pytest.mark.parametrize("data", [{"t": (1, 2)}, {"b": b"bytes"}, {"s": {1, 2}}])
def test_other_types_are_handed_back_to_yaml_dump(data: object) -> None:
    with pytest.raises(NotPlain):
        dump_plain(data)


def test_an_object_that_appears_twice_is_handed_back_since_yaml_dump_writes_an_alias() -> None:
    shared = {"a": 1}
    with pytest.raises(NotPlain):
        dump_plain({"x": shared, "y": shared})


def _emitted(data: object, clean: Callable[[str], str] | None = None) -> str:
    stream = io.StringIO()
    emit_plain(data, stream, clean=clean)
    return stream.getvalue()


@pytest.mark.parametrize("data", DUMPED_DOCUMENTS)
def test_a_document_whose_lists_come_from_generators_is_written_as_the_lists_would_be(data: object) -> None:
    def lazily(value: object) -> object:
        if isinstance(value, dict):
            return {k: lazily(v) for k, v in value.items()}
        if isinstance(value, list):
            return (lazily(v) for v in value)  # made while it is written
        return value

    assert _emitted(lazily(data)) == dump_plain(data)


def test_items_a_generator_makes_anew_are_not_taken_for_one_object_appearing_twice() -> None:
    # Each item is let go once written, so the next one may get its id: that is no alias.
    items = ({"n": n, "tags": [str(n)]} for n in range(500))
    expected = dump_plain({"items": [{"n": n, "tags": [str(n)]} for n in range(500)]})
    assert _emitted({"items": items}) == expected


def test_one_object_twice_is_still_found_inside_a_generators_item() -> None:
    shared = {"a": 1}
    with pytest.raises(NotPlain):
        _emitted({"items": ({"x": shared, "y": shared} for _ in range(1))})


def test_every_string_written_goes_through_clean_keys_and_values() -> None:
    data = {"secret key": ["a secret", {"nested": "no secret here"}], "n": 3}
    written = _emitted(data, clean=lambda text: text.replace("secret", "***"))
    assert "secret" not in written
    assert yaml.safe_load(written) == {"*** key": ["a ***", {"nested": "no *** here"}], "n": 3}


def test_the_items_of_a_named_list_are_made_as_each_is_read() -> None:
    text = (
        b"- incidents: [{line: 1}, {line: 2}]\n"
        b"  other: [{line: 3}]\n"
        b"  nested: {incidents: [{line: 4}], more: {incidents: []}}\n"
        b"- incidents: {not: a list}\n"
    )
    seen: list[object] = []

    def made(item: object) -> object:
        seen.append(item)
        return ("made", item)

    loaded = load_plain(io.BytesIO(text), items=("incidents", made))
    assert seen == [{"line": 1}, {"line": 2}, {"line": 4}]
    expected = yaml.load(text, Loader=yaml.CSafeLoader)
    expected[0]["incidents"] = [("made", {"line": 1}), ("made", {"line": 2})]
    expected[0]["nested"]["incidents"] = [("made", {"line": 4})]
    assert loaded == expected
