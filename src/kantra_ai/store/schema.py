"""The run store's SQLite file: opening it, bringing its schema up to date, refusing what is not ours.

`PRAGMA application_id` marks the file as a kantra-ai run store (so a foreign SQLite file is never
mistaken for one, nor changed) and `PRAGMA user_version` is the schema version: a store made by an
older kantra-ai is migrated on open (`migrations.py`), a newer tool's store is refused instead of
misread. Every table is keyed by `tree`: one store can serve several checkouts when `--state`
points outside them.

Durability: WAL journal. Every commit survives a killed process. The commits that must also survive
a power cut (a paid-for reply; the intent recorded before a file is replaced) use `synchronous=FULL`
and are on disk before the run goes on; the others (a request in flight, a batch's bookkeeping,
which recovery can redo from the files) use `NORMAL` and are synced with the next durable commit.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import sqlite3
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kantra_ai._fs import TEMP_SUFFIX, link_into_place
from kantra_ai.redact import Redactor, redactor
from kantra_ai.store.migrations import MIGRATIONS, SCHEMA_VERSION, Migration
from kantra_ai.store.postgres import (
    NoStore,
    PostgresConnection,
    PostgresError,
    connect_postgres,
    display_url,
)

__all__ = ["APPLICATION_ID", "BUSY_TIMEOUT_MS", "SCHEMA_VERSION", "StoreError", "connect", "connect_url"]

APPLICATION_ID = 0x4B414931  # "KAI1"
BUSY_TIMEOUT_MS = 10_000


class StoreError(Exception):
    """The run store cannot be used as it is; one line that says what to do (SQLite's own
    messages can span lines: they are flattened)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class RedactingConnection(sqlite3.Connection):
    """The store's connection: every text parameter passes through the redaction layer
    (`kantra_ai.redact`) on its way in, so no secret an error message, a reply or an explanation
    carried is ever written to the file."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return super().execute(sql, _redacted(parameters, redactor()))

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> sqlite3.Cursor:
        clean = redactor()  # the environment is read once for every row
        return super().executemany(sql, (_redacted(row, clean) for row in seq_of_parameters))


def _redacted(parameters: Any, clean: Redactor) -> Any:
    if isinstance(parameters, Mapping):
        return {k: clean(v) if isinstance(v, str) else v for k, v in parameters.items()}
    return tuple(clean(v) if isinstance(v, str) else v for v in parameters)


class MissingStore(StoreError):
    """Opened to read where nothing has run yet."""


def _way_out(path: Path) -> str:
    return f"move it aside (mv {path} {path}.bad) or use another with --state PATH"


def connect(
    path: Path, *, create: bool = True, migrations: Sequence[Migration] = MIGRATIONS
) -> sqlite3.Connection:
    """Open (and when new, create) the store at `path`, refusing files that are not kantra-ai stores.

    A store of an earlier schema version is migrated to `len(migrations)` first (tests pass their
    own list to play a newer release).
    """
    try:
        if not create and not path.exists():  # a folder or another file there is refused below
            raise StoreError(f"no run store at {path} (nothing has run on this tree yet, or see --state)")
        _refuse_stray_files(path)
        if create and not os.path.lexists(path):
            _create(path, migrations)
    except OSError as exc:  # a folder this user may not enter, a full disk
        raise StoreError(f"cannot open the run store {path}: {exc.strerror or exc}") from None
    try:
        db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, factory=RedactingConnection
        )
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the run store {path}: {exc}") from None
    try:
        _check_and_migrate(db, path, migrations)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreError(f"{path} is not a usable kantra-ai run store ({exc}); {_way_out(path)}") from None
    except BaseException:
        db.close()
        raise
    return db


def _create(path: Path, migrations: Sequence[Migration]) -> None:
    """Make a new store under a temporary name and link it into place complete: a file at `path`
    is always a whole store, so an empty or half-made one found there was not made by us."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        # Only this user may read it (as the reports and the lock's folder): it keeps files' text
        # before and after each fix and the model's replies. SQLite gives its logs the same mode.
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        db = sqlite3.connect(temp, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot create the run store {path}: {exc}") from None
    try:
        try:
            _check_and_migrate(db, path, migrations)
        finally:
            db.close()  # the last connection: SQLite checkpoints the log into the file and removes it
        # Another run may have made it first (one --state shared by two trees): then use theirs.
        link_into_place(temp, path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot create the run store {path}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot create the run store {path}: {exc.strerror or exc}") from None
    finally:
        for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm"), Path(f"{temp}-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()


# The first 32 bytes of a write-ahead log: magic (0x377f0682 little-endian checksums, 0x377f0683
# big-endian), format version, page size, checkpoint sequence, two salts, then a checksum of the
# first 24 bytes (https://sqlite.org/fileformat2.html#walformat).
_WAL_MAGICS = (0x377F0682, 0x377F0683)
_WAL_VERSION = 3007000


def _refuse_stray_files(path: Path) -> None:
    """Refuse what SQLite would silently use or drop: an empty store file, a log that is not a
    write-ahead log of this store (SQLite discards it, and with it whatever it held), a log
    without its store."""
    wal = Path(f"{path}-wal")
    try:
        size = path.stat().st_size if path.exists() else None
        wal_size = wal.stat().st_size if wal.exists() else 0
    except OSError as exc:
        raise StoreError(f"cannot open the run store {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise StoreError(f"{path} is empty (0 bytes): not a kantra-ai run store; {_way_out(path)}")
    if size is not None and not path.is_file():
        raise StoreError(f"{path} is not a regular file; {_way_out(path)}")
    if not wal_size:
        return
    if size is None:
        raise StoreError(
            f"{wal} is a write-ahead log without its run store {path}; move it aside (mv {wal} {wal}.bad)"
        )
    problem = _wal_problem(wal, path)
    if problem:
        raise StoreError(
            f"{wal} is not a write-ahead log of the run store {path} ({problem}); what it held "
            f"cannot be recovered; move it aside (mv {wal} {wal}.bad) to use the store as it is"
        )


def _wal_problem(wal: Path, store: Path) -> str | None:
    with open(wal, "rb") as handle:
        header = handle.read(32)
    with open(store, "rb") as handle:
        store_header = handle.read(100)
    if len(header) < 32:
        return "shorter than its header"
    magic, version, page_size = struct.unpack(">III", header[:12])
    if magic not in _WAL_MAGICS:
        return "wrong magic number"
    if version != _WAL_VERSION:
        return f"unknown log format {version}"
    order = ">" if magic & 1 else "<"
    s0 = s1 = 0
    words = struct.unpack(f"{order}6I", header[:24])
    for x0, x1 in zip(words[0::2], words[1::2], strict=True):
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    if (s0, s1) != struct.unpack(">II", header[24:32]):
        return "header checksum does not match"
    if len(store_header) >= 18:
        store_page = struct.unpack(">H", store_header[16:18])[0]
        store_page = 65536 if store_page == 1 else store_page
        if store_page != page_size:
            return f"page size {page_size}, the store's is {store_page}"
    return None


def connect_url(
    url: str, *, create: bool = True, migrations: Sequence[Migration] = MIGRATIONS
) -> PostgresConnection:
    """Open the PostgreSQL store at `url` (the same migrations, the same refusals as a file)."""
    try:
        return connect_postgres(url, migrations, create=create)
    except ModuleNotFoundError:
        raise StoreError(
            f"the run store {display_url(url)} is on PostgreSQL, which needs psycopg: "
            "pip install 'kantra-ai[postgres]'"
        ) from None
    except NoStore as exc:
        raise MissingStore(f"{exc}") from None
    except PostgresError as exc:
        raise StoreError(f"run store: {exc}") from None


def _identity(db: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of schema objects) as the file says now."""
    app_id = int(db.execute("PRAGMA application_id").fetchone()[0])
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    objects = int(db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    return app_id, version, objects


def _refuse_foreign_or_newer(path: Path, app_id: int, version: int, objects: int, known: int) -> None:
    if app_id != APPLICATION_ID and (app_id != 0 or objects):
        raise StoreError(
            f"{path} is an SQLite file of another application (application_id {app_id:#x}), "
            f"not a kantra-ai run store; {_way_out(path)}"
        )
    if app_id == APPLICATION_ID and version > known:
        raise StoreError(
            f"{path} was written by a newer kantra-ai (store schema {version}, this one knows "
            f"{known}); upgrade kantra-ai or {_way_out(path)}"
        )


def _check_and_migrate(db: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    app_id, version, objects = _identity(db)
    _refuse_foreign_or_newer(path, app_id, version, objects, len(migrations))
    if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
        raise StoreError(f"{path}: cannot switch the run store to WAL mode (network file system?)")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = OFF")
    if app_id == APPLICATION_ID:  # an existing store: never migrate (nor use) a damaged one
        check = str(db.execute("PRAGMA quick_check").fetchone()[0])
        if check != "ok":
            problems = [line for line in check.splitlines() if line.strip() and not line.startswith("***")]
            more = f", and {len(problems) - 1} more problems" if len(problems) > 1 else ""
            first = problems[0] if problems else check
            raise StoreError(f"{path} is damaged ({first}{more}); {_way_out(path)}")
    if app_id == 0 or version < len(migrations):
        _migrate(db, path, migrations)
    if migrations is MIGRATIONS:  # this release's schema (tests play other releases with their own)
        present = {str(row[0]) for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = sorted(_schema_tables() - present)
        if missing:  # a table dropped by hand: refused before any command acts on what it lacks
            raise StoreError(f"{path} is damaged (table {missing[0]} is missing); {_way_out(path)}")


@functools.cache
def _schema_tables() -> frozenset[str]:
    """The tables a store of this release has: its migrations played once on an empty database."""
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        scratch.execute("BEGIN")
        for migration in MIGRATIONS:
            migration.apply(scratch)
        scratch.execute("COMMIT")
        rows = scratch.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    finally:
        scratch.close()
    return frozenset(str(row[0]) for row in rows)


def _migrate(db: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    """Run the migrations the store lacks, all in one transaction, and record the version reached."""
    db.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have created or migrated the store since we looked: look again,
        # now that the write lock keeps everyone else out.
        app_id, version, objects = _identity(db)
        _refuse_foreign_or_newer(path, app_id, version, objects, len(migrations))
        for number, migration in enumerate(migrations[version:], start=version + 1):
            try:
                migration.apply(db)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"{path}: cannot bring the run store to schema {number} ({migration.description}: "
                    f"{exc}); it was left at schema {version}; {_way_out(path)}"
                ) from None
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {len(migrations)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
