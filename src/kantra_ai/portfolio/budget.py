"""`--max-cost` for a whole portfolio: each application gets a share reserved from one budget before
it starts, and gives back what it did not spend when it ends. An application's run never spends
more than its share (the engine's own `CostGuard` holds it to it), so the portfolio never spends
more than its budget, however many applications run at once and on however many machines.
"""

from __future__ import annotations

import threading


class PortfolioBudget:
    def __init__(self, total: float | None, per_app: float | None, apps: int) -> None:
        self.total = total
        self.per_app = per_app
        self.spent = 0.0
        self._reserved = 0.0
        self._waiting = apps  # applications not started yet
        self._lock = threading.Lock()

    def reserve(self) -> float | None:
        """The next application's share: an even split of what is left among the applications not
        started yet, at most `per_app`; None when nothing limits it."""
        with self._lock:
            waiting = max(1, self._waiting)
            self._waiting = max(0, self._waiting - 1)
            if self.total is None:
                return self.per_app
            left = max(0.0, self.total - self.spent - self._reserved)
            share = left / waiting
            if self.per_app is not None:
                share = min(share, self.per_app)
            self._reserved += share
            return share

    def settle(self, reserved: float | None, spent: float) -> None:
        """An application ended (or its attempt did): its share goes back, its real cost is spent."""
        with self._lock:
            if self.total is not None and reserved is not None:
                self._reserved = max(0.0, self._reserved - reserved)
            self.spent += spent

    def skip(self) -> None:
        """An application that will not start (it cannot run anywhere): no share, one less to share among."""
        with self._lock:
            self._waiting = max(0, self._waiting - 1)

    def retry(self) -> None:
        """An application will be started again (a retried attempt takes a share again)."""
        with self._lock:
            self._waiting += 1
