"""Progress worth watching, checked where people watch it: a real pseudo-terminal, and a pipe."""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import pexpect
from tests.cli.helpers import analysis_of, copy_example
from tests.cli.terminal import ANSI, cli_env, command, in_terminal, piped

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.cli.progress import RunProgress
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"  # 7 files, one request each


def _plain(text: str) -> str:
    return re.sub(ANSI, "", text)


def test_the_live_view_shows_what_is_happening_cost_files_in_flight_and_rate_limit_waits(
    tmp_path: Path,
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond, latency=LatencyModel(ttft=0.4)) as server:
        started = time.monotonic()
        child = in_terminal(
            "remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--base-url", server.anthropic_base_url,
            "--max-cost", "5", "--batch-parallelism", "1", "--rate-limits", "rpm=3", cwd=tmp_path,
        )  # fmt: skip
        # What is happening, from before the first request: reading, then what was found.
        child.expect("reading .*output.yaml")
        assert server.request_count == 0
        assert time.monotonic() - started < 10
        child.expect(r"19 incidents to fix in 7 files")
        child.expect(r"\d+/19 incidents")
        child.expect(r"of \$5\.00 max")
        child.expect(r"tokens [\d,]+ in / [\d,]+ out")
        child.expect(r"in flight \(1\): \S+\.(java|xml)")
        child.expect(r"incidents/min")
        child.expect(r"about \d+:\d\d left")  # the time left, from the rate so far
        child.expect(r"waiting \d+ s on the provider's rate limit")  # rpm=3: the fourth request waits
        child.sendintr()
        time.sleep(0.3)
        child.sendintr()  # and abandon it: the test has seen what it came for
        child.expect(pexpect.EOF)
        child.close()
    assert child.exitstatus == 130


def test_after_ctrl_c_the_bar_stops_where_the_run_stopped_and_says_once_how_to_continue(
    tmp_path: Path,
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond, latency=LatencyModel(ttft=0.5)) as server:
        child = in_terminal(
            "remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--base-url", server.anthropic_base_url,
            "--batch-parallelism", "1", cwd=tmp_path,
        )  # fmt: skip
        seen = io.StringIO()
        child.logfile_read = seen
        child.expect(r"in flight \(1\)")
        while server.request_count < 2:
            time.sleep(0.05)
        child.sendintr()
        child.expect(pexpect.EOF)
        child.close()
        sent = server.request_count
    assert child.exitstatus == 130
    screen = _plain(seen.getvalue())
    frames = [int(n) for n in re.findall(r"(\d+)/19 incidents", screen)]
    assert frames and frames[-1] < 19, "the bar jumped to 100% after Ctrl-C"
    assert "19/19 incidents" not in screen
    assert sent < 7
    # The incidents it did not send are one row of the table, and "continue" is said once.
    assert len(re.findall(r"run stopped before this request", screen)) == 1
    assert len(re.findall(r"interrupted: run the same command again to continue", screen)) == 1
    # The report's path is a link the terminal can open (OSC 8), to the file itself.
    report_uri = (app / ".kantra-ai" / "report.html").resolve().as_uri()
    assert "\x1b]8;" in seen.getvalue() and report_uri in seen.getvalue()


def test_json_in_a_terminal_still_shows_progress_on_stderr(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    out = tmp_path / "result.json"
    with FakeProviderServer(respond, latency=LatencyModel(ttft=0.2)) as server:
        args = ["remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--base-url", server.anthropic_base_url]
        cli = shlex.join(command(*args, "--json", "--batch-parallelism", "1"))
        child = pexpect.spawn("bash", ["-c", f"{cli} > {shlex.quote(str(out))}"], cwd=str(tmp_path),
                              env=cli_env(), encoding="utf-8", timeout=60, dimensions=(40, 120))  # fmt: skip
        child.expect(r"\d+/19 incidents")  # the live view, on stderr (the terminal)
        child.expect(pexpect.EOF)
        child.close()
    assert child.exitstatus == 0
    assert json.loads(out.read_text())["incidents"]["fixed"] == 19  # stdout: only the JSON


def test_without_a_terminal_progress_lines_go_to_stderr_and_the_summary_to_stdout(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond, latency=LatencyModel(ttft=0.9)) as server:
        done = piped("remediate", "-a", analysis_of(EXAMPLE), "-i", app, "--base-url",
                     server.anthropic_base_url, "--batch-parallelism", "1", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("kantra-ai: progress: ")]
    assert len(lines) >= 2, done.stderr  # every few seconds, and once at the end
    assert lines[-1].startswith("kantra-ai: progress: 19/19 incidents (fixed 19, failed 0)")
    assert "\x1b[" not in done.stderr + done.stdout  # no escape codes in a log
    assert "incidents selected" in done.stdout and "changed 7 files" in done.stdout
    assert "report: " in done.stdout and "report.html" in done.stdout


def test_progress_counts_only_incidents_a_request_carried() -> None:
    """A run stopped after 2 of 7 incidents shows 2/7, not 7/7: the unsent ones were not done."""
    violation = Violation("rs", "rule", "a rule", Category.MANDATORY, 1)
    incidents = [Incident(f"i{n}", violation, "u", None, 1, "m") for n in range(7)]
    progress = RunProgress(max_cost=2.5)
    progress.run_planned(7, 7)
    progress.request_started("A.java", ("i0", "i1"))
    for incident in incidents[:2]:
        progress.incident_done(incident, IncidentOutcome(incident.id, Status.FIXED))
    for incident in incidents[2:]:
        progress.incident_done(incident, IncidentOutcome(incident.id, Status.SKIPPED, "run stopped"))
    assert (progress.done, progress.not_sent) == (2, 5)
    progress.request_started("B.java", ("i7",))
    broken = Incident("i7", violation, "u", PurePosixPath("src/B.java"), 12, "m")
    progress.incident_done(broken, IncidentOutcome("i7", Status.FAILED, "edit not applied: no match"))
    assert progress.last_failure == "src/B.java:12: edit not applied: no match"
    assert progress.line().startswith("progress: 3/7 incidents (fixed 2, failed 1)")
    assert "of $2.50 max" in progress.line()


def test_the_installed_command_says_something_before_the_cli_has_even_loaded(tmp_path: Path) -> None:
    """Loading the CLI takes a second or more on a busy machine: the `kantra-ai` command speaks first."""
    script = Path(sys.executable).with_name("kantra-ai")
    app = copy_example(EXAMPLE, tmp_path)
    args = ["remediate", "-a", str(analysis_of(EXAMPLE)), "-i", str(app), "-p", "simulated", "--dry-run"]
    child = pexpect.spawn(str(script), args, cwd=str(tmp_path), env=cli_env(), encoding="utf-8",
                          timeout=60, dimensions=(40, 120))  # fmt: skip
    started = time.monotonic()
    child.expect_exact("kantra-ai remediate: starting…")
    first = time.monotonic() - started
    child.expect("reading .*output.yaml")
    assert first < time.monotonic() - started
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    done = subprocess.run([str(script), *args], cwd=tmp_path, env=cli_env(), capture_output=True, text=True)
    assert done.returncode == 0 and "starting" not in done.stderr  # nothing extra in a log
