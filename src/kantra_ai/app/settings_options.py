"""`RunOptions` from the settings of the config files alone: what a run started without a command
line (the web app) is asked to do. Every value means what the same key means to the CLI, where the
key gives the flag its default (`config/settings.py` BINDINGS); a config file that would make the
CLI fail (a bad rate-limit spec, a broken template) fails here with the same one line.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kantra_ai.analysis.complexity import Complexity
from kantra_ai.app.options import (
    LimitOptions,
    ModelOptions,
    OutputOptions,
    RunOptions,
    SelectionOptions,
    VerifyOptions,
)
from kantra_ai.batching.packing import DEFAULT_PACKING
from kantra_ai.config.settings import Settings
from kantra_ai.config.templates import load_custom_templates
from kantra_ai.engine.confidence import ConfidencePolicy, LowConfidenceAction
from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.engine.runner import BatchSettings
from kantra_ai.errors import UserError
from kantra_ai.store.history import HistoryOptions

DEFAULT_REVIEW_FILE = Path(".kantra-ai") / "manual-review.yaml"


def options_from_settings(
    settings: Settings, *, input_dir: Path, analysis: Path, state: Path | None = None
) -> RunOptions:
    """The run's options; `analysis` is the analysis file (or, for execute, the plan)."""
    filters, limits, batching = settings.filters, settings.limits, settings.batching
    rate_limits = None
    if limits.rate_limits:
        try:
            rate_limits = RateLimitConfig.parse(limits.rate_limits)
        except ValueError as exc:
            raise UserError(f"limits.rate-limits: {exc}") from None
    confidence = settings.confidence
    thresholds = confidence.complexity_thresholds
    verification = settings.verification
    return RunOptions(
        selection=SelectionOptions(
            analysis=analysis,
            input_dir=input_dir,
            source_root=settings.paths.source_root,
            violation_ids=tuple(filters.violation_ids),
            categories=tuple(c.value for c in filters.categories),
            max_effort=limits.max_effort,
            include=tuple(filters.include),
            exclude=tuple(filters.exclude),
            include_informational=filters.include_informational,
            include_generated=filters.include_generated,
        ),
        model=ModelOptions(
            provider=settings.provider.name,
            model=settings.provider.model,
            base_url=settings.provider.base_url,
            prices=settings.pricing.file,
            text_edits=settings.provider.text_edits,
        ),
        limits=LimitOptions(
            max_cost=limits.max_cost,
            max_minutes=limits.max_minutes,
            max_retries=limits.max_retries,
            batch=BatchSettings(
                batching.max_batch_tokens,
                batching.batch_size,
                batching.batch_parallelism,
                dataclasses.replace(DEFAULT_PACKING, max_files=batching.pack_files),
            ),
            rate_limits=rate_limits,
        ),
        output=OutputOptions(json=False, progress=False),
        confidence=ConfidencePolicy.build(
            enabled=confidence.enabled,
            thresholds={c: float(getattr(thresholds, c.value)) for c in Complexity},
            min_confidence=confidence.min_confidence,
            action=LowConfidenceAction(confidence.on_low_confidence),
            review_file=confidence.review_file or input_dir / DEFAULT_REVIEW_FILE,
        ),
        templates=load_custom_templates(settings.prompts),
        history=HistoryOptions(state=state),
        verify=VerifyOptions(  # `verification.enabled` with `type` is --verify TYPE, as for the CLI
            kind=verification.type if verification.enabled else None,
            command=verification.command,
            strategy=verification.strategy,
            timeout=verification.timeout,
            fail_fast=verification.fail_fast,
            max_repair_rounds=verification.max_repair_rounds,
            reanalyze_command=verification.reanalyze_command,
        ),
        dry_run=False,
    )
