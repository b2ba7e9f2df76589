"""The confidence-filtering flags (the predecessor's names) and how they combine with the config.

Filtering is on when `--enable-confidence` (or `confidence.enabled: true`) says so, or when
`--min-confidence`, `--complexity-threshold` or `--on-low-confidence` is given on the command line:
asking for a threshold means wanting it applied. `--no-enable-confidence` turns it off regardless.

Thresholds: the defaults per complexity, then `confidence.complexity-thresholds` from the config,
then `--complexity-threshold` for the complexities it names; finally `--min-confidence` (or
`confidence.min-confidence`) raises every threshold to at least its value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kantra_ai import bounds
from kantra_ai.analysis.complexity import Complexity
from kantra_ai.cli.help import CONFIDENCE
from kantra_ai.cli.run_options import in_range
from kantra_ai.config.cli import given, loaded_config
from kantra_ai.engine.confidence import (
    ConfidencePolicy,
    LowConfidenceAction,
    parse_threshold_overrides,
)
from kantra_ai.errors import UserError

DEFAULT_REVIEW_FILE = Path(".kantra-ai") / "manual-review.yaml"

EnableConfidenceOpt = Annotated[
    bool,
    typer.Option(
        "--enable-confidence/--no-enable-confidence",
        show_default=False,
        metavar="",
        rich_help_panel=CONFIDENCE,
        help="Hold each fix to a confidence threshold by migration complexity "
        "(trivial 0.70, low 0.75, medium 0.80, high 0.90, expert 0.95).",
    ),
]
MinConfidenceOpt = Annotated[
    float | None,
    typer.Option(
        callback=in_range(bounds.CONFIDENCE),
        metavar="X",
        rich_help_panel=CONFIDENCE,
        help="Raise every complexity threshold to at least this confidence (turns filtering on).",
        show_default=False,
    ),
]
OnLowConfidenceOpt = Annotated[
    LowConfidenceAction,
    typer.Option(
        metavar="[skip|warn-and-apply|manual-review-file]",
        rich_help_panel=CONFIDENCE,
        help="A fix below its threshold: skip it, apply it with a warning (warn-and-apply), or skip "
        "it and append the proposed edit to --review-file (manual-review-file). Turns filtering on.",
    ),
]
ComplexityThresholdOpt = Annotated[
    str | None,
    typer.Option(
        metavar="SPEC",
        rich_help_panel=CONFIDENCE,
        help='Override some thresholds, e.g. "trivial=0.7,high=0.9" (turns filtering on).',
        show_default=False,
    ),
]
ReviewFileOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        rich_help_panel=CONFIDENCE,
        help="Where manual-review-file appends withheld fixes "
        "(default: INPUT/.kantra-ai/manual-review.yaml).",
        show_default=False,
    ),
]

_TRIGGERS = ("min_confidence", "complexity_threshold", "on_low_confidence")


def confidence_policy(
    ctx: typer.Context,
    *,
    input_dir: Path,
    enable_confidence: bool,
    min_confidence: float | None,
    on_low_confidence: LowConfidenceAction,
    complexity_threshold: str | None,
    review_file: Path | None,
) -> ConfidencePolicy:
    """The policy from the resolved parameter values (flags over config files over defaults)."""
    if given(ctx, "enable_confidence"):
        enabled = enable_confidence
    else:
        enabled = enable_confidence or any(given(ctx, name) for name in _TRIGGERS)
    settings = loaded_config(ctx).settings.confidence.complexity_thresholds
    from_config = {c: float(getattr(settings, c.value)) for c in Complexity}
    try:
        overrides = parse_threshold_overrides(complexity_threshold or "")
    except ValueError as exc:
        raise UserError(f"--complexity-threshold: {exc}") from None
    return ConfidencePolicy.build(
        enabled=enabled,
        thresholds=from_config,
        overrides=overrides,
        min_confidence=min_confidence,
        action=LowConfidenceAction(on_low_confidence),
        review_file=review_file or input_dir / DEFAULT_REVIEW_FILE,
        review_root=input_dir if review_file is None else None,
    )
