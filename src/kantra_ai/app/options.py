"""What a run is asked to do, split by concern: every command (CLI, web app, benchmarks) builds these.

Frozen values with defaults equal to the command line's, so a caller names only what it changes.
The CLI builds them in one place (`cli/options.py`) from its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from kantra_ai.delivery.deliver import GitOptions
from kantra_ai.engine.confidence import ConfidencePolicy
from kantra_ai.engine.ratelimit import RateBuckets, RateLimitConfig
from kantra_ai.engine.runner import BatchSettings
from kantra_ai.prompts.custom import CustomTemplates
from kantra_ai.store.history import HistoryOptions


@dataclass(frozen=True)
class SelectionOptions:
    """Which incidents of which analysis, in which tree."""

    analysis: Path
    input_dir: Path
    source_root: str | None = None
    violation_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    max_effort: int | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_informational: bool = False
    include_generated: bool = False  # build output and vendored code are not applicable unless asked


@dataclass(frozen=True)
class ModelOptions:
    """Which model answers, and how it is priced and asked."""

    provider: str = "claude"
    model: str | None = None
    base_url: str | None = None
    prices: Path | None = None  # --prices: the user's price overrides
    text_edits: bool = False  # SEARCH/REPLACE text instead of tool calls


@dataclass(frozen=True)
class LimitOptions:
    """How much a run may spend and how it paces itself."""

    max_cost: float | None = None
    max_minutes: float | None = None  # --max-minutes: then the run stops as Ctrl-C would
    max_retries: int = 1
    batch: BatchSettings = field(default_factory=BatchSettings)
    rate_limits: RateLimitConfig | None = None  # unknown limits are learned from response headers
    shared_buckets: RateBuckets | None = None  # a portfolio's buckets, shared by every application


class BatchRetry(str, Enum):
    """What happens to a request a batch returned without a reply (errored, expired, cancelled)."""

    BATCH = "batch"  # into the next batch, at batch prices (default)
    SYNC = "sync"  # at once, through the normal API at the normal price


@dataclass(frozen=True)
class BatchApiOptions:
    """`--batch-api`: the first pass through the provider's batch API, at half the price."""

    enabled: bool = False
    wait: bool = False  # --wait: poll until every batch has ended (else submit, apply what ended, stop)
    poll_seconds: float = 60.0  # --poll-interval: the longest pause between two polls with --wait
    retry: BatchRetry = BatchRetry.BATCH  # --batch-retry
    max_requests: int | None = None  # --batch-max-requests: per submission (None: the provider's limit)


@dataclass(frozen=True)
class OutputOptions:
    """Where results go (the CLI prints them; the app writes the report)."""

    json: bool = False
    progress: bool = True
    report: Path | None = None  # report.html; default INPUT/.kantra-ai/report.html


@dataclass(frozen=True)
class VerifyOptions:
    """Verification (app/verification.py): off unless `kind` is given."""

    kind: str | None = None  # --verify build|test
    command: str | None = None  # --verify-command: else detected by marker file
    strategy: str | None = None  # --verify-strategy; None: the job's default (per-file / per-phase)
    timeout: float = 600.0  # --verify-timeout, seconds per check
    fail_fast: bool = False  # --verify-fail-fast
    max_repair_rounds: int = 2  # --max-repair-rounds
    reanalyze_command: str | None = None  # --reanalyze-command, with {output} for the fresh analysis

    @property
    def enabled(self) -> bool:
        """Whether a check runs: `--verify build|test` (not absent, not `--verify off`)."""
        return self.kind not in (None, "off")


@dataclass(frozen=True)
class RunOptions:
    selection: SelectionOptions
    model: ModelOptions = field(default_factory=ModelOptions)
    limits: LimitOptions = field(default_factory=LimitOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    confidence: ConfidencePolicy = field(default_factory=ConfidencePolicy)  # off unless enabled
    templates: CustomTemplates | None = None  # the user's prompt templates, already checked
    history: HistoryOptions = field(default_factory=HistoryOptions)  # run store: --state, --resume, ...
    git: GitOptions = field(default_factory=GitOptions)  # delivery: commits, branches, pull requests
    batch_api: BatchApiOptions = field(default_factory=BatchApiOptions)  # --batch-api, --wait, ...
    verify: VerifyOptions = field(default_factory=VerifyOptions)  # build / test checks, repairs
    dry_run: bool = False

    @property
    def input_dir(self) -> Path:
        return self.selection.input_dir
