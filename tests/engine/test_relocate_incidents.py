"""Incidents are pointed at where their line is now, after earlier fixes moved it."""

from __future__ import annotations

from pathlib import PurePosixPath

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import Batch
from kantra_ai.edits.model import Landing
from kantra_ai.engine.relocate import LineMap, relocate, relocate_batch, snippet_lines

RULE = Violation("rules", "ee-to-quarkus-00000", "d", Category.POTENTIAL, 1)
SNIP = (
    "3  import javax.ejb.Stateless;\n4  import javax.persistence.PersistenceContext;\n5  \n"
    "6  @Stateless\n7  public class A {"
)
ORIGINAL = (
    "package a;\n\nimport javax.ejb.Stateless;\nimport javax.persistence.PersistenceContext;\n\n"
    "@Stateless\npublic class A {\n}\n"
)


def _incident(line: int | None, snip: str = SNIP) -> Incident:
    return Incident("i1", RULE, "u", PurePosixPath("A.java"), line, "replace @Stateless", snip)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n")]


def test_an_incident_whose_line_did_not_move_keeps_it() -> None:
    assert relocate(_incident(6), _lines(ORIGINAL)).line == 6


def test_an_incident_below_a_deleted_line_moves_up() -> None:
    edited = ORIGINAL.replace("import javax.persistence.PersistenceContext;\n", "")
    moved = relocate(_incident(6), _lines(edited))
    assert moved.line == 5 and moved.id == "i1"


def test_among_equal_lines_the_one_with_the_matching_neighbours_wins() -> None:
    edited = "@Stateless\nclass Decoy {}\n\n" + ORIGINAL.replace("package a;\n", "")
    assert relocate(_incident(6), _lines(edited)).line == 8


def test_without_a_snippet_or_when_the_line_is_gone_the_analyzers_line_stays() -> None:
    edited = ORIGINAL.replace("@Stateless", "@ApplicationScoped")
    assert relocate(_incident(6), _lines(edited)).line == 6
    assert relocate(_incident(6, snip=""), _lines("x\n" + ORIGINAL)).line == 6
    assert relocate(_incident(None), _lines(ORIGINAL)).line is None


def test_snippet_lines_are_read_by_number() -> None:
    assert snippet_lines(SNIP)[6] == "@Stateless"
    assert snippet_lines("12  \n13      indented();")[13] == "indented();"


def test_a_batch_is_unchanged_when_nothing_moved() -> None:
    batch = Batch(PurePosixPath("A.java"), (_incident(6),), None, 100, 100)
    assert relocate_batch(batch, ORIGINAL) is batch
    moved = relocate_batch(batch, "// header\n" + ORIGINAL)
    assert moved.incidents[0].line == 7 and moved.path == batch.path


def test_inside_a_block_changed_line_for_line_each_line_stays_where_it_was() -> None:
    # Words replaced on lines 3 and 5 in one edit land as one block 3-5; line 4, not changed and
    # another incident's, is still line 4 (not the block's first line, which is someone else's).
    moves = LineMap([(Landing((2, 5), (2, 5), (), ()),)])
    assert [moves.line(n) for n in (2, 3, 4, 5, 6)] == [2, 3, 4, 5, 6]


def test_inside_a_block_that_changed_size_a_line_goes_to_the_block() -> None:
    moves = LineMap([(Landing((2, 5), (2, 4), (), ()),)])
    assert [moves.line(n) for n in (3, 4, 5, 6)] == [3, 3, 3, 5]
    assert moves.line(4, end=True) == 4


def test_a_window_shows_an_incident_the_analyzer_placed_past_the_end_of_the_file() -> None:
    # An analysis older than the tree: the line it reports (54) is past the end of the 52-line file,
    # so the window was planned clamped to the file's end; its snippet finds the line at 51, and the
    # window must still show it (shifted by the same 3 lines it would have stopped at 49).
    text = "".join(f"int v{n};\n" for n in range(50)) + "@Stateless\n}\n"
    late = Incident("i1", RULE, "u", PurePosixPath("A.java"), 54, "replace @Stateless", "54  @Stateless")
    batch = Batch(PurePosixPath("A.java"), (late,), (12, 52), 100, 100)
    moved = relocate_batch(batch, text)
    assert moved.incidents[0].line == 51
    assert moved.window is not None and moved.window[0] <= 51 <= moved.window[1]
