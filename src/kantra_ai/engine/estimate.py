"""What a planned run will take, before it runs: the one estimator behind the dry run, `plan` and `prompt`.

Input tokens are the batcher's estimate of each request (what `execute_batches` will send), turned
into the provider's count by the calibrated ratio earlier runs measured (`engine/calibration.py`).
When the run's shared prefix (instructions, tool definition, rule book) passes the model's cache
minimum, it is counted as written once and read by every other request, as the provider bills it.
Output is what earlier runs saw per incident of each rule; for a rule not seen yet, what the shape
of each incident's line says it takes (`batching.output_prior`, planned with the batch; a rename said
once per packed request), else a default for terse replies. The
worst case is what the `--max-cost` guard reserves (the request's input as cache writes, its whole
`max_tokens` as output). Duration assumes a fixed latency per request plus streaming at a typical
output rate, with the files spread over the parallel slots and each file's requests one after the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import Batch
from kantra_ai.batching.packing import planned_requests
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.runner import RunBatches
from kantra_ai.providers.caching import choose_ttl
from kantra_ai.providers.pricing import ModelPrice, PriceTable, Usage

REQUEST_LATENCY_SECONDS = 3.0
OUTPUT_TOKENS_PER_SECOND = 60.0


@dataclass(frozen=True)
class TokenModel:
    """What the estimator knows about the run's tokens beyond the batches themselves."""

    calibration: Calibration = field(default_factory=Calibration)
    shared_prefix_tokens: int = 0  # estimated tokens every request starts with (in each batch's estimate)
    cache_minimum: int | None = None  # the model's minimum cacheable prefix; None: no prompt caching


@dataclass(frozen=True)
class Estimate:
    requests: int
    incidents: int
    files: int
    input_tokens: int  # every input token, however billed
    expected_output_tokens: int
    max_output_tokens: int
    expected_cost: float | None  # None: no price known for the model
    worst_case_cost: float | None
    minutes: int
    cache_write_tokens: int = 0  # of input_tokens: the shared prefix written to the cache
    cache_read_tokens: int = 0  # of input_tokens: the shared prefix read from it

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "incidents": self.incidents,
            "files": self.files,
            "input_tokens": self.input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "expected_output_tokens": self.expected_output_tokens,
            "max_output_tokens": self.max_output_tokens,
            "expected_cost_usd": self.expected_cost,
            "worst_case_cost_usd": self.worst_case_cost,
            "minutes": self.minutes,
        }


def batches_of(plan: RunBatches) -> list[Batch]:
    return [batch for file_batches in plan.files for batch in file_batches.batches]


def estimate(
    plan: RunBatches, price: ModelPrice | None, parallelism: int, model: TokenModel | None = None
) -> Estimate:
    model = model or TokenModel()
    calibration = model.calibration
    batches = batches_of(plan)
    requests = planned_requests(plan.units())
    input_tokens = sum(calibration.real_tokens(r.input_tokens) for r in requests)
    shared = calibration.real_tokens(model.shared_prefix_tokens) if model.shared_prefix_tokens else 0
    cached = bool(requests) and model.cache_minimum is not None and shared >= model.cache_minimum
    write = shared if cached else 0
    read = shared * (len(requests) - 1) if cached else 0
    # Once per incident list (a file's batch, or a pack's): the duration and the cost need it again.
    outputs: dict[int, float] = {}

    def output(incidents: tuple[Incident, ...], prior: tuple[int, ...]) -> float:
        if id(incidents) not in outputs:
            outputs[id(incidents)] = calibration.expected_output(incidents, prior)
        return outputs[id(incidents)]

    expected_output = round(sum(output(r.incidents, r.output_prior) for r in requests))
    # Each file's requests run one after the other; files share the parallel slots (a pack of small
    # files counts as one of them).
    per_file = [
        sum(
            REQUEST_LATENCY_SECONDS + output(b.incidents, b.output_prior) / OUTPUT_TOKENS_PER_SECOND
            for b in f.batches
        )
        for f in plan.files
    ]
    slots = max(1, min(parallelism, len(requests)))
    seconds = max(sum(per_file) / slots, max(per_file, default=0.0))
    ttl = choose_ttl(seconds)
    expected: float | None = None
    if price is not None:
        # Each request priced on its own (long-context tiers apply per request): the first writes
        # the shared prefix, the others read it.
        expected = 0.0
        for number, request in enumerate(requests):
            total = calibration.real_tokens(request.input_tokens)
            prefix = min(shared, total) if cached else 0
            usage = Usage(
                input_tokens=total - prefix,
                output_tokens=round(output(request.incidents, request.output_prior)),
                cache_write_tokens=prefix if number == 0 else 0,
                cache_read_tokens=prefix if number else 0,
            )
            expected += PriceTable.cost(price, usage, cache_ttl=ttl) or 0.0
    guard = CostGuard(None, price)
    worst = sum(guard.worst_case_of(b) for b in batches) if price is not None else None
    return Estimate(
        requests=len(requests),
        incidents=plan.incident_count,
        files=len(plan.files),
        input_tokens=input_tokens,
        expected_output_tokens=expected_output,
        max_output_tokens=sum(b.max_output_tokens for b in batches),
        expected_cost=expected,
        worst_case_cost=worst,
        minutes=math.ceil(seconds / 60) if batches else 0,
        cache_write_tokens=write,
        cache_read_tokens=read,
    )


def request_rows(plan: RunBatches) -> list[dict[str, Any]]:
    """One row per planned request, as the dry run lists them."""
    return [
        {
            "file": str(batch.path),
            "window": list(batch.window) if batch.window else None,
            "incidents": len(batch.incidents),
            "incident_ids": [i.id for i in batch.incidents],
            "input_tokens": batch.estimated_input_tokens,
            "max_output_tokens": batch.max_output_tokens,
        }
        for batch in batches_of(plan)
    ]
