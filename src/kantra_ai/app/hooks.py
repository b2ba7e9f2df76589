"""Hooks into the job pipeline (`app/run.py`): what runs at its fixed moments besides fixing.

Verification (`app/verification.py`) and git delivery (`app/git_delivery.py`) are hooks. They are
called in the order `run_job` lists them (verification first, so that git delivery only ever sees
writes verification has kept), each awaited before the next. A hook inherits a no-op for every
moment it does not need. The moments, in the order a run reaches them:

- `check`: before the tree is locked or anything is recorded; refuse with UserError;
- `before_begin`: the tree is locked and the store says what this run will do, nothing recorded
  yet; refusing here (UserError) still leaves no run behind;
- `wants_provider`: whether the provider must be opened although nothing is planned (the repairs a
  killed run left undone);
- `prepare` (async): the provider is open, nothing recorded yet; may refuse the run (UserError),
  e.g. verification's baseline check that does not finish;
- `job_started`: the run is recorded (`session.run_id`), before the first request;
- `started` (async): the same moment, inside the event loop (`JobContext.engine` is set);
- `file_finished` (async): every batch of one file is written (files finish concurrently: a hook
  that checks the tree holds `JobContext.tree_lock`, which keeps other files from being written);
- `stage_checked` (async): a stage's batches are done, before the job records the stage (execute's
  phase state), so what a hook decides (a fix reverted) counts for the phase;
- `stage_finished`: after the job recorded the stage, with the stages finished so far;
- `finished` (async): every stage is done, still inside the event loop;
- `job_finished`: after the last stage, before the run is closed in the store (a kill here leaves the
  run unfinished, and the next run continues it, hooks included);
- `unit_settled` (async): verification decided a group of writes (`JobContext.announce`): kept
  (verified, repaired) or not (reverted, failing).

`JobContext` is what the async moments see of the job: options, stages, the `JobRun`, the session
(store and run id), the engine's context for requests of their own (provider, budget, stored
replies, Ctrl-C) and the tree lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kantra_ai.analysis.model import Incident
from kantra_ai.app.options import RunOptions
from kantra_ai.app.prepare import Stage
from kantra_ai.engine.batch_runner import RunContext
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.store.session import RunSession

if TYPE_CHECKING:
    from kantra_ai.app.run import JobRun


@dataclass(frozen=True)
class SettledUnit:
    """A group of writes verification decided."""

    key: str  # file:PATH, violation:RULE, all
    paths: tuple[str, ...]  # the files written
    incident_ids: tuple[str, ...]  # the incidents the writes fixed
    state: str  # verified, repaired (kept), reverted (undone), failing (kept, still failing)
    rounds: int = 0  # repair rounds it took
    detail: str = ""  # the diagnostic, when reverted or failing


@dataclass
class JobContext:
    """What a hook sees of the job it follows (one per run; the same object at every moment)."""

    options: RunOptions
    stages: list[Stage]  # every stage with every selected incident (settled by earlier runs too)
    todo: list[Stage]  # the same stages with only what this run works on
    run: JobRun  # outcomes, records and totals so far; hooks add their requests and results here
    session: RunSession  # the tree's store (`session.store`) and this run (`session.run_id`)
    prompts: PromptBuilder
    say: Callable[[str], None]
    hooks: Sequence[RunHook] = ()
    # Set once the stages run (None before `started`, or when nothing can be sent): the engine's
    # context for requests of a hook, whose observer follows them for the progress display and the
    # stage (not the store: a hook records its own requests).
    engine: RunContext | None = None
    tree_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # held while a hook checks the tree
    stage: Stage | None = None  # the stage running now

    @property
    def run_id(self) -> int | None:
        return self.session.run_id

    @property
    def incidents(self) -> dict[str, Incident]:
        return {i.id: i for s in self.stages for i in s.incidents}

    async def announce(self, unit: SettledUnit) -> None:
        """Tell every hook that a group of writes was decided (verification calls this)."""
        for hook in self.hooks:
            await hook.unit_settled(self, unit)


class RunHook:
    def check(self) -> None:
        pass

    def before_begin(self, session: RunSession, todo: Sequence[Stage]) -> None:
        pass

    def wants_provider(self, job: JobContext) -> bool:
        return False

    async def prepare(self, job: JobContext) -> None:
        pass

    def job_started(self, session: RunSession, stages: Sequence[Stage]) -> None:
        pass

    async def started(self, job: JobContext) -> None:
        pass

    async def file_finished(self, job: JobContext, stage: Stage, path: str) -> None:
        pass

    async def stage_checked(self, job: JobContext, stage: Stage) -> None:
        pass

    def stage_finished(self, session: RunSession, run: JobRun, stage: Stage, done: Sequence[str]) -> None:
        """`done`: the ids of the stages finished so far, this one included."""

    async def finished(self, job: JobContext) -> None:
        pass

    def job_finished(self, session: RunSession, run: JobRun) -> None:
        pass

    def close(self) -> None:
        """Release what the hook holds outside the tree (scratch folders): called once the hook was
        checked, however the run ends (an error, Ctrl-C, a stop)."""

    async def unit_settled(self, job: JobContext, unit: SettledUnit) -> None:
        pass
