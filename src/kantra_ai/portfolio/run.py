"""`portfolio run`: every application of a manifest through the per-application unit, on one
machine (embedded: threads, `--max-apps` at a time) or on a Ray cluster (`ray_engine.py`), under
one budget and one rate limit. The driver reserves each application's share of the budget before
it starts and settles it when the application ends; one application failing never stops the others.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kantra_ai._fs import write_atomic
from kantra_ai.app.run import RunHandle
from kantra_ai.engine.ratelimit import BucketSet, RateBuckets, RateLimitConfig
from kantra_ai.errors import UserError
from kantra_ai.portfolio.budget import PortfolioBudget
from kantra_ai.portfolio.manifest import LoadedManifest
from kantra_ai.portfolio.unit import AppResult, AppSpec, AppState, run_unit
from kantra_ai.store.lock import LockBusy, LockError, TreeLock

ENGINES = ("embedded", "ray")
PORTFOLIO_FILE = "portfolio.json"
LOCK_FILE = "portfolio.lock"


@dataclass(frozen=True)
class PortfolioOptions:
    engine: str = "embedded"
    ray_address: str | None = None
    max_apps: int = 2
    max_cost: float | None = None  # the whole portfolio
    max_cost_per_app: float | None = None
    rate_limits: RateLimitConfig | None = None  # shared by every application
    minute_seconds: float = 60.0  # the buckets' window (benchmarks shrink it with the fake server's)
    store: str | None = None  # every application's run store in PostgreSQL (default: SQLite per tree)


@dataclass
class PortfolioResult:
    apps: list[AppResult] = field(default_factory=list)
    seconds: float = 0.0
    engine: str = "embedded"

    @property
    def cost(self) -> float:
        return sum(a.cost for a in self.apps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "seconds": round(self.seconds, 3),
            "cost": round(self.cost, 6),
            "apps": [a.as_dict() for a in self.apps],
        }


class Progress:
    """What the run tells as it goes: a line per application started and ended (stderr)."""

    def __init__(self, say: Callable[[str], None], total: int) -> None:
        self.say = say
        self.total = total
        self.done: list[AppResult] = []
        self.running: set[str] = set()
        self._lock = threading.Lock()

    def started(self, name: str, budget: float | None) -> None:
        with self._lock:
            self.running.add(name)
            share = f" (budget ${budget:.4f})" if budget is not None else ""
            self.say(f"portfolio: {name}: started{share}; {self._counts()}")

    def finished(self, result: AppResult) -> None:
        with self._lock:
            self.running.discard(result.name)
            self.done.append(result)
            reason = f": {result.reason}" if result.reason else ""
            self.say(
                f"portfolio: {result.name}: {result.state}{reason} (fixed {result.fixed}, failed "
                f"{result.failed}, not sent {result.skipped}, ${result.cost:.4f}, {result.seconds:.1f} s); "
                f"{self._counts()}"
            )

    def _counts(self) -> str:
        failed = sum(r.state == AppState.FAILED for r in self.done)
        cost = sum(r.cost for r in self.done)
        return (
            f"{len(self.done)}/{self.total} apps done ({failed} failed), {len(self.running)} running, "
            f"cost ${cost:.4f}"
        )


Runner = Callable[[AppSpec, float | None], AppResult]


def run_portfolio(
    loaded: LoadedManifest, options: PortfolioOptions, say: Callable[[str], None]
) -> PortfolioResult:
    if options.engine not in ENGINES:
        raise UserError(f"--engine must be one of {', '.join(ENGINES)}, not {options.engine!r}")
    workspace = loaded.workspace
    workspace.mkdir(parents=True, exist_ok=True)
    # One portfolio run per workspace: two would copy the same application into the same folder
    # (one removing the other's half-made copy) and count each other's spend as their own.
    lock = TreeLock(workspace / LOCK_FILE)
    try:
        lock.acquire()
    except LockBusy:
        raise UserError(
            f"another portfolio run ({lock.holder()}) is using the workspace {workspace}; "
            "wait for it to finish (`kantra-ai portfolio status` shows how far it is)"
        ) from None
    except LockError as exc:
        raise UserError(str(exc)) from None
    with lock:
        return _run_portfolio(loaded, options, say)


def _run_portfolio(
    loaded: LoadedManifest, options: PortfolioOptions, say: Callable[[str], None]
) -> PortfolioResult:
    workspace = loaded.workspace
    started = time.monotonic()
    since = time.time()
    budget = PortfolioBudget(options.max_cost, options.max_cost_per_app, len(loaded.apps))
    progress = Progress(say, len(loaded.apps))
    say(
        f"portfolio: {len(loaded.apps)} applications, engine {options.engine}, up to {options.max_apps} "
        f"at a time, workspace {workspace}"
    )
    _write_state(loaded, options, since, [])
    if options.engine == "ray":
        from kantra_ai.portfolio.ray_engine import run_on_ray  # Ray only when asked for

        results = run_on_ray(loaded, options, budget, progress, since)
    else:
        results = _run_embedded(loaded, options, budget, progress, since)
    order = {spec.name: n for n, spec in enumerate(loaded.apps)}
    results.sort(key=lambda r: order[r.name])
    _write_state(loaded, options, since, results)
    return PortfolioResult(results, time.monotonic() - started, options.engine)


def _run_embedded(
    loaded: LoadedManifest,
    options: PortfolioOptions,
    budget: PortfolioBudget,
    progress: Progress,
    since: float,
) -> list[AppResult]:
    buckets: RateBuckets = BucketSet(options.rate_limits, window_seconds=options.minute_seconds)
    handles: dict[str, RunHandle] = {}

    def one(spec: AppSpec, share: float | None) -> AppResult:
        handle = handles.setdefault(spec.name, RunHandle())
        return run_unit(
            spec,
            loaded.workspace,
            limiter=buckets,
            max_cost=share,
            spent_since=since,
            handle=handle,
            store=options.store,
        ).result

    def stop() -> None:
        """Ctrl-C stops every running application as Ctrl-C stops one run (finish and save what is
        in flight), then the portfolio ends; rerunning resumes."""
        for handle in handles.values():
            handle.stop()

    # Builds and file work are limited to the cores; the model's requests are paced by the buckets.
    workers = max(1, min(options.max_apps, len(loaded.apps)))
    return schedule(loaded.apps, workers, budget, progress, one, on_interrupt=stop)


def schedule(
    apps: list[AppSpec],
    workers: int,
    budget: PortfolioBudget,
    progress: Progress,
    runner: Runner,
    *,
    on_interrupt: Callable[[], None] | None = None,
) -> list[AppResult]:
    """Run every application through `runner` on `workers` threads, each with its budget share;
    Ctrl-C starts no further application and calls `on_interrupt` before waiting for the others."""
    results: list[AppResult] = []
    queue = list(apps)
    running: dict[Future[AppResult], tuple[AppSpec, float | None]] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kantra-ai-app") as pool:
        try:
            while queue or running:
                while queue and len(running) < workers:
                    spec = queue.pop(0)
                    share = budget.reserve()
                    progress.started(spec.name, share)
                    running[pool.submit(runner, spec, share)] = (spec, share)
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    spec, share = running.pop(future)
                    try:
                        result = future.result()
                    except Exception as exc:  # the unit catches its own; this is the engine's
                        result = AppResult(spec.name, AppState.FAILED, reason=f"{type(exc).__name__}: {exc}")
                    budget.settle(share, result.cost)
                    progress.finished(result)
                    results.append(result)
        except KeyboardInterrupt:
            if on_interrupt is not None:
                on_interrupt()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def _write_state(
    loaded: LoadedManifest, options: PortfolioOptions, since: float, results: list[AppResult]
) -> None:
    """The portfolio's own record in the workspace: which manifest, when, which engine."""
    state = {
        "manifest": str(loaded.path),
        "engine": options.engine,
        "started_at": since,
        "finished": bool(results),
        "max_cost": options.max_cost,
        "max_cost_per_app": options.max_cost_per_app,
        "pid": os.getpid(),
    }
    write_atomic(loaded.workspace / PORTFOLIO_FILE, json.dumps(state, indent=2) + "\n")


def read_state(workspace: Path) -> dict[str, Any]:
    try:
        data = json.loads((workspace / PORTFOLIO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
