"""Splitting a write into per-incident hunks, taking any subset of them, and deciding which review
branches must be stacked: without git history or a run, on small hand-made files."""

from __future__ import annotations

from kantra_ai.delivery.changes import WriteChange, file_content
from kantra_ai.delivery.hunks import HunkEdit, diff_hunks, splice
from kantra_ai.delivery.layout import CommitStrategy, IncidentInfo, PrStrategy, build_layout

BEFORE = b"package a;\r\nimport javax.a.A;\r\nimport javax.b.B;\r\n\r\nclass C {\r\n  int x = old();\r\n}\r\n"
AFTER = BEFORE.replace(b"javax", b"jakarta").replace(b"old()", b"fresh()")
EDITS = [
    HunkEdit(
        "import javax.a.A;\nimport javax.b.B;", "import jakarta.a.A;\nimport jakarta.b.B;", ("i1", "i2")
    ),
    HunkEdit("  int x = old();", "  int x = fresh();", ("i3",)),
]


def _info(incident: str, rule: str, line: int) -> IncidentInfo:
    return IncidentInfo(incident, rule, f"{rule} description", "C.java", line, "all", "remediate")


def test_a_write_splits_into_line_hunks_owned_by_the_incidents_whose_edits_made_them() -> None:
    hunks = diff_hunks(BEFORE, AFTER, EDITS, fixed=("i1", "i2", "i3"))
    assert [(h.start, h.end, h.owners) for h in hunks] == [
        (1, 2, frozenset({"i1", "i2"})),
        (2, 3, frozenset({"i1", "i2"})),
        (5, 6, frozenset({"i3"})),
    ]
    only_i3 = splice(BEFORE, [h for h in hunks if "i3" in h.owners])
    assert only_i3 == BEFORE.replace(b"old()", b"fresh()")  # line endings kept byte for byte
    assert splice(BEFORE, hunks) == AFTER


def test_a_change_no_edit_explains_belongs_to_every_incident_the_write_fixed() -> None:
    after = AFTER.replace(b"class C", b"final class C")
    hunks = diff_hunks(BEFORE, after, EDITS, fixed=("i1", "i2", "i3"))
    unexplained = [h for h in hunks if not h.explained]
    assert len(unexplained) == 1 and unexplained[0].owners == {"i1", "i2", "i3"}


def _layout(
    rules: dict[str, str], *, commit: CommitStrategy, prs: PrStrategy
) -> list[tuple[str, str | None]]:
    hunks = tuple(diff_hunks(BEFORE, AFTER, EDITS, fixed=tuple(rules)))
    write = WriteChange(1, "C.java", BEFORE, AFTER, hunks, "all", tuple(rules))
    lines = {"i1": 2, "i2": 3, "i3": 6}
    infos = {i: _info(i, rule, lines[i]) for i, rule in rules.items()}
    layout = build_layout([write], infos, ["all"], commit, prs, {"C.java": BEFORE})
    return [(g.key, g.stacked_on) for g in layout.groups]


def test_groups_whose_changes_touch_are_stacked_and_distant_ones_are_not() -> None:
    # i1 and i2 share one edit: per incident, i2's change is i1's; the rules differ only for i3.
    assert _layout(
        {"i1": "rule-a", "i2": "rule-a", "i3": "rule-b"},
        commit=CommitStrategy.PER_VIOLATION,
        prs=PrStrategy.PER_VIOLATION,
    ) == [("violation:rule-a", None), ("violation:rule-b", None)]
    edits_apart = [
        HunkEdit("import javax.a.A;", "import jakarta.a.A;", ("i1",)),
        HunkEdit("import javax.b.B;", "import jakarta.b.B;", ("i2",)),
        EDITS[1],
    ]
    hunks = tuple(diff_hunks(BEFORE, AFTER, edits_apart, fixed=("i1", "i2", "i3")))
    write = WriteChange(1, "C.java", BEFORE, AFTER, hunks, "all", ("i1", "i2", "i3"))
    infos = {"i1": _info("i1", "rule-a", 2), "i2": _info("i2", "rule-b", 3), "i3": _info("i3", "rule-c", 6)}
    layout = build_layout(
        [write], infos, ["all"], CommitStrategy.PER_VIOLATION, PrStrategy.PER_VIOLATION, {"C.java": BEFORE}
    )
    # Neighbouring lines (2 and 3) would conflict in git's merge: stacked. Line 6 is independent.
    assert [(g.key, g.stacked_on) for g in layout.groups] == [
        ("violation:rule-a", None),
        ("violation:rule-b", "violation:rule-a"),
        ("violation:rule-c", None),
    ]


def test_a_unit_whose_only_change_is_anothers_edit_is_folded_into_that_unit() -> None:
    hunks = tuple(diff_hunks(BEFORE, AFTER, EDITS, fixed=("i1", "i2", "i3")))
    write = WriteChange(1, "C.java", BEFORE, AFTER, hunks, "all", ("i1", "i2", "i3"))
    infos = {"i1": _info("i1", "rule-a", 2), "i2": _info("i2", "rule-b", 3), "i3": _info("i3", "rule-c", 6)}
    layout = build_layout(
        [write], infos, ["all"], CommitStrategy.PER_VIOLATION, PrStrategy.PER_VIOLATION, {"C.java": BEFORE}
    )
    assert [(u.key, u.incidents) for u in layout.units] == [
        ("violation:rule-a", ["i1", "i2"]),
        ("violation:rule-c", ["i3"]),
    ]


def test_a_change_made_outside_between_two_writes_is_left_out_of_the_content() -> None:
    middle = AFTER.replace(b"package a;", b"package a; // the user's")
    later = middle.replace(b"}\r\n", b"  void m() {}\r\n}\r\n")
    first = WriteChange(
        1, "C.java", BEFORE, AFTER, tuple(diff_hunks(BEFORE, AFTER, EDITS, ("i1", "i3"))), "all", ()
    )
    edit = HunkEdit("}", "  void m() {}\n}", ("i4",))
    second = WriteChange(
        2, "C.java", middle, later, tuple(diff_hunks(middle, later, [edit], ("i4",))), "all", ()
    )
    picks = {1: frozenset(h.index for h in first.hunks), 2: frozenset(h.index for h in second.hunks)}
    content = file_content(BEFORE, [first, second], picks)
    assert content == AFTER.replace(b"}\r\n", b"  void m() {}\r\n}\r\n")
