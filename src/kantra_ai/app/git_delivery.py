"""Git delivery as a hook of the job pipeline: refuse a dirty file before the run, commit (and open
pull requests) after each stage and at the end. The mechanics are `delivery/`.

With --verify, verification is the hook before this one: a stage is delivered once its writes are
checked (repaired, reverted), and only the writes the check accepted are committed; with the at-end
strategy nothing is decided before the end, so everything is delivered then.

A stage, or the job, that was interrupted (Ctrl-C) or aborted (the provider refused it) delivers
nothing: the next run continues the job, and delivers once for all of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kantra_ai.app.hooks import RunHook
from kantra_ai.app.prepare import Stage
from kantra_ai.delivery.deliver import DeliveryConfigError, GitDelivery, GitOptions, StagedIncident
from kantra_ai.errors import UserError
from kantra_ai.store.session import RunSession

if TYPE_CHECKING:
    from kantra_ai.app.run import JobRun


class GitDeliveryHook(RunHook):
    def __init__(
        self,
        options: GitOptions,
        input_dir: Path,
        say: Callable[[str], None],
        *,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
        verify_check: str | None = None,
    ) -> None:
        environment = env if env is not None else os.environ
        self.delivery = GitDelivery(
            options, input_dir, environment, say, sleep=sleep, verify_check=verify_check
        )
        self.stages: list[Stage] = []

    def check(self) -> None:
        try:
            self.delivery.check()
        except DeliveryConfigError as exc:
            raise UserError(str(exc)) from None

    def before_begin(self, session: RunSession, todo: Sequence[Stage]) -> None:
        store = session.store
        assert store is not None
        touched = {str(i.path) for stage in todo for i in stage.incidents if i.path is not None}
        continues = session.resumes.id if session.resumes is not None else None
        try:
            self.delivery.refuse_dirty(store, continues, touched)
            self.delivery.refuse_taken_branch(store, continues, store.next_run_id())
        except DeliveryConfigError as exc:
            raise UserError(str(exc)) from None

    def job_started(self, session: RunSession, stages: Sequence[Stage]) -> None:
        assert session.store is not None and session.run_id is not None
        self.stages = list(stages)
        self.delivery.begin(session.store, session.run_id)
        staged = _staged(stages)
        self.delivery.finish_earlier(session.store, staged, [s.id for s in stages])

    def _deliver(self, session: RunSession, run: JobRun, done: Sequence[str], *, final: bool) -> None:
        assert session.store is not None
        if session.interrupted or run.aborted:
            return
        order = [s.id for s in run.stages]
        self.delivery.deliver(session.store, _staged(run.stages), order, set(done), final=final)

    def stage_finished(self, session: RunSession, run: JobRun, stage: Stage, done: Sequence[str]) -> None:
        # The last stage delivers with the job; so does every stage while verification has yet to
        # decide the writes (its at-end strategy): only verified writes are delivered.
        if len(done) < len(run.stages) and not run.verification_pending:
            self._deliver(session, run, done, final=False)

    def job_finished(self, session: RunSession, run: JobRun) -> None:
        if session.interrupted or run.aborted:
            self.delivery.report.notes.append(
                "nothing committed: the run stopped early; the next run continues it and commits"
            )
        else:
            self._deliver(session, run, [s.id for s in run.stages], final=True)
        run.delivery = self.delivery.result(session.store)


def _staged(stages: Sequence[Stage]) -> dict[str, StagedIncident]:
    return {i.id: StagedIncident(i, stage.id, stage.name) for stage in stages for i in stage.incidents}


def delivery_hooks(
    options: GitOptions, input_dir: Path, say: Callable[[str], None], *, verify_check: str | None = None
) -> list[RunHook]:
    """`verify_check`: --verify's check, when verification runs before delivery (listed before it): only
    the writes it accepted are committed."""
    return [GitDeliveryHook(options, input_dir, say, verify_check=verify_check)] if options.enabled else []
