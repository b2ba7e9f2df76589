"""Nothing is paid twice after a kill: a reply that arrived whole is kept from inside the provider
call (before it travels back through pacing and retries) and applied on the rerun without a new
request; and the recovery message counts only requests the server received, not those that were
still waiting for their turn.

Runs are real `kantra-ai` processes (forked from the crash tests' fork server) killed with SIGKILL
at named moments (`KANTRA_AI_TEST_KILL_AT`) or while the fake provider holds their requests.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from bench.workloads import synthetic
from tests.cli.helpers import EXAMPLES, tree_differences
from tests.store.crash_helpers import exit_code, fork_context, remediate_argv, run_cli
from tests.store.helpers import store_rows

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.server import FakeProviderServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork are POSIX")

KEY = {"ANTHROPIC_API_KEY": "sk-ant-test-secret-0000"}
EXAMPLE = "javaee-inventory"


def _run(argv: list[str], log: Path, env: dict[str, str] | None = None) -> int | None:
    process = fork_context().Process(target=run_cli, args=(argv, {**KEY, **(env or {})}, str(log)))
    process.start()
    process.join(120)
    assert not process.is_alive(), log.read_text()
    return exit_code(process, log)


@pytest.mark.parametrize("moment", ["reply-kept:3", "response-unsaved:3"])
def test_a_reply_that_arrived_before_the_kill_is_applied_without_a_new_request_and_its_cost_counted(
    moment: str, tmp_path: Path
) -> None:
    """...and what it cost is in the store: before, the killed run's cost, and so the tree's cost
    so far, were "unknown" for good in `status`, the report and run.json, its tokens known."""
    app = tmp_path / "app"
    shutil.copytree(EXAMPLES / EXAMPLE / "app", app)
    with FakeProviderServer(respond) as server:
        argv = remediate_argv(EXAMPLES / EXAMPLE, app, server.anthropic_base_url, "--batch-parallelism", "1")
        assert _run(argv, tmp_path / "killed.log", {"KANTRA_AI_TEST_KILL_AT": moment}) == -9
        assert server.request_count == 3  # the third reply arrived whole, then the kill
        assert _run(argv, tmp_path / "again.log") == 0
        requests = server.request_count
    log = (tmp_path / "again.log").read_text()
    assert requests == 7  # one per file, as an uninterrupted run: the third was not asked again
    assert "requests had been sent" not in log  # nothing was lost
    assert tree_differences(app, EXAMPLES / EXAMPLE / "expected") == []
    db = app / ".kantra-ai" / "state.db"
    assert store_rows(db, "SELECT state, reused_replies FROM runs ORDER BY id") == [
        ("crashed", 0),
        ("finished", 1),
    ]
    assert store_rows(db, "SELECT count(*) FROM requests WHERE status='ok'") == [(7,)]
    assert store_rows(db, "SELECT count(*) FROM requests WHERE cost IS NULL") == [(0,)]


def test_the_recovery_counts_only_requests_the_server_received(tmp_path: Path) -> None:
    """Many files, a model that takes its time: the pacing sends a few requests and holds the rest
    back; a kill then must not report the held-back ones as lost in flight."""
    workload = synthetic(tmp_path / "work", files=24)
    slow = LatencyModel(ttft=60.0)
    with FakeProviderServer(respond, latency=slow) as server:
        argv = [
            "remediate", "--analysis", str(workload.analysis), "--input", str(workload.app),
            "--base-url", server.anthropic_base_url, "--no-progress",
        ]  # fmt: skip
        process = fork_context().Process(target=run_cli, args=(argv, KEY, str(tmp_path / "killed.log")))
        process.start()
        received = _wait_until_stable(server)
        process.kill()
        process.join()
        assert server.completion_times == [None] * received  # none was answered before the kill
        server.latency = LatencyModel()
        assert _run(argv, tmp_path / "again.log") in (0, 1)
    log = (tmp_path / "again.log").read_text()
    match = re.search(r"(\d+) requests had been sent and not answered yet", log)
    assert match is not None, log
    started = workload.files  # every file's request was started: each waited for the pacing
    assert received < started
    assert int(match.group(1)) == received
    lost = store_rows(
        workload.app / ".kantra-ai" / "state.db", "SELECT count(*) FROM requests WHERE status='lost'"
    )
    assert lost == [(received,)]


def _wait_until_stable(server: FakeProviderServer, quiet: float = 1.5, limit: float = 60.0) -> int:
    """The number of requests the server got once no new one came for `quiet` seconds."""
    deadline = time.monotonic() + limit
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = server.request_count
        if now != count:
            count, since = now, time.monotonic()
        elif count > 0 and time.monotonic() - since >= quiet:
            return count
        time.sleep(0.05)
    raise AssertionError(f"the run never settled at some requests in flight ({count})")


@pytest.mark.parametrize("moment", ["reply-kept:1", "response-unsaved:1"])
def test_a_packed_reply_that_arrived_before_the_kill_serves_every_file_in_it_without_a_new_request(
    moment: str, tmp_path: Path
) -> None:
    """Small files share requests (packing): a kill after one packed reply arrived whole must not ask
    it again for any of its files, and the tree ends as an uninterrupted run leaves it."""
    workload = synthetic(tmp_path / "work", files=14, small=True, name="small")
    reference = tmp_path / "reference"
    shutil.copytree(workload.app, reference)

    def argv(app: Path, base_url: str) -> list[str]:
        return [
            "remediate", "--analysis", str(workload.analysis), "--input", str(app),
            "--base-url", base_url, "--no-progress", "--batch-parallelism", "1",
        ]  # fmt: skip

    with FakeProviderServer(respond) as server:
        expected_code = _run(argv(reference, server.anthropic_base_url), tmp_path / "reference.log")
        uninterrupted = server.request_count
    assert uninterrupted < 14  # the files did share requests
    with FakeProviderServer(respond) as server:
        killed = _run(argv(workload.app, server.anthropic_base_url), tmp_path / "killed.log",
                      {"KANTRA_AI_TEST_KILL_AT": moment})  # fmt: skip
        assert killed == -9
        assert server.request_count == 1  # the first packed reply arrived whole, then the kill
        assert _run(argv(workload.app, server.anthropic_base_url), tmp_path / "again.log") == expected_code
        assert server.request_count == uninterrupted  # the packed reply was not asked again
    assert tree_differences(workload.app, reference) == []
