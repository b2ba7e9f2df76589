"""`undo`: take back exactly what a run wrote, from the run store's write log (with or without git).

With git: a run whose fixes were committed on its job's branch, checked out, gets a revert commit
there (delivery/undo.py); no history is rewritten and pushed branches are left as they are.

Each file is restored only if it still holds what kantra-ai wrote to it; a file changed since is
left alone and named. The undo is itself a run in the store (mode `undo`), so `status` shows it, a
kill during it is settled like any other, and the incidents it took the fixes of are open again
(`skipped`, "undone"): the next `remediate` does them again. An undo changes the job, so it writes
the job's report again (report.html and run.json), as a run does when it ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kantra_ai.app.prepare import check_input_dir
from kantra_ai.delivery.undo import commit_undo, refuse_busy
from kantra_ai.engine.outcomes import Status
from kantra_ai.errors import UserError
from kantra_ai.report.record import RecordError, write_job_report
from kantra_ai.store.history import HistoryOptions
from kantra_ai.store.revert import RecordedWrite, RevertResult, live_writes, revert_writes
from kantra_ai.store.run_store import UNDO_MODE, RunState, RunStore
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import RunSession, no_store_yet


@dataclass
class UndoReport:
    run: int | None  # the run whose writes were undone; None: nothing to undo
    undo_run: int | None = None  # the store's record of this undo
    result: RevertResult = field(default_factory=RevertResult)
    commit: str | None = None  # the revert commit on the job's branch (delivered through git)
    git: str = ""  # what happened in git, one line ("" nothing)
    report: str | None = None  # the job's report, written again after the undo (None: not written)

    @property
    def complete(self) -> bool:
        return not self.result.refused


def undo(input_dir: Path, *, run: int | None, state: Path | None, say: Callable[[str], None]) -> UndoReport:
    check_input_dir(input_dir)
    if no_store_yet(input_dir, HistoryOptions(state=state)):
        if run is not None:  # as on a tree with runs: a run named that is not there is a mistake
            raise UserError(f"--run {run}: no such run on this tree (nothing has run on it yet)")
        return UndoReport(None)  # nothing ever ran here: nothing to take back, nothing to make
    report = _take_back(input_dir, run=run, state=state, say=say)
    if report.undo_run is not None:  # the store changed: the report of the job must follow
        try:
            report.report = str(write_job_report(input_dir, state))
        except RecordError as exc:
            # The files are restored and the store says so: a report that cannot be written is
            # told, not a reason to hide what the undo did.
            say(f"the report was not written again ({exc}); `kantra-ai report` rebuilds it")
    return report


def _take_back(
    input_dir: Path, *, run: int | None, state: Path | None, say: Callable[[str], None]
) -> UndoReport:
    try:
        with RunSession(input_dir, HistoryOptions(state=state), say, command="undo") as session:
            store = session.open()
            target = run if run is not None else _last_run_with_writes(session)
            if target is None:
                return UndoReport(None)
            known = store.query("SELECT 1 FROM runs WHERE tree=? AND id=?", (store.tree, target))
            if not known:
                raise UserError(f"--run {run}: no such run on this tree (see `kantra-ai status`)")
            writes = live_writes(store, run_id=target)
            if not writes:
                return UndoReport(target)
            busy = refuse_busy(store, input_dir, target)
            if busy:
                raise UserError(busy)
            undo_run, result = revert_as_run(
                store,
                input_dir,
                writes,
                mode=UNDO_MODE,
                kind=session.command,
                note=f"undo of run #{target}",
                status=Status.SKIPPED,
                reason=f"undone by `kantra-ai undo` (the fix of run #{target})",
            )
            commit, git_note = commit_undo(store, input_dir, target, undo_run, sorted(result.reverted))
            return UndoReport(target, undo_run, result, commit, git_note)
    except StoreError as exc:
        raise UserError(str(exc)) from None


def revert_as_run(
    store: RunStore,
    input_dir: Path,
    writes: Sequence[RecordedWrite],
    *,
    mode: str,
    kind: str,
    note: str,
    status: Status,
    reason: str,
    answered: bool = False,
) -> tuple[int, RevertResult]:
    """Revert these writes as a run of its own in the store (so `status` shows it and a kill during
    it is settled like any other); (the run's id, what was reverted and what was refused).
    `kind`: the command that reverts (`undo`, `review`), the report's "command" for the run."""
    run_id = store.begin_run(
        mode=mode,
        analysis="",
        provider="",
        model="",
        resumes=None,
        selected=0,
        planned=0,
        skipped_done=0,
    )
    store.set_run_details(run_id, {"kind": kind})
    try:
        result = revert_writes(
            store,
            input_dir,
            [w.id for w in writes],
            run_id=run_id,
            status=status,
            reason=reason,
            answered=answered,
        )
    except BaseException:
        store.finish_run(run_id, RunState.CRASHED)
        raise
    store.finish_run(run_id, RunState.FINISHED, note=note)
    return run_id, result


def _last_run_with_writes(session: RunSession) -> int | None:
    store = session.store
    assert store is not None
    writes = live_writes(store)
    return max((w.run_id for w in writes), default=None)
