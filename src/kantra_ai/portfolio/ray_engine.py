"""`--engine ray`: one Ray task per application on an existing cluster (`--ray-address`), its CPU
request its build's parallelism (`cpus` in the manifest), and one rate limit for every worker.

The rate limit: a named actor on the head node holds the portfolio's buckets (`BucketSet`, the
limiter's own code); every application's limiter reserves from it before a request and settles with
the real usage after (`RayBuckets`), while its concurrency window (and a 429's back-off) stays its
own. A task whose worker or node dies is retried by Ray; the retry resumes from the application's
run store (replies already paid for are reused, commits found again by their trailers), provided the
workspace is storage the nodes share. Imported only for `--engine ray`: the embedded engine never
imports Ray.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError

from kantra_ai.app.run import RunHandle
from kantra_ai.engine.ratelimit import BucketSet, RateLimitConfig
from kantra_ai.errors import UserError
from kantra_ai.portfolio.budget import PortfolioBudget
from kantra_ai.portfolio.manifest import LoadedManifest
from kantra_ai.portfolio.run import PortfolioOptions, Progress
from kantra_ai.portfolio.unit import AppResult, AppSpec, AppState, keep_result, lost_result, run_unit

TASK_RETRIES = 3  # a worker or node lost mid-application: Ray starts it again, it resumes
LIMITER_NAME = "kantra-ai-rate-limit-{}"  # per workspace: a rerun of a portfolio finds its own
HEAD_NODE = "node:__internal_head__"  # Ray's resource that only the head node has
PROBE_SECONDS = 5.0  # a head node's port that does not answer within this is not there
STOP_POLL_SECONDS = 0.5  # how often a task looks whether the driver asked it to stop
STOP_WAIT_SECONDS = 60.0  # Ctrl-C: how long the driver waits for the tasks to stop and save


class SharedBuckets:
    """The actor: the portfolio's buckets, one instance for the whole cluster."""

    def __init__(self, limits: RateLimitConfig | None, window_seconds: float) -> None:
        self.core = BucketSet(limits, window_seconds=window_seconds)
        self.stops = 0  # Ctrl-C at the driver: every task's run stops as Ctrl-C stops one run

    def stop(self) -> None:
        self.stops += 1

    def stop_count(self) -> int:
        return self.stops

    def take(self, amounts: dict[str, float]) -> tuple[float, dict[str, int], str]:
        return self.core.take_now(amounts), self.core.known_limits(), self.core.holding()

    def true_up(self, reserved: dict[str, float], billed: dict[str, float]) -> None:
        self.core.true_up_now(reserved, billed)

    def learn(self, limits: dict[str, int]) -> None:
        self.core.learn_now(limits)

    def refused(self, remaining: dict[str, float], said: bool, learn: bool) -> str:
        return self.core.refused_now(remaining, said=said, learn=learn)

    def grow_learned(self) -> None:
        self.core.grow_learned_now()


class RayBuckets:
    """`RateBuckets` over the actor: what each application's limiter is given (picklable)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self._limits: dict[str, int] = {}
        self._holding = ""

    async def take(self, amounts: Mapping[str, float]) -> float:
        wait, self._limits, self._holding = await self.actor.take.remote(dict(amounts))
        return float(wait)

    def holding(self) -> str:
        return self._holding

    async def true_up(self, reserved: Mapping[str, float], billed: Mapping[str, float]) -> None:
        await self.actor.true_up.remote(dict(reserved), dict(billed))

    async def learn(self, limits: Mapping[str, int]) -> None:
        await self.actor.learn.remote(dict(limits))

    async def refused(self, remaining: Mapping[str, float], *, said: bool, learn: bool = True) -> str:
        return str(await self.actor.refused.remote(dict(remaining), said, learn))

    async def grow_learned(self) -> None:
        await self.actor.grow_learned.remote()

    def known_limits(self) -> dict[str, int]:
        return dict(self._limits)


def _collect(
    running: dict[Any, tuple[AppSpec, float | None]],
    results: list[AppResult],
    progress: Progress,
    budget: PortfolioBudget,
    seconds: float,
) -> None:
    """The results of the tasks that end within `seconds` (they were told to stop)."""
    if not running:
        return
    done, _ = ray.wait(list(running), num_returns=len(running), timeout=seconds)
    for ref in done:
        _, share = running.pop(ref)
        with contextlib.suppress(RayError):
            result = AppResult.from_dict(ray.get([ref])[0])
            budget.settle(share, result.cost)
            progress.finished(result)
            results.append(result)


def _largest_node_cpus() -> float:
    """The most CPUs one live node of the cluster offers: a task asking more never runs."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]  # Ray leaves it untyped
    return max((float(n["Resources"].get("CPU", 0)) for n in nodes if n.get("Alive")), default=0.0)


def _attempt(
    spec: AppSpec, workdir: str, buckets: RayBuckets, share: float | None, since: float, store: str | None
) -> dict[str, Any]:
    """One attempt at one application, on whichever node Ray chose. A stop asked at the driver (the
    actor's count) reaches the run as Ctrl-C would: what is in flight finishes and is saved."""
    handle = RunHandle()
    done = threading.Event()

    def follow_stops() -> None:
        seen = 0
        while not done.wait(STOP_POLL_SECONDS):
            with contextlib.suppress(RayError):
                asked = int(ray.get(buckets.actor.stop_count.remote()))
                for _ in range(asked - seen):
                    handle.stop()
                seen = max(seen, asked)

    threading.Thread(target=follow_stops, daemon=True).start()
    try:
        unit = run_unit(
            spec,
            Path(workdir),
            limiter=buckets,
            max_cost=share,
            spent_since=since,
            store=store,
            handle=handle,
        )
    finally:
        done.set()
    return unit.result.as_dict()


def probe_address(address: str | None, timeout: float = PROBE_SECONDS) -> None:
    """A HOST:PORT nobody answers on, or a malformed one, in one line and at once: Ray itself waits
    for it without end, printing its own warnings, with the workspace locked."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(
            f"--ray-address {address}: expected auto, HOST:PORT of the head node, or ray://HOST:PORT"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"--ray-address {address}: nothing answers there ({exc.strerror or exc})") from None


def run_on_ray(
    loaded: LoadedManifest,
    options: PortfolioOptions,
    budget: PortfolioBudget,
    progress: Progress,
    since: float,
) -> list[AppResult]:
    # Ray's driver prints its own notes (a worker that died, a retry) on stdout: they go to stderr,
    # so that stdout holds only what kantra-ai writes there (`--json`).
    with contextlib.redirect_stdout(sys.stderr):
        started = _connect(options.ray_address)
        try:
            return _run(loaded, options, budget, progress, since)
        finally:
            if started:
                ray.shutdown()


def _connect(address: str | None) -> bool:
    """Connect to the cluster; True when this call did (and so shuts the connection down)."""
    probe_address(address)
    if ray.is_initialized():
        return False
    on_term = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or ["cannot connect"])[0]
        raise UserError(f"--ray-address {address}: {first}") from None
    if threading.current_thread() is threading.main_thread() and on_term is not None:
        # Ray's driver installs its own crash handler for SIGTERM: kantra-ai's (stop as Ctrl-C
        # does, exit 130) is put back.
        signal.signal(signal.SIGTERM, on_term)
    return True


def _run(
    loaded: LoadedManifest,
    options: PortfolioOptions,
    budget: PortfolioBudget,
    progress: Progress,
    since: float,
) -> list[AppResult]:
    actor: Any = (
        ray.remote(SharedBuckets)
        .options(
            name=LIMITER_NAME.format(hashlib.sha256(str(loaded.workspace).encode()).hexdigest()[:12]),
            get_if_exists=True,
            resources={HEAD_NODE: 0.001},
            num_cpus=0,
            max_restarts=-1,
        )
        .remote(options.rate_limits, options.minute_seconds)
    )
    buckets = RayBuckets(actor)
    task = ray.remote(_attempt)
    queue = list(loaded.apps)
    running: dict[Any, tuple[AppSpec, float | None]] = {}
    results: list[AppResult] = []
    largest = _largest_node_cpus()
    try:
        while queue or running:
            while queue and len(running) < options.max_apps:
                spec = queue.pop(0)
                cpus = loaded.cpus.get(spec.name, 1.0)
                if cpus > largest:  # Ray would keep it pending for ever, without a word
                    budget.skip()  # no share for it: the others share what it would have had
                    result = AppResult(
                        spec.name,
                        AppState.FAILED,
                        reason=f"cpus {cpus:g}: no node of the cluster has that many (the most: {largest:g})",
                    )
                    keep_result(loaded.workspace, result)
                    progress.started(spec.name, None)
                    progress.finished(result)
                    results.append(result)
                    continue
                share = budget.reserve()
                progress.started(spec.name, share)
                ref = task.options(
                    num_cpus=loaded.cpus.get(spec.name, 1.0), max_retries=TASK_RETRIES, retry_exceptions=False
                ).remote(spec, str(loaded.workspace), buckets, share, since, options.store)
                running[ref] = (spec, share)
            if not running:  # every application left was refused before it started
                continue
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                spec, share = running.pop(ref)
                try:
                    result = AppResult.from_dict(ray.get([ref])[0])
                except RayError as exc:  # every attempt lost: what they spent is still spent
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    result = lost_result(spec, loaded.workspace, since, options.store, f"ray: {first}")
                budget.settle(share, result.cost)
                progress.finished(result)
                results.append(result)
    except KeyboardInterrupt:
        # As the embedded engine: every running application stops as Ctrl-C stops one run (the
        # replies in flight finish and are saved, the run recorded as interrupted), then the
        # portfolio ends. A second Ctrl-C (or the wait running out) cancels the tasks outright.
        actor.stop.remote()
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: stop waiting
            _collect(running, results, progress, budget, STOP_WAIT_SECONDS)
        for ref in running:
            ray.cancel(ref)
        raise
    finally:
        ray.kill(actor)
    return results
