"""Runs started from the page: the `execute` job of the CLI, in a worker thread of the server.

One run at a time per server, and one per tree through the run store's lock (a CLI run on the same
tree makes a start from the page fail with the lock's message, and the other way round). The run
belongs to the server, not to the page: closing the tab does not stop it, and any page opened later
shows where it is. Pause and cancel do what Ctrl-C does on a terminal: the first stops new
requests and lets those in flight finish and be saved; the second abandons them. Either way the run
is recorded as interrupted and the next start continues it (`execute --resume`).

The page learns about the run from `RunProgress`, a snapshot the engine's observer hooks keep up to
date; the event stream sends it whenever it changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kantra_ai.analysis.model import Incident
from kantra_ai.app.execute import ExecuteJob, ExecuteRequest, execute_summary
from kantra_ai.app.options import RunOptions
from kantra_ai.app.prepare import Stage
from kantra_ai.app.run import RunHandle, exit_code, run_job
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status
from kantra_ai.errors import UserError
from kantra_ai.plan.model import PlanError, load_plan
from kantra_ai.plan.state import load_state, plan_hash
from kantra_ai.store.session import another_run

log = logging.getLogger("kantra_ai.web")
NOTES = 30  # lines kept for the page


class RunProgress(RunObserver):
    """What the page shows about the current (or last) run; every change bumps `version`.

    Fed from the run's event loop thread, read from the server's: a lock keeps the snapshot whole.
    """

    def __init__(self, budget: float | None = None) -> None:
        self._lock = threading.Lock()
        self.version = 0
        self._reset(budget)
        self.state = "idle"

    def _reset(self, budget: float | None) -> None:
        self.state = "starting"  # idle, starting, running, stopping, paused, finished, failed, cancelled
        self.scope = ""  # "the whole plan" or "phase X"
        self.phase = ""  # the phase running now
        self.planned = 0
        self.counts: dict[str, int] = {s.value: 0 for s in Status}
        self._counted: dict[str, Status] = {}  # what each incident counts as (a hook may change it)
        self.cost = 0.0
        self.cost_known = True
        self.budget = budget
        self.requests = 0
        self.in_flight: dict[str, int] = {}  # file -> characters received so far
        self.rate_limit_waits = 0
        self.waited_seconds = 0.0
        self.notes: deque[str] = deque(maxlen=NOTES)
        self.error = ""
        self.summary: dict[str, Any] | None = None
        self.exit_code: int | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None

    @contextlib.contextmanager
    def _change(self) -> Iterator[None]:
        with self._lock:
            yield
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            done = sum(self.counts.values())
            return {
                "version": self.version,
                "state": self.state,
                "scope": self.scope,
                "phase": self.phase,
                "planned": self.planned,
                "done": done,
                "counts": dict(self.counts),
                "cost": round(self.cost, 6),
                "cost_known": self.cost_known,
                "budget": self.budget,
                "requests": self.requests,
                "in_flight": sorted(self.in_flight),
                "receiving": sum(self.in_flight.values()),
                "rate_limit_waits": self.rate_limit_waits,
                "waited_seconds": round(self.waited_seconds, 1),
                "notes": list(self.notes),
                "error": self.error,
                "exit_code": self.exit_code,
                "fixed": self.counts[Status.FIXED.value],
                "failed": self.counts[Status.FAILED.value],
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "report": (self.summary or {}).get("report"),
            }

    # -- the run's life ------------------------------------------------------------------------------

    def begin(self, scope: str, budget: float | None) -> None:
        with self._change():
            self._reset(budget)
            self.scope, self.started_at = scope, time.time()

    def set_state(self, state: str) -> None:
        with self._change():
            self.state = state

    def end(
        self,
        state: str,
        *,
        error: str = "",
        summary: Mapping[str, Any] | None = None,
        code: int | None = None,
    ) -> None:
        with self._change():
            self.state, self.error, self.exit_code = state, error, code
            self.summary = dict(summary) if summary is not None else None
            self.in_flight.clear()
            self.finished_at = time.time()

    def note(self, text: str) -> None:
        with self._change():
            self.notes.append(text)

    def stage(self, stage: Stage) -> None:
        with self._change():
            self.phase = f"{stage.id} {stage.name}".strip()
            if self.state == "starting":
                self.state = "running"

    # -- engine events -------------------------------------------------------------------------------

    def run_planned(self, requests: int, incidents: int) -> None:
        with self._change():
            self.planned += incidents
            if self.state == "starting":
                self.state = "running"

    def request_started(self, path: str, incident_ids: tuple[str, ...]) -> None:
        with self._change():
            self.in_flight[path] = 0

    def request_progress(self, path: str, received_chars: int) -> None:
        with self._change():
            self.in_flight[path] = received_chars

    def request_finished(self, record: RequestRecord) -> None:
        with self._change():
            self.in_flight.pop(record.path, None)
            self.requests += 1
            if record.cost is None:
                self.cost_known = False
            else:
                self.cost += record.cost

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        with self._change():
            self.counts[outcome.status.value] += 1
            self._counted[incident.id] = outcome.status

    def outcome_changed(self, incident_id: str, after: IncidentOutcome) -> None:
        with self._change():
            before = self._counted.get(incident_id)
            if before is None or before is after.status:
                return
            self._counted[incident_id] = after.status
            self.counts[before.value] -= 1
            self.counts[after.status.value] += 1

    def rate_limit_wait(self, seconds: float) -> None:
        with self._change():
            self.rate_limit_waits += 1
            self.waited_seconds += seconds


class WebUi:
    """The application's `Ui` for a run started from the page: lines and progress go to the snapshot."""

    def __init__(self, progress: RunProgress) -> None:
        self._progress = progress

    def say(self, text: str, *, emphasis: bool = False) -> None:
        self._progress.note(text)

    def status(self, text: str) -> None:
        self._progress.note(text)

    @contextlib.contextmanager
    def progress(self) -> Iterator[RunObserver]:
        yield self._progress


class _WebExecuteJob(ExecuteJob):
    """`execute` as the CLI runs it; the page also learns which phase is running."""

    def __init__(self, request: ExecuteRequest, progress: RunProgress) -> None:
        super().__init__(request)
        self._web_progress = progress

    def stage_observer(self, stage: Stage) -> RunObserver | None:
        self._web_progress.stage(stage)
        return super().stage_observer(stage)


def execute_request(plan_path: Path, phase: str | None) -> ExecuteRequest:
    """What the CLI user would type: `--resume` when state.yaml holds progress of this very plan;
    when the plan was edited since, the phase state starts over (the store still skips what runs
    settled, so nothing is paid twice)."""
    state_path = plan_path.parent / "state.yaml"
    resume = restart = False
    if state_path.is_file():
        try:
            state = load_state(state_path)
        except PlanError as exc:
            raise UserError(str(exc)) from exc
        if state.has_progress():
            if state.plan_sha256 and state.plan_sha256 != plan_hash(plan_path):
                restart = True
            else:
                resume = True
    return ExecuteRequest(plan=plan_path, phase=phase, resume=resume, restart=restart)


class RunManager:
    def __init__(self) -> None:
        self.progress = RunProgress()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._handle: RunHandle | None = None

    @property
    def active(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(
        self,
        plan_path: Path,
        phase: str | None,
        options: Callable[[], RunOptions],
        *,
        retry_failed: bool = False,
    ) -> None:
        """Start executing the plan (or one phase) in the background; UserError if a run from this
        server is going on (a run of another process is refused by the tree lock, in the run).
        `retry_failed`: ask again about incidents a reply did not fix (or a person rejected)."""
        with self._lock:
            if self.active:
                raise UserError("a run started from this page is still going on: pause or cancel it first")
            request = execute_request(plan_path, phase)
            run_options = options()
            # Refused here, in one answer, rather than by the run in the background once "started"
            # was said: an unknown phase, a tree another process's run holds.
            if phase is not None:
                try:
                    load_plan(plan_path).phase(phase)
                except PlanError as exc:
                    raise UserError(str(exc)) from None
            holder = another_run(run_options.input_dir)
            if holder is not None:
                raise UserError(
                    f"another kantra-ai run ({holder}) is working on this tree: wait for it to finish"
                )
            if retry_failed:
                history = dataclasses.replace(run_options.history, retry_failed=True)
                run_options = dataclasses.replace(run_options, history=history)
            scope = f"phase {phase}" if phase else "the whole plan"
            self.progress.begin(scope, run_options.limits.max_cost)
            self._handle = handle = RunHandle()
            self._thread = threading.Thread(
                target=self._work, args=(request, run_options, handle), name="kantra-ai-run", daemon=True
            )
            self._thread.start()

    def stop(self) -> str:
        """Pause (first call) or cancel (second): as Ctrl-C on a terminal. Returns what it did."""
        with self._lock:
            handle = self._handle
            if handle is None or not self.active:
                raise UserError("no run from this page is going on")
            handle.stop()
            what = "cancelling: the requests in flight are abandoned" if handle.stops > 1 else "pausing"
            self.progress.set_state("stopping")
            return what

    def cancel(self) -> str:
        """Stop now, abandoning the requests in flight (two stops at once)."""
        with self._lock:
            handle = self._handle
            if handle is None or not self.active:
                raise UserError("no run from this page is going on")
            while handle.stops < 2:
                handle.stop()
            self.progress.set_state("stopping")
            return "cancelling: the requests in flight are abandoned"

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _work(self, request: ExecuteRequest, options: RunOptions, handle: RunHandle) -> None:
        progress = self.progress
        job = _WebExecuteJob(request, progress)
        try:
            run = run_job(job, options, WebUi(progress), handle=handle)
            summary = execute_summary(job, run, options)
            code = int(exit_code(run))
            if run.cancelled:  # the second stop: the summary says what was done before it
                error = "cancelled: the requests in flight were abandoned; Start continues"
                progress.end("cancelled", error=error, summary=summary, code=code)
            else:
                progress.end("paused" if run.interrupted else "finished", summary=summary, code=code)
        except UserError as exc:
            progress.end("failed", error=str(exc))
        except KeyboardInterrupt:
            progress.end(
                "cancelled", error="cancelled: the requests in flight were abandoned; Start continues"
            )
        except Exception as exc:  # the page must learn it; the server goes on
            log.exception("run failed")
            progress.end("failed", error=f"internal error: {exc.__class__.__name__}: {exc}")
