"""One run per tree at a time; a store that is not ours, damaged or too new is refused in one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from tests.cli.helpers import EXAMPLES, copy_example, expected_of, run, tree_differences
from tests.store.crash_helpers import remediate_argv
from tests.store.helpers import one_line_error, remediate, store_rows

from kantra_ai.simulated.contract import FakeReply, FakeRequest
from kantra_ai.simulated.recipes import respond
from kantra_ai.store import schema
from kantra_ai.store.lock import TreeLock
from kantra_ai.store.schema import APPLICATION_ID, SCHEMA_VERSION, StoreError
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"


def _pristine(tmp_path: Path) -> Path:
    return copy_example(EXAMPLE, tmp_path / "pristine")


def test_a_second_run_on_the_same_tree_is_refused_while_the_first_holds_the_lock(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with TreeLock(app / ".kantra-ai" / "lock") as held:
        held.acquire()
        code, _ = remediate(EXAMPLE, app, fake)
    assert code == 2
    error = one_line_error(capsys.readouterr().err)
    assert "another kantra-ai run" in error and "--wait-lock" in error
    assert fake.request_count == 0
    assert tree_differences(app, _pristine(tmp_path)) == []


def test_wait_lock_waits_for_the_other_run_and_then_works(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    held = TreeLock(app / ".kantra-ai" / "lock")
    held.acquire()
    releaser = threading.Timer(0.5, held.release)
    releaser.start()
    try:
        code, _ = remediate(EXAMPLE, app, fake, "--wait-lock")
    finally:
        releaser.join()
    assert code == 0
    assert "waiting for another kantra-ai run" in capsys.readouterr().err
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_the_lock_is_released_when_a_run_ends(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    remediate(EXAMPLE, app, fake)
    lock = TreeLock(app / ".kantra-ai" / "lock")
    lock.acquire()  # would raise LockBusy if the run had kept it
    lock.release()


def _corrupt(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database, it was overwritten by something else\n" * 100)


def _foreign(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    db.commit()
    db.close()


def _newer(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.execute("CREATE TABLE future (x)")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    "spoil, fragment",
    [(_corrupt, "not a usable kantra-ai run store"), (_foreign, "another application"), (_newer, "newer")],
    ids=["corrupted", "foreign", "newer"],
)
def test_a_store_that_cannot_be_used_is_a_one_line_error_with_a_way_out(
    spoil: object, fragment: str, tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    store = app / ".kantra-ai" / "state.db"
    spoil(store)  # type: ignore[operator]
    before = store.read_bytes()
    code, _ = remediate(EXAMPLE, app, fake)
    assert code == 2
    error = one_line_error(capsys.readouterr().err)
    assert fragment in error and f"mv {store} {store}.bad" in error and "--state" in error
    assert store.read_bytes() == before  # never "repaired" behind the user's back
    assert fake.request_count == 0
    assert tree_differences(app, _pristine(tmp_path)) == []
    # The way out works.
    store.rename(store.with_name("state.db.bad"))
    assert remediate(EXAMPLE, app, fake)[0] == 0


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p.mkdir(), "is not a regular file"),
        (lambda p: p.write_text("notes\n"), "is not a usable kantra-ai run store"),
    ],
    ids=["folder", "text-file"],
)
def test_a_state_path_that_is_no_store_is_refused_before_the_tree_is_touched(
    make: object,
    fragment: str,
    dry_run: bool,
    tmp_path: Path,
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    state = tmp_path / "elsewhere"
    make(state)  # type: ignore[operator]
    code, _ = remediate(EXAMPLE, app, fake, "--state", str(state), *(["--dry-run"] if dry_run else []))
    assert code == 2
    assert fragment in one_line_error(capsys.readouterr().err)
    assert fake.request_count == 0
    assert not (app / ".kantra-ai").exists()  # no lock, no .gitignore: nothing made in the tree
    assert tree_differences(app, _pristine(tmp_path)) == []


def test_a_new_store_and_its_log_are_readable_by_this_user_only(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    # It keeps the files' text before and after each fix and the model's replies.
    app = copy_example(EXAMPLE, tmp_path)
    store = app / ".kantra-ai" / "state.db"
    assert remediate(EXAMPLE, app, fake)[0] == 0
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    db = sqlite3.connect(store)  # holding it open keeps its write-ahead log
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        for log in (store.with_name("state.db-wal"), store.with_name("state.db-shm")):
            assert stat.S_IMODE(log.stat().st_mode) == 0o600, log
    finally:
        db.execute("DROP TABLE IF EXISTS probe")
        db.close()


def test_status_shows_runs_violations_and_cost_so_far(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("multi-violation", tmp_path)
    remediate("multi-violation", app, fake)
    remediate("multi-violation", app, fake)
    capsys.readouterr()
    assert run("status", "--input", app, "--json") == 0
    view = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in view["runs"]] == ["finished", "finished"]
    newest, first = view["runs"]
    assert first["requests"] == 5 and newest["requests"] == 0
    assert newest["skipped_as_done"] == 28 and first["outcomes"] == {"fixed": 27, "failed": 1}
    assert view["incidents"]["fixed"] == 27 and view["incidents"]["failed"] == 1
    assert view["by_violation"]["jndi-to-quarkus-00001"]["failed"] == 1
    assert view["cost_usd"] == pytest.approx(first["cost_usd"]) and view["cost_usd"] > 0
    assert run("status", "--input", app) == 0
    table = capsys.readouterr().out
    assert "Runs" in table and "jndi-to-quarkus-00001" in table and "cost so far $" in table


def _killed_with_a_request_on_the_wire(app: Path, fake: FakeProviderServer) -> None:
    """A remediate SIGKILLed with its first request on the wire: nothing gets to record how it ended."""
    remediate_args = remediate_argv(EXAMPLES / EXAMPLE, app, fake.anthropic_base_url)
    argv = [sys.executable, "-m", "kantra_ai.cli.app", *remediate_args, "--batch-parallelism", "1"]
    killed = subprocess.run(
        argv,
        env={**os.environ, "KANTRA_AI_TEST_KILL_AT": "request-started:1"},
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def test_status_shows_the_incidents_not_sent_apart_from_the_models_does_not_apply_as_the_report_does(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # javaee-inventory's dependency incident has no file to edit: the analysis's "not applicable",
    # never sent, so no incident row; the model's "does not apply" (n/a) is another thing.
    app = copy_example(EXAMPLE, tmp_path)
    remediate(EXAMPLE, app, fake)
    assert run("undo", "--input", app) == 0  # a run of its own that selects nothing
    assert run("report", "--input", app) == 0
    capsys.readouterr()
    assert run("status", "--input", app, "--json") == 0
    view = json.loads(capsys.readouterr().out)
    assert view["not_sent"] == {"dependency": 1} and view["incidents"]["not_applicable"] == 0
    record = json.loads((app / ".kantra-ai" / "run.json").read_text())
    assert [r["reason"] for r in record["not_applicable"]] == ["dependency"]
    assert run("status", "--input", app) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "not applicable (not sent, as of the last run): 1 (dependency 1)" in out


def test_status_shows_a_killed_run_as_crashed_and_its_incidents_in_flight_as_pending_writing_nothing(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    _killed_with_a_request_on_the_wire(app, fake)
    db = app / ".kantra-ai" / "state.db"
    left = (
        "SELECT (SELECT group_concat(state) FROM runs),"
        " (SELECT count(*) FROM incidents WHERE status='in_flight')"
    )
    [(states, in_flight)] = store_rows(db, left)
    assert states == "running" and in_flight > 0
    capsys.readouterr()
    assert run("status", "--input", app, "--json") == 0
    view = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in view["runs"]] == ["crashed"]
    assert view["incidents"]["in_flight"] == 0 and view["incidents"]["pending"] == 19
    assert sum(c["in_flight"] for c in view["by_violation"].values()) == 0
    assert store_rows(db, left) == [(states, in_flight)]  # status only looks: the next run recovers
    # While a process holds the tree's lock, its run is working, not crashed.
    with TreeLock(app / ".kantra-ai" / "lock") as held:
        held.acquire()
        assert run("status", "--input", app, "--json") == 0
    view = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in view["runs"]] == ["running"] and view["incidents"]["in_flight"] == in_flight


def test_the_report_of_a_killed_run_shows_its_incidents_in_flight_as_pending_and_its_lost_request(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    _killed_with_a_request_on_the_wire(app, fake)
    capsys.readouterr()
    assert run("report", "--input", app) == 0
    record = json.loads((app / ".kantra-ai" / "run.json").read_text())
    capsys.readouterr()
    assert run("status", "--input", app, "--json") == 0
    view = json.loads(capsys.readouterr().out)
    # The report says what status says: pending again, as the next run records them.
    statuses = Counter(i["status"] for i in record["incidents"])
    assert statuses == {"pending": view["incidents"]["pending"]} and sum(statuses.values()) == 19
    # The request on the wire is lost: the provider may bill it, nobody knows what, so no cost
    # counts it as $0 without saying so.
    assert view["lost_requests"] == 1 and view["runs"][0]["lost_requests"] == 1
    assert record["totals"]["lost_requests"] == 1
    assert "not counting 1 requests lost in flight" in (app / ".kantra-ai" / "report.html").read_text()
    assert run("status", "--input", app) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "not counting 1 requests lost in flight: their cost is unknown" in out and "1 (1 lost)" in out


def test_a_store_deleted_during_the_run_is_said_and_the_summary_still_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`git clean -fdx` or `rm -r .kantra-ai` while a request is in flight takes the run's record
    with it. The run says so and still shows what it did. Before: exit 2 with "no run store ...
    (nothing has run on this tree yet)" and no summary, after changing every file."""
    app = copy_example(EXAMPLE, tmp_path)
    target = "src/main/java/com/example/inventory/model/Product.java"

    def delete_the_store_then_respond(request: FakeRequest) -> FakeReply:
        if target in request.last_user_text():
            shutil.rmtree(app / ".kantra-ai", ignore_errors=True)
        return respond(request)

    with FakeProviderServer(delete_the_store_then_respond) as server:
        code, summary = remediate(EXAMPLE, app, server)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "was deleted or replaced during the run" in err and "recorded in no store" in err
    assert summary["store"]["deleted_during_run"] is True
    assert summary["report"] is None
    assert summary["report_error"] == "the run store was deleted or replaced during the run"
    assert {o["status"] for o in summary["outcomes"]} == {"fixed"}
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_a_store_that_cannot_be_written_mid_run_stops_it_saying_how_to_continue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program holds the store (a database browser's write transaction; a full disk ends
    the same way) while a request is in flight: the run stops in one line that says it stopped and
    how to continue, and the same command then finishes the job. Before: the bare SQLite message,
    as for a store refused before anything was done."""
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 300)
    app = copy_example(EXAMPLE, tmp_path)
    target = "src/main/java/com/example/inventory/model/Product.java"
    holders: list[sqlite3.Connection] = []

    def lock_the_store_then_respond(request: FakeRequest) -> FakeReply:
        if target in request.last_user_text() and not holders:
            holder = sqlite3.connect(
                app / ".kantra-ai" / "state.db", isolation_level=None, check_same_thread=False
            )
            holder.execute("BEGIN EXCLUSIVE")
            holders.append(holder)
        return respond(request)

    try:
        with FakeProviderServer(lock_the_store_then_respond) as server:
            code, summary = remediate(EXAMPLE, app, server)
    finally:
        for holder in holders:
            holder.close()  # the other program lets go
    error = one_line_error(capsys.readouterr().err.splitlines()[-1])
    assert code == 2 and summary == {}
    assert "database is locked" in error
    assert "the run stopped there" in error and "run the same command again to continue" in error
    with FakeProviderServer(respond) as server:
        code, summary = remediate(EXAMPLE, app, server)
    assert code == 0, capsys.readouterr().err
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_status_of_a_tree_without_a_store_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert run("status", "--input", app) == 2
    assert "no run store" in one_line_error(capsys.readouterr().err)
    assert not (app / ".kantra-ai").exists()


@pytest.mark.parametrize("command", ["status", "report"])
def test_a_store_row_damaged_by_hand_is_a_one_line_error(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate(EXAMPLE, app, fake)[0] == 0
    store = app / ".kantra-ai" / "state.db"
    with sqlite3.connect(store) as db:
        db.execute("UPDATE runs SET started_at = 'garbage'")
    db.close()
    capsys.readouterr()
    assert run(command, "--input", app) == 2
    error = one_line_error(capsys.readouterr().err)
    assert error.endswith("damaged: run #1 has started_at 'garbage', not a time"), error


def test_undo_on_a_store_missing_a_table_touches_no_file(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A table dropped by hand: `undo` restored the first file, then failed on the missing table
    (exit 2 says nothing changed). The store is refused when opened, before anything is done."""
    app = copy_example(EXAMPLE, tmp_path)
    assert remediate(EXAMPLE, app, fake)[0] == 0
    fixed = {p: p.read_bytes() for p in app.rglob("*") if p.is_file() and ".kantra-ai" not in p.parts}
    store = app / ".kantra-ai" / "state.db"
    with sqlite3.connect(store) as db:
        db.execute("DROP TABLE outcomes")
    db.close()
    capsys.readouterr()
    assert run("undo", "--input", app) == 2
    error = one_line_error(capsys.readouterr().err)
    assert "is damaged (table outcomes is missing)" in error and f"mv {store} {store}.bad" in error
    assert {p: p.read_bytes() for p in app.rglob("*") if p.is_file() and ".kantra-ai" not in p.parts} == fixed


def test_a_store_this_user_may_not_open_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A state folder of mode 000 (or another user's): the stat before opening raises."""

    def denied(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(schema, "_refuse_stray_files", denied)
    with pytest.raises(StoreError, match=r"^cannot open the run store .*state\.db: Permission denied$"):
        schema.connect(tmp_path / ".kantra-ai" / "state.db")
