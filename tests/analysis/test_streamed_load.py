"""An analysis is read as it is parsed: neither the file nor a blanked copy of it is ever whole in
memory, and the `unmatched` / `skipped` lists are blanked exactly as the one-pass rule blanks them."""

from __future__ import annotations

import io
import re
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kantra_ai.analysis.loader import AnalysisError, load_analysis
from kantra_ai.analysis.unmatched import BlankedStream, blank_ignored_blocks

# The rule as one regular expression over the whole text (what the loader applied before it
# streamed): the oracle the line-at-a-time reader must agree with on any text.
_BLOCK = re.compile(
    rb"^  (?:unmatched|skipped):[ \t]*\r?\n(?:(?:  - |   )[^\n]*(?:\n|\Z)|[ \t]*(?:#[^\n]*)?\r?\n)*",
    re.MULTILINE,
)
_SEQUENCE = re.compile(rb"\A(?:\xef\xbb\xbf)?(?:[ \t]*(?:#[^\n]*)?\r?\n)*(?:---[ \t]*\r?\n)?- ")


def _oracle(data: bytes) -> bytes:
    if not _SEQUENCE.match(data):
        return data
    return _BLOCK.sub(lambda m: b"\n" * m.group(0).count(b"\n"), data)


_PIECES = [
    b"- name: r\n",
    b"  unmatched:\n",
    b"  skipped: \r\n",
    b"  unmatched: []\n",
    b"  unmatched:",
    b"  - rule-1\n",
    b"   deeper\n",
    b"  - last",
    b"  -x\n",
    b"# comment\n",
    b"  # comment\r\n",
    b"\t\n",
    b"\n",
    b"\r\n",
    b"  violations:\n",
    b"    rule-2: {}\n",
    b"---\n",
    b"\xef\xbb\xbf",
    b"- \n",
    b"a\rb\n",
]


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=16),
    chunk=st.integers(min_value=1, max_value=9),
    reads=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=5),
)
def test_blanking_while_reading_agrees_with_the_whole_text_rule(
    pieces: list[bytes], chunk: int, reads: list[int]
) -> None:
    data = b"".join(pieces)
    expected = _oracle(data)
    assert blank_ignored_blocks(data) == expected
    # However the file arrives and however the parser asks for it, the same bytes come out.
    stream = BlankedStream(io.BytesIO(data), chunk=chunk)
    out, turn = b"", 0
    while part := stream.read(reads[turn % len(reads)]):
        out += part
        turn += 1
    assert out == expected


def _analysis_with_a_long_unmatched_list(path: Path, rules: int) -> int:
    head = (
        "- name: r\n  violations:\n    rule-1:\n      description: d\n      category: mandatory\n"
        "      effort: 1\n      incidents:\n      - uri: file:///src/A.java\n        lineNumber: 1\n"
        "        message: m\n  unmatched:\n"
    )
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        for n in range(rules):
            out.write(f"  - an-unmatched-rule-with-a-long-name-{n:07d}\n")
    return path.stat().st_size


def test_an_analysis_is_not_held_whole_while_it_is_loaded(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "A.java").write_text("class A {}\n", encoding="utf-8")
    size = _analysis_with_a_long_unmatched_list(tmp_path / "output.yaml", 100_000)
    assert size > 4_000_000
    load_analysis(tmp_path / "output.yaml", app)  # imports and caches warmed: they are not the load
    tracemalloc.start()
    try:
        analysis = load_analysis(tmp_path / "output.yaml", app)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [i.line for i in analysis.incidents] == [1]
    # Read whole, the file alone would be `size` bytes, and its blanked copy as much again.
    assert peak < size / 8, f"loading a {size:,}-byte analysis peaked at {peak:,} bytes"


def test_an_analysis_cut_short_is_still_refused_when_it_is_read_in_chunks(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    path = tmp_path / "output.yaml"
    _analysis_with_a_long_unmatched_list(path, 5_000)
    path.write_bytes(path.read_bytes() + b"  - a-rule-cut-in-the-midd")
    with pytest.raises(AnalysisError, match=r"ends in the middle of a line \('- a-rule-cut-in-the-midd'\)"):
        load_analysis(path, app)


def test_an_analysis_of_only_blank_lines_is_empty(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    path = tmp_path / "output.yaml"
    path.write_bytes(b" \n\t\n" * 50_000)
    with pytest.raises(AnalysisError, match="the file is empty"):
        load_analysis(path, app)
