"""End to end: the real CLI, the official SDKs, the fake provider over loopback, real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import analysis_of, copy_example, expected_of, run, tree_differences

from testing.fakeprovider.server import FakeProviderServer

EXAMPLES = ["javaee-inventory", "multi-violation"]
# multi-violation holds one JNDI lookup the scripted model honestly cannot fix: it must end as
# failed with the model's reason, and the file must keep that line untouched.
UNFIXABLE = {"javaee-inventory": set(), "multi-violation": {"jndi-to-quarkus-00001"}}


def _check_outcomes(example: str, code: int, summary: dict[str, Any]) -> None:
    failed = {o["rule"] for o in summary["outcomes"] if o["status"] != "fixed"}
    assert failed == UNFIXABLE[example]
    assert all(
        o["reason"].startswith("model could not fix it")
        for o in summary["outcomes"]
        if o["status"] != "fixed"
    )
    assert code == (1 if UNFIXABLE[example] else 0)
    assert summary["incidents"]["fixed"] == summary["incidents"]["selected"] - len(UNFIXABLE[example]) > 0


@pytest.mark.parametrize("example", EXAMPLES)
def test_claude_run_produces_exactly_the_expected_tree(
    example: str, tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(example, tmp_path)
    code = run(
        "remediate",
        "--analysis",
        analysis_of(example),
        "--input",
        app,
        "--base-url",
        fake.anthropic_base_url,
        "--json",
        "--no-progress",
    )
    summary = json.loads(capsys.readouterr().out)
    assert tree_differences(app, expected_of(example)) == []
    _check_outcomes(example, code, summary)


@pytest.mark.parametrize("example", EXAMPLES)
def test_openai_protocol_run_produces_the_expected_tree(
    example: str, tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(example, tmp_path)
    code = run(
        "remediate",
        "--analysis",
        analysis_of(example),
        "--input",
        app,
        "--provider",
        "openai",
        "--base-url",
        fake.openai_base_url,
        "--json",
        "--no-progress",
    )
    summary = json.loads(capsys.readouterr().out)
    assert tree_differences(app, expected_of(example)) == []
    _check_outcomes(example, code, summary)
    assert all(r.protocol == "openai" for r in fake.requests)


def test_text_edit_protocol_produces_the_expected_tree(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("multi-violation", tmp_path)
    code = run(
        "remediate",
        "--analysis",
        analysis_of("multi-violation"),
        "--input",
        app,
        "--text-edits",
        "--base-url",
        fake.anthropic_base_url,
        "--json",
        "--no-progress",
    )
    summary = json.loads(capsys.readouterr().out)
    assert tree_differences(app, expected_of("multi-violation")) == []
    _check_outcomes("multi-violation", code, summary)
    assert all(not r.tools for r in fake.requests)


def test_each_file_is_sent_once_with_all_its_incidents(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("multi-violation", tmp_path)
    run(
        "remediate",
        "--analysis",
        analysis_of("multi-violation"),
        "--input",
        app,
        "--base-url",
        fake.anthropic_base_url,
        "--json",
        "--no-progress",
    )
    summary = json.loads(capsys.readouterr().out)
    files = {o["file"] for o in summary["outcomes"]}
    assert fake.request_count == len(files) == summary["requests"]
    assert summary["incidents_per_request"] > 1


def test_simulated_provider_runs_without_any_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    app = copy_example("javaee-inventory", tmp_path)
    code = run(
        "remediate",
        "--analysis",
        analysis_of("javaee-inventory"),
        "--input",
        app,
        "--provider",
        "simulated",
        "--no-progress",
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "SIMULATED provider" in captured.err
    assert tree_differences(app, expected_of("javaee-inventory")) == []


def test_the_api_key_never_appears_in_output(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    run(
        "remediate",
        "--analysis",
        analysis_of("javaee-inventory"),
        "--input",
        app,
        "--base-url",
        fake.anthropic_base_url,
        "--json",
    )
    captured = capsys.readouterr()
    assert "sk-ant-test-secret-0000" not in captured.out + captured.err
    assert any("sk-ant-test-secret-0000" in " ".join(h.values()) for h in fake.seen_auth_headers)


def _large_java_app(root: Path) -> tuple[Path, Path, str]:
    """A 900-line Java file with javax uses at the top and deep inside, and its analysis."""
    body = [
        f"    private int field{i} = {i}; // filler line {i} of a large legacy class\n" for i in range(880)
    ]
    lines = ["package com.acme;\n", "\n", "import javax.inject.Inject;\n", "\n", "public class Big {\n"]
    lines += [*body[:400], "    javax.persistence.EntityManager em;\n", *body[400:], "}\n"]
    app = root / "big"
    (app / "src").mkdir(parents=True)
    (app / "src" / "Big.java").write_text("".join(lines))
    deep_line = lines.index("    javax.persistence.EntityManager em;\n") + 1
    analysis = root / "output.yaml"
    analysis.write_text(
        "- name: eap8/eap7\n  violations:\n    javax-to-jakarta-import-00001:\n"
        "      description: javax packages are now jakarta\n      category: mandatory\n      effort: 1\n"
        "      incidents:\n"
        "      - uri: file:///opt/input/source/src/Big.java\n        message: Replace javax with jakarta\n"
        "        lineNumber: 3\n"
        "      - uri: file:///opt/input/source/src/Big.java\n        message: Replace javax with jakarta\n"
        f"        lineNumber: {deep_line}\n"
    )
    expected = "".join(lines).replace("javax.", "jakarta.")
    return app, analysis, expected


def test_a_file_over_the_token_budget_is_fixed_through_windows(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app, analysis, expected = _large_java_app(tmp_path)
    code = run(
        "remediate",
        "--analysis",
        analysis,
        "--input",
        app,
        "--max-batch-tokens",
        "3000",
        "--base-url",
        fake.anthropic_base_url,
        "--json",
        "--no-progress",
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["incidents"]["fixed"] == 2
    assert fake.request_count == 2
    assert all("only this part is shown" in r.last_user_text() for r in fake.requests)
    assert (app / "src" / "Big.java").read_text() == expected


def test_the_sdk_base_url_environment_variable_is_honoured(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.anthropic_base_url)
    app = copy_example("javaee-inventory", tmp_path)
    code = run("remediate", "--analysis", analysis_of("javaee-inventory"), "--input", app, "--no-progress")
    capsys.readouterr()
    assert code == 0
    assert fake.request_count > 0


@pytest.mark.parametrize(
    "where, url, problem",
    [
        ("--base-url", "http://[::1", "Invalid IPv6 URL"),
        ("--base-url", "http://[zz::1]:8080/", "does not appear to be an IPv4 or IPv6 address"),
        ("--base-url", "http://localhost:99999", "Port out of range"),
        ("--base-url", "http://", "the URL names no host"),
        ("ANTHROPIC_BASE_URL", "http://[::1", "Invalid IPv6 URL"),
    ],
)
def test_a_malformed_endpoint_is_one_line_before_anything_is_read_or_sent(
    where: str,
    url: str,
    problem: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    flags = ["--base-url", url] if where == "--base-url" else []
    if where != "--base-url":
        monkeypatch.setenv(where, url)
    code = run(
        "remediate", "--analysis", analysis_of("javaee-inventory"), "--input", app, "--no-progress", *flags
    )
    [line] = capsys.readouterr().err.strip().splitlines()  # one line, no traceback
    assert code == 2
    assert line.startswith(f"kantra-ai: error: {where} {url}: ") and problem in line
    assert not (app / ".kantra-ai").exists()  # refused before the store was opened
