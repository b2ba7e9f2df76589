"""Ctrl-C: no new request starts, the one in flight finishes and is saved, the user is told how to
go on; a second Ctrl-C abandons what is in flight. Running the same command again finishes the job."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.cli.helpers import EXAMPLES, expected_of, tree_differences
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
        assert log.count("interrupted") == 1, log  # the hint says it; the CLI does not say it again
        db = app / ".kantra-ai" / "state.db"
        assert store_rows(db, "SELECT state FROM runs") == [("interrupted",)]
        assert store_rows(db, "SELECT status FROM requests ORDER BY id") == [("ok",), ("cancelled",)]
        assert store_rows(db, "SELECT count(*) FROM incidents WHERE status = 'in_flight'") == [(0,)]
        assert _finish(app, server, tmp_path) == 0
        assert server.request_count == 8  # the abandoned request is the only one asked again
    assert tree_differences(app, expected_of(EXAMPLE)) == []
