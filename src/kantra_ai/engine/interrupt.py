"""Ctrl-C during a run: stop starting requests, let those in flight finish and be saved, then stop.

The first Ctrl-C sets the run's stop event: no new request starts (the batches not started end as
"skipped: run stopped"), the requests in flight finish, their replies are applied and recorded
(they are paid for). A second Ctrl-C cancels those requests too; the run store marks them cancelled
and the next run asks again.

SIGTERM (what `docker stop`, systemd, CI cancellation and `timeout` send, with a SIGKILL soon after)
is the second Ctrl-C at once: the requests in flight and a running check are abandoned (the check's
process group killed), the run is recorded as interrupted and the lock released, instead of the
process dying with its check still running and the run left to be found crashed.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any


class GracefulInterrupt:
    def __init__(self, stop: asyncio.Event, notify: Callable[[str], None]) -> None:
        self.stop = stop
        self.notify = notify
        self.pressed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[object] | None = None
        self._sigterm: Any = None  # the handler before the run's (the command's: see cli/app.py)

    def install(self) -> None:
        """Call from inside the running loop, in the task to cancel on a second Ctrl-C."""
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        try:
            self._sigterm = signal.getsignal(signal.SIGTERM)
            loop.add_signal_handler(signal.SIGINT, self._on_sigint)
            loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        except (NotImplementedError, RuntimeError, ValueError):
            return  # Windows, or not the main thread: Ctrl-C stays a KeyboardInterrupt
        self._loop = loop

    def remove(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)  # back to the default: the one before, then
            if self._sigterm is not None:
                signal.signal(signal.SIGTERM, self._sigterm)

    def _on_sigint(self) -> None:
        self.press()

    def _on_sigterm(self) -> None:
        self.pressed = max(self.pressed, 1)
        self.stop.set()
        if self._task is not None:
            self.notify("terminated (SIGTERM): abandoning the requests in flight and any running check")
            self._task.cancel()

    def press(self) -> None:
        """What Ctrl-C does, for front ends without a terminal (the web app's pause and cancel).
        Call in the run's event loop (`loop.call_soon_threadsafe` from another thread)."""
        self.pressed += 1
        if self.pressed == 1:
            self.stop.set()
            self.notify(
                "stopping: no new request starts; the ones in flight finish and are saved "
                "(Ctrl-C again to abandon them)"
            )
        elif self._task is not None:
            self.notify("abandoning the requests in flight")
            self._task.cancel()
