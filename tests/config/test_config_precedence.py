"""Where each setting comes from: flag > --config > ./.kantra-ai.yaml > user file > default.

Observed through the real CLI: a dry run's JSON shows the model and how incidents were batched
(batch size 1 gives one request per incident; the default, one per file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.helpers import analysis_of, copy_example, expected_of, run, tree_differences

from kantra_ai.app.settings_options import options_from_settings
from kantra_ai.config.settings import Settings
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"
INCIDENTS, FILES = 19, 7
# With --batch-size 1, one request per incident, except that two incidents on one line share it.
ONE_PER_LINE = 18


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory (where ./.kantra-ai.yaml is looked for) holding a copy of the example."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def _dry_run(capsys: pytest.CaptureFixture[str], *extra: str | Path) -> dict[str, Any]:
    capsys.readouterr()
    code = run("remediate", "--dry-run", "--json", *extra)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result: dict[str, Any] = json.loads(captured.out)
    return result


def _app_args(project: Path) -> list[str | Path]:
    return ["--analysis", analysis_of(EXAMPLE), "--input", copy_example(EXAMPLE, project)]


def test_without_any_config_file_the_defaults_apply(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _dry_run(capsys, *_app_args(project))
    assert plan["totals"]["requests"] == FILES
    assert plan["totals"]["model"] == "claude-sonnet-5-5"


def test_a_project_config_value_applies_when_no_flag_is_given(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project / ".kantra-ai.yaml", {"batching": {"batch-size": 1}})
    assert _dry_run(capsys, *_app_args(project))["totals"]["requests"] == ONE_PER_LINE


def test_an_explicit_flag_equal_to_its_default_beats_the_config_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project / ".kantra-ai.yaml", {"batching": {"batch-size": 1}})
    plan = _dry_run(capsys, *_app_args(project), "--batch-size", "25")  # 25 is the default
    assert plan["totals"]["requests"] == FILES


def test_an_explicit_flag_beats_every_config_file(
    project: Path, user_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(user_home / ".kantra-ai.yaml", {"provider": {"model": "claude-haiku-4-5"}})
    _write(project / ".kantra-ai.yaml", {"provider": {"model": "claude-opus-4-8"}})
    extra = _write(project / "extra.yaml", {"provider": {"model": "claude-sonnet-4-6"}})
    plan = _dry_run(capsys, *_app_args(project), "--config", extra, "--model", "claude-haiku-5-5")
    assert plan["totals"]["model"] == "claude-haiku-5-5"


def test_the_config_option_file_beats_the_project_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project / ".kantra-ai.yaml", {"provider": {"model": "claude-opus-4-8"}})
    extra = _write(project / "elsewhere" / "extra.yaml", {"provider": {"model": "claude-sonnet-4-6"}})
    plan = _dry_run(capsys, *_app_args(project), "--config", extra)
    assert plan["totals"]["model"] == "claude-sonnet-4-6"


def test_the_project_file_beats_the_user_file(
    project: Path, user_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(user_home / ".kantra-ai.yaml", {"provider": {"model": "claude-haiku-4-5"}})
    _write(project / ".kantra-ai.yaml", {"provider": {"model": "claude-opus-4-8"}})
    assert _dry_run(capsys, *_app_args(project))["totals"]["model"] == "claude-opus-4-8"


def test_the_user_file_beats_the_defaults(
    project: Path, user_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(user_home / ".kantra-ai.yaml", {"provider": {"model": "claude-haiku-4-5"}})
    assert _dry_run(capsys, *_app_args(project))["totals"]["model"] == "claude-haiku-4-5"


def test_the_xdg_user_file_is_read_when_there_is_no_home_file(
    project: Path, user_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(user_home / ".config" / "kantra-ai" / "config.yaml", {"provider": {"model": "claude-opus-4-8"}})
    assert _dry_run(capsys, *_app_args(project))["totals"]["model"] == "claude-opus-4-8"


def test_the_home_file_wins_over_the_xdg_file_and_the_ignored_one_is_named(
    project: Path, user_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(user_home / ".kantra-ai.yaml", {"provider": {"model": "claude-haiku-4-5"}})
    _write(user_home / ".config" / "kantra-ai" / "config.yaml", {"provider": {"model": "claude-opus-4-8"}})
    capsys.readouterr()
    assert run("remediate", "--dry-run", "--json", *_app_args(project)) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["totals"]["model"] == "claude-haiku-4-5"
    assert "kantra-ai/config.yaml: ignored" in captured.err


def test_files_are_layered_key_by_key(
    project: Path, user_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(user_home / ".kantra-ai.yaml", {"batching": {"batch-size": 1}, "provider": {"model": "x-user"}})
    _write(project / ".kantra-ai.yaml", {"provider": {"model": "claude-opus-4-8"}})
    plan = _dry_run(capsys, *_app_args(project))
    assert plan["totals"]["requests"] == ONE_PER_LINE  # from the user file
    assert plan["totals"]["model"] == "claude-opus-4-8"  # from the project file


def test_relative_paths_in_a_config_file_are_relative_to_that_file(
    tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "team"
    copy_example(EXAMPLE, elsewhere)
    (elsewhere / "output.yaml").write_bytes(analysis_of(EXAMPLE).read_bytes())
    config = _write(elsewhere / "kantra.yaml", {"paths": {"analysis": "output.yaml", "input": EXAMPLE}})
    plan = _dry_run(capsys, "--config", config)  # no --analysis, no --input: both from the file
    assert plan["totals"]["incidents"] == INCIDENTS


def test_dry_run_set_in_the_config_makes_no_request(
    project: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project / ".kantra-ai.yaml", {"dry-run": True, "provider": {"base-url": fake.anthropic_base_url}})
    code = run("remediate", *_app_args(project), "--json")
    assert code == 0
    assert json.loads(capsys.readouterr().out)["dry_run"] is True
    assert fake.connection_count == 0


def test_an_explicit_no_flag_equal_to_its_default_beats_the_config_file(
    project: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project / ".kantra-ai.yaml", {"dry-run": True, "provider": {"base-url": fake.anthropic_base_url}})
    args = _app_args(project)
    code = run("remediate", *args, "--no-dry-run", "--json", "--no-progress")
    assert code == 0
    assert fake.request_count == FILES
    assert tree_differences(Path(args[3]), expected_of(EXAMPLE)) == []


def test_prompt_honours_the_config(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_example(EXAMPLE, project)
    _write(
        project / ".kantra-ai.yaml",
        {
            "paths": {"analysis": str(analysis_of(EXAMPLE)), "input": str(app)},
            "provider": {"name": "openai", "model": "gpt-5.5-mini"},
        },
    )
    assert run("prompt", "--incident", "pom.xml:21", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["provider"] == "openai"
    assert document["body"]["model"] == "gpt-5.5-mini"


def test_plan_honours_the_config(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_example(EXAMPLE, project)
    _write(
        project / ".kantra-ai.yaml",
        {
            "paths": {"analysis": str(analysis_of(EXAMPLE)), "input": str(app)},
            "plan": {"planner": "deterministic", "output": "phases"},
            "filters": {"violation-ids": ["javax-to-jakarta-import-00001"]},
        },
    )
    assert run("plan", "--json") == 0
    plan = yaml.safe_load((project / "phases" / "plan.yaml").read_text())
    rules = {v["violation_id"] for phase in plan["phases"] for v in phase["violations"]}
    assert rules == {"javax-to-jakarta-import-00001"}


def test_execute_honours_the_config(project: Path, fake: FakeProviderServer) -> None:
    app = copy_example(EXAMPLE, project)
    out = project / "plan-out"
    flags = [
        "--analysis",
        analysis_of(EXAMPLE),
        "--input",
        app,
        "--output",
        out,
        "--planner",
        "deterministic",
    ]
    assert run("plan", *flags) == 0
    # The endpoint comes from the config file only: a request reaching the fake proves it was read.
    _write(project / ".kantra-ai.yaml", {"provider": {"base-url": fake.anthropic_base_url}})
    assert run("execute", "--plan", out / "plan.yaml", "--input", app, "--no-progress") == 0
    assert fake.request_count > 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_include_generated_of_a_config_file_reaches_a_portfolio_or_hub_run(tmp_path: Path) -> None:
    # Portfolio applications and Hub tasks are run from their settings alone: the key was dropped.
    settings = Settings.model_validate({"filters": {"include-generated": True}})
    options = options_from_settings(settings, input_dir=tmp_path, analysis=tmp_path / "output.yaml")
    assert options.selection.include_generated is True
