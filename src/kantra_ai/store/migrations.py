"""The run store's schema as an ordered list of migrations: how any earlier store reaches this one.

`MIGRATIONS[n]` takes a store from schema version n to n + 1; the version a store is at is its
`PRAGMA user_version`, and `SCHEMA_VERSION` (the number of migrations) is the one this code writes.
A new store is made by running them all, an older one by running those it lacks, in one
transaction: a store is at one version or the next, never in between.

Append, never edit: stores on users' disks were made by the migrations as they were released, so a
change to the schema is a new migration at the end (a function, or an SQL script via `script`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class Connection(Protocol):
    """What a migration uses of a connection: SQLite's, or the PostgreSQL store's (which takes the
    same statements, `store/postgres.py`)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


Step = Callable[[Connection], None]


@dataclass(frozen=True)
class Migration:
    description: str
    apply: Step  # runs inside the caller's transaction: it must not commit


def statements(sql: str) -> list[str]:
    """The complete SQL statements of a script, in order (a semicolon in a comment does not split)."""
    found: list[str] = []
    partial = ""
    for line in sql.splitlines(keepends=True):
        partial += line
        if sqlite3.complete_statement(partial):
            found.append(partial.strip())
            partial = ""
    if any(line.strip() and not line.strip().startswith("--") for line in partial.splitlines()):
        raise ValueError(f"a migration script ends in an incomplete statement: {partial.strip()[:60]!r}")
    return found


def script(sql: str) -> Step:
    """A migration step that runs an SQL script statement by statement.

    Not `executescript`: it commits first, and a migration must stay inside the open transaction.
    """
    steps = statements(sql)

    def run(db: Connection) -> None:
        for statement in steps:
            db.execute(statement)

    return run


# Version 1 (the first release): runs, incidents, outcomes, requests, replies, writes.
V1_TABLES = """
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

# Version 2: what each write replaced and with what, so that a write can be undone exactly (revert
# after a failed verification, `kantra-ai undo`, rejecting a file in the web app). Content is stored
# by hash, once, however many writes share it.
V2_WRITE_CONTENT = """
CREATE TABLE blobs (
    sha TEXT PRIMARY KEY,
    content BLOB NOT NULL
) WITHOUT ROWID;
ALTER TABLE writes ADD COLUMN kind TEXT NOT NULL DEFAULT 'fix';   -- fix, revert
ALTER TABLE writes ADD COLUMN reverts TEXT NOT NULL DEFAULT '[]'; -- revert: JSON ids of the writes it undoes
ALTER TABLE writes ADD COLUMN reverted_by INTEGER;                 -- the revert write that undid this one
"""

# Version 3: what the job's report shows, kept so that `kantra-ai report` can rebuild it at any time: each
# incident's analyzer message, stage (execute's phase) and threshold; each rule's description;
# what a run left out. (The contents before and after each write, for the diffs, are the blobs of
# version 2.)
V3_REPORT_DATA = """
ALTER TABLE incidents ADD COLUMN message TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN threshold REAL;
ALTER TABLE outcomes ADD COLUMN threshold REAL;
ALTER TABLE runs ADD COLUMN details TEXT NOT NULL DEFAULT '{}';  -- JSON: what the run left out, its settings
CREATE TABLE violations (
    tree TEXT NOT NULL,
    ruleset TEXT NOT NULL,
    rule TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    effort INTEGER,
    complexity TEXT NOT NULL,       -- migration complexity (trivial ... expert): confidence thresholds
    PRIMARY KEY (tree, ruleset, rule)
) WITHOUT ROWID;
"""

# Version 4: delivery through git. A job (a run and the runs that continue it) delivers its fixes as
# commits on branches, pushed and opened as pull requests; what it made is kept so that `status`, the
# report and `undo` can name it. Git itself stays the truth for what exists (commits carry a trailer
# with the job's run and their unit, found again after a kill); these rows are what kantra-ai saw.
V4_GIT_DELIVERY = """
CREATE TABLE deliveries (
    tree TEXT NOT NULL,
    run_id INTEGER NOT NULL,        -- the job's first run (runs that continue it share the row)
    base_sha TEXT NOT NULL,         -- the commit HEAD was at when the job started
    base_branch TEXT NOT NULL,      -- the branch HEAD was on then ('' when detached)
    branch TEXT NOT NULL,           -- the job's own branch: every commit, in order
    state TEXT NOT NULL,            -- started, delivered, failed
    note TEXT NOT NULL DEFAULT '',  -- the last delivery error, one line
    updated_at REAL NOT NULL,
    PRIMARY KEY (tree, run_id)
) WITHOUT ROWID;
CREATE TABLE delivered_commits (
    tree TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    branch TEXT NOT NULL,
    unit TEXT NOT NULL,             -- the unit's key, as in the commit's trailer
    sha TEXT NOT NULL,
    title TEXT NOT NULL,
    files TEXT NOT NULL,            -- JSON list of paths (relative to the tree)
    incidents TEXT NOT NULL,        -- JSON list of incident ids
    position INTEGER NOT NULL,      -- order on its branch
    created_at REAL NOT NULL,
    PRIMARY KEY (tree, branch, unit)
) WITHOUT ROWID;
CREATE TABLE delivered_branches (
    tree TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,             -- job (the job's own branch) or review (a pull request's)
    group_key TEXT NOT NULL,        -- what it holds: violation:ID, phase:ID, all
    pr_base TEXT NOT NULL,          -- the branch its pull request targets
    stacked_on TEXT NOT NULL DEFAULT '',
    tip TEXT NOT NULL,
    remote TEXT NOT NULL DEFAULT '',
    pushed TEXT NOT NULL DEFAULT '',   -- the commit last pushed ('' never)
    pr_number INTEGER,
    pr_url TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (tree, name)
) WITHOUT ROWID;
"""

# Version 5: what a person decided about a file's fixes in the review (the web app): accepted, or
# rejected (its fixes reverted). A decision is about the content the file had then (`after_sha`):
# a later write of ours reopens it. The path index keeps a file's incidents one lookup away.
V5_REVIEWS = """
CREATE TABLE reviews (
    tree TEXT NOT NULL,
    path TEXT NOT NULL,
    decision TEXT NOT NULL,         -- accepted, rejected
    after_sha TEXT NOT NULL,        -- the file's content the decision was about
    note TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL,
    PRIMARY KEY (tree, path)
) WITHOUT ROWID;
CREATE INDEX incidents_path ON incidents (tree, path);
CREATE INDEX writes_path ON writes (tree, path, id);
"""

# Version 6: submissions to the providers' batch APIs (`--batch-api`) and the requests in them, so
# that a batch is never submitted twice and its results are applied whenever they arrive.
V6_BATCHES = """
CREATE TABLE batch_jobs (           -- one submission to a provider's batch API
    id INTEGER PRIMARY KEY,
    tree TEXT NOT NULL,
    run_id INTEGER NOT NULL,        -- the run that submitted it
    provider TEXT NOT NULL,         -- the preset (claude, openai, ...)
    model TEXT NOT NULL,
    base_url TEXT,                  -- where it went (NULL: the SDK's default endpoint)
    tag TEXT NOT NULL,              -- ours: the prefix of its custom_ids, and its metadata (OpenAI)
    remote_id TEXT,                 -- the provider's batch id; NULL until its answer is recorded
    candidates TEXT NOT NULL DEFAULT '[]',  -- JSON: batches found that may hold it (answer lost)
    state TEXT NOT NULL,            -- submitting, open, collected, abandoned
    status TEXT NOT NULL DEFAULT '',    -- the provider's status as last seen
    counts TEXT NOT NULL DEFAULT '{}',  -- JSON: its requests by state as last seen
    requests INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,       -- recorded, before it was sent
    sent_at REAL,                   -- about to be sent: from here on the provider may have it
    submitted_at REAL,              -- the provider's id recorded
    polled_at REAL,
    cancel_requested_at REAL,
    finished_at REAL                -- collected or abandoned
);
CREATE INDEX batch_jobs_state ON batch_jobs (tree, state);

CREATE TABLE batch_items (          -- one request in a submission
    tree TEXT NOT NULL,
    custom_id TEXT NOT NULL,        -- its batch key: the provider echoes it with the result
    job_id INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,      -- the request, exactly (engine/replies.py)
    path TEXT NOT NULL,
    incident_ids TEXT NOT NULL,     -- JSON list
    worst_cost REAL,                -- what --max-cost reserved for it, at batch prices
    state TEXT NOT NULL,            -- submitted, succeeded, errored, expired, canceled, abandoned
    error TEXT NOT NULL DEFAULT '',
    request_id INTEGER,             -- the requests row of its result
    PRIMARY KEY (tree, custom_id)
) WITHOUT ROWID;
CREATE INDEX batch_items_fingerprint ON batch_items (tree, fingerprint);
CREATE INDEX batch_items_job ON batch_items (job_id);

ALTER TABLE requests ADD COLUMN batch_job INTEGER;  -- answered through this batch (batch prices)
"""

# Version 7: verification. Every check (the baseline, each check of a scope, the rounds of repair a
# file is done with) with its diagnostics; each incident's verification result; repair requests and
# repair writes told apart from fixes, with the scope and round they belong to (what a run resumed
# mid-loop continues from).
V7_VERIFICATION = """
CREATE TABLE checks (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    tree TEXT NOT NULL,
    kind TEXT NOT NULL,             -- baseline, check, round-done (a file's repair round wrote
                                    -- nothing), accepted (problems kept in the tree from then on)
    scope TEXT NOT NULL,            -- what was checked: '' (baseline), file:PATH, stage:ID, end
    round INTEGER NOT NULL DEFAULT 0,  -- repair rounds done in the scope before this check
    path TEXT NOT NULL DEFAULT '',  -- round-done: the file
    command TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,              -- NULL: killed (timed out)
    timed_out INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0,
    diagnostics TEXT NOT NULL DEFAULT '[]',  -- JSON: every diagnostic of the output
    new TEXT NOT NULL DEFAULT '[]',          -- JSON: those the baseline did not have
    tail TEXT NOT NULL DEFAULT '',           -- the output's last lines
    created_at REAL NOT NULL
);
CREATE INDEX checks_scope ON checks (tree, scope, run_id);
-- verification: verified, repaired, reverted or failing ('': not verified)
ALTER TABLE incidents ADD COLUMN verification TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN repair_rounds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN verification_detail TEXT NOT NULL DEFAULT '';  -- the diagnostic
ALTER TABLE requests ADD COLUMN purpose TEXT NOT NULL DEFAULT 'fix';  -- fix, repair
ALTER TABLE writes ADD COLUMN scope TEXT NOT NULL DEFAULT '';         -- repair writes: their scope
ALTER TABLE writes ADD COLUMN round INTEGER NOT NULL DEFAULT 0;       -- and round
ALTER TABLE writes ADD COLUMN verified TEXT NOT NULL DEFAULT '';      -- what its check decided ('': not yet)
"""

# Version 8: calibration of the token estimates by provider and model (engine/calibration.py): what the
# provider reported against what we estimated, summed over runs (store/calibration.py).
CALIBRATION_TABLE = """
CREATE TABLE calibration (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    key TEXT NOT NULL,              -- "input" or "output:<violation key>"
    total REAL NOT NULL,            -- input: tokens reported; output: tokens per output unit, summed
    count REAL NOT NULL,            -- input: tokens estimated; output: units seen
    updated_at REAL NOT NULL,
    PRIMARY KEY (provider, model, key)
) WITHOUT ROWID;
"""

# Version 9: each file's share of a packed reply (several small files in one request), kept until the
# file is finished: a run killed after some files of a pack were written applies the others' shares
# instead of asking again (engine/replies.py).
PACK_SHARES_TABLE = """
CREATE TABLE pack_shares (
    tree TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,      -- of the packed request
    run_id INTEGER NOT NULL,
    content_sha TEXT NOT NULL,      -- of the file's bytes as the pack showed them
    share TEXT NOT NULL,            -- JSON: incident ids, handle offset, edits, verdicts, across
    state TEXT NOT NULL,            -- open, done, masked (held something secret-shaped: never applied)
    created_at REAL NOT NULL,
    PRIMARY KEY (tree, path, fingerprint)
) WITHOUT ROWID;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration("runs, incidents, outcomes, requests, replies and writes", script(V1_TABLES)),
    Migration("file content of every write, and reverts", script(V2_WRITE_CONTENT)),
    Migration("report data: messages, stages, thresholds, rules, run details", script(V3_REPORT_DATA)),
    Migration("delivery through git: jobs, commits, branches, pull requests", script(V4_GIT_DELIVERY)),
    Migration("review decisions per file; incidents and writes by path", script(V5_REVIEWS)),
    Migration("batch API submissions and their requests", script(V6_BATCHES)),
    Migration("verification: checks, results per incident, repairs", script(V7_VERIFICATION)),
    Migration("calibration of token estimates by provider and model", script(CALIBRATION_TABLE)),
    Migration("each file's share of a packed reply, until the file is finished", script(PACK_SHARES_TABLE)),
)
SCHEMA_VERSION = len(MIGRATIONS)
