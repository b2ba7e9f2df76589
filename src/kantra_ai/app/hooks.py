"""Hooks into the job pipeline (`app/run.py`): what runs at its fixed moments besides fixing.

A hook sees the job at five moments, in this order:

- `check`: before the tree is locked or anything is recorded; refuse with UserError;
- `before_begin`: the tree is locked and the store says what this run will do, nothing recorded
  yet; refusing here (UserError) still leaves no run behind;
- `job_started`: the run is recorded, before the first request;
- `stage_finished`: after each stage (execute: phase), with the stages finished so far;
- `job_finished`: after the last stage, before the run is closed in the store (a kill here leaves the
  run unfinished, and the next run continues it, hooks included).

Git delivery is one (`app/git_delivery.py`); a hook that needs nothing at a moment inherits the
no-op from `RunHook`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kantra_ai.app.prepare import Stage
from kantra_ai.store.session import RunSession

if TYPE_CHECKING:
    from kantra_ai.app.run import JobRun


class RunHook:
    def check(self) -> None:
        pass

    def before_begin(self, session: RunSession, todo: Sequence[Stage]) -> None:
        pass

    def job_started(self, session: RunSession, stages: Sequence[Stage]) -> None:
        pass

    def stage_finished(self, session: RunSession, run: JobRun, stage: Stage, done: Sequence[str]) -> None:
        """`done`: the ids of the stages finished so far, this one included."""

    def job_finished(self, session: RunSession, run: JobRun) -> None:
        pass
