"""Store schema migrations: older stores are brought up to date on open, in one step or not at all.

`RELEASED_V1` is the DDL of the first release, copied here on purpose: it is what users' stores
were made with, whatever the code says now. Migrations that later releases add are played by
appending test migrations to the real list.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from kantra_ai.store.migrations import MIGRATIONS, SCHEMA_VERSION, Migration, script, statements
from kantra_ai.store.run_store import RunStore
from kantra_ai.store.schema import APPLICATION_ID, StoreError, connect

RELEASED_V1 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    tree TEXT NOT NULL,
    state TEXT NOT NULL,            -- running, finished, interrupted, aborted, crashed
    mode TEXT NOT NULL,             -- incremental, resume, retry-failed, fresh
    resumes INTEGER,                -- the unfinished run this one continues
    analysis TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    pid INTEGER NOT NULL,
    selected INTEGER NOT NULL DEFAULT 0,
    planned INTEGER NOT NULL DEFAULT 0,
    skipped_done INTEGER NOT NULL DEFAULT 0,
    reused_replies INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX runs_tree ON runs (tree, id);

CREATE TABLE incidents (
    tree TEXT NOT NULL,
    id TEXT NOT NULL,               -- Incident.id: stable across runs of the same analysis
    ruleset TEXT NOT NULL,
    rule TEXT NOT NULL,
    path TEXT NOT NULL,
    line INTEGER,
    status TEXT NOT NULL,           -- pending, in_flight, fixed, failed, skipped, not_applicable
    reason TEXT NOT NULL DEFAULT '',
    answered INTEGER NOT NULL DEFAULT 0,  -- a model reply covered it (re-asking costs money)
    attempts INTEGER NOT NULL DEFAULT 0,  -- requests it was part of
    request_id INTEGER,             -- the last of them
    run_id INTEGER,                 -- the run that last decided it
    confidence REAL,
    explanation TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (tree, id)
) WITHOUT ROWID;
CREATE INDEX incidents_status ON incidents (tree, status);

CREATE TABLE outcomes (            -- history: every decision about an incident, by run
    run_id INTEGER NOT NULL,
    incident_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    confidence REAL,
    explanation TEXT NOT NULL,
    recovered INTEGER NOT NULL DEFAULT 0,  -- decided when recovering from a crash
    at REAL NOT NULL
);
CREATE INDEX outcomes_run ON outcomes (run_id);

CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    incident_ids TEXT NOT NULL,     -- JSON list
    attempt INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,           -- in_flight, ok, error, lost (killed mid-request), cancelled
    fingerprint TEXT,
    stop_reason TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL,                      -- NULL: price unknown
    seconds REAL NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX requests_run ON requests (run_id);

CREATE TABLE replies (             -- raw replies, kept until applied so a killed run reuses them
    tree TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request_id INTEGER NOT NULL,
    body TEXT NOT NULL,             -- JSON ModelResponse
    state TEXT NOT NULL,            -- unused, used, orphaned
    created_at REAL NOT NULL,
    PRIMARY KEY (tree, fingerprint)
) WITHOUT ROWID;

CREATE TABLE writes (              -- one per file replacement: intent first, then the result
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    tree TEXT NOT NULL,
    path TEXT NOT NULL,
    before_sha TEXT NOT NULL,
    after_sha TEXT NOT NULL,
    state TEXT NOT NULL,            -- intent, written, abandoned, changed-outside
    outcomes TEXT NOT NULL,         -- JSON: the batch's outcomes if the write happens
    fingerprints TEXT NOT NULL,     -- JSON: the replies this write applies
    edits TEXT NOT NULL DEFAULT '[]',  -- JSON: the edits applied (old/new text, incident ids)
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX writes_open ON writes (tree, state);
"""

TREE = "/work/app"
NOTES = Migration("notes", script("CREATE TABLE notes (tree TEXT NOT NULL, text TEXT NOT NULL);"))


def _released_v1_store(path: Path) -> Path:
    """A store as the first release left it: its tables, its pragmas, one finished run."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("BEGIN")
    for statement in statements(RELEASED_V1):
        db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO runs (tree, state, mode, analysis, provider, model, pid, started_at, finished_at)"
        " VALUES (?, 'finished', 'incremental', 'output.yaml', 'claude', 'claude-sonnet-5-5', 1, 1.0, 2.0)",
        (TREE,),
    )
    db.execute(
        "INSERT INTO incidents (tree, id, ruleset, rule, path, line, status, run_id, updated_at)"
        " VALUES (?, 'abc123', 'eap8', 'javax-to-jakarta', 'src/A.java', 3, 'fixed', 1, 2.0)",
        (TREE,),
    )
    db.execute("COMMIT")
    db.close()
    return path


def _schema(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    return [(str(t), str(n), str(s)) for t, n, s in rows]


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def _counting(migration: Migration, calls: list[str]) -> Migration:
    def apply(db: sqlite3.Connection) -> None:
        calls.append(migration.description)
        migration.apply(db)

    return Migration(migration.description, apply)


def test_a_store_of_the_first_release_opens_with_the_current_schema_and_its_history(tmp_path: Path) -> None:
    old = connect(_released_v1_store(tmp_path / "old.db"))
    fresh = connect(tmp_path / "fresh.db")
    try:
        assert _schema(old) == _schema(fresh)
        assert old.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        old.close()
        fresh.close()
    store = RunStore.open(tmp_path / "old.db", TREE)
    try:
        assert {k: v.status for k, v in store.known().items()} == {"abc123": "fixed"}
        last = store.last_run()
        assert last is not None and last.provider == "claude"
    finally:
        store.close()


def test_a_store_one_version_behind_gets_the_missing_migration_and_keeps_its_data(tmp_path: Path) -> None:
    path = _released_v1_store(tmp_path / "state.db")
    newer = (*MIGRATIONS, NOTES)
    db = connect(path, migrations=newer)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(newer) == SCHEMA_VERSION + 1
        db.execute("INSERT INTO notes VALUES (?, 'the new table is there')", (TREE,))
        assert db.execute("SELECT id, status FROM incidents").fetchall() == [("abc123", "fixed")]
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    finally:
        db.close()


def test_a_store_newer_than_the_code_is_refused_in_one_line_and_left_as_it_is(tmp_path: Path) -> None:
    path = _released_v1_store(tmp_path / "state.db")
    connect(path, migrations=(*MIGRATIONS, NOTES)).close()  # a later release opened it
    before = path.read_bytes()
    with pytest.raises(StoreError) as refused:
        connect(path)
    message = str(refused.value)
    assert "newer kantra-ai" in message and f"store schema {SCHEMA_VERSION + 1}" in message
    assert "\n" not in message and f"mv {path} {path}.bad" in message
    assert path.read_bytes() == before


def test_migrations_run_once_and_a_current_store_opens_unchanged(tmp_path: Path) -> None:
    calls: list[str] = []
    counted = [_counting(m, calls) for m in (*MIGRATIONS, NOTES)]
    path = tmp_path / "state.db"
    connect(path, migrations=counted).close()
    assert calls == [m.description for m in (*MIGRATIONS, NOTES)]
    before = path.read_bytes()
    for _ in range(3):
        connect(path, migrations=counted).close()
    assert calls == [m.description for m in (*MIGRATIONS, NOTES)]  # nothing ran again
    assert path.read_bytes() == before


def test_a_failing_migration_leaves_the_store_at_its_old_version_with_nothing_half_done(
    tmp_path: Path,
) -> None:
    path = _released_v1_store(tmp_path / "state.db")
    broken = Migration("notes, then a typo", script("CREATE TABLE notes (x);\nCREATE TABLEE oops (y);"))
    with pytest.raises(StoreError) as failed:
        connect(path, migrations=(*MIGRATIONS, NOTES, broken))
    message = str(failed.value)
    # The released store is at schema 1: every migration after it ran in one transaction, rolled back.
    assert f"schema {SCHEMA_VERSION + 2}" in message and "left at schema 1" in message
    assert _version(path) == 1
    db = sqlite3.connect(path)
    try:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    finally:
        db.close()
    assert "notes" not in names  # the migration before the broken one was rolled back with it
    connect(path, migrations=(*MIGRATIONS, NOTES)).close()  # and the store still migrates later
    assert _version(path) == SCHEMA_VERSION + 1


def test_stores_opened_at_once_by_several_processes_are_migrated_once(tmp_path: Path) -> None:
    calls: list[str] = []
    counted = [_counting(m, calls) for m in (*MIGRATIONS, NOTES)]
    path = _released_v1_store(tmp_path / "state.db")
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        start.wait()
        try:
            connect(path, migrations=counted).close()
        except BaseException as exc:  # reported below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Every migration after the first release, exactly once, however many opened it at once.
    assert calls == [m.description for m in MIGRATIONS[1:]] + ["notes"]
    assert _version(path) == SCHEMA_VERSION + 1


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("CREATE TABLE a (x); -- note; with a semicolon\nCREATE TABLE b (y);", 2),
        ("-- only a comment\n", 0),
    ],
)
def test_migration_scripts_split_into_whole_statements(sql: str, expected: int) -> None:
    assert len(statements(sql)) == expected


def test_a_migration_script_ending_mid_statement_is_refused() -> None:
    with pytest.raises(ValueError, match="incomplete statement"):
        statements("CREATE TABLE a (x);\nCREATE TABLE b (y)")
