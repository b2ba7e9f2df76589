"""`remediate`, `execute`, `plan` and `prompt` share one pipeline: the same checks at the same moment,
the same templates, the same estimates, the same domain rules."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.helpers import analysis_of, copy_example, run
from tests.store.helpers import store_rows

from kantra_ai.analysis.complexity import Complexity, complexity_of
from kantra_ai.analysis.model import Category, Violation
from kantra_ai.engine.confidence import DEFAULT_THRESHOLDS, ConfidencePolicy
from kantra_ai.formats import SEARCH_REPLACE, TOOL_CALL
from kantra_ai.plan.phases import ViolationGroup
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.base import ModelRequest
from kantra_ai.providers.caching import static_prefix_tokens
from kantra_ai.tokens import estimate_tokens
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"


def _templates(workdir: Path, java: str) -> None:
    (workdir / "java.j2").write_text(java)
    (workdir / ".kantra-ai.yaml").write_text(
        yaml.safe_dump({"prompts": {"language-templates": {"java": "java.j2"}}})
    )


def _plan(app: Path, out: Path) -> Path:
    assert run("plan", "--analysis", analysis_of(EXAMPLE), "--input", app, "--output", out,
               "--planner", "deterministic") == 0  # fmt: skip
    return out / "plan.yaml"


def _json(*args: str | Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(*args)
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else {})


def _runs(app: Path) -> list[str]:
    db = app / ".kantra-ai" / "state.db"
    return [state for (state,) in store_rows(db, "SELECT state FROM runs ORDER BY id")] if db.exists() else []


def test_execute_refuses_a_broken_template_before_it_locks_records_or_writes_anything(
    workdir: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, workdir)
    plan = _plan(app, workdir / "plan")
    _templates(workdir, "Rules: {% if incident_count > 1 %}{{ incidents[0].severity }}{% endif %}")
    capsys.readouterr()
    code = run("execute", "--plan", plan, "--input", app,
               "--base-url", fake.anthropic_base_url, "--no-progress")  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no attribute 'severity'" in err
    assert fake.request_count == 0
    assert _runs(app) == []  # no run marked crashed
    assert not (workdir / "plan" / "state.yaml").exists()  # no phase left in_progress


def test_remediate_refuses_a_broken_template_without_leaving_a_run_behind(
    workdir: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, workdir)
    _templates(workdir, "Rules: {% if incident_count > 1 %}{{ incidents[0].severity }}{% endif %}")
    code = run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app,
               "--base-url", fake.anthropic_base_url, "--no-progress")  # fmt: skip
    assert code == 2
    assert fake.request_count == 0
    assert _runs(app) == []


def test_execute_sends_the_users_templates_as_remediate_does(workdir: Path, fake: FakeProviderServer) -> None:
    app = copy_example(EXAMPLE, workdir)
    plan = _plan(app, workdir / "plan")
    _templates(workdir, "HOUSE RULES for {{ path }}")
    code = run("execute", "--plan", plan, "--input", app,
               "--base-url", fake.anthropic_base_url, "--no-progress")  # fmt: skip
    assert code == 0
    guidance = [
        block["text"]
        for request in fake.requests
        for block in request.messages[0]["content"]
        if isinstance(block, dict) and "HOUSE RULES for src/main/java/" in str(block.get("text", ""))
    ]
    assert guidance, "execute planned its requests without the user's templates"


def test_a_missing_api_key_is_one_line_and_leaves_no_run_behind(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, workdir)
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--no-progress") == 2
    assert "ANTHROPIC_API_KEY is not set" in capsys.readouterr().err
    assert _runs(app) == []


def test_plan_estimates_each_phase_as_execute_would_run_it(workdir: Path) -> None:
    app = copy_example("multi-violation", workdir)
    out = workdir / "plan"
    assert run("plan", "--analysis", analysis_of("multi-violation"), "--input", app, "--output", out,
               "--planner", "deterministic", "--risk-tolerance", "conservative") == 0  # fmt: skip
    planned = yaml.safe_load((out / "plan.yaml").read_text())["phases"]
    code, dry = _json("execute", "--plan", out / "plan.yaml", "--input", app, "--dry-run", "--json")
    assert code == 0
    by_phase = {row["phase"]: row for row in dry["phases"]}
    for phase in planned:
        if phase["deferred"]:
            continue
        row = by_phase[phase["id"]]
        assert phase["estimated_cost"] == row["expected_cost_usd"]
        assert phase["estimated_duration_minutes"] == row["minutes"]


def test_a_violation_without_effort_or_complexity_is_medium_for_the_planner_and_for_confidence() -> None:
    violation = Violation("rs", "no-effort", "informational finding", Category.POTENTIAL, None)
    assert complexity_of(violation) is Complexity.MEDIUM
    assert ViolationGroup(violation, [], "no-effort").complexity is Complexity.MEDIUM
    policy = ConfidencePolicy.build(enabled=True, thresholds=dict(DEFAULT_THRESHOLDS), overrides={})
    assert policy.threshold_for(violation) == DEFAULT_THRESHOLDS[Complexity.MEDIUM]


@pytest.mark.parametrize("edit_format", [TOOL_CALL, SEARCH_REPLACE], ids=lambda f: f.name)
def test_the_tool_definition_costs_the_same_tokens_wherever_it_is_counted(edit_format: Any) -> None:
    prompts = PromptBuilder(edit_format)
    tool_tokens = edit_format.tool.tokens if edit_format.tool else 0
    assert prompts.system_tokens() == estimate_tokens(prompts.system()) + tool_tokens
    request = ModelRequest(prompts.system(), "", "", 100, tool=edit_format.tool)
    assert static_prefix_tokens(request) == prompts.system_tokens()
    if edit_format.tool is not None:  # the whole definition (name, description, schema), not the schema alone
        assert tool_tokens > estimate_tokens(json.dumps(edit_format.tool.input_schema))


def test_every_command_shares_the_batching_defaults() -> None:
    """`plan` used to estimate with 8 requests in flight while `execute` ran 32."""
    import typer.main

    from kantra_ai.cli.app import app

    group = typer.main.get_command(app)
    defaults: dict[str, set[object]] = {}
    for name in ("remediate", "execute", "plan", "prompt"):
        command = group.commands[name]  # type: ignore[attr-defined]
        for param in command.params:
            if param.name in ("batch_size", "batch_parallelism", "max_batch_tokens", "max_retries"):
                defaults.setdefault(param.name, set()).add(param.default)
    assert defaults and all(len(values) == 1 for values in defaults.values()), defaults
