"""Test-only crash injection: SIGKILL this process at a named moment of a run.

`KANTRA_AI_TEST_KILL_AT="NAME:N"` makes the process kill itself (SIGKILL, so nothing gets to clean
up) the Nth time it reaches the point called NAME; several points can be given, comma-separated.
Unset (always, outside tests) every `killpoint()` call is one dictionary lookup and nothing else.
The crash tests (tests/store/test_crash_resume.py) use it to land kills deterministically:

| point               | reached                                                                  |
|---------------------|--------------------------------------------------------------------------|
| `run-started`       | the run is recorded in the store (all checks passed), before any request |
| `request-started`   | the request's body is on the wire; it is recorded as in flight           |
| `reply-arrived`     | the reply's last event is in, before the store keeps it (no await between)|
| `reply-kept`        | the store has the reply, before the provider call returns to the engine  |
| `response-unsaved`  | the engine has the reply, before the store records what it cost          |
| `response-saved`    | the reply and its cost are in the store, before it is checked and applied |
| `pack-split`        | a packed reply's shares (one per file) are kept, before any is applied   |
| `write-intent`      | the store holds the intent to write a file, before the write starts      |
| `write-tmp`         | the new content is in the temporary file (fsynced), before the rename    |
| `file-written`      | the file was replaced, before the store records it                       |
| `batch-saved`       | the batch's outcomes are committed to the store                          |
| `run-finishing`     | every batch is done, before the run is closed in the store               |
| `git-committed`     | a delivery commit is on its branch, before the store records it          |
| `git-pushed`        | a branch was pushed, before its pull request is looked up or opened      |
| `pr-created`        | a pull request was opened, before the store records it                   |
| `batchapi-intent`   | --batch-api: a submission is recorded, before it is sent                 |
| `batchapi-unsaved`  | the provider accepted a submission, before the store has its id          |
| `batchapi-submitted`| the submission's id is in the store                                      |
| `batchapi-collected`| an ended batch's results are in the store, before any is applied         |
| `check-recorded`    | a verification check's result is in the store, before it is acted on     |
| `repair-request-started` | a repair request is recorded as in flight, before it is sent        |
| `repair-response-saved`  | a repair's reply is in the store, before it is checked and applied  |
| `repair-written`    | a repaired file was replaced, before the store records it                |
| `repair-saved`      | a file's repair round is committed to the store                          |
| `reverted`          | a verification revert is done and recorded                               |
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "KANTRA_AI_TEST_KILL_AT"

POINTS = (
    "run-started",
    "request-started",
    "reply-arrived",
    "reply-kept",
    "response-unsaved",
    "response-saved",
    "pack-split",
    "write-intent",
    "write-tmp",
    "file-written",
    "batch-saved",
    "run-finishing",
    "git-committed",
    "git-pushed",
    "pr-created",
    "batchapi-intent",
    "batchapi-unsaved",
    "batchapi-submitted",
    "batchapi-collected",
    "check-recorded",
    "repair-request-started",
    "repair-response-saved",
    "repair-written",
    "repair-saved",
    "reverted",
)

_reached: Counter[str] = Counter()


def killpoint(name: str) -> None:
    """SIGKILL the process if `KANTRA_AI_TEST_KILL_AT` asks for this occurrence of `name`."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    _reached[name] += 1
    for item in spec.split(","):
        point, _, count = item.strip().partition(":")
        if point == name and _reached[name] == int(count or "1"):
            os.kill(os.getpid(), signal.SIGKILL)
