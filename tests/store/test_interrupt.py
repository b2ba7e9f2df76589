"""Ctrl-C: no new request starts, the one in flight finishes and is saved, the user is told how to
go on; a second Ctrl-C abandons what is in flight. Running the same command again finishes the job."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.helpers import EXAMPLES, expected_of, remediate_json, tree_differences
from tests.store.crash_helpers import exit_code, fork_context, remediate_argv, run_cli
from tests.store.helpers import store_rows

from kantra_ai.simulated.contract import FakeReply, FakeRequest
from kantra_ai.simulated.recipes import respond
from kantra_ai.store.session import RESUME_HINT
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.server import FakeProviderServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

KEY = {"ANTHROPIC_API_KEY": "sk-ant-test-secret-0000"}
EXAMPLE = "javaee-inventory"  # 7 files, one request each


def _wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _interrupt(
    tmp_path: Path, server: FakeProviderServer, presses: int, sent: signal.Signals = signal.SIGINT
) -> tuple[Path, int | None, str]:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLES / EXAMPLE / "app", app)
    argv = remediate_argv(EXAMPLES / EXAMPLE, app, server.anthropic_base_url, "--batch-parallelism", "1")
    log = tmp_path / "run.log"
    process = fork_context().Process(target=run_cli, args=(argv, KEY, str(log)))
    process.start()
    _wait_for(lambda: server.request_count >= 2)  # the second request is in flight
    for _ in range(presses):
        os.kill(process.pid or 0, sent)
        time.sleep(0.2)
    process.join(30)
    return app, exit_code(process, log), log.read_text()


def _finish(app: Path, server: FakeProviderServer, tmp_path: Path) -> int | None:
    argv = remediate_argv(EXAMPLES / EXAMPLE, app, server.anthropic_base_url)
    process = fork_context().Process(target=run_cli, args=(argv, KEY, str(tmp_path / "again.log")))
    process.start()
    process.join(60)
    return exit_code(process, tmp_path / "again.log")


@pytest.mark.slow
def test_ctrl_c_lets_the_request_in_flight_finish_saves_it_and_says_how_to_resume(tmp_path: Path) -> None:
    with FakeProviderServer(respond, latency=LatencyModel(ttft=0.5)) as server:
        app, code, log = _interrupt(tmp_path, server, presses=1)
        assert code == 130, log
        assert RESUME_HINT in log and "stopping" in log
        db = app / ".kantra-ai" / "state.db"
        assert store_rows(db, "SELECT state FROM runs") == [("interrupted",)]
        # The reply in flight arrived and was applied: every request sent was paid once, and saved.
        sent = server.request_count
        assert store_rows(db, "SELECT status, count(*) FROM requests GROUP BY status") == [("ok", sent)]
        assert store_rows(db, "SELECT count(*) FROM incidents WHERE status = 'in_flight'") == [(0,)]
        assert _finish(app, server, tmp_path) == 0
        assert server.request_count == 7  # nothing was asked twice
    assert tree_differences(app, expected_of(EXAMPLE)) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("presses", "sent", "said"),
    [
        (2, signal.SIGINT, "abandoning"),
        # What `docker stop`, systemd or a CI cancel send: the run does not die where it stands (a
        # running check orphaned, the run found crashed later) but stops as a second Ctrl-C does.
        (1, signal.SIGTERM, "terminated (SIGTERM)"),
    ],
    ids=["second-ctrl-c", "sigterm"],
)
def test_a_second_ctrl_c_or_a_sigterm_abandons_the_request_in_flight(
    tmp_path: Path, presses: int, sent: signal.Signals, said: str
) -> None:
    release = threading.Event()
    numbers = itertools.count(1)

    def second_hangs(request: FakeRequest) -> FakeReply:
        if next(numbers) == 2:
            release.wait(20)
        return respond(request)

    started = time.monotonic()
    with FakeProviderServer(second_hangs) as server:
        app, code, log = _interrupt(tmp_path, server, presses=presses, sent=sent)
        release.set()
        assert code == 130, log
        assert time.monotonic() - started < 15  # it did not wait for the hanging reply
        assert said in log and RESUME_HINT in log
        # The hint says it once; the CLI does not say "interrupted" again after it.
        assert log.count(RESUME_HINT) == 1 and "kantra-ai: interrupted" not in log.splitlines(), log
        db = app / ".kantra-ai" / "state.db"
        assert store_rows(db, "SELECT state FROM runs") == [("interrupted",)]
        assert store_rows(db, "SELECT status FROM requests ORDER BY id") == [("ok",), ("cancelled",)]
        assert store_rows(db, "SELECT count(*) FROM incidents WHERE status = 'in_flight'") == [(0,)]
        assert _finish(app, server, tmp_path) == 0
        assert server.request_count == 8  # the abandoned request is the only one asked again
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def _hanging_on(number: int, release: threading.Event) -> Callable[[FakeRequest], FakeReply]:
    """The scripted model, with the request `number` (counted from 1) held until `release`."""
    numbers = itertools.count(1)

    def respond_or_hang(request: FakeRequest) -> FakeReply:
        if next(numbers) == number:
            release.wait(20)
        return respond(request)

    return respond_or_hang


def _stopped_at_once(
    app: Path, server: FakeProviderServer, signals: list[signal.Signals], *extra: str
) -> tuple[int, str, str, float]:
    """The console entry point in a fresh interpreter (its stdout and stderr apart: `--json` must
    reach a pipe whole), sent `signals` once its second request is in flight. Returns its exit
    code, stdout, stderr and the seconds from the first signal to its exit."""
    argv = [
        sys.executable,
        "-m",
        "kantra_ai.cli.app",
        *remediate_argv(EXAMPLES / EXAMPLE, app, server.anthropic_base_url, "--batch-parallelism", "1"),
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "KANTRA_AI_"))}
    process = subprocess.Popen(
        argv, env={**env, **KEY}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    before = server.request_count
    _wait_for(lambda: server.request_count >= before + 2)  # the second request is on the wire
    started = time.monotonic()
    for sent in signals:
        process.send_signal(sent)
        time.sleep(0.2)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize(
    "signals",
    [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM]],
    ids=["second-ctrl-c", "sigterm"],
)
def test_a_second_ctrl_c_or_a_sigterm_still_gives_the_json_summary_and_writes_the_report(
    tmp_path: Path, signals: list[signal.Signals]
) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLES / EXAMPLE / "app", app)
    release = threading.Event()
    with FakeProviderServer(_hanging_on(2, release), latency=LatencyModel(ttft=0.3)) as server:
        code, out, err, seconds = _stopped_at_once(app, server, signals, "--json")
        release.set()
    assert code == 130, err
    assert seconds < 10, err  # it did not wait for the hanging reply
    assert err.count(RESUME_HINT) == 1 and "kantra-ai: interrupted" not in err.splitlines(), err
    summary = json.loads(out)  # the whole document, as after the first Ctrl-C
    assert summary["store"]["state"] == "interrupted"
    db = app / ".kantra-ai" / "state.db"
    [(fixed,)] = store_rows(db, "SELECT count(*) FROM incidents WHERE status = 'fixed'")
    assert fixed > 0 and summary["incidents"]["fixed"] == fixed  # the first request's fixes
    assert summary["changed_files"] and summary["requests"] == 1
    # The request in flight is named as abandoned, with its incidents; its cost is not known.
    [(path, abandoned)] = store_rows(db, "SELECT path, incident_ids FROM requests WHERE status = 'cancelled'")
    block = summary["abandoned"]
    assert block["requests"] == 1 and block["files"] == [path] and block["cost_usd"] is None
    assert set(block["incidents"]) == set(json.loads(abandoned))
    reasons = {row["id"]: row["reason"] for row in summary["outcomes"]}
    assert all(reasons[i].startswith("abandoned in flight") for i in block["incidents"])
    # The report is written (a fresh tree had none) and holds this run as the store does.
    assert summary["report"] == str(app / ".kantra-ai" / "report.html")
    assert Path(summary["report"]).is_file()
    record = json.loads((app / ".kantra-ai" / "run.json").read_text())
    assert [r["state"] for r in record["runs"]] == ["interrupted"]
    assert sum(i["status"] == "fixed" for i in record["incidents"]) == fixed


@pytest.mark.slow
def test_a_second_ctrl_c_prints_the_summary_and_leaves_no_stale_report_of_the_run_before(
    tmp_path: Path,
) -> None:
    release = threading.Event()
    with FakeProviderServer(_hanging_on(3, release), latency=LatencyModel(ttft=0.3)) as server:
        # Run 1 stops at the first Ctrl-C and writes its report; run 2 (requests 3 and 4 on) is
        # stopped by a second Ctrl-C while its second request hangs.
        app, code, log = _interrupt(tmp_path, server, presses=1)
        assert code == 130, log
        code, out, err, _ = _stopped_at_once(app, server, [signal.SIGINT, signal.SIGINT])
        release.set()
    assert code == 130, err
    assert "incidents selected" in out  # the summary table, as after the first Ctrl-C
    assert "abandoned 1 requests in flight" in out and "not in the cost above" in out
    assert "interrupted: run the same command again to continue where it stopped" in out
    assert err.count(RESUME_HINT) == 1, err
    db = app / ".kantra-ai" / "state.db"
    record = json.loads((app / ".kantra-ai" / "run.json").read_text())
    assert [r["state"] for r in record["runs"]] == ["interrupted", "interrupted"]
    [(fixed,)] = store_rows(db, "SELECT count(*) FROM incidents WHERE status = 'fixed'")
    assert sum(i["status"] == "fixed" for i in record["incidents"]) == fixed


def test_max_minutes_stops_the_run_as_ctrl_c_does_and_the_same_command_continues_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLES / EXAMPLE / "app", app)
    # Seven requests of 0.8 s one at a time: 1.2 s in, the second is in flight; it finishes, no other starts.
    with FakeProviderServer(respond, latency=LatencyModel(ttft=0.8)) as server:
        code, summary = remediate_json(
            EXAMPLE, app, server, "--batch-parallelism", "1", "--max-minutes", "0.02"
        )
        err = capsys.readouterr().err
        assert code == 130, err
        assert "the run's time limit passed (--max-minutes 0.02): stopping as Ctrl-C would" in err
        sent = server.request_count
        assert 1 <= sent < 7 and summary["requests"] == sent
        db = app / ".kantra-ai" / "state.db"
        assert store_rows(db, "SELECT state FROM runs") == [("interrupted",)]
        assert store_rows(db, "SELECT status, count(*) FROM requests GROUP BY status") == [("ok", sent)]
        again, _ = remediate_json(EXAMPLE, app, server)
        assert again == 0
        assert server.request_count == 7  # nothing was asked twice
    assert tree_differences(app, expected_of(EXAMPLE)) == []
