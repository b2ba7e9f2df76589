"""select_incidents: filters, buckets that add up, informational policy, unknown ids."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from kantra_ai.analysis.model import Analysis, Applicability, Category, Incident, Violation
from kantra_ai.analysis.selection import Selection, SelectionError, path_matches, select_incidents


def _violation(
    rule_id: str,
    *,
    ruleset: str = "rs",
    category: Category = Category.MANDATORY,
    effort: int | None = 1,
    informational: bool = False,
) -> Violation:
    return Violation(
        ruleset=ruleset,
        rule_id=rule_id,
        description=rule_id,
        category=category,
        effort=effort,
        informational=informational,
    )


def _incident(
    v: Violation, path: str | None, applicability: Applicability = Applicability.SOURCE, line: int = 1
) -> Incident:
    return Incident(
        id=f"{v.key}:{path}:{line}",
        violation=v,
        uri=f"file:///opt/input/source/{path}" if path else "",
        path=PurePosixPath(path) if path else None,
        line=line,
        message="m",
        applicability=applicability,
    )


JAKARTA = _violation("javax-to-jakarta-00001", effort=1)
EJB = _violation("ejb-00001", category=Category.OPTIONAL, effort=5)
OTHER_JAKARTA = _violation("javax-to-jakarta-00001", ruleset="other", category=Category.POTENTIAL, effort=3)
TAG = _violation("tech-tag-00001", category=Category.POTENTIAL, effort=None, informational=True)


def _analysis(include_informational: bool = False) -> Analysis:
    incidents = [
        _incident(JAKARTA, "src/main/java/App.java"),
        _incident(JAKARTA, "src/main/java/web/Servlet.java"),
        _incident(JAKARTA, "src/test/java/AppTest.java"),
        _incident(JAKARTA, None, Applicability.DEPENDENCY),
        _incident(JAKARTA, "src/main/java/Gone.java", Applicability.MISSING_FILE),
        _incident(EJB, "src/main/java/App.java", line=9),
        _incident(EJB, None, Applicability.OUTSIDE_INPUT),
        _incident(OTHER_JAKARTA, "pom.xml"),
        _incident(TAG, None, Applicability.NO_FILE),
        _incident(TAG, "src/main/java/App.java", line=2),
    ]
    return Analysis(
        source="output.yaml",
        violations=[EJB, JAKARTA, OTHER_JAKARTA, TAG],
        incidents=incidents,
        include_informational=include_informational,
    )


def _assert_accounted(selection: Selection, analysis: Analysis) -> None:
    assert selection.total == len(analysis.incidents)
    assert sum(selection.not_applicable_by_reason.values()) == len(selection.not_applicable)


def test_without_filters_everything_fixable_and_non_informational_is_selected() -> None:
    analysis = _analysis()

    selection = select_incidents(analysis)

    assert [(i.violation.key, str(i.path)) for i in selection.selected] == [
        ("rs/javax-to-jakarta-00001", "src/main/java/App.java"),
        ("rs/javax-to-jakarta-00001", "src/main/java/web/Servlet.java"),
        ("rs/javax-to-jakarta-00001", "src/test/java/AppTest.java"),
        ("rs/ejb-00001", "src/main/java/App.java"),
        ("other/javax-to-jakarta-00001", "pom.xml"),
    ]
    assert selection.informational == 2
    assert selection.filtered_out == 0
    assert selection.not_applicable_by_reason == {
        Applicability.DEPENDENCY: 1,
        Applicability.MISSING_FILE: 1,
        Applicability.NO_FILE: 0,
        Applicability.OUTSIDE_INPUT: 1,
        Applicability.GENERATED: 0,
    }
    _assert_accounted(selection, analysis)


def test_informational_incidents_join_when_asked() -> None:
    analysis = _analysis()

    selection = select_incidents(analysis, include_informational=True)

    assert selection.informational == 0
    assert any(i.violation is TAG for i in selection.selected)
    assert selection.not_applicable_by_reason[Applicability.NO_FILE] == 1
    _assert_accounted(selection, analysis)


def test_informational_default_follows_the_analysis() -> None:
    assert select_incidents(_analysis(include_informational=True)).informational == 0
    assert (
        select_incidents(_analysis(include_informational=True), include_informational=False).informational
        == 2
    )


def test_plain_rule_id_matches_that_rule_in_every_ruleset() -> None:
    selection = select_incidents(_analysis(), violation_ids=["javax-to-jakarta-00001"])

    assert {i.violation.key for i in selection.selected} == {
        "rs/javax-to-jakarta-00001",
        "other/javax-to-jakarta-00001",
    }
    assert selection.filtered_out == 2  # the two ejb incidents
    _assert_accounted(selection, _analysis())


def test_ruleset_qualified_id_matches_only_that_ruleset() -> None:
    selection = select_incidents(_analysis(), violation_ids=["other/javax-to-jakarta-00001"])

    assert [i.violation.key for i in selection.selected] == ["other/javax-to-jakarta-00001"]


def test_naming_an_informational_violation_selects_it() -> None:
    selection = select_incidents(_analysis(), violation_ids=[" tech-tag-00001 ", ""])

    assert [i.violation for i in selection.selected] == [TAG]
    assert selection.informational == 0
    assert selection.not_applicable_by_reason[Applicability.NO_FILE] == 1


def test_unknown_violation_ids_raise_one_line_listing_them_with_a_hint() -> None:
    with pytest.raises(SelectionError) as info:
        select_incidents(_analysis(), violation_ids=["ejb-00001", "javax-to-jakarta-0001", "nope", "nope"])

    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("unknown violation id(s): javax-to-jakarta-0001 (did you mean ")
    assert "javax-to-jakarta-00001" in message
    assert message.count("nope") == 1
    assert "ejb-00001" not in message.split(";")[0]
    assert isinstance(info.value, ValueError)


def test_categories_filter() -> None:
    selection = select_incidents(_analysis(), categories=[Category.OPTIONAL, Category.POTENTIAL])

    assert {i.violation.key for i in selection.selected} == {"rs/ejb-00001", "other/javax-to-jakarta-00001"}
    assert selection.not_applicable_by_reason[Applicability.OUTSIDE_INPUT] == 1
    assert selection.not_applicable_by_reason[Applicability.DEPENDENCY] == 0  # jakarta's, filtered first
    _assert_accounted(selection, _analysis())


def test_max_effort_filter_is_inclusive() -> None:
    selection = select_incidents(_analysis(), max_effort=3)

    assert {i.violation.key for i in selection.selected} == {
        "rs/javax-to-jakarta-00001",
        "other/javax-to-jakarta-00001",
    }
    assert selection.filtered_out == 2


def test_include_globs_keep_only_matching_paths() -> None:
    selection = select_incidents(_analysis(), include=["src/main/**"])

    assert {str(i.path) for i in selection.selected} == {
        "src/main/java/App.java",
        "src/main/java/web/Servlet.java",
    }
    # Missing file under src/main is in scope and reported; path-less incidents cannot match.
    assert [str(i.path) for i in selection.not_applicable] == ["src/main/java/Gone.java"]
    _assert_accounted(selection, _analysis())


def test_an_include_that_matches_no_file_with_incidents_is_refused_as_a_typo() -> None:
    """`*.jav` selected nothing and the run ended with exit 0, as if there were nothing to fix."""
    with pytest.raises(SelectionError, match=r"--include '\*\.jav' matches no file with incidents"):
        select_incidents(_analysis(), include=["*.jav"])
    with pytest.raises(SelectionError, match=r"follow \.gitignore rules"):
        select_incidents(_analysis(), include=["!*.java"])  # a negation alone matches nothing
    assert select_incidents(_analysis(), include=["*.jav", "*.xml"]).selected  # one pattern matches


def test_exclude_globs_drop_matching_paths() -> None:
    selection = select_incidents(_analysis(), exclude=["src/test", "*.xml"])

    paths = {str(i.path) for i in selection.selected}
    assert paths == {"src/main/java/App.java", "src/main/java/web/Servlet.java"}
    assert selection.filtered_out == 2


def test_filters_combine() -> None:
    selection = select_incidents(
        _analysis(),
        violation_ids=["javax-to-jakarta-00001"],
        categories=[Category.MANDATORY],
        include=["**/*.java"],
        exclude=["**/web/**"],
    )

    assert [str(i.path) for i in selection.selected] == [
        "src/main/java/App.java",
        "src/test/java/AppTest.java",
    ]
    _assert_accounted(selection, _analysis())


def test_empty_filter_lists_mean_no_filter() -> None:
    plain = select_incidents(_analysis())
    empty = select_incidents(_analysis(), violation_ids=[], categories=[], include=[], exclude=[])

    assert empty.selected == plain.selected
    assert empty.filtered_out == 0


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.java", "src/a/B.java", True),
        ("src/*.java", "src/B.java", True),
        ("src/*.java", "src/a/B.java", False),
        ("src/**/*.java", "src/B.java", True),
        ("src/**/*.java", "src/a/b/B.java", True),
        ("src/main", "src/main/x/Y.java", True),
        ("src/main", "src/mainx/Y.java", False),
        ("/pom.xml", "sub/pom.xml", False),
        ("pom.xml", "sub/pom.xml", True),
        ("./pom.xml", "pom.xml", True),
        ("B?.java", "src/B1.java", True),
        ("[!ab].xml", "c.xml", True),
        ("[!ab].xml", "a.xml", False),
        ("a+b(1).txt", "a+b(1).txt", True),
        ("build/", "build/Out.java", True),
        ("\\#notes.txt", "#notes.txt", True),
        ("\\!bang.txt", "!bang.txt", True),
        ("src/**", "src/a/B.java", True),
        ("/src/**", "lib/src/B.java", False),
        ("**/web", "x/y/web/S.java", True),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert path_matches(PurePosixPath(path), [pattern]) is expected


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["src/**", "!src/generated/**"], "src/generated/G.java", False),
        (["src/**", "!src/generated/**"], "src/main/A.java", True),
        (["*.java", "!Test*.java", "TestKeep.java"], "a/TestKeep.java", True),  # the last match wins
        (["*.java", "!Test*.java"], "a/TestX.java", False),
    ],
)
def test_negated_patterns_take_paths_back_out_and_the_last_match_wins(
    patterns: list[str], path: str, expected: bool
) -> None:
    assert path_matches(PurePosixPath(path), patterns) is expected


def test_an_include_with_a_negation_selects_the_rest() -> None:
    selection = select_incidents(_analysis(), include=["**/*.java", "!**/web/**"])
    assert "src/main/java/web/Servlet.java" not in {str(i.path) for i in selection.selected}
    assert "src/main/java/App.java" in {str(i.path) for i in selection.selected}
