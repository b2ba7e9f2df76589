"""The check's options on the command line mean what they say or are refused in one line before
anything is sent: one given where no check runs, or an empty `--verify-command`, is never ignored
(the user would believe the fixes were checked, or checked by their own command)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tests.cli.helpers import run, tree_differences
from tests.verify.helpers import example, remediate

from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = example("utf8-reports")


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    return app


def _refused_before_anything(app: Path, fake: FakeProviderServer) -> None:
    assert fake.request_count == 0
    assert tree_differences(app, EXAMPLE / "app") == []
    assert not (app / ".kantra-ai" / "state.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("--verify-command", "true"),
        ("--verify-command", ""),
        ("--verify-strategy", "at-end"),
        ("--verify-timeout", "30"),
        ("--verify-fail-fast",),
        ("--max-repair-rounds", "1"),
        ("--verify", "off", "--verify-command", "true"),
    ],
    ids=["command", "empty-command", "strategy", "timeout", "fail-fast", "repair-rounds", "verify-off"],
)
def test_a_check_option_without_a_check_to_run_is_refused_before_anything_is_sent(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    app = _app(tmp_path)
    code, summary = remediate(EXAMPLE / "output.yaml", app, fake, *args)
    err = capsys.readouterr().err.strip()
    flag = next(a for a in args if a.startswith("--") and a != "--verify")
    assert (code, summary) == (2, {})
    assert err == f"kantra-ai: error: {flag} only applies with --verify build|test"
    _refused_before_anything(app, fake)


def test_execute_refuses_a_check_option_without_a_check_to_run_too(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(tmp_path)
    out = tmp_path / "plan"
    planned = run(
        "plan", "--analysis", EXAMPLE / "output.yaml", "--input", app, "--output", out,
        "--planner", "deterministic",
    )  # fmt: skip
    assert planned == 0
    capsys.readouterr()
    code = run(
        "execute", "--plan", out / "plan.yaml", "--input", app, "--base-url", fake.anthropic_base_url,
        "--no-progress", "--verify-command", "make compile",
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "kantra-ai: error: --verify-command only applies with --verify build|test"
    _refused_before_anything(app, fake)
    assert not (out / "state.yaml").exists()


def test_verify_timeout_bounds_a_reanalysis_without_a_check(tmp_path: Path, fake: FakeProviderServer) -> None:
    # `--reanalyze-command` runs without `--verify`, and `--verify-timeout` is its time limit too.
    app = _app(tmp_path)
    code = run(
        "remediate", "--analysis", EXAMPLE / "output.yaml", "--input", app, "--base-url",
        fake.anthropic_base_url, "--no-progress", "--dry-run",
        "--reanalyze-command", "kantra analyze --output {output}", "--verify-timeout", "30",
    )  # fmt: skip
    assert code == 0


def test_check_options_in_a_config_file_are_defaults_for_when_verification_is_turned_on(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # A shared config may name the project's check without turning it on for every run.
    app = _app(tmp_path)
    config = tmp_path / "kantra-ai.yaml"
    config.write_text(yaml.safe_dump({"verification": {"command": "sh ./check.sh", "timeout": 30}}))
    args = ["remediate", "--analysis", EXAMPLE / "output.yaml", "--input", app, "--config", config,
            "--base-url", fake.anthropic_base_url, "--no-progress", "--dry-run"]  # fmt: skip
    assert run(*args) == 0
    assert "verification:" not in capsys.readouterr().out
    assert run(*args, "--verify", "build") == 0
    assert "verification: `sh ./check.sh`, per-file" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["", "   "], ids=["empty", "blank"])
def test_an_empty_verify_command_is_refused_not_replaced_by_the_detected_one(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # The example has a pom.xml: an empty command used to run `mvn -q -o compile` instead.
    app = _app(tmp_path)
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake, "--verify", "build", "--verify-command", command
    )
    err = capsys.readouterr().err.strip()
    assert (code, summary) == (2, {})
    assert err == (
        "kantra-ai: error: --verify-command: empty; give the check to run, "
        "or leave it out to use the detected one"
    )
    _refused_before_anything(app, fake)
