"""A run that expects to write more than a minute's allowance of a known output limit sizes its
requests for waiting on output from the first one: before any request has waited for the bucket,
which would come only after the first minute's allowance was spent on reservations with the usual
headroom."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.engine.scripted import ScriptedProvider, context
from tests.engine.test_packed_requests import _batch, _prompts, _tree, fix_all

from kantra_ai.batching.batches import FileBatches
from kantra_ai.engine.adaptive import AdaptiveProvider
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.ratelimit import AdaptiveLimiter, RateLimitConfig
from kantra_ai.engine.runner import RunBatches, execute_batches
from kantra_ai.providers.base import ModelRequest, ModelResponse


def _first_request_bound(tmp_path: Path, output_limit: int) -> bool:
    """Run three small files against an output limit; whether the first request was sized as
    output-bound (what the adaptive provider told the calibration before sending it)."""
    tmp_path.mkdir()
    incidents = _tree(tmp_path, ["A", "B", "C"])
    calibration = Calibration()
    bound: list[bool] = []

    def answer(request: ModelRequest) -> ModelResponse:
        bound.append(calibration.output_bound)
        return fix_all(request)

    now = [0.0]

    async def sleep(seconds: float) -> None:  # the limiter's clock moves only when it sleeps
        now[0] += seconds
        await asyncio.sleep(0)

    limiter = AdaptiveLimiter(
        RateLimitConfig(output_tokens_per_minute=output_limit), clock=lambda: now[0], sleep=sleep
    )
    provider = AdaptiveProvider(ScriptedProvider(answer, answer, answer), limiter, warm_prefixes=False)
    provider.calibration = calibration
    ctx = context(provider, tmp_path, prompts=_prompts(incidents), calibration=calibration)  # type: ignore[arg-type]
    plan = RunBatches(files=[FileBatches(b.path, [b]) for b in (_batch(i) for i in incidents)])
    asyncio.run(execute_batches(plan, ctx, parallelism=1))
    assert len(bound) == 3
    return bound[0]


def test_a_run_expecting_more_output_than_a_minutes_allowance_sizes_for_it_from_the_first_request(
    tmp_path: Path,
) -> None:
    assert _first_request_bound(tmp_path / "tight", output_limit=20)
    assert not _first_request_bound(tmp_path / "roomy", output_limit=90_000)
