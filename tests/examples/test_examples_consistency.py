"""The bundled examples must stay what they claim to be.

Each example is an application before migration (`app/`), the analyzer's `output.yaml` for it, and
the tree after a correct migration (`expected/`). Tests, the demo and the benchmarks trust all three
to agree: an incident whose line or snippet no longer matches its file, or an expected tree that
changes a file no incident asked to change, would make every later measurement wrong.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"

RULESET_KEYS = {"name", "description", "tags", "violations", "insights", "errors", "unmatched", "skipped"}
VIOLATION_KEYS = {"description", "category", "labels", "incidents", "links", "effort", "extras"}
INCIDENT_KEYS = {"uri", "message", "codeSnip", "lineNumber", "variables", "isDependencyIncident"}
CATEGORIES = {"mandatory", "optional", "potential"}
DEPENDENCY_MARKERS = ("/.m2/", "/cache/m2/", "/java-bin-")
# Rules the examples deliberately leave for a human: their files keep those lines in expected/.
LEFT_FOR_HUMANS = {"jndi-to-quarkus-00001"}
SNIPPET_LINE = re.compile(r"^ *(\d+)  (.*)$")


@dataclass(frozen=True)
class Example:
    name: str
    source_root: str  # where the analyzer saw the application, as a file URI prefix
    has_dependency_incident: bool
    # Files whose fix `remediate --verify build` reverts (it cannot be made to build): expected/
    # keeps them as they were.
    reverted_by_verification: frozenset[str] = frozenset()


EXAMPLES = [
    Example("javaee-inventory", "file:///opt/input/source/", has_dependency_incident=True),
    Example("multi-violation", "file:///shared/source/", has_dependency_incident=False),
    Example(
        "utf8-reports",
        "file:///opt/input/source/",
        has_dependency_incident=False,
        reverted_by_verification=frozenset({"src/main/java/com/example/reports/Summary.java"}),
    ),
]


@dataclass(frozen=True)
class Found:
    ruleset: str
    rule_id: str
    informational: bool
    incident: dict[str, Any]


def load(example: Example) -> list[dict[str, Any]]:
    data = yaml.safe_load((EXAMPLES_DIR / example.name / "output.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def incidents(example: Example) -> list[Found]:
    found = []
    for ruleset in load(example):
        for section in ("violations", "insights"):
            for rule_id, violation in (ruleset.get(section) or {}).items():
                informational = section == "insights" or not violation.get("effort")
                for incident in violation.get("incidents") or []:
                    found.append(Found(ruleset["name"], rule_id, informational, incident))
    return found


def source_path(example: Example, uri: str) -> str | None:
    """The app-relative path of a source-file URI; None for dependencies and tag-only incidents."""
    if not uri.startswith(example.source_root):
        return None
    return uri[len(example.source_root) :]


def file_lines(path: Path) -> list[str]:
    """Lines as the analyzer reads them: without newline characters, a trailing CR dropped."""
    return path.read_bytes().decode("utf-8").replace("\r\n", "\n").split("\n")


def number_width(row: str) -> int:
    """Characters before the two spaces that separate a snippet row's line number from its text."""
    match = SNIPPET_LINE.match(row)
    assert match, row
    return match.start(2) - 2


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def actionable_by_file(example: Example) -> dict[str, list[Found]]:
    by_file: dict[str, list[Found]] = defaultdict(list)
    for found in incidents(example):
        path = source_path(example, found.incident["uri"])
        if path is not None and not found.informational:
            by_file[path].append(found)
    return by_file


@pytest.fixture(params=EXAMPLES, ids=lambda e: e.name)
def example(request: pytest.FixtureRequest) -> Example:
    return request.param  # type: ignore[no-any-return]


def test_output_yaml_has_the_analyzer_shape(example: Example) -> None:
    for ruleset in load(example):
        assert isinstance(ruleset.get("name"), str) and ruleset["name"]
        assert set(ruleset) <= RULESET_KEYS, set(ruleset) - RULESET_KEYS
        for section in ("violations", "insights"):
            for rule_id, violation in (ruleset.get(section) or {}).items():
                assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", rule_id), rule_id
                assert set(violation) <= VIOLATION_KEYS, (rule_id, set(violation) - VIOLATION_KEYS)
                assert isinstance(violation.get("description", ""), str)
                assert all(isinstance(label, str) for label in violation.get("labels", []))
                if "category" in violation:
                    assert violation["category"] in CATEGORIES, rule_id
                if "effort" in violation:
                    assert isinstance(violation["effort"], int), rule_id
                for link in violation.get("links", []):
                    assert set(link) == {"url", "title"} and link["url"].startswith("https://"), link
                assert violation["incidents"], rule_id
                for incident in violation["incidents"]:
                    assert set(incident) <= INCIDENT_KEYS, (rule_id, set(incident) - INCIDENT_KEYS)
                    assert isinstance(incident["uri"], str) and isinstance(incident["message"], str)
                    if "lineNumber" in incident:
                        assert isinstance(incident["lineNumber"], int) and incident["lineNumber"] > 0


def test_actionable_rules_carry_category_effort_and_labels(example: Example) -> None:
    for ruleset in load(example):
        for rule_id, violation in (ruleset.get("violations") or {}).items():
            if violation.get("effort"):
                assert violation["category"] in CATEGORIES, rule_id
                assert any(label.startswith("konveyor.io/") for label in violation["labels"]), rule_id


def test_every_source_incident_points_at_an_existing_line(example: Example) -> None:
    app = EXAMPLES_DIR / example.name / "app"
    checked = 0
    for found in incidents(example):
        path = source_path(example, found.incident["uri"])
        if path is None or "lineNumber" not in found.incident:
            continue
        lines = file_lines(app / path)
        assert (app / path).is_file(), path
        assert 1 <= found.incident["lineNumber"] <= len(lines), (path, found.rule_id)
        checked += 1
    assert checked >= 3


def test_every_code_snippet_quotes_the_app_file_exactly(example: Example) -> None:
    app = EXAMPLES_DIR / example.name / "app"
    for found in incidents(example):
        path = source_path(example, found.incident["uri"])
        snip = found.incident.get("codeSnip")
        if path is None or not snip:
            continue
        lines = file_lines(app / path)
        numbers = []
        for row in snip.rstrip("\n").split("\n"):
            match = SNIPPET_LINE.match(row)
            assert match, (path, found.rule_id, row)
            number, text = int(match.group(1)), match.group(2)
            assert lines[number - 1] == text, (path, found.rule_id, number)
            numbers.append(number)
        assert numbers == list(range(numbers[0], numbers[-1] + 1)), (path, found.rule_id)
        assert numbers[0] <= found.incident["lineNumber"] <= numbers[-1], (path, found.rule_id)


def test_snippet_numbers_are_right_aligned_like_the_analyzer_writes_them(example: Example) -> None:
    for found in incidents(example):
        snip = found.incident.get("codeSnip")
        if not snip:
            continue
        # Every number is padded to one width (that of the window's last line number), then two spaces.
        widths = {number_width(row) for row in snip.rstrip("\n").split("\n")}
        assert len(widths) == 1, (found.incident["uri"], found.rule_id, widths)


def test_incident_lines_match_what_the_rule_looks_for(example: Example) -> None:
    app = EXAMPLES_DIR / example.name / "app"
    for found in incidents(example):
        path = source_path(example, found.incident["uri"])
        if path is None or "lineNumber" not in found.incident:
            continue
        text = file_lines(app / path)[found.incident["lineNumber"] - 1]
        matching = (found.incident.get("variables") or {}).get("matchingText")
        if matching:
            # builtin.filecontent patterns such as `groupId>javax<` match across the element's brackets
            assert matching.strip("<>") in text, (path, found.rule_id, matching)
        if found.rule_id == "javax-to-jakarta-import-00001":
            assert text.startswith("import javax."), (path, text)
            assert found.incident["variables"]["name"] in text, (path, text)


def test_examples_hold_informational_rules_and_skip_traps(example: Example) -> None:
    found = incidents(example)
    assert any(f.informational for f in found), "no informational rule"
    dependencies = [f for f in found if any(m in f.incident["uri"] for m in DEPENDENCY_MARKERS)]
    assert bool(dependencies) is example.has_dependency_incident
    for dependency in dependencies:
        assert source_path(example, dependency.incident["uri"]) is None


def test_expected_tree_has_the_same_files_as_app(example: Example) -> None:
    base = EXAMPLES_DIR / example.name
    assert sorted(tree(base / "app")) == sorted(tree(base / "expected"))


def test_expected_changes_only_files_with_actionable_source_incidents(example: Example) -> None:
    base = EXAMPLES_DIR / example.name
    before, after = tree(base / "app"), tree(base / "expected")
    changed = {path for path in before if before[path] != after[path]}
    assert changed
    assert changed <= set(actionable_by_file(example)), changed - set(actionable_by_file(example))


def test_every_file_with_fixable_incidents_changes_in_expected(example: Example) -> None:
    base = EXAMPLES_DIR / example.name
    before, after = tree(base / "app"), tree(base / "expected")
    for path, found in actionable_by_file(example).items():
        if all(f.rule_id in LEFT_FOR_HUMANS for f in found) or path in example.reverted_by_verification:
            assert before[path] == after[path], path
        else:
            assert before[path] != after[path], path


def test_expected_keeps_each_files_line_endings(example: Example) -> None:
    base = EXAMPLES_DIR / example.name
    before, after = tree(base / "app"), tree(base / "expected")
    for path, data in before.items():
        assert (b"\r\n" in data) == (b"\r\n" in after[path]), path
        assert data.endswith(b"\n") == after[path].endswith(b"\n"), path


def test_expected_has_no_javax_left_on_fixed_lines(example: Example) -> None:
    """Every line an import-rename incident named holds no Jakarta EE javax import afterwards."""
    base = EXAMPLES_DIR / example.name
    for found in incidents(example):
        path = source_path(example, found.incident["uri"])
        if path is None or found.rule_id != "javax-to-jakarta-import-00001":
            continue
        after = (base / "expected" / path).read_bytes().decode("utf-8")
        assert found.incident["variables"]["name"] + ";" not in after
        assert found.incident["variables"]["name"] + ".*;" not in after


def test_multi_violation_example_has_the_traps_it_promises() -> None:
    example = EXAMPLES[1]
    by_file = actionable_by_file(example)
    app = tree(EXAMPLES_DIR / example.name / "app")
    assert len(by_file) >= 5
    assert 20 <= sum(len(found) for found in by_file.values()) <= 30
    assert any(b"\r\n" in data for data in app.values()), "no CRLF file"
    # Several violations per file, on lines close to each other.
    assert sum(1 for found in by_file.values() if len({f.rule_id for f in found}) >= 3) >= 1
    crowded = False
    for found in by_file.values():
        lines = sorted({f.incident["lineNumber"] for f in found})
        crowded |= any(b - a == 1 for a, b in itertools.pairwise(lines))
    assert crowded
    # One line named by two different rules.
    rules_by_line: dict[tuple[str, int], set[str]] = defaultdict(set)
    for path, found in by_file.items():
        for f in found:
            rules_by_line[(path, f.incident["lineNumber"])].add(f.rule_id)
    assert any(len(rules) >= 2 for rules in rules_by_line.values())
