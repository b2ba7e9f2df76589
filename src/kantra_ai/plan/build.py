"""From phase drafts to a finished plan: incidents, estimates, metadata."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kantra_ai.engine.estimate import TokenModel, estimate
from kantra_ai.engine.runner import BatchSettings, batch_incidents
from kantra_ai.plan.model import Plan, PlanMetadata
from kantra_ai.plan.phases import PhaseDraft, ViolationGroup, assemble
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.pricing import ModelPrice


def check_cover(drafts: Sequence[PhaseDraft], groups: Sequence[ViolationGroup]) -> None:
    """Every selected violation in exactly one phase: the planners guarantee it, this proves it."""
    placed = [k for d in drafts for k in d.keys]
    wanted = sorted(g.key for g in groups)
    if sorted(placed) != wanted:  # pragma: no cover - a planner bug, never a user error
        raise AssertionError(
            f"plan does not cover the selection: {len(placed)} placed, {len(wanted)} selected"
        )


def build_plan(
    drafts: Sequence[PhaseDraft],
    groups: Sequence[ViolationGroup],
    *,
    metadata: PlanMetadata,
    input_dir: Path,
    batch: BatchSettings,
    price: ModelPrice | None,
    prompts: PromptBuilder,
    tokens: TokenModel | None = None,
) -> Plan:
    """The plan, each phase with the cost and duration `execute` is expected to take for it (the
    same batching, prompts and estimator as `remediate --dry-run`)."""
    check_cover(drafts, groups)
    plan = assemble(drafts, groups, metadata)
    by_key = {g.key: g for g in groups}
    for phase, draft in zip(plan.phases, drafts, strict=True):
        # Only incidents with a file of the checkout to edit are ever sent.
        incidents = [i for key in draft.keys for i in by_key[key].incidents if i.fixable]
        batches = batch_incidents(incidents, input_dir, batch, prompts)
        expected = estimate(batches, price, batch.parallelism, tokens)
        phase.estimated_cost = round(expected.expected_cost or 0.0, 4)
        phase.estimated_duration_minutes = expected.minutes
    plan.metadata.cost_known = price is not None
    return plan
