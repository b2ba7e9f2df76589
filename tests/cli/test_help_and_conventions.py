"""`--help` grouped into panels with choices and plain metavars, `kantra-ai` alone, the predecessor's
flags not built yet, `plan --interactive`'s keys, and `status` when piped or read as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pexpect
import pytest
from tests.cli.helpers import analysis_of, copy_example, run
from tests.cli.terminal import cli_env, in_terminal, piped

from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"


def test_kantra_ai_alone_prints_the_help_and_succeeds(tmp_path: Path) -> None:
    done = piped(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Usage: kantra-ai" in done.stdout and "remediate" in done.stdout
    assert "error" not in done.stderr


@pytest.mark.parametrize("command", ["remediate", "execute", "plan", "prompt", "status", "report"])
def test_help_groups_options_into_panels_with_choices_and_plain_metavars(
    command: str, tmp_path: Path
) -> None:
    done = piped(command, "-h", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert ("╭─ Input" in text and "╭─ Output" in text) or command == "report"
    for noise in ("<str>", "<list[str]>", "<int", "<float", "<path>", "<bool>"):
        assert noise not in text, f"{command} -h shows {noise}"
    assert "Examples" in text and "Exit codes" in text and "ANTHROPIC_API_KEY" in text


def test_remediate_help_shows_every_panel_and_the_choices(tmp_path: Path) -> None:
    text = piped("remediate", "--help", cwd=tmp_path, env=cli_env(COLUMNS="250")).stdout
    for panel in ("Input", "Model", "Selection", "Budget and batching", "History", "Confidence", "Output"):
        assert f"╭─ {panel} " in text, panel
    assert "[skip|warn-and-apply|manual-review-file]" in text
    assert "[claude|openai|" in text
    assert "[mandatory|optional|potential]" in text
    assert "-i " in text and "-a " in text
    # A negative form only where someone would type it (config files can turn these on).
    for never_typed in ("--no-json", "--no-resume", "--no-fresh", "--no-retry-failed"):
        assert never_typed not in text
    assert "--no-progress" in text


@pytest.mark.parametrize("command", ["remediate", "execute"])
def test_every_option_sits_in_a_named_panel(command: str, tmp_path: Path) -> None:
    """Only --help is left in the generic "Options" panel (--forge was there, apart from Git)."""
    text = piped(command, "--help", cwd=tmp_path, env=cli_env(COLUMNS="250")).stdout
    generic = text.split("╭─ Options ")[1].split("╰")[0]
    assert re.findall(r"--[a-z-]+", generic) == ["--help"], generic
    assert "--forge " in text.split("╭─ Git ")[1].split("╰")[0]


@pytest.mark.parametrize(
    ("command", "own"),
    [
        (["undo"], "1 some files were changed since the run wrote them"),
        (["status"], "0 done · 2 bad flag or input"),
        (["report"], "0 done · 2 bad flag or input"),
        (["portfolio", "run"], "0 every application ended done"),
    ],
)
def test_commands_that_run_no_job_list_their_own_exit_codes(
    command: list[str], own: str, tmp_path: Path
) -> None:
    """They listed remediate's ('0 every selected incident fixed', '75 --batch-api'), and undo's
    exit 1 (files changed since, left alone) was nowhere in its help."""
    text = " ".join(piped(*command, "--help", cwd=tmp_path, env=cli_env(COLUMNS="250")).stdout.split())
    assert own in text
    assert "every selected incident fixed" not in text and "75 --batch-api" not in text


def test_every_command_is_one_line_in_the_command_list_when_there_is_room(tmp_path: Path) -> None:
    """hub-addon's summary broke after 'the application' even at 250 columns (its docstring's
    first paragraph spanned two source lines in the middle of a sentence)."""
    text = piped("--help", cwd=tmp_path, env=cli_env(COLUMNS="250")).stdout
    rows = text.split("╭─ Commands ")[1].split("╰")[0].splitlines()[1:]
    continued = [row for row in rows if re.match(r"│\s{3,}\S", row)]
    assert continued == [], continued


def test_the_short_flags_of_kantra_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--dry-run", "--json") == 0
    assert json.loads(capsys.readouterr().out)["dry_run"] is True


def test_plan_interactive_shows_its_answer_keys_in_a_terminal(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    child = in_terminal("plan", "-a", analysis_of(EXAMPLE), "-i", app, "-o", tmp_path / "plan",
                        "--planner", "deterministic", "--interactive", cwd=tmp_path)  # fmt: skip
    child.expect_exact("[a]pprove, [d]efer, [k]eep as is?")
    child.sendline("d")
    while child.expect([re.escape("[a]pprove, [d]efer, [k]eep as is?"), pexpect.EOF]) == 0:
        child.sendline("k")
    child.close()
    assert child.exitstatus == 0
    assert "deferred: true" in (tmp_path / "plan" / "plan.yaml").read_text()


def test_status_piped_keeps_its_headers_whole_and_dates_have_years(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--base-url", fake.anthropic_base_url,
               "--no-progress", "--json") == 0  # fmt: skip
    done = piped("status", "-i", app, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if "started" in line)
    assert re.search(r"#\s+started\s+state\s+mode\s+planned\s+skipped\s+requests\s+outcomes\s+cost", header)
    assert re.search(r"\b20\d\d-\d\d-\d\d \d\d:\d\d\b", done.stdout)
    assert "javax-to-jakarta-import-00001" in done.stdout  # no rule id folded over two lines


def test_status_json_has_iso_8601_times_and_rounded_costs(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--base-url", fake.anthropic_base_url,
               "--no-progress", "--json") == 0  # fmt: skip
    capsys.readouterr()
    assert run("status", "-i", app, "--json") == 0
    view = json.loads(capsys.readouterr().out)
    latest = view["runs"][0]
    assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", latest["started_at"])
    assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", latest["finished_at"])
    assert latest["cost_usd"] == round(latest["cost_usd"], 6) and latest["cost_usd"] > 0
    assert len(repr(view["cost_usd"]).split(".")[-1]) <= 6
