"""What a person watching a run sees: a live view on a terminal, a line every few seconds elsewhere.

Both follow the run through its observer hooks (`RunProgress`) and show the same figures: incidents
done out of planned (only those a request carried: a run cut short does not jump to 100%), fixed
and failed, cost so far against `--max-cost`, tokens, incidents per minute and the time left, the
files in flight, the last failure, and a wait on the provider's rate limit. Everything goes to
stderr, so `--json` on stdout and `| tee` lose nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from kantra_ai.analysis.model import Incident
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status

# Without a terminal (CI logs, `| tee`), one progress line this often.
LINE_EVERY_SECONDS = 5.0


def _money(cost: float) -> str:
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class RunProgress(RunObserver):
    """The figures of a run as it goes; thread-safe enough for a display thread to read."""

    def __init__(self, *, max_cost: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.max_cost = max_cost
        self.started = clock()
        self.planned = 0
        self.requests = 0
        self.done = 0  # incidents decided after a request (or a stored reply) carried them
        self.fixed = 0
        self.failed = 0
        self.not_sent = 0  # decided without being sent: stopped, budget, unreadable file
        self.cost = 0.0
        self.cost_known = True
        self.tokens_in = 0
        self.tokens_out = 0
        self.in_flight: dict[str, int] = {}  # path -> characters received so far
        self.last_failure = ""
        self.wait_until = 0.0  # a rate-limit wait ends then (clock time)
        self._sent: set[str] = set()
        self._counted: dict[str, Status] = {}  # what each incident counts as (a hook may change it)

    # -- events ------------------------------------------------------------------------------------

    def run_planned(self, requests: int, incidents: int) -> None:
        self.requests += requests
        self.planned += incidents

    def request_started(self, path: str, incident_ids: tuple[str, ...]) -> None:
        self.in_flight[path] = 0
        self._sent.update(incident_ids)

    def request_progress(self, path: str, received_chars: int) -> None:
        self.in_flight[path] = received_chars

    def response_reused(self, path: str, incident_ids: tuple[str, ...], fingerprint: str) -> None:
        self._sent.update(incident_ids)

    def request_finished(self, record: RequestRecord) -> None:
        self.in_flight.pop(record.path, None)
        usage = record.usage
        self.tokens_in += usage.input_tokens + usage.cache_write_tokens + usage.cache_read_tokens
        self.tokens_out += usage.output_tokens
        if record.cost is None:
            self.cost_known = False
        else:
            self.cost += record.cost

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        if incident.id not in self._sent:
            self.not_sent += 1
            return
        self.done += 1
        self._counted[incident.id] = outcome.status
        if outcome.status is Status.FIXED:
            self.fixed += 1
        elif outcome.status is Status.FAILED:
            self.failed += 1
            where = f"{incident.path}:{incident.line}" if incident.line else str(incident.path)
            self.last_failure = f"{where}: {outcome.reason}"

    def outcome_changed(self, incident_id: str, after: IncidentOutcome) -> None:
        before = self._counted.get(incident_id)
        if before is None or before is after.status:
            return  # never counted (not sent), or no change
        self._counted[incident_id] = after.status
        self.fixed += (after.status is Status.FIXED) - (before is Status.FIXED)
        self.failed += (after.status is Status.FAILED) - (before is Status.FAILED)
        if after.status is Status.FAILED:
            self.last_failure = after.reason

    def rate_limit_wait(self, seconds: float) -> None:
        self.wait_until = max(self.wait_until, self.clock() + seconds)

    # -- figures -----------------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    @property
    def per_minute(self) -> float | None:
        minutes = self.elapsed / 60
        return self.done / minutes if self.done and minutes > 0 else None

    @property
    def eta(self) -> float | None:
        rate = self.per_minute
        left = self.planned - self.done - self.not_sent
        return left / rate * 60 if rate and left > 0 else None

    @property
    def waiting(self) -> int:
        """Whole seconds left of a rate-limit wait (a wait under a second shows as 1)."""
        return max(0, math.ceil(self.wait_until - self.clock()))

    def cost_text(self) -> str:
        spent = _money(self.cost) if self.cost_known else "unknown (no price)"
        return f"{spent} of {_money(self.max_cost)} max" if self.max_cost is not None else spent

    def line(self) -> str:
        """One line for logs: everything the live view shows, in words."""
        parts = [
            f"{self.done}/{self.planned} incidents (fixed {self.fixed}, failed {self.failed})",
            f"{len(self.in_flight)} in flight",
            f"cost {self.cost_text()}",
            f"tokens {self.tokens_in:,} in / {self.tokens_out:,} out",
        ]
        if self.per_minute:
            parts.append(f"{self.per_minute:.0f}/min")
        if self.eta is not None:
            parts.append(f"about {_clock(self.eta)} left")
        if self.waiting:
            parts.append(f"waiting {self.waiting} s on the rate limit")
        return "progress: " + ", ".join(parts)


class LiveView:
    """The terminal's live view (rich): redrawn in place, a few times a second."""

    def __init__(self, progress: RunProgress, console: Console) -> None:
        self.progress = progress
        self.console = console
        self._live = Live(get_renderable=self.render, console=console, refresh_per_second=8, transient=False)

    def render(self) -> RenderableType:
        p = self.progress
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        total = max(p.planned, 1)
        eta = f"  about {_clock(p.eta)} left" if p.eta is not None else ""
        grid.add_row(
            Text(f"{p.done}/{p.planned} incidents", style="bold"),
            ProgressBar(total=total, completed=min(p.done + p.not_sent, total), width=30),
            Text.from_markup(
                f"[green]fixed {p.fixed}[/]  [red]failed {p.failed}[/]  {_clock(p.elapsed)}{eta}"
            ),
        )
        rate = f"  ·  {p.per_minute:.0f} incidents/min" if p.per_minute else ""
        lines: list[RenderableType] = [
            grid,
            Text(f"  cost {p.cost_text()}  ·  tokens {p.tokens_in:,} in / {p.tokens_out:,} out{rate}"),
        ]
        if p.in_flight:
            names = sorted(p.in_flight, key=lambda path: -p.in_flight[path])
            shown = ", ".join(
                f"{path.rsplit('/', 1)[-1]}"
                + (f" ({p.in_flight[path]:,} chars)" if p.in_flight[path] else "")
                for path in names[:4]
            )
            more = f" +{len(names) - 4}" if len(names) > 4 else ""
            lines.append(
                Text(f"  in flight ({len(names)}): {shown}{more}", overflow="ellipsis", no_wrap=True)
            )
        if p.waiting:
            lines.append(Text.from_markup(f"  [yellow]waiting {p.waiting} s on the provider's rate limit[/]"))
        if p.last_failure:
            lines.append(
                Text.from_markup(f"  [red]last failed[/]: {escape(p.last_failure)}", overflow="ellipsis")
            )
        return Group(*lines)

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()


class LogLines:
    """Without a terminal: a progress line when the run starts, every few seconds, and at the end."""

    def __init__(self, progress: RunProgress, say: Callable[[str], None], every: float) -> None:
        self.progress = progress
        self.say = say
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kantra-ai-progress", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.say(self.progress.line())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.say(self.progress.line())


class ProgressDisplay(RunProgress):
    """`Ui.progress()`: the figures plus how they are shown while the context is open."""

    def __init__(
        self,
        console: Console,
        *,
        mode: str,
        max_cost: float | None = None,
        every: float = LINE_EVERY_SECONDS,
        say: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(max_cost=max_cost)
        self.shown: LiveView | LogLines | None = None
        if mode == "live":
            self.shown = LiveView(self, console)
        elif mode == "lines":
            self.shown = LogLines(self, say or (lambda text: console.print(text, markup=False)), every)

    def __enter__(self) -> ProgressDisplay:
        self.started = self.clock()
        if self.shown is not None:
            self.shown.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.shown is not None:
            self.shown.stop()


class ConsoleUi:
    """The application's `Ui` on stderr: notes as `kantra-ai: ...` lines, and the run's progress
    (a live view on a terminal, a line every few seconds otherwise, nothing with --no-progress)."""

    def __init__(
        self,
        console: Console,
        *,
        progress: bool = True,
        max_cost: float | None = None,
        every: float = LINE_EVERY_SECONDS,
    ) -> None:
        self.console = console
        self.show_progress = progress
        self.max_cost = max_cost
        self.every = every
        self._status: Live | None = None

    def status(self, text: str) -> None:
        """A spinner line on a terminal, replaced by the next one and gone when the run starts (or
        fails: an error stays one line). Without a terminal the progress lines tell the story."""
        if not self.console.is_terminal:
            return
        if self._status is None:
            # No stream redirection: it would hold the line back until a newline, and a fast first
            # step would never show.
            self._status = Live(
                Spinner("dots", text),
                console=self.console,
                transient=True,
                refresh_per_second=12.5,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._status.start()
        self._status.update(Spinner("dots", text), refresh=True)

    def close(self) -> None:
        """Take the status line away (before the result, an error, or the live view)."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __enter__(self) -> ConsoleUi:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def say(self, text: str, *, emphasis: bool = False) -> None:
        if emphasis:
            self.console.print(text, style="bold yellow", markup=False, highlight=False, soft_wrap=True)
        else:
            self.console.print(f"kantra-ai: {text}", markup=False, highlight=False, soft_wrap=True)

    def progress(self) -> ProgressDisplay:
        self.close()
        if not self.show_progress:
            mode = "off"
        elif self.console.is_terminal:
            mode = "live"
        else:
            mode = "lines"
        return ProgressDisplay(
            self.console, mode=mode, max_cost=self.max_cost, every=self.every, say=self.say
        )
