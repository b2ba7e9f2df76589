"""What a planned run will take, before it runs: the one estimator behind the dry run, `plan` and `prompt`.

Input tokens are the batcher's estimate of each request (what `execute_batches` will send); output is
the expected figure per incident (half of what `max_tokens` reserves); the worst case is what the
`--max-cost` guard reserves (the request's input as cache writes, its whole `max_tokens` as output).
Duration assumes a fixed latency per request plus streaming at a typical output rate, with the files
spread over the parallel slots and each file's requests one after the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kantra_ai.batching.batches import OUTPUT_TOKENS_PER_INCIDENT, Batch
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.runner import RunBatches
from kantra_ai.providers.pricing import ModelPrice, PriceTable, Usage

# What a fix usually costs in output: the expected (not worst-case) figure.
EXPECTED_OUTPUT_PER_INCIDENT = OUTPUT_TOKENS_PER_INCIDENT // 2
REQUEST_LATENCY_SECONDS = 3.0
OUTPUT_TOKENS_PER_SECOND = 60.0


@dataclass(frozen=True)
class Estimate:
    requests: int
    incidents: int
    files: int
    input_tokens: int
    expected_output_tokens: int
    max_output_tokens: int
    expected_cost: float | None  # None: no price known for the model
    worst_case_cost: float | None
    minutes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "incidents": self.incidents,
            "files": self.files,
            "input_tokens": self.input_tokens,
            "expected_output_tokens": self.expected_output_tokens,
            "max_output_tokens": self.max_output_tokens,
            "expected_cost_usd": self.expected_cost,
            "worst_case_cost_usd": self.worst_case_cost,
            "minutes": self.minutes,
        }


def batches_of(plan: RunBatches) -> list[Batch]:
    return [batch for file_batches in plan.files for batch in file_batches.batches]


def estimate(plan: RunBatches, price: ModelPrice | None, parallelism: int) -> Estimate:
    batches = batches_of(plan)
    input_tokens = sum(b.estimated_input_tokens for b in batches)
    expected_output = EXPECTED_OUTPUT_PER_INCIDENT * plan.incident_count
    expected = PriceTable.cost_of_requests(  # each request on its own: long-context tiers apply per request
        price,
        (Usage(b.estimated_input_tokens, EXPECTED_OUTPUT_PER_INCIDENT * len(b.incidents)) for b in batches),
    )
    guard = CostGuard(None, price)
    worst = sum(guard.worst_case_of(b) for b in batches) if price is not None else None
    # Each file's requests run one after the other; files share the parallel slots.
    per_file = [
        sum(
            REQUEST_LATENCY_SECONDS
            + EXPECTED_OUTPUT_PER_INCIDENT * len(b.incidents) / OUTPUT_TOKENS_PER_SECOND
            for b in f.batches
        )
        for f in plan.files
    ]
    slots = max(1, min(parallelism, len(per_file)))
    seconds = max(sum(per_file) / slots, max(per_file, default=0.0))
    return Estimate(
        requests=len(batches),
        incidents=plan.incident_count,
        files=len(plan.files),
        input_tokens=input_tokens,
        expected_output_tokens=expected_output,
        max_output_tokens=sum(b.max_output_tokens for b in batches),
        expected_cost=expected,
        worst_case_cost=worst,
        minutes=math.ceil(seconds / 60) if batches else 0,
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
