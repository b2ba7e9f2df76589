"""The run store's SQLite file: tables, version, and how a file that is not ours is recognised.

`PRAGMA application_id` marks the file as a kantra-ai run store (so a foreign SQLite file is never
mistaken for one, nor changed) and `PRAGMA user_version` is the schema version (so a newer tool's
store is refused instead of misread). Every table is keyed by `tree`: one store can serve several
checkouts when `--state` points outside them.

Durability: WAL journal. Every commit survives a killed process. The commits that must also survive
a power cut (a paid-for reply; the intent recorded before a file is replaced) use `synchronous=FULL`
and are on disk before the run goes on; the others (a request in flight, a batch's bookkeeping,
which recovery can redo from the files) use `NORMAL` and are synced with the next durable commit.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

APPLICATION_ID = 0x4B414931  # "KAI1"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000

DDL = """
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


class StoreError(Exception):
    """The run store cannot be used as it is; one line that says what to do."""


def _way_out(path: Path) -> str:
    return f"move it aside (mv {path} {path}.bad) or use another with --state PATH"


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """Open (and when new, create) the store at `path`, refusing files that are not kantra-ai stores."""
    if not create and not path.is_file():
        raise StoreError(f"no run store at {path} (nothing has run on this tree yet, or see --state)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the run store {path}: {exc}") from None
    try:
        _check_and_migrate(db, path)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreError(f"{path} is not a usable kantra-ai run store ({exc}); {_way_out(path)}") from None
    except StoreError:
        db.close()
        raise
    return db


def _check_and_migrate(db: sqlite3.Connection, path: Path) -> None:
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    app_id = int(db.execute("PRAGMA application_id").fetchone()[0])
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    tables = int(db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    if app_id != APPLICATION_ID and (app_id != 0 or tables):
        raise StoreError(
            f"{path} is an SQLite file of another application (application_id {app_id:#x}), "
            f"not a kantra-ai run store; {_way_out(path)}"
        )
    if app_id == APPLICATION_ID and version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer kantra-ai (store schema {version}, this one knows "
            f"{SCHEMA_VERSION}); upgrade kantra-ai or {_way_out(path)}"
        )
    if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
        raise StoreError(f"{path}: cannot switch the run store to WAL mode (network file system?)")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = OFF")
    if app_id == 0:  # a new, empty file: make it ours (another process may be doing the same)
        db.execute("BEGIN IMMEDIATE")
        try:
            if int(db.execute("PRAGMA application_id").fetchone()[0]) == 0:
                for statement in DDL.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return
    check = db.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise StoreError(f"{path} is damaged ({check}); {_way_out(path)}")
