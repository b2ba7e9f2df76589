"""The run store on PostgreSQL (`--store URL`): the same behaviour as the SQLite file, a lease per
application that fences out a stale attempt, the same migrations, and no password in any output."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg
import pytest
from tests.cli.helpers import analysis_of, copy_example, expected_of, run, tree_differences
from tests.store.helpers import one_line_error, remediate

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.report.job import job_record
from kantra_ai.simulated.recipes import respond
from kantra_ai.store.checks import find_baseline, unrecorded_reverts
from kantra_ai.store.history import HistoryOptions
from kantra_ai.store.migrations import MIGRATIONS
from kantra_ai.store.postgres import _MIGRATION_LOCK as MIGRATION_LOCK
from kantra_ai.store.queries import store_view
from kantra_ai.store.review import FileQuery, list_files, record_decision
from kantra_ai.store.run_store import RunStore
from kantra_ai.store.schema import StoreError, connect_url
from kantra_ai.store.session import RunSession, open_store
from testing.fakeprovider.server import FakeProviderServer
from testing.postgres import PostgresServer

RULE = Violation("rules", "javax-to-jakarta", "rename", Category.MANDATORY, 1)
INCIDENT = Incident("abc123", RULE, "file:///src/A.java", PurePosixPath("src/A.java"), 1, "use jakarta")


def _begin(store: RunStore) -> int:
    return store.begin_run(
        mode="incremental", analysis="a", provider="p", model="m", resumes=None, selected=1, planned=1,
        skipped_done=0,
    )  # fmt: skip


def test_a_rerun_against_the_database_sends_nothing_and_leaves_the_expected_tree(
    tmp_path: Path, fake: FakeProviderServer, postgres_url: str
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    code, summary = remediate("javaee-inventory", app, fake, "--store", postgres_url)
    assert code == 0 and summary["requests"] > 0
    assert not (app / ".kantra-ai" / "state.db").exists()  # the database holds the history
    sent = fake.request_count
    code, summary = remediate("javaee-inventory", app, fake, "--store", postgres_url)
    assert (code, fake.request_count) == (0, sent)
    assert summary["store"]["skipped"]["fixed"] == 19
    assert tree_differences(app, expected_of("javaee-inventory")) == []


def test_the_store_url_is_taken_from_the_environment_and_its_password_never_shown(
    tmp_path: Path,
    fake: FakeProviderServer,
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = postgres_server.fresh_url(password="pg-secret-0000")  # trust auth: any password is taken
    monkeypatch.setenv("KANTRA_AI_STORE", url)
    app = copy_example("javaee-inventory", tmp_path)
    code, summary = remediate("javaee-inventory", app, fake)
    assert code == 0 and summary["store"]["path"].startswith("postgresql://kantra@127.0.0.1")
    assert run("status", "--input", app, "--json") == 0
    out = capsys.readouterr()
    assert '"runs"' in out.out
    assert "pg-secret-0000" not in out.out + out.err + str(summary)


def test_an_unreachable_database_is_one_line_and_no_file_is_touched(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    url = "postgresql://kantra:pg-secret-1111@127.0.0.1:1/none"
    code, _ = remediate("javaee-inventory", app, fake, "--store", url)
    err = one_line_error(capsys.readouterr().err)
    assert code == 2 and "cannot connect to postgresql://kantra@127.0.0.1:1/none" in err
    assert "pg-secret-1111" not in err
    assert fake.request_count == 0
    assert tree_differences(app, copy_example("javaee-inventory", tmp_path / "again")) == []
    assert not (app / ".kantra-ai").exists()  # refused before the tree's lock was made


def test_a_stale_attempt_cannot_write_once_its_retry_took_the_lease(postgres_url: str) -> None:
    stale = RunStore.open(postgres_url, "app-7")
    assert stale.take_lease("pod-a") == 1
    run_id = _begin(stale)
    stale.register(run_id, [INCIDENT])
    retry = RunStore.open(postgres_url, "app-7")
    assert retry.take_lease("pod-b") == 2  # the retry began
    with pytest.raises(StoreError, match="lease on 'app-7' was taken by a newer attempt \\(pod-b\\)"):
        stale.request_started(run_id, "src/A.java", [INCIDENT.id])
    assert retry.query("SELECT count(*) FROM requests") == [(0,)]  # nothing of the stale write
    assert retry.known()[INCIDENT.id].status == "pending"
    retry.request_started(run_id, "src/A.java", [INCIDENT.id])  # the holder writes
    assert retry.known()[INCIDENT.id].status == "in_flight"


def test_leases_are_per_application(postgres_url: str) -> None:
    one = RunStore.open(postgres_url, "app-1")
    one.take_lease("pod-a")
    other = RunStore.open(postgres_url, "app-2")
    other.take_lease("pod-b")
    _begin(one)  # another application's attempt does not fence this one
    assert one.last_run() is not None and other.last_run() is None


def test_applications_opening_a_new_database_at_once_all_get_the_one_store(postgres_url: str) -> None:
    """A portfolio's first applications start together on an empty database: one creates the
    store, the others wait for it and then find it (none mistakes it for someone else's). The
    test holds the store's creation lock until all six have looked and are waiting for it."""
    with psycopg.connect(postgres_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        with ThreadPoolExecutor(6) as pool:
            opened = [pool.submit(RunStore.open, postgres_url, f"app-{n}") for n in range(6)]
            waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            deadline = time.monotonic() + 30
            while holder.execute(waiting).fetchone() != (6,) and time.monotonic() < deadline:
                time.sleep(0.02)
            holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
            stores = [future.result() for future in opened]
    try:
        assert sorted(_begin(store) for store in stores) == list(range(1, 7))
    finally:
        for store in stores:
            store.close()


def test_the_verification_of_a_first_run_reads_no_earlier_runs_from_postgresql(postgres_url: str) -> None:
    store = RunStore.open(postgres_url, ".")
    try:
        assert unrecorded_reverts(store, [], "reverted") == []
        assert find_baseline(store, []) is None
    finally:
        store.close()


def test_an_older_store_is_brought_up_by_the_same_migrations(postgres_url: str) -> None:
    connect_url(postgres_url, migrations=MIGRATIONS[:3]).close()  # as an older release left it
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('deliveries')").fetchone() == (None,)
    store = RunStore.open(postgres_url, ".")
    assert store.query("SELECT version FROM kantra_ai_schema") == [(len(MIGRATIONS),)]
    assert store.query("SELECT count(*) FROM deliveries") == [(0,)]


def test_a_newer_tools_store_and_a_foreign_database_are_refused(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    RunStore.open(postgres_url, ".").close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE kantra_ai_schema SET version = version + 1")
    with pytest.raises(StoreError, match="written by a newer kantra-ai"):
        RunStore.open(postgres_url, ".")
    foreign = postgres_server.fresh_url()
    with psycopg.connect(foreign, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (x int)")
    with pytest.raises(StoreError, match="not a kantra-ai run store"):
        RunStore.open(foreign, ".")
    with psycopg.connect(foreign) as conn:  # and left as it was
        assert conn.execute("SELECT to_regclass('kantra_ai_schema')").fetchone() == (None,)


_VARYING = (
    *("_at", "started", "finished", "seconds", "duration", "pid", "generated"),
    *("store", "input", "alive", "tree"),
)


def _comparable(value: Any) -> Any:
    """A view without what differs between two runs of the same job: times, process, where."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if not any(word in k for word in _VARYING)}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def test_status_review_and_report_read_the_same_from_both_backends(tmp_path: Path, postgres_url: str) -> None:
    views = []
    for backend, extra in (("sqlite", ()), ("postgresql", ("--store", postgres_url))):
        app = copy_example("multi-violation", tmp_path / backend)
        # One server each and one request at a time: the same cache hits, so the same costs per file
        # (requests racing for the cache would make them differ from run to run on a loaded machine).
        with FakeProviderServer(respond) as fake:
            serial = ("--batch-parallelism", "1", *extra)
            assert remediate("multi-violation", app, fake, *serial)[0] == 1  # one incident needs a human
        store = open_store(app, None, create=False, store=extra[1] if extra else None)
        try:
            first = list_files(store, FileQuery()).rows[0]
            record_decision(store, first.path, "accepted", "sha-1")
            record_decision(store, first.path, "rejected", "sha-2")  # replaces the first decision
            views.append(
                {
                    "status": store_view(store, app),
                    "files": [dataclasses.asdict(r) for r in list_files(store, FileQuery()).rows],
                    "to_review": list_files(store, FileQuery(review="to_review", search="java")).total,
                    "failed": list_files(store, FileQuery(status="failed")).total,
                    "decisions": store.query("SELECT path, decision, after_sha FROM reviews"),
                    "report": job_record(store, app),
                }
            )
        finally:
            store.close()
    sqlite, postgres = (_comparable(v) for v in views)
    assert sqlite["files"] and sqlite["failed"] == 1 and sqlite["decisions"][0][1:] == ("rejected", "sha-2")
    for part in sqlite:
        assert postgres[part] == sqlite[part], part


@pytest.mark.parametrize("kill_at", ["response-saved:2", "write-tmp:3", "file-written:4", "batch-saved:6"])
def test_a_run_killed_at_any_moment_finishes_from_the_database_without_paying_twice(
    tmp_path: Path, fake: FakeProviderServer, postgres_url: str, kill_at: str
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    argv = [
        str(Path(sys.executable).parent / "kantra-ai"), "remediate", "--analysis",
        str(analysis_of("javaee-inventory")), "--input", str(app), "--base-url", fake.anthropic_base_url,
        "--no-progress", "--batch-parallelism", "1", "--store", postgres_url,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_BASE", "KANTRA_AI_"))}
    kill = env | {"KANTRA_AI_TEST_KILL_AT": kill_at}
    killed = subprocess.run(argv, env=kill, capture_output=True, check=False)
    assert killed.returncode == -9, killed.stderr
    finished = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert fake.request_count == 7  # an uninterrupted run's requests: every saved reply reused
    assert tree_differences(app, expected_of("javaee-inventory")) == []
    store = RunStore.open(postgres_url, str(app.resolve()))
    assert [r[0] for r in store.query("SELECT state FROM runs ORDER BY id")] == ["crashed", "finished"]
    assert store.query("SELECT count(*) FROM incidents WHERE status = 'fixed'") == [(19,)]


def test_a_run_takes_its_applications_lease_so_an_earlier_attempt_stops_writing(
    tmp_path: Path, postgres_url: str
) -> None:
    history = HistoryOptions(store=postgres_url, store_key="hub/application/9")
    first, second = tmp_path / "pod-a", tmp_path / "pod-b"  # two checkouts of one application
    first.mkdir()
    second.mkdir()
    with RunSession(first, history, lambda _: None) as stale:
        stale.open()
        with RunSession(second, history, lambda _: None) as retry:
            retry.open()  # the retry began
            with pytest.raises(StoreError, match="lease on 'hub/application/9' was taken by a newer attempt"):
                stale.begin(analysis=tmp_path / "out.yaml", provider="p", model="m")
            retry.begin(analysis=tmp_path / "out.yaml", provider="p", model="m")
            assert retry.store is not None and retry.store.last_run() is not None
