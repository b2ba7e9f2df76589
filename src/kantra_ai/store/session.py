"""The run store's part in one run (`remediate`, `execute`): lock, recover, skip what is done, record, close.

    with RunSession(input_dir, HistoryOptions(), say) as session:
        selection = session.skip_done(selection)      # locks the tree and recovers first
        ... plan and check everything that can fail before anything is paid ...
        session.begin(analysis=..., provider=..., model=...)   # only now is there a run
        ... in the event loop: session.attach(control) ... session.detach()
        interrupted = session.finish(outcomes, aborted)

A run is recorded only once it begins: a bad template, a missing key or a plan refused before the
first request leaves no run behind (a run that never started is not a run). A run the provider
refused before answering anything (a revoked key: 401 on every request) is kept as "refused", for
`status` to show, and is never continued: the next run starts as if it had not happened.
Nothing here runs for a dry run except a read-only look at the store (no lock, no recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from kantra_ai._fs import OutsideTreeError, is_link, make_dirs, write_atomic
from kantra_ai.analysis.model import Incident
from kantra_ai.analysis.selection import Selection
from kantra_ai.engine.batch_runner import RunControl
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.history import FileHistory
from kantra_ai.engine.interrupt import GracefulInterrupt
from kantra_ai.engine.outcomes import IncidentOutcome
from kantra_ai.engine.replies import PackShare
from kantra_ai.errors import TOLD
from kantra_ai.killpoints import killpoint
from kantra_ai.providers.base import ModelResponse
from kantra_ai.store.calibration import load_calibration, save_calibration
from kantra_ai.store.codec import Decided
from kantra_ai.store.history import HistoryOptions, Partition, partition
from kantra_ai.store.lock import TreeLock, held_by_another
from kantra_ai.store.observer import StoreObserver
from kantra_ai.store.recovery import Recovery, recover
from kantra_ai.store.run_store import Known, RunRow, RunState, RunStore
from kantra_ai.store.schema import MissingStore, StoreError
from kantra_ai.store.settled import no_longer_fixed

TOOL_DIR = ".kantra-ai"
STORE_NAME = "state.db"
LOCK_NAME = "lock"
RESUME_HINT = "interrupted: run the same command again (or with --resume) to continue"


_NOTHING_TO_RESUME = (
    "--resume: nothing to resume on this tree, {what}; run without --resume to process new "
    "incidents, or with --retry-failed to ask again about failed ones"
)


def default_store_path(input_dir: Path) -> Path:
    return input_dir / TOOL_DIR / STORE_NAME


def tool_dir(input_dir: Path, *, create: bool = True) -> Path:
    """`INPUT/.kantra-ai`: the lock, the store and the reports live there, so it must be a real
    folder of the tree. A symbolic link there (to a folder outside, say) is refused, never used."""
    path = input_dir / TOOL_DIR
    try:
        if create:
            make_dirs(path, root=input_dir)
        elif is_link(path) or (path.exists() and not path.is_dir()):
            raise OutsideTreeError(f"{path} is a symbolic link or not a folder")
    except OutsideTreeError as exc:
        raise StoreError(
            f"{exc}; kantra-ai keeps its run store, lock and reports in a real folder of the tree: "
            f"remove it (rm {path}) and run again"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from None
    return path


def _refuse_linked_store(path: Path) -> None:
    """The default store and its companion files are files of the tree, never links (a link to
    an outside file would become the store); an explicit --state is the user's to point anywhere."""
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
        if is_link(candidate):
            raise StoreError(
                f"{candidate} is a symbolic link; the run store must be a file of the tree: remove the "
                f"link (rm {candidate}) or keep the store elsewhere with --state PATH"
            )


def tree_key(input_dir: Path, store_path: Path) -> str:
    """The tree's key in the store: "." when the store is inside the tree (it moves with it), else
    the tree's absolute path."""
    tree = Path(os.path.realpath(input_dir))
    store = Path(os.path.realpath(store_path))
    return "." if tree in store.parents else str(tree)


def open_store(
    input_dir: Path, state: Path | None, *, create: bool, store: str | None = None, key: str | None = None
) -> RunStore:
    """The tree's run store: the SQLite file `state` (default INPUT/.kantra-ai/state.db), or the
    PostgreSQL database at `store`, where the tree is `key` (default: its absolute path)."""
    if store:
        return RunStore.open(store, key or str(Path(os.path.realpath(input_dir))), create=create)
    if state is None:
        tool_dir(input_dir, create=create)
        _refuse_linked_store(default_store_path(input_dir))
    path = state or default_store_path(input_dir)
    return RunStore.open(path, tree_key(input_dir, path), create=create)


def another_run(input_dir: Path) -> str | None:
    """Who holds the tree's lock when another run does (see lock.held_by_another); None: nobody."""
    return held_by_another(input_dir / TOOL_DIR / LOCK_NAME)


def left_running_died(input_dir: Path) -> bool:
    """Whether the runs the store still calls "running" on this tree have died: nobody holds the
    tree's lock. A run holds it from before it is recorded until after it is closed, and the
    operating system drops it when the process dies, however it dies (store/lock.py). The next run
    relies on this when it recovers every "running" run as crashed once it has the lock
    (store/recovery.py); `status`, which takes no lock and writes nothing, asks it here."""
    return another_run(input_dir) is None


def no_store_yet(input_dir: Path, options: HistoryOptions) -> bool:
    """True when the tree's SQLite store does not exist: nothing ever ran on it. Asked before a
    command that only reads history would lock the tree (and make `.kantra-ai/` to hold the lock)
    just to find that out. A PostgreSQL store is never "not yet": only opening it can tell."""
    if options.store:
        return False
    return not os.path.lexists(options.state or default_store_path(input_dir))


def lease_holder() -> str:
    """Who holds a lease: this process on this machine (a pod's name is its host name)."""
    return f"{socket.gethostname()} pid {os.getpid()}"


class RunSession:
    def __init__(
        self,
        input_dir: Path,
        options: HistoryOptions,
        say: Callable[[str], None],
        *,
        command: str = "",
        resume_hint: str = RESUME_HINT,
    ) -> None:
        self.input_dir = input_dir
        self.options = options
        self.command = command  # recorded with the mode ("execute incremental"); "" for remediate
        self.resume_hint = resume_hint  # told after an interrupted run
        self.say = say  # one line to the user ("kantra-ai: ..." on the terminal)
        self.store: RunStore | None = None
        self.observer: StoreObserver | None = None
        self.partition = Partition()
        self.recovery = Recovery()
        self.run_id: int | None = None
        self.resumes: RunRow | None = None
        self._lock: TreeLock | None = None
        self._interrupt: GracefulInterrupt | None = None
        self._finished = False
        self.state: RunState | None = None  # how the run was closed in the store
        self._settled: dict[str, str] = {}  # skipped incidents -> the status earlier runs left
        self._settled_reasons: dict[str, str] = {}  # ... and why, where they said ("" for fixes)
        self._selected = 0

    @property
    def mode(self) -> str:
        """The run's mode as the store records it, prefixed by the command when not `remediate`."""
        return f"{self.command} {self.options.mode}" if self.command else self.options.mode

    @property
    def interrupted(self) -> bool:
        return self._interrupt is not None and self._interrupt.pressed > 0

    # -- before planning -------------------------------------------------------------------------

    def skip_done(self, selection: Selection, *, dry_run: bool = False) -> Selection:
        """The selection minus what earlier runs settled. For a real run this first locks the tree
        and recovers what an interrupted run left; the run itself is recorded by `begin`."""
        if dry_run:
            known, reopened = self._peek(selection.selected)
        else:
            if self.options.resume and no_store_yet(self.input_dir, self.options):
                raise StoreError(_NOTHING_TO_RESUME.format(what="no run is recorded"))
            store = self._open()
            self._decide_resume(store)
            known = store.known()
            reopened = self._no_longer_fixed(store, selection.selected, known)
        if reopened:
            self._say(
                f"{len(reopened)} incidents recorded as fixed are no longer fixed in their files "
                "(restored or changed since): planning them again"
            )
        known = {k: v for k, v in known.items() if k not in reopened}
        self.partition = partition(selection.selected, known, self.options)
        self.partition.reopened = len(reopened)
        planned = {i.id for i in self.partition.to_plan}
        self._selected = len(selection.selected)
        settled = [i.id for i in selection.selected if i.id in known and i.id not in planned]
        self._settled = {i: known[i].status for i in settled}
        self._settled_reasons = {i: known[i].reason for i in settled if known[i].reason}
        if self.partition.skipped:
            self._say(self.partition.describe())
        return dataclasses.replace(selection, selected=self.partition.to_plan)

    def begin(
        self,
        *,
        analysis: Path,
        provider: str,
        model: str,
        stages: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the run: called once everything that can be checked before paying has passed.
        `stages`: each planned incident's stage (execute's phase); `details`: what the job's report
        shows of this run beyond its rows (what it left out, its settings)."""
        store = self.store
        if store is None:
            raise RuntimeError("RunSession.begin before skip_done")
        self.run_id = store.begin_run(
            mode=self.mode,
            analysis=str(analysis),
            provider=provider,
            model=model,
            resumes=self.resumes.id if self.resumes else None,
            selected=self._selected,
            planned=len(self.partition.to_plan),
            skipped_done=self.partition.skipped,
        )
        store.register(self.run_id, self.partition.to_plan, stages)
        if details:
            store.set_run_details(self.run_id, details)
        self.observer = StoreObserver(store, self.run_id)
        killpoint("run-started")

    def _peek(self, selected: list[Incident]) -> tuple[dict[str, Known], set[str]]:
        path = self.options.state or default_store_path(self.input_dir)
        if self.options.state is None and not self.options.store:
            tool_dir(self.input_dir, create=False)  # a dry run refuses a linked store folder too
        if not self.options.store and not os.path.lexists(path):
            return {}, set()  # a folder or a text file at --state is refused below, as in a real run
        try:
            store = self._open_store(create=False)
        except MissingStore:
            return {}, set()  # nothing has run with this database yet
        try:
            known = store.known()
            return known, self._no_longer_fixed(store, selected, known)
        finally:
            store.close()

    def open(self) -> RunStore:
        """Lock the tree, open its store and settle what an interrupted run left (idempotent)."""
        return self._open()

    def _no_longer_fixed(
        self, store: RunStore, selected: list[Incident], known: dict[str, Known]
    ) -> set[str]:
        """Selected incidents the store calls fixed whose fix is gone from the file (store/settled.py)."""
        if self.options.fresh:
            return set()
        fixed = [i for i in selected if i.id in known and known[i.id].status == "fixed"]
        return no_longer_fixed(store, self.input_dir, fixed)

    def _open(self) -> RunStore:
        if self.store is not None:
            return self.store
        # A store kept elsewhere (--state, --store) is opened first: one that cannot be used (a
        # folder, a text file, a database that does not answer) is refused before the tree gets a
        # `.kantra-ai/` for the lock. Opening it takes no tree lock: several trees may share it.
        elsewhere = self.options.state is not None or bool(self.options.store)
        early = self._open_store(create=True) if elsewhere else None
        try:
            folder = tool_dir(self.input_dir)
            self._lock = TreeLock(folder / LOCK_NAME, root=self.input_dir)
            self._lock.acquire(wait=self.options.wait_lock, on_wait=self._say)
        except BaseException:
            if early is not None:
                early.close()
            raise
        with contextlib.suppress(OSError):
            if not os.path.lexists(folder / ".gitignore"):
                ignore_all = "# kantra-ai's run store, lock and reports\n*\n"
                write_atomic(folder / ".gitignore", ignore_all, root=self.input_dir)
        self.store = store = early or self._open_store(create=True)
        # Before recovery: from here on, an earlier attempt on another machine cannot write.
        store.take_lease(lease_holder())
        self.recovery = recover(store, self.input_dir)
        if self.recovery.anything:
            self._say(f"recovered what an interrupted run left: {self.recovery.describe()}")
        return store

    def _open_store(self, *, create: bool) -> RunStore:
        o = self.options
        return open_store(self.input_dir, o.state, create=create, store=o.store, key=o.store_key)

    def _decide_resume(self, store: RunStore) -> None:
        """Whether this run continues an unfinished one (and refuse --resume when there is none)."""
        last = store.last_run()
        if last is not None and last.is_undo:
            # An undo took a run's fixes back: what runs next is a job of its own. Continuing the
            # undo would name the job after it (branch and trailers: job_root follows `resumes`),
            # and continuing the run before it would carry on work the user just took back.
            if self.options.resume:
                raise StoreError(_NOTHING_TO_RESUME.format(what=f"the last run (#{last.id}) was an undo"))
        elif last is not None and last.state.unfinished:
            self.resumes = last
            self._say(f"continuing run #{last.id} ({last.state.value})")
        elif last is not None and store.unattempted():
            self.resumes = last  # it finished, but stopped short (--max-cost): not sent yet
        elif self.options.resume:
            what = f"the last run (#{last.id}) finished all it planned" if last else "no run is recorded"
            raise StoreError(_NOTHING_TO_RESUME.format(what=what))

    def _say(self, text: str) -> None:
        self.say(text)

    # -- in the event loop -----------------------------------------------------------------------

    def replies(self) -> RunSession | None:
        """Where the run finds replies paid for by an earlier, killed run (none with --fresh)."""
        return None if self.options.fresh else self

    def attach(self, control: RunControl) -> None:
        """Ctrl-C handling for the run: the first press stops new requests (see engine/interrupt.py)."""
        self._interrupt = GracefulInterrupt(control.stop, self._say)
        self._interrupt.install()

    def detach(self) -> None:
        if self._interrupt is not None:
            self._interrupt.remove()

    def interrupt(self) -> None:
        """Stop the run as Ctrl-C would (first call: finish what is in flight; second: abandon it).
        In the run's event loop, between `attach` and `detach`."""
        if self._interrupt is not None:
            self._interrupt.press()

    def observers(self) -> list[RunObserver]:
        return [self.observer] if self.observer is not None else []

    def settled(self) -> dict[str, str]:
        """What the store says earlier runs ended with, by incident id (before this run changes it)."""
        return dict(self._settled)

    def settled_reasons(self) -> dict[str, str]:
        """Why earlier runs ended the settled incidents as they did, where they said (failures)."""
        return dict(self._settled_reasons)

    def calibration(self, provider: str, model: str) -> Calibration:
        """What earlier runs on this tree learned about token counts (empty without a store)."""
        if self.store is not None:
            return load_calibration(self.store, provider, model)
        path = self.options.state or default_store_path(self.input_dir)
        if not path.is_file():
            return Calibration()
        store = open_store(self.input_dir, self.options.state, create=False)
        try:
            return load_calibration(store, provider, model)
        finally:
            store.close()

    def save_calibration(self, provider: str, model: str, calibration: Calibration) -> None:
        if self.store is not None:
            save_calibration(self.store, provider, model, calibration)

    def stored_reply(self, fingerprint: str) -> ModelResponse | None:
        return self.store.stored_reply(fingerprint) if self.store is not None else None

    def pack_share(self, path: str, content_sha: str) -> PackShare | None:
        return self.store.pack_share(path, content_sha) if self.store is not None else None

    def history(self) -> RunSession | None:
        """Where the run finds what earlier runs wrote to each file (none with --fresh)."""
        return None if self.options.fresh else self

    def file_history(self, path: str) -> FileHistory:
        return self.store.file_history(path) if self.store is not None else FileHistory()

    # -- after the run ---------------------------------------------------------------------------

    def finish(
        self, outcomes: Iterable[IncidentOutcome], aborted: str = "", *, waiting: bool = False
    ) -> bool:
        """Close the run in the store; True when it was interrupted (the caller exits with 130).
        `waiting`: requests are still with a batch API (the caller exits with 75)."""
        if self.store is None or self.run_id is None:
            return False
        killpoint("run-finishing")
        store = self.store
        # Outcomes no batch reported (a file that could not be read when planning).
        unsettled = store.unsettled()
        unreported = [Decided(o, False) for o in outcomes if o.incident_id in unsettled]
        if unreported:
            with store.tx() as db:
                store.record_outcomes(db, self.run_id, unreported)
        # The order of the exit codes (app/run.py exit_code): interrupted, aborted, waiting.
        if self.interrupted:
            state = RunState.INTERRUPTED
        elif aborted:
            state = RunState.ABORTED
        else:
            state = RunState.WAITING if waiting else RunState.FINISHED
        if state is RunState.ABORTED and not self._did_anything(store, self.run_id):
            state = RunState.REFUSED  # the next run starts afresh instead of "continuing" this one
        self._close_run(state, aborted)
        if store.gone():
            self._say(
                f"the run store {store.path} was deleted or replaced during the run: what this run did "
                "(its writes, replies and cost) is recorded in no store, so `status`, `undo` and the next "
                "run know nothing of it; its changes are in the files"
            )
        if self.interrupted:
            self._say(self.resume_hint)
        return self.interrupted

    def _did_anything(self, store: RunStore, run_id: int) -> bool:
        reused = self.observer.reused_replies if self.observer else 0
        return reused > 0 or store.answered_anything(run_id)

    def _close_run(self, state: RunState, note: str = "") -> None:
        assert self.store is not None and self.run_id is not None
        self._finished = True
        self.state = state
        reused = self.observer.reused_replies if self.observer else 0
        self.store.finish_run(self.run_id, state, reused_replies=reused, note=note)
        if state not in (RunState.FINISHED, RunState.WAITING):  # WAITING: its run ended normally
            cancelled = self.observer.in_flight() if self.observer else []
            with self.store.tx() as db:
                db.executemany("UPDATE requests SET status='cancelled' WHERE id=?", [(r,) for r in cancelled])
            recover(self.store, self.input_dir)  # settle this run's own open writes now

    def summary(self) -> dict[str, Any]:
        """The `store` block of the --json summary."""
        p, r = self.partition, self.recovery
        return {
            "path": str(self.store.path) if self.store else None,
            "run": self.run_id,
            "state": self.state.value if self.state else None,  # refused: nothing to continue
            "mode": self.mode,
            "continues_run": self.resumes.id if self.resumes else None,
            "skipped": {
                "fixed": p.fixed,
                "not_applicable": p.not_applicable,
                "failed": p.failed,
                "low_confidence": p.low_confidence,
                "held_back": p.held_back,  # skipped after a reply for another reason (budget, stop)
            },
            "reopened": p.reopened,
            "reused_replies": self.observer.reused_replies if self.observer else 0,
            "deleted_during_run": self.store.gone() if self.store else False,
            "recovered": {
                "completed_writes": r.completed_writes,
                "undone_writes": r.undone_writes,
                "changed_outside": r.changed_outside,
                "lost_requests": r.lost_requests,
                "temp_files_removed": len(r.temp_files_removed),
            },
        }

    def __enter__(self) -> RunSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.store is not None and self.run_id is not None and not self._finished:
                stopped = exc_type is not None and issubclass(
                    exc_type, (KeyboardInterrupt, asyncio.CancelledError)
                )
                with contextlib.suppress(StoreError):
                    self._close_run(RunState.INTERRUPTED if stopped else RunState.CRASHED, str(exc or ""))
                if stopped:
                    self._say(self.resume_hint)
                    with contextlib.suppress(AttributeError):
                        setattr(exc, TOLD, True)  # the CLI does not say "interrupted" again
        finally:
            if self.store is not None:
                self.store.close()
            if self._lock is not None:
                self._lock.release()
