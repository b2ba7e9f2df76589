"""Which instructions a request carries: built-in notes by file type, or the user's template by
rule pattern, language or in general; and user templates that cannot be used are refused early."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.config.settings import PromptSettings
from kantra_ai.config.templates import load_custom_templates
from kantra_ai.formats import TOOL_CALL
from kantra_ai.prompts.builder import PromptBuilder, language_guidance, template_language
from kantra_ai.prompts.custom import TemplateError

JAVA_NOTES = "## Notes for Java files"
TOOL_PROTOCOL = TOOL_CALL.protocol


def _violation(rule: str = "javax-to-jakarta-import-00001", labels: tuple[str, ...] = ()) -> Violation:
    return Violation("rs", rule, "Rename javax to jakarta.", Category.MANDATORY, 1, labels=labels)


def _incident(n: int = 1, violation: Violation | None = None) -> Incident:
    v = violation or _violation()
    return Incident(f"id{n}", v, "file:///x", PurePosixPath("A.java"), n, f"message {n}")


def _guidance(builder: PromptBuilder, path: str, violation: Violation | None = None, count: int = 1) -> str:
    v = violation or _violation()
    return builder.guidance(path, [v], [_incident(n, v) for n in range(1, count + 1)])


@pytest.mark.parametrize(
    "path, heading",
    [
        ("src/main/java/A.java", "## Notes for Java files"),
        ("pom.xml", "## Notes for Maven POM files"),
        ("modules/core/pom.xml", "## Notes for Maven POM files"),
        ("src/main/resources/META-INF/persistence.xml", "## Notes for XML files"),
        ("src/main/resources/application.properties", "## Notes for properties files"),
        ("config/application.yml", "## Notes for YAML configuration files"),
        ("web/app.js", "## Notes for JavaScript files"),
        ("web/app.tsx", "## Notes for TypeScript files"),
        ("tools/migrate.py", "## Notes for Python files"),
        ("cmd/main.go", "## Notes for Go files"),
        ("Service/Program.cs", "## Notes for C# files"),
    ],
)
def test_the_built_in_notes_follow_the_file_type(path: str, heading: str) -> None:
    guidance = _guidance(PromptBuilder(), path)
    assert guidance.startswith("## Rules involved")  # the rules first, then the notes
    assert heading in guidance
    assert guidance.count("## Notes for") == 1


def test_a_file_type_without_notes_gets_only_the_rules() -> None:
    assert "## Notes for" not in _guidance(PromptBuilder(), "db/schema.sql")
    assert language_guidance("sql") == ""


def test_maven_poms_are_their_own_language() -> None:
    assert template_language("pom.xml") == "pom"
    assert template_language("src/main/webapp/WEB-INF/web.xml") == "xml"


def _template(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _builder(tmp_path: Path, **settings: object) -> PromptBuilder:
    return PromptBuilder(TOOL_CALL, load_custom_templates(PromptSettings.model_validate(settings)))


def test_a_language_template_replaces_the_built_in_notes_and_the_answer_format_follows_it(
    tmp_path: Path,
) -> None:
    java = _template(tmp_path, "java.j2", "Team rules for {{ path }} ({{ incident_count }} incidents).")
    guidance = _guidance(_builder(tmp_path, **{"language-templates": {"java": str(java)}}), "src/A.java")
    assert "Team rules for src/A.java (1 incidents)." in guidance
    assert JAVA_NOTES not in guidance
    assert guidance.rstrip().endswith(TOOL_PROTOCOL)  # appended after the user's text, always


def test_a_template_can_extend_the_built_in_notes(tmp_path: Path) -> None:
    java = _template(tmp_path, "java.j2", "{{ default_guidance }}\n- Also: keep Lombok annotations.")
    guidance = _guidance(_builder(tmp_path, **{"language-templates": {"java": str(java)}}), "A.java")
    assert JAVA_NOTES in guidance and "keep Lombok annotations" in guidance


def test_other_languages_keep_their_built_in_notes(tmp_path: Path) -> None:
    java = _template(tmp_path, "java.j2", "JAVA TEAM RULES")
    guidance = _guidance(_builder(tmp_path, **{"language-templates": {"java": str(java)}}), "pom.xml")
    assert "## Notes for Maven POM files" in guidance and "JAVA TEAM RULES" not in guidance


def test_a_pom_falls_back_to_the_xml_template(tmp_path: Path) -> None:
    xml = _template(tmp_path, "xml.j2", "XML TEAM RULES for {{ language }}")
    guidance = _guidance(_builder(tmp_path, **{"language-templates": {"xml": str(xml)}}), "pom.xml")
    assert "XML TEAM RULES for pom" in guidance


def test_a_rule_template_matches_a_rule_id_glob_and_beats_the_language_template(tmp_path: Path) -> None:
    java = _template(tmp_path, "java.j2", "JAVA TEAM RULES")
    rule = _template(
        tmp_path, "javax.j2", "JAVAX: {% for r in rules %}{{ r.rule_id }} {{ r.complexity }}{% endfor %}"
    )
    builder = _builder(
        tmp_path,
        **{
            "language-templates": {"java": str(java)},
            "rule-templates": [{"match": "javax-*", "template": str(rule)}],
        },
    )
    assert "JAVAX: javax-to-jakarta-import-00001 trivial" in _guidance(builder, "A.java")
    assert "JAVA TEAM RULES" in _guidance(builder, "A.java", _violation("ee-to-quarkus-00000"))


def test_a_rule_template_matches_a_label_glob(tmp_path: Path) -> None:
    rule = _template(tmp_path, "quarkus.j2", "QUARKUS TARGET")
    builder = _builder(
        tmp_path, **{"rule-templates": [{"match": "konveyor.io/target=quarkus*", "template": str(rule)}]}
    )
    quarkus = _violation("ee-to-quarkus-00000", labels=("konveyor.io/target=quarkus3+",))
    assert "QUARKUS TARGET" in _guidance(builder, "A.java", quarkus)
    assert "QUARKUS TARGET" not in _guidance(builder, "A.java")


def test_the_first_matching_rule_template_wins(tmp_path: Path) -> None:
    first = _template(tmp_path, "first.j2", "FIRST")
    second = _template(tmp_path, "second.j2", "SECOND")
    rules = [{"match": "javax-*", "template": str(first)}, {"match": "*import*", "template": str(second)}]
    guidance = _guidance(_builder(tmp_path, **{"rule-templates": rules}), "A.java")
    assert "FIRST" in guidance and "SECOND" not in guidance


def test_single_and_batch_templates_are_chosen_by_incident_count(tmp_path: Path) -> None:
    single = _template(tmp_path, "single.j2", "ONE INCIDENT")
    batch = _template(tmp_path, "batch.j2", "{{ incident_count }} INCIDENTS")
    builder = _builder(tmp_path, **{"single-fix-template": str(single), "batch-fix-template": str(batch)})
    assert "ONE INCIDENT" in _guidance(builder, "A.java", count=1)
    assert "3 INCIDENTS" in _guidance(builder, "A.java", count=3)


def test_a_language_template_beats_the_generic_one(tmp_path: Path) -> None:
    generic = _template(tmp_path, "generic.j2", "GENERIC")
    java = _template(tmp_path, "java.j2", "JAVA")
    builder = _builder(
        tmp_path, **{"batch-fix-template": str(generic), "language-templates": {"java": str(java)}}
    )
    assert "JAVA" in _guidance(builder, "A.java") and "GENERIC" not in _guidance(builder, "A.java")
    assert "GENERIC" in _guidance(builder, "pom.xml")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{% for r in rules %}{{ r.rule_id }}", ":1: template syntax error"),
        ("{{ path }} {{ severity }}", "undefined variable 'severity'"),
        ("{{ rules[0].nonexistent }}", "has no attribute 'nonexistent'"),
        ("{{ path.__class__.__mro__ }}", "unsafe"),  # the sandbox: a config from a checkout runs no code
    ],
)
def test_a_broken_template_is_refused_naming_the_key_and_the_file(
    tmp_path: Path, text: str, fragment: str
) -> None:
    broken = _template(tmp_path, "broken.j2", text)
    with pytest.raises(TemplateError) as caught:
        load_custom_templates(PromptSettings.model_validate({"language-templates": {"java": str(broken)}}))
    message = str(caught.value)
    assert message.startswith(f"prompts.language-templates.java.batch-fix-template: {broken}")
    assert fragment in message
    assert "\n" not in message


def test_a_missing_template_file_is_refused(tmp_path: Path) -> None:
    settings = PromptSettings.model_validate(
        {"rule-templates": [{"match": "x", "template": str(tmp_path / "no.j2")}]}
    )
    with pytest.raises(TemplateError, match=r"prompts.rule-templates\[0\].template: .*no.j2: cannot read"):
        load_custom_templates(settings)
