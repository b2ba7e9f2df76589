"""End to end: the real CLI, the official SDKs, the fake provider over loopback, real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import analysis_of, copy_example, expected_of, run, tree_differences

from kantra_ai.fakeprovider.server import FakeProviderServer

EXAMPLES = ["javaee-inventory", "multi-violation"]
# multi-violation holds one JNDI lookup the scripted model honestly cannot fix: it must end as
# failed with the model's reason, and the file must keep that line untouched.
UNFIXABLE = {"javaee-inventory": set(), "multi-violation": {"jndi-to-quarkus-00001"}}


def _check_outcomes(example: str, code: int, summary: dict[str, Any]) -> None:
    failed = {o["rule"] for o in summary["outcomes"] if o["status"] != "fixed"}
    assert failed == UNFIXABLE[example]
    assert all(
        o["reason"].startswith("model could not fix it") for o in summary["outcomes"] if o["status"] != "fixed"
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
