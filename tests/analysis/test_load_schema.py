"""load_analysis on small synthetic files: schema generations, errors, identity, order."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
import yaml

from kantra_ai.analysis.loader import AnalysisError, load_analysis
from kantra_ai.analysis.model import Applicability, Category, Link

CURRENT = """\
- name: quarkus/springboot
  description: Spring Boot to Quarkus
  tags:
  - Spring Boot
  violations:
    javax-to-jakarta-00001:
      description: Replace javax with jakarta
      category: mandatory
      labels:
      - konveyor.io/source=java-ee
      - konveyor.io/target=quarkus3+
      links:
      - url: https://jakarta.ee
        title: Jakarta EE
      effort: 1
      extras:
        migration_complexity: trivial
      incidents:
      - uri: file:///opt/input/source/src/main/java/App.java
        message: |-
          Replace `javax.ejb` with `jakarta.ejb`.
          See the guide.
        codeSnip: " 3  import javax.ejb.Stateless;\\n 4  import javax.inject.Inject;"
        lineNumber: 3
        variables:
          file: file:///opt/input/source/src/main/java/App.java
          name: javax.ejb
      - uri: file:///opt/input/source/pom.xml
        message: Update the dependency
        lineNumber: 0
      - uri: file:///root/.m2/repository/org/acme/lib/1.0/Lib.java
        message: Replace `javax.ejb` with `jakarta.ejb`.
        lineNumber: 12
    no-category-00010:
      description: A rule without category
      effort: 3
      incidents:
      - uri: file:///opt/input/source/src/main/java/App.java
        message: Something
        lineNumber: 7
  insights:
    tech-tag-00001:
      description: Spring Boot
      labels:
      - tag=Spring Boot
      incidents:
      - uri: ""
        message: Tags [Spring Boot] found
      - uri: file:///opt/input/source/src/main/java/App.java
        message: Uses Spring
        lineNumber: 1
  errors:
    broken-rule-001: |-
      unable to get query info: yaml: unmarshal errors:
        line 10: cannot unmarshal !!map into string
  unmatched:
  - rule-a
  - rule-b
  skipped:
  - rule-c
"""

OLDER = """\
- name: discovery-rules
  violations:
    discover-java-files:
      description: Java source files
      labels:
      - konveyor.io/include=always
      incidents:
      - uri: file:///opt/input/source/src/main/java/App.java
        message: ""
    hibernate-00005:
      description: Hibernate
      category: optional
      effort: 0
      incidents:
      - uri: file:///opt/input/source/src/main/java/App.java
        message: Hibernate found
        lineNumber: 2
    ejb-00001:
      description: EJB
      category: mandatory
      effort: 5
      incidents:
      - uri: file:///opt/input/source/src/main/java/App.java
        message: Remove @Stateless
        lineNumber: 9
"""

# The predecessor's simplified format (its examples/javax-to-jakarta/output.yaml, re-typed).
SIMPLIFIED = """\
violations:
  - id: javax-to-jakarta-001
    description: "Replace javax.servlet with jakarta.servlet"
    category: mandatory
    effort: 1
    migration_complexity: low
    ruleSet: "quarkus/springboot"
    rule:
      id: "javax-to-jakarta-servlet"
      message: "javax.servlet.* must become jakarta.servlet.*"
      labels:
        - "konveyor.io/source=java-ee"
      links:
        - https://jakarta.ee/specifications/servlet/
    incidents:
      - uri: "file:///examples/javax-to-jakarta/src/UserServlet.java"
        message: "Replace `import javax.servlet.http.HttpServlet`"
        lineNumber: 3
        codeSnip: |
          package com.example;
  - name: hardcoded-credentials
    rule:
      ruleID: security-hardcoded-credentials-00001
      message: Credentials should not be hardcoded
    category: potential
    effort: 3
    labels:
      konveyor.io/source: security
    incidents:
      - uri: "file:///examples/javax-to-jakarta/src/UserServlet.java"
        message: Hardcoded password
        lineNumber: 18
"""


@pytest.fixture
def app_checkout(make_checkout: Callable[..., Path]) -> Path:
    return make_checkout(["src/main/java/App.java", "pom.xml"])


def test_current_schema_is_read_field_by_field(
    write_analysis: Callable[..., Path], app_checkout: Path
) -> None:
    analysis = load_analysis(write_analysis(CURRENT), app_checkout)

    assert [v.key for v in analysis.violations] == [
        "quarkus/springboot/javax-to-jakarta-00001",
        "quarkus/springboot/no-category-00010",
        "quarkus/springboot/tech-tag-00001",
    ]
    jakarta, no_category, tag = analysis.violations
    assert jakarta.category is Category.MANDATORY
    assert jakarta.effort == 1
    assert jakarta.labels == ("konveyor.io/source=java-ee", "konveyor.io/target=quarkus3+")
    assert jakarta.links == (Link("https://jakarta.ee", "Jakarta EE"),)
    assert jakarta.migration_complexity == "trivial"
    assert not jakarta.informational
    assert no_category.category is Category.POTENTIAL
    assert tag.informational and tag.effort is None
    assert analysis.errors == {
        "quarkus/springboot/broken-rule-001": (
            "unable to get query info: yaml: unmarshal errors:\n  line 10: cannot unmarshal !!map into string"
        )
    }
    assert analysis.source_root == "/opt/input/source"

    app = next(i for i in analysis.incidents if i.violation is jakarta and i.line == 3)
    assert app.path == PurePosixPath("src/main/java/App.java")
    assert app.applicability is Applicability.SOURCE
    assert app.message == "Replace `javax.ejb` with `jakarta.ejb`.\nSee the guide."
    assert app.code_snip == " 3  import javax.ejb.Stateless;\n 4  import javax.inject.Inject;"
    assert app.variables == {"file": "file:///opt/input/source/src/main/java/App.java", "name": "javax.ejb"}
    pom = next(i for i in analysis.incidents if i.uri.endswith("pom.xml"))
    assert pom.line is None  # lineNumber 0 means "no line"
    assert pom.code_snip == ""
    kinds = {i.uri: i.applicability for i in analysis.incidents}
    assert kinds["file:///root/.m2/repository/org/acme/lib/1.0/Lib.java"] is Applicability.DEPENDENCY
    assert kinds[""] is Applicability.NO_FILE


def test_informational_incidents_are_loaded_but_not_fixable_unless_asked(
    write_analysis: Callable[..., Path], app_checkout: Path
) -> None:
    path = write_analysis(CURRENT)

    default = load_analysis(path, app_checkout)
    asked = load_analysis(path, app_checkout, include_informational=True)

    insight = next(i for i in default.incidents if i.message == "Uses Spring")
    assert insight.applicability is Applicability.SOURCE  # the file is there ...
    assert insight not in default.fixable()  # ... but it is only guidance
    assert {i.message for i in asked.fixable()} - {i.message for i in default.fixable()} == {"Uses Spring"}


def test_older_schema_rules_without_effort_are_informational(
    write_analysis: Callable[..., Path], app_checkout: Path
) -> None:
    analysis = load_analysis(write_analysis(OLDER), app_checkout)

    info = {v.rule_id: v.informational for v in analysis.violations}
    assert info == {"discover-java-files": True, "ejb-00001": False, "hibernate-00005": True}
    assert [i.message for i in analysis.fixable()] == ["Remove @Stateless"]
    discover = next(v for v in analysis.violations if v.rule_id == "discover-java-files")
    assert discover.category is Category.POTENTIAL
    assert discover.effort is None


@pytest.mark.parametrize("wrap", ["mapping", "list"])
def test_predecessor_simplified_format_loads(
    wrap: str, write_analysis: Callable[..., Path], make_checkout: Callable[..., Path]
) -> None:
    text = SIMPLIFIED if wrap == "mapping" else "- " + SIMPLIFIED.replace("\n", "\n  ").rstrip() + "\n"
    checkout = make_checkout(["src/UserServlet.java"])

    analysis = load_analysis(write_analysis(text), checkout)

    second, first = sorted(analysis.violations, key=lambda v: v.rule_id)
    assert first.rule_id == "javax-to-jakarta-001"
    assert first.ruleset == "quarkus/springboot"
    assert first.description == "Replace javax.servlet with jakarta.servlet"
    assert first.labels == ("konveyor.io/source=java-ee",)
    assert first.links == (Link("https://jakarta.ee/specifications/servlet/"),)
    assert first.migration_complexity == "low"
    assert second.rule_id == "hardcoded-credentials"
    assert second.description == "Credentials should not be hardcoded"
    assert second.labels == ("konveyor.io/source=security",)
    assert second.category is Category.POTENTIAL and second.effort == 3
    # Host root /examples/javax-to-jakarta is found from the file that exists.
    assert analysis.source_root == "/examples/javax-to-jakarta"
    assert [i.line for i in analysis.fixable()] == [3, 18]
    assert analysis.incidents[0].code_snip == "package com.example;\n"


def test_simplified_violation_without_any_id_is_an_error(
    write_analysis: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_analysis("violations:\n  - description: nameless\n    incidents: []\n")
    with pytest.raises(AnalysisError, match=r"violations\[0\]: violation has no id"):
        load_analysis(path, tmp_path)


def test_json_output_loads_like_yaml(write_analysis: Callable[..., Path], app_checkout: Path) -> None:
    as_json = json.dumps(yaml.safe_load(CURRENT))
    from_yaml = load_analysis(write_analysis(CURRENT, "a/output.yaml"), app_checkout)
    from_json = load_analysis(write_analysis(as_json, "b/output.json"), app_checkout)

    assert [i.id for i in from_json.incidents] == [i.id for i in from_yaml.incidents]
    assert from_json.violations == from_yaml.violations


def test_directory_path_finds_output_yaml_then_output_json(
    write_analysis: Callable[..., Path], app_checkout: Path, tmp_path: Path
) -> None:
    write_analysis(json.dumps(yaml.safe_load(OLDER)), "dir/output.json")
    assert load_analysis(tmp_path / "dir", app_checkout).source.endswith("output.json")
    write_analysis(CURRENT, "dir/output.yaml")
    assert load_analysis(tmp_path / "dir", app_checkout).source.endswith("output.yaml")


def test_source_root_override_is_honoured(write_analysis: Callable[..., Path], app_checkout: Path) -> None:
    text = CURRENT.replace("/opt/input/source/", "/builds/app/")

    analysis = load_analysis(write_analysis(text), app_checkout, source_root="/builds/app/")

    assert analysis.source_root == "/builds/app"
    assert any(i.path == PurePosixPath("src/main/java/App.java") and i.fixable for i in analysis.incidents)


def _one_line_error(path: Path, input_dir: Path, **kwargs: object) -> str:
    with pytest.raises(AnalysisError) as info:
        load_analysis(path, input_dir, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, ValueError)
    return message


def test_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    message = _one_line_error(tmp_path / "nope.yaml", tmp_path)
    assert message == f"{tmp_path / 'nope.yaml'}: analysis file not found"


def test_directory_without_output_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "analysis").mkdir()
    message = _one_line_error(tmp_path / "analysis", tmp_path)
    assert message == f"{tmp_path / 'analysis'}: directory holds no output.yaml or output.json"


def test_missing_input_dir_is_an_error(write_analysis: Callable[..., Path], tmp_path: Path) -> None:
    message = _one_line_error(write_analysis(CURRENT), tmp_path / "no-checkout")
    assert "no-checkout: input directory does not exist" in message


def test_relative_source_root_is_rejected(write_analysis: Callable[..., Path], tmp_path: Path) -> None:
    message = _one_line_error(write_analysis(CURRENT), tmp_path, source_root="source")
    assert "source root must be an absolute path" in message


def test_yaml_syntax_error_names_file_and_line(write_analysis: Callable[..., Path], tmp_path: Path) -> None:
    broken = CURRENT.replace("      category: mandatory\n", "      category: [mandatory\n", 1)
    path = write_analysis(broken)

    message = _one_line_error(path, tmp_path)

    assert message.startswith(f"{path}: YAML syntax error at line ")
    line = int(message.split("at line ")[1].split(",")[0])
    assert 8 <= line <= 12  # the broken flow sequence starts on line 8


def test_yaml_error_after_a_skipped_block_reports_the_true_line(
    write_analysis: Callable[..., Path], tmp_path: Path
) -> None:
    text = "- name: a\n  skipped:\n  - r1\n  - r2\n  - r3\n  description: 'unterminated\n"
    message = _one_line_error(write_analysis(text), tmp_path)
    # Blanking the skipped list must not shift lines: the string starts on line 6 of the file.
    assert message.endswith("(while scanning a quoted scalar started at line 6)")


@pytest.mark.parametrize("cut", ["file:///opt/input/source/src/main/java/Ap", "message: |-", "  "])
def test_an_analysis_cut_short_in_the_middle_of_a_line_is_refused(
    cut: str, write_analysis: Callable[..., Path], tmp_path: Path
) -> None:
    # Each cut leaves valid YAML holding part of the analysis: without the check it would load.
    text = CURRENT[: CURRENT.index(cut) + len(cut)]
    yaml.safe_load(text)
    message = _one_line_error(write_analysis(text), tmp_path)
    assert "ends in the middle of a line" in message and "cut short" in message


def test_an_analysis_ending_with_a_line_break_loads(
    write_analysis: Callable[..., Path], tmp_path: Path
) -> None:
    assert load_analysis(write_analysis(CURRENT), tmp_path).incidents


def test_json_syntax_error_names_line(write_analysis: Callable[..., Path], tmp_path: Path) -> None:
    path = write_analysis('[\n  {"name": "x",\n   "violations": {,}}\n]', "output.json")
    message = _one_line_error(path, tmp_path)
    assert message.startswith(f"{path}: JSON syntax error at line 3")


@pytest.mark.parametrize("name", ["output.yaml", "output.json"])
def test_a_number_too_long_for_python_is_one_line(
    name: str, write_analysis: Callable[..., Path], tmp_path: Path
) -> None:
    """Over 4,300 digits Python refuses to read an integer at all (a ValueError, not a syntax
    error), before the schema's range check can say the line number is out of range."""
    document = yaml.safe_load(CURRENT)
    text = json.dumps(document) if name.endswith(".json") else yaml.safe_dump(document)
    digits = "9" * 5_000
    text, count = re.subn(r"(lineNumber\"?: )\d+", rf"\g<1>{digits}", text, count=1)
    assert count == 1
    message = _one_line_error(write_analysis(text, name), tmp_path)
    limit = "Exceeds the limit (4300 digits) for integer string conversion"
    assert message.endswith(f": a value cannot be read: {limit}")


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n"])
def test_empty_file_is_one_line(text: str, write_analysis: Callable[..., Path], tmp_path: Path) -> None:
    path = write_analysis(text)
    assert _one_line_error(path, tmp_path) == f"{path}: the file is empty"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("just a string\n", "top level: expected a list of rulesets, got str"),
        ("name: x\ntags: []\n", "top level: expected a list of rulesets or a mapping with 'violations'"),
        ("- just a string\n", "ruleset[0]: expected a mapping, got str"),
        ("- name: rs\n  violations: 5\n", "ruleset[0] (rs).violations: expected a mapping, got int"),
        (
            "- name: rs\n  violations:\n    r1:\n      incidents: {}\n",
            "ruleset[0] (rs).violations.r1.incidents",
        ),
        (
            "- name: rs\n  violations:\n    r1:\n      incidents:\n      - uri: [a]\n",
            "ruleset[0] (rs).violations.r1.incidents[0].uri: expected text, got list",
        ),
        (
            "- name: rs\n  insights:\n    r1:\n      incidents:\n      - lineNumber: [1]\n",
            "ruleset[0] (rs).insights.r1.incidents[0].lineNumber: expected an integer, got list",
        ),
        (
            "- name: rs\n  violations:\n    r1:\n      effort: high\n",
            "violations.r1.effort: expected an integer",
        ),
        (
            "- name: rs\n  violations:\n    r1:\n      effort: true\n",
            "violations.r1.effort: expected an integer",
        ),
        ("- name: rs\n  errors: [x]\n", "ruleset[0] (rs).errors: expected a mapping, got list"),
        ("- name: rs\n  violations:\n    r1:\n      labels: 7\n", "violations.r1.labels: expected a list"),
        (
            "- name: rs\n  violations:\n    r1:\n      incidents:\n      - variables: [1]\n",
            "incidents[0].variables: expected a mapping, got list",
        ),
    ],
)
def test_wrong_shapes_name_the_field(
    text: str, field: str, write_analysis: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_analysis(text)
    message = _one_line_error(path, tmp_path)
    # The file, and the line when the error is about one scalar value ("effort: high").
    assert re.match(rf"{re.escape(str(path))}(:\d+)?: ", message), message
    assert field in message


@pytest.mark.parametrize("uri", ["123", "12.5", "true"])
def test_an_incident_uri_that_is_no_text_is_one_line_naming_file_and_line(
    uri: str, write_analysis: Callable[..., Path], tmp_path: Path
) -> None:
    # Unquoted, YAML reads it as a number (or a boolean): never a file the analyzer named.
    text = f"- name: rs\n  violations:\n    r1:\n      effort: 1\n      incidents:\n      - uri: {uri}\n"
    path = write_analysis(text)
    message = _one_line_error(path, tmp_path)
    assert message.startswith(f"{path}:6: "), message
    assert "violations.r1.incidents[0].uri: expected text, got " in message


def test_unknown_category_loads_as_potential(write_analysis: Callable[..., Path], tmp_path: Path) -> None:
    text = "- name: rs\n  violations:\n    r1:\n      category: Informational\n      effort: 1\n"
    assert load_analysis(write_analysis(text), tmp_path).violations[0].category is Category.POTENTIAL


def test_category_is_case_insensitive(write_analysis: Callable[..., Path], tmp_path: Path) -> None:
    text = "- name: rs\n  violations:\n    r1:\n      category: Mandatory\n      effort: 1\n"
    assert load_analysis(write_analysis(text), tmp_path).violations[0].category is Category.MANDATORY


def test_migration_complexity_is_read_from_labels(
    write_analysis: Callable[..., Path], tmp_path: Path
) -> None:
    text = (
        "- name: rs\n  violations:\n    r1:\n      effort: 1\n      labels:\n"
        "      - konveyor.io/migration-complexity=high\n"
    )
    assert load_analysis(write_analysis(text), tmp_path).violations[0].migration_complexity == "high"


def _many_incidents_yaml(order: list[int]) -> str:
    lines = ["- name: rs", "  violations:", "    r1:", "      effort: 1", "      incidents:"]
    for n in order:
        # Same file, some on the same line, some exact duplicates (the analyzer does emit them).
        lines += [
            "      - uri: file:///opt/input/source/src/main/java/App.java",
            f"        message: 'fix {n % 7}'",
            f"        lineNumber: {n % 5}",
        ]
    return "\n".join(lines) + "\n"


def test_identity_is_unique_for_many_incidents_in_one_file(
    write_analysis: Callable[..., Path], app_checkout: Path
) -> None:
    analysis = load_analysis(write_analysis(_many_incidents_yaml(list(range(200)))), app_checkout)

    ids = [i.id for i in analysis.incidents]
    assert len(ids) == 200
    assert len(set(ids)) == 200


def test_identity_and_order_are_stable_across_loads_and_input_order(
    write_analysis: Callable[..., Path], app_checkout: Path
) -> None:
    order = list(range(60))
    first = load_analysis(write_analysis(_many_incidents_yaml(order), "a.yaml"), app_checkout)
    again = load_analysis(write_analysis(_many_incidents_yaml(order), "a.yaml"), app_checkout)
    random.Random(3).shuffle(order)
    shuffled = load_analysis(write_analysis(_many_incidents_yaml(order), "b.yaml"), app_checkout)

    assert [i.id for i in again.incidents] == [i.id for i in first.incidents]
    # Exact duplicates are interchangeable, so a shuffled file yields the same ids in the same order.
    assert [i.id for i in shuffled.incidents] == [i.id for i in first.incidents]
    assert [(i.line or 0, i.message) for i in first.incidents] == sorted(
        (i.line or 0, i.message) for i in first.incidents
    )


def test_identity_survives_a_change_of_analyzer_root(
    write_analysis: Callable[..., Path], app_checkout: Path
) -> None:
    container = load_analysis(write_analysis(CURRENT, "container.yaml"), app_checkout)
    host = load_analysis(
        write_analysis(CURRENT.replace("/opt/input/source/", "/home/dev/app/"), "host.yaml"), app_checkout
    )

    assert {i.id for i in container.fixable()} == {i.id for i in host.fixable()}


def test_incidents_are_ordered_by_path_line_ruleset_rule_message(
    write_analysis: Callable[..., Path], app_checkout: Path
) -> None:
    analysis = load_analysis(write_analysis(CURRENT), app_checkout)

    keys = [
        (
            i.path.as_posix() if i.path else i.uri,
            i.line or 0,
            i.violation.ruleset,
            i.violation.rule_id,
            i.message,
        )
        for i in analysis.incidents
    ]
    assert keys == sorted(keys)
    assert keys[0][0] == ""  # the tag-only insight (empty uri) sorts first
    assert [(k[0], k[1]) for k in keys[-3:]] == [("src/main/java/App.java", n) for n in (1, 3, 7)]


def test_violations_are_sorted_by_ruleset_then_rule(
    write_analysis: Callable[..., Path], tmp_path: Path
) -> None:
    text = (
        "- name: zeta\n  violations:\n    b: {effort: 1}\n    a: {effort: 1}\n"
        "- name: alpha\n  violations:\n    z: {effort: 1}\n"
    )
    analysis = load_analysis(write_analysis(text), tmp_path)
    assert [v.key for v in analysis.violations] == ["alpha/z", "zeta/a", "zeta/b"]


def test_an_empty_json_object_is_said_to_be_an_empty_mapping(tmp_path: Path) -> None:
    """It read 'got a mapping with keys none'."""
    empty = tmp_path / "output.json"
    empty.write_text("{}\n")
    with pytest.raises(AnalysisError, match=r"got an empty mapping$"):
        load_analysis(empty, tmp_path)
