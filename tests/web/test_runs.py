"""Runs started from the page (web/runs.py): the CLI's execute job in a worker thread, paused and
cancelled as Ctrl-C would, continued by the next start; options from the config files alone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.helpers import analysis_of, copy_example, expected_of, run, tree_differences

from kantra_ai.app.settings_options import options_from_settings
from kantra_ai.config.loader import ConfigError, load_config, update_config_file
from kantra_ai.errors import UserError
from kantra_ai.simulated.recipes import respond
from kantra_ai.store.session import open_store
from kantra_ai.web.runs import RunManager
from kantra_ai.web.settings_form import changed_keys, settings_sections
from testing.fakeprovider.server import FakeProviderServer, LatencyModel


@pytest.fixture
def slow() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(respond, latency=LatencyModel(ttft=1.5)) as server:
        yield server


def planned_tree(tmp_path: Path, base_url: str) -> tuple[Path, Path]:
    app = copy_example("javaee-inventory", tmp_path)
    out = tmp_path / "plan"
    made = run(
        "plan", "--analysis", analysis_of("javaee-inventory"), "--input", app, "--output", out,
        "--planner", "deterministic", "--risk-tolerance", "conservative",
    )  # fmt: skip
    assert made == 0
    (tmp_path / ".kantra-ai.yaml").write_text(f"provider: {{name: claude, base-url: '{base_url}'}}\n")
    return app, out / "plan.yaml"


def wait_state(runs: RunManager, *states: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while runs.active or runs.progress.snapshot()["state"] not in states:
        assert time.monotonic() < deadline, runs.progress.snapshot()
        time.sleep(0.05)
    return str(runs.progress.snapshot()["state"])


def run_states(app: Path) -> list[str]:
    store = open_store(app, None, create=False)
    try:
        return [str(r[0]) for r in store.query("SELECT state FROM runs ORDER BY id")]
    finally:
        store.close()


def test_pause_stops_like_ctrl_c_and_start_continues_to_the_expected_tree(
    tmp_path: Path, slow: FakeProviderServer
) -> None:
    app, plan = planned_tree(tmp_path, slow.anthropic_base_url)

    def options():  # type: ignore[no-untyped-def]
        return options_from_settings(load_config(cwd=tmp_path).settings, input_dir=app, analysis=plan)

    runs = RunManager()
    runs.start(plan, None, options)
    with pytest.raises(UserError, match="still going on"):
        runs.start(plan, None, options)
    while runs.progress.snapshot()["requests"] == 0 and not runs.progress.snapshot()["in_flight"]:
        time.sleep(0.02)
    assert runs.stop() == "pausing"
    assert wait_state(runs, "paused") == "paused"
    assert run_states(app) == ["interrupted"]
    assert tree_differences(app, expected_of("javaee-inventory")) != []

    runs.start(plan, None, options)  # continues: --resume, what was fixed is not sent again
    assert wait_state(runs, "finished") == "finished"
    assert runs.progress.snapshot()["exit_code"] == 0
    assert tree_differences(app, expected_of("javaee-inventory")) == []
    assert (app / ".kantra-ai" / "report.html").is_file()


def test_cancel_abandons_the_requests_in_flight(tmp_path: Path, slow: FakeProviderServer) -> None:
    app, plan = planned_tree(tmp_path, slow.anthropic_base_url)
    runs = RunManager()
    runs.start(
        plan,
        "phase-1",
        lambda: options_from_settings(load_config(cwd=tmp_path).settings, input_dir=app, analysis=plan),
    )
    while not runs.progress.snapshot()["in_flight"]:
        time.sleep(0.02)
    runs.cancel()
    assert wait_state(runs, "cancelled") == "cancelled"
    assert run_states(app) == ["interrupted"]
    shown = runs.progress.snapshot()
    assert shown["fixed"] == 0  # nothing in flight was applied
    # It ends as a pause does: exit 130 and the report rewritten with this run.
    assert shown["exit_code"] == 130 and shown["report"] == str(app / ".kantra-ai" / "report.html")
    record = json.loads((app / ".kantra-ai" / "run.json").read_text())
    assert [r["state"] for r in record["runs"]] == ["interrupted"]


def test_the_settings_form_follows_the_settings_model_and_writes_only_changed_keys(tmp_path: Path) -> None:
    config = tmp_path / ".kantra-ai.yaml"
    config.write_text("# mine\nprovider: {name: openai}\nunknown-section: {a: 1}\n")
    loaded = load_config(cwd=tmp_path)
    sections = settings_sections(loaded)
    keys = {f.key for s in sections for f in s.fields}
    # Every plain key of the shown sections is on the page (a new key appears without a template).
    assert {"provider.model", "limits.max-cost", "confidence.complexity-thresholds.expert"} <= keys
    assert {"verification.enabled", "verification.command", "git.create-pr", "git.commit-strategy"} <= keys
    shown = {f.key: f for s in sections for f in s.fields}
    assert shown["provider.name"].value == "openai" and shown["provider.name"].source == "./.kantra-ai.yaml"

    form = {f.key: [f.value] for f in shown.values() if f.kind != "bool" and f.value}
    form["limits.max-cost"] = ["2.5"]
    form["confidence.enabled"] = ["on"]
    changes = changed_keys(sections, form)
    assert changes == {"limits.max-cost": 2.5, "confidence.enabled": True}
    update_config_file(config, changes)
    settings = load_config(cwd=tmp_path).settings
    assert settings.limits.max_cost == 2.5 and settings.confidence.enabled
    assert settings.provider.name == "openai"

    before = config.read_bytes()
    with pytest.raises(ConfigError, match=r"limits\.max-retries: invalid value 9"):
        update_config_file(config, {"limits.max-retries": 9})
    with pytest.raises(ConfigError, match=r"provider\.name"):
        update_config_file(config, {"provider.name": "no-such-provider"})
    assert config.read_bytes() == before


def test_a_box_is_unchecked_only_by_a_form_that_showed_it(tmp_path: Path) -> None:
    (tmp_path / ".kantra-ai.yaml").write_text("confidence: {enabled: true}\n")
    sections = settings_sections(load_config(cwd=tmp_path))
    # A script posting one key: the boxes it did not send stay as they are.
    assert changed_keys(sections, {"provider.model": ["claude-opus-4-1"]}) == {
        "provider.model": "claude-opus-4-1"
    }
    # The page shows every box (`_shown`): one it sends unchecked is turned off.
    assert changed_keys(sections, {"_shown": ["confidence.enabled"]}) == {"confidence.enabled": False}


def test_a_run_started_from_the_page_verifies_each_phase_as_the_config_asks(tmp_path: Path) -> None:
    checks = tmp_path / "checks.log"
    with FakeProviderServer(respond) as server:
        app, plan = planned_tree(tmp_path, server.anthropic_base_url)
        with open(tmp_path / ".kantra-ai.yaml", "a") as config:
            config.write(f"verification: {{enabled: true, command: 'echo checked >> {checks}'}}\n")

        def options():  # type: ignore[no-untyped-def]
            return options_from_settings(load_config(cwd=tmp_path).settings, input_dir=app, analysis=plan)

        runs = RunManager()
        runs.start(plan, None, options)
        assert wait_state(runs, "finished", "failed") == "finished"
    assert runs.progress.snapshot()["exit_code"] == 0
    assert tree_differences(app, expected_of("javaee-inventory")) == []
    store = open_store(app, None, create=False)
    try:
        phases = store.query("SELECT count(DISTINCT scope) FROM checks WHERE kind='check'")[0][0]
        verdicts = {str(r[0]) for r in store.query("SELECT verification FROM incidents WHERE status='fixed'")}
    finally:
        store.close()
    assert phases > 1  # execute's default strategy: a check after each phase
    assert verdicts == {"verified"}
    assert checks.read_text().count("checked") == 1 + phases  # the baseline, then each phase


def test_saving_settings_keeps_the_files_comments_key_order_and_quoting(tmp_path: Path) -> None:
    config = tmp_path / ".kantra-ai.yaml"
    config.write_text(
        "# team defaults: ask before changing\n"
        "limits:\n"
        "  max-cost: 5   # dollars per run\n"
        "provider:\n"
        "  name: openai\n"
        "  model: 'gpt-5.5'   # pinned\n"
        "\n"
        "# delivery\n"
        "git:\n"
        "  commit-strategy: per-violation\n"
    )
    update_config_file(
        config,
        {
            "limits.max-cost": 2.5,
            "confidence.enabled": True,
            "git.branch-prefix": "on",
            "limits.max-retries": None,
        },
    )
    text = config.read_text()
    assert text.startswith(
        "# team defaults: ask before changing\nlimits:\n  max-cost: 2.5 # dollars per run\n"
    )
    assert "  model: 'gpt-5.5'   # pinned\n\n# delivery\ngit:\n  commit-strategy: per-violation\n" in text
    assert [line for line in text.splitlines() if not line.startswith(" ")][1:5] == [
        "limits:", "provider:", "", "# delivery",
    ]  # fmt: skip
    settings = load_config(cwd=tmp_path).settings
    assert settings.git.branch_prefix == "on"  # quoted: YAML 1.1 would read a plain `on` as true
    assert settings.limits.max_cost == 2.5 and settings.confidence.enabled
    assert settings.provider.model == "gpt-5.5"
