"""User templates end to end, and `kantra-ai prompt`: what the model gets, before it gets it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.helpers import analysis_of, copy_example, expected_of, run, tree_differences

from kantra_ai.simulated.recipes import parse_prompt, request_text
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"


def _configure(workdir: Path, templates: dict[str, str], prompts: dict[str, Any]) -> None:
    for name, text in templates.items():
        (workdir / name).write_text(text)
    (workdir / ".kantra-ai.yaml").write_text(yaml.safe_dump({"prompts": prompts}))


def _remediate(app: Path, fake: FakeProviderServer, *extra: str) -> int:
    return run(
        "remediate",
        "--analysis",
        analysis_of(EXAMPLE),
        "--input",
        app,
        "--base-url",
        fake.anthropic_base_url,
        "--json",
        "--no-progress",
        *extra,
    )


def _guidance_of(fake: FakeProviderServer, file_name: str) -> str:
    """What the request for the file carries of its own before the file: the user's template (or,
    with templates configured, the built-in notes), then the answer format."""
    for request in fake.requests:
        parsed = parse_prompt(request_text(request))
        if parsed is not None and parsed.path.endswith(file_name):
            blocks = request.messages[0]["content"]
            return str(blocks[-1]["text"]).split("## File:")[0]
    raise AssertionError(f"no request for {file_name}")


def test_custom_templates_reach_the_model_and_the_answer_still_parses(
    workdir: Path, fake: FakeProviderServer
) -> None:
    _configure(
        workdir,
        {"java.j2": "JAVA HOUSE RULES for {{ path }}", "deps.j2": "DEPENDENCY POLICY: {{ incident_count }}"},
        {
            "language-templates": {"java": "java.j2"},
            "rule-templates": [{"match": "javax-to-jakarta-dependencies-*", "template": "deps.j2"}],
        },
    )
    app = copy_example(EXAMPLE, workdir)
    assert _remediate(app, fake) == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    java = _guidance_of(fake, "InventoryService.java")
    assert "JAVA HOUSE RULES for src/main/java/com/example/inventory/service/InventoryService.java" in java
    assert java.rstrip().endswith("the file is shown without them.")  # the answer format comes last
    assert "DEPENDENCY POLICY: 2" in _guidance_of(fake, "pom.xml")
    assert "## Notes for XML files" in _guidance_of(fake, "persistence.xml")  # built-in, untouched


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{% if path %}unclosed", "template syntax error"),
        ("Rules: {{ ruels }}", "undefined variable 'ruels'"),
        # Passes the test render (one incident) but fails on a real request with several: still
        # caught before the first request, because every planned request is rendered first.
        ("{% if incident_count > 1 %}{{ incidents[0].severity }}{% endif %}", "has no attribute 'severity'"),
    ],
)
def test_a_broken_template_stops_the_run_before_any_request(
    text: str, fragment: str, workdir: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(workdir, {"broken.j2": text}, {"language-templates": {"java": "broken.j2"}})
    app = copy_example(EXAMPLE, workdir)
    assert _remediate(app, fake) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("kantra-ai: error: prompts.language-templates.java.batch-fix-template: ")
    assert str(workdir / "broken.j2") in err and fragment in err
    assert fake.request_count == 0
    assert tree_differences(app, copy_example(EXAMPLE, workdir / "pristine")) == []


def _prompt(app: Path, *extra: str) -> list[str | Path]:
    return ["prompt", "--analysis", analysis_of(EXAMPLE), "--input", app, *extra]


def test_prompt_prints_exactly_the_request_remediate_sends(
    workdir: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(workdir, {"java.j2": "JAVA HOUSE RULES"}, {"language-templates": {"java": "java.j2"}})
    app = copy_example(EXAMPLE, workdir)
    assert (
        run(
            *_prompt(
                app,
                "--incident",
                "src/main/java/com/example/inventory/service/InventoryService.java:53",
                "--json",
            )
        )
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert fake.connection_count == 0  # no network to show it
    assert _remediate(app, fake) == 0
    sent = next(
        r.raw
        for r in fake.requests
        if (p := parse_prompt(r.last_user_text())) is not None and p.path.endswith("InventoryService.java")
    )
    assert shown["body"] == sent
    assert shown["estimated_input_tokens"]["total"] > 0
    assert len(shown["incident_ids"]) == 6


def test_prompt_finds_an_incident_by_id_and_shows_it_for_people(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, workdir)
    assert run(*_prompt(app, "--incident", "c5523952c027")) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Request for pom.xml (all lines), 2 incident(s): c5523952c027, fab92bb8cc81")
    assert "# Estimated input tokens:" in out
    for section in ("=== system", "=== guidance", "## Notes for Maven POM files", "=== file and incidents"):
        assert section in out
    assert "=== tool: apply_fixes" in out


def test_prompt_shows_the_text_protocol_without_a_tool(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, workdir)
    assert run(*_prompt(app, "--incident", "pom.xml:22", "--text-edits", "--json")) == 0
    body = json.loads(capsys.readouterr().out)["body"]
    assert "tools" not in body
    assert "<<<<<<< SEARCH" in body["system"][0]["text"]


@pytest.mark.parametrize(
    "spec, fragment",
    [("ffffffffffff", "no such incident among the 19 selected"), ("pom.xml:999", "no such incident")],
)
def test_prompt_refuses_an_unknown_incident_in_one_line(
    spec: str, fragment: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, workdir)
    assert run(*_prompt(app, "--incident", spec)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kantra-ai: error: --incident") and fragment in err and len(err.splitlines()) == 1


def _big_java_app(root: Path) -> tuple[Path, Path]:
    """A file far over a 3000-token budget, so its request shows a window of it."""
    app = root / "big"
    (app / "src").mkdir(parents=True)
    filler = [
        f"    // filler line {n}: enough words to make this file expensive to send whole\n"
        for n in range(900)
    ]
    lines = [
        "package demo;\n",
        "\n",
        "import javax.persistence.Entity;\n",
        "\n",
        *filler,
        "public class Big {}\n",
    ]
    (app / "src" / "Big.java").write_text("".join(lines))
    analysis = root / "output.yaml"
    analysis.write_text(
        "- name: eap8/eap7\n  violations:\n    javax-to-jakarta-import-00001:\n"
        "      description: javax packages are now jakarta\n      category: mandatory\n      effort: 1\n"
        "      incidents:\n"
        "      - uri: file:///opt/input/source/src/Big.java\n        message: Replace javax with jakarta\n"
        "        lineNumber: 3\n"
    )
    return app, analysis


def test_prompt_shows_the_window_a_large_file_is_sent_as(
    workdir: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app, analysis = _big_java_app(workdir)
    budget = ["--max-batch-tokens", "3000"]
    args = [
        "prompt",
        "--analysis",
        analysis,
        "--input",
        app,
        "--incident",
        "src/Big.java:3",
        "--json",
        *budget,
    ]
    assert run(*args) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["window"] is not None
    code = run(
        "remediate", "--analysis", analysis, "--input", app, "--base-url", fake.anthropic_base_url, *budget
    )
    assert code == 0
    assert shown["body"] == fake.requests[0].raw
