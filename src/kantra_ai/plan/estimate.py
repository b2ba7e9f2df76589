"""Cost and duration of a phase, from the same request plan and token model as `remediate --dry-run`.

The phase's incidents are planned into requests exactly as `execute` will send them (file-based
batches under the token budget, windows for large files); input tokens are the planner's estimate,
output tokens the dry run's expected figure per incident, and the price comes from the one price
table. Duration assumes a fixed latency per request plus streaming at a typical output rate, with
the requests spread over the parallel slots (never two on one file).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kantra_ai.analysis.model import Incident
from kantra_ai.engine.runner import BatchSettings, plan_run
from kantra_ai.planning.batches import OUTPUT_TOKENS_PER_INCIDENT
from kantra_ai.providers.pricing import ModelPrice, PriceTable, Usage

EXPECTED_OUTPUT_PER_INCIDENT = OUTPUT_TOKENS_PER_INCIDENT // 2  # as the dry run expects
REQUEST_LATENCY_SECONDS = 3.0
OUTPUT_TOKENS_PER_SECOND = 60.0


@dataclass(frozen=True)
class Estimate:
    requests: int
    incidents: int
    input_tokens: int
    output_tokens: int
    cost: float | None  # None: no price known for the model
    minutes: int


def estimate_incidents(
    incidents: Sequence[Incident],
    input_dir: Path,
    settings: BatchSettings,
    system_prompt: str,
    price: ModelPrice | None,
    *,
    use_tools: bool = True,
) -> Estimate:
    # Only incidents with a file of the checkout to edit are ever sent.
    sendable = [i for i in incidents if i.fixable]
    plan = plan_run(sendable, input_dir, settings, system_prompt, use_tools=use_tools)
    batches = [b for f in plan.files for b in f.batches]
    input_tokens = sum(b.estimated_input_tokens for b in batches)
    output_tokens = EXPECTED_OUTPUT_PER_INCIDENT * plan.incident_count
    cost = PriceTable.cost(price, Usage(input_tokens=input_tokens, output_tokens=output_tokens))
    # Each file's requests run one after the other; files share the parallel slots.
    per_file = [
        sum(
            REQUEST_LATENCY_SECONDS
            + EXPECTED_OUTPUT_PER_INCIDENT * len(b.incidents) / OUTPUT_TOKENS_PER_SECOND
            for b in f.batches
        )
        for f in plan.files
    ]
    slots = max(1, min(settings.parallelism, len(per_file)))
    seconds = max(sum(per_file) / slots, max(per_file, default=0.0))
    return Estimate(
        requests=len(batches),
        incidents=plan.incident_count,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=None if cost is None else round(cost, 4),
        minutes=math.ceil(seconds / 60) if batches else 0,
    )
