"""A live progress bar that follows a run through its observer hooks."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from kantra_ai.analysis.model import Incident
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status


class ProgressDisplay(RunObserver):
    """Incidents done out of planned, plus what is streaming in right now."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._task: TaskID | None = None
        self._streaming: dict[str, int] = {}
        self._fixed = 0
        self._failed = 0

    def __enter__(self) -> ProgressDisplay:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def _refresh(self) -> None:
        if self._task is None:
            return
        receiving = sum(self._streaming.values())
        detail = f"fixed {self._fixed}  failed {self._failed}  in flight {len(self._streaming)}"
        if receiving:
            detail += f"  receiving {receiving:,} chars"
        self._progress.update(self._task, detail=detail)

    def run_planned(self, requests: int, incidents: int) -> None:
        self._task = self._progress.add_task("incidents", total=incidents, detail="")

    def request_started(self, path: str, incident_ids: tuple[str, ...]) -> None:
        self._streaming[path] = 0
        self._refresh()

    def request_progress(self, path: str, received_chars: int) -> None:
        self._streaming[path] = received_chars
        self._refresh()

    def request_finished(self, record: RequestRecord) -> None:
        self._streaming.pop(record.path, None)
        self._refresh()

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        if outcome.status is Status.FIXED:
            self._fixed += 1
        elif outcome.status is Status.FAILED:
            self._failed += 1
        if self._task is not None:
            self._progress.advance(self._task)
        self._refresh()


class ConsoleUi:
    """The application's `Ui` on a terminal: lines on stderr, a rich progress bar."""

    def __init__(self, console: Console, *, progress: bool = True) -> None:
        self.console = console
        self.show_progress = progress

    def say(self, text: str, *, emphasis: bool = False) -> None:
        if emphasis:
            self.console.print(text, style="bold yellow", markup=False, highlight=False, soft_wrap=True)
        else:
            self.console.print(f"kantra-ai: {text}", markup=False, highlight=False, soft_wrap=True)

    def progress(self) -> ProgressDisplay:
        return ProgressDisplay(self.console, enabled=self.show_progress)
