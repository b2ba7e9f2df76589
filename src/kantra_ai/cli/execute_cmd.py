"""`kantra-ai execute`: run a plan's phases in order with the same pipeline as `remediate`.

The job itself (phases as stages, `state.yaml`, the report) is `app/execute.py`; this module only
turns parameters into options and results into output.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kantra_ai.app.execute import ExecuteJob, ExecuteRequest, execute_dry_run, execute_summary
from kantra_ai.app.options import RunOptions
from kantra_ai.cli.confidence_opts import (
    ComplexityThresholdOpt,
    EnableConfidenceOpt,
    MinConfidenceOpt,
    OnLowConfidenceOpt,
    ReviewFileOpt,
)
from kantra_ai.cli.git_opts import (
    BranchOpt,
    CreatePrOpt,
    ForgeOpt,
    ForgeUrlOpt,
    GitCommitOpt,
    PrBaseOpt,
    PrCommentThresholdOpt,
    PrStrategyOpt,
    RemoteOpt,
)
from kantra_ai.cli.help import HISTORY, INPUT, epilog
from kantra_ai.cli.options import run_options
from kantra_ai.cli.remediate import run_command
from kantra_ai.cli.run_options import (
    DEFAULT_BATCH,
    DEFAULT_BATCH_API,
    BaseUrlOpt,
    BatchApiOpt,
    BatchMaxRequestsOpt,
    BatchParallelismOpt,
    BatchRetryOpt,
    BatchSizeOpt,
    DryRunOpt,
    IncludeGeneratedOpt,
    InputOpt,
    JsonOpt,
    MaxBatchTokensOpt,
    MaxCostOpt,
    MaxMinutesOpt,
    MaxRepairRoundsOpt,
    MaxRetriesOpt,
    ModelOpt,
    PackFilesOpt,
    PollIntervalOpt,
    PricesOpt,
    ProgressOpt,
    ProviderOpt,
    RateLimitsOpt,
    ReanalyzeCommandOpt,
    ReportOpt,
    RetryFailedOpt,
    SourceRootOpt,
    TextEditsOpt,
    VerifyCommandOpt,
    VerifyFailFastOpt,
    VerifyOpt,
    VerifyStrategyOpt,
    VerifyTimeoutOpt,
    WaitLockOpt,
    WaitOpt,
)
from kantra_ai.cli.status import StateOpt, StoreOpt
from kantra_ai.config.cli import ConfigOpt
from kantra_ai.delivery.layout import PrStrategy
from kantra_ai.engine.confidence import LowConfidenceAction
from kantra_ai.report.batch_summary import print_batch_dry_run, print_batch_summary
from kantra_ai.report.summary import price_line, print_summary

EPILOG = epilog(
    "kantra-ai execute --plan .kantra-ai-plan/plan.yaml -i ./my-app --dry-run",
    "kantra-ai execute --plan .kantra-ai-plan/plan.yaml -i ./my-app --max-cost 5",
    "kantra-ai execute --plan .kantra-ai-plan/plan.yaml -i ./my-app --resume",
    "kantra-ai execute --plan .kantra-ai-plan/plan.yaml -i ./my-app --phase phase-2",
)


def execute(
    ctx: typer.Context,
    plan: Annotated[
        Path,
        typer.Option(
            "--plan",
            metavar="FILE|DIR",
            help="plan.yaml written by `kantra-ai plan` (or its directory).",
            rich_help_panel=INPUT,
        ),
    ],
    input_dir: InputOpt,
    state: StateOpt = None,
    store_url: StoreOpt = None,
    phase: Annotated[
        str | None,
        typer.Option(metavar="ID", help="Run only this phase id (even if deferred).", rich_help_panel=INPUT),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            metavar="",
            help="Continue the plan's phases where an earlier execute stopped.",
            rich_help_panel=HISTORY,
        ),
    ] = False,
    retry_failed: RetryFailedOpt = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            metavar="",
            help="Ignore the run history and phase state: start the plan over.",
            rich_help_panel=HISTORY,
        ),
    ] = False,
    wait_lock: WaitLockOpt = False,
    batch_api: BatchApiOpt = False,
    wait: WaitOpt = False,
    poll_interval: PollIntervalOpt = DEFAULT_BATCH_API.poll_seconds,
    batch_retry: BatchRetryOpt = DEFAULT_BATCH_API.retry,
    batch_max_requests: BatchMaxRequestsOpt = None,
    analysis: Annotated[
        Path | None,
        typer.Option(
            "--analysis",
            "-a",
            metavar="FILE|DIR",
            help="Check the plan's violations against this analysis first.",
            rich_help_panel=INPUT,
        ),
    ] = None,
    provider: ProviderOpt = "claude",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    source_root: SourceRootOpt = None,
    include_generated: IncludeGeneratedOpt = False,
    max_cost: MaxCostOpt = None,
    max_minutes: MaxMinutesOpt = None,
    dry_run: DryRunOpt = False,
    batch_size: BatchSizeOpt = DEFAULT_BATCH.batch_size,
    pack_files: PackFilesOpt = DEFAULT_BATCH.packing.max_files,
    batch_parallelism: BatchParallelismOpt = DEFAULT_BATCH.parallelism,
    rate_limits: RateLimitsOpt = None,
    max_batch_tokens: MaxBatchTokensOpt = DEFAULT_BATCH.max_batch_tokens,
    max_retries: MaxRetriesOpt = 1,
    prices: PricesOpt = None,
    text_edits: TextEditsOpt = False,
    report: ReportOpt = None,
    json_output: JsonOpt = False,
    progress: ProgressOpt = True,
    enable_confidence: EnableConfidenceOpt = False,
    min_confidence: MinConfidenceOpt = None,
    on_low_confidence: OnLowConfidenceOpt = LowConfidenceAction.SKIP,
    complexity_threshold: ComplexityThresholdOpt = None,
    review_file: ReviewFileOpt = None,
    git_commit: GitCommitOpt = None,
    branch: BranchOpt = None,
    create_pr: CreatePrOpt = False,
    pr_strategy: PrStrategyOpt = PrStrategy.AT_END,
    pr_base: PrBaseOpt = None,
    pr_comment_threshold: PrCommentThresholdOpt = None,
    remote: RemoteOpt = "origin",
    forge: ForgeOpt = None,
    forge_url: ForgeUrlOpt = None,
    verify: VerifyOpt = None,
    verify_command: VerifyCommandOpt = None,
    verify_strategy: VerifyStrategyOpt = None,
    verify_timeout: VerifyTimeoutOpt = 600.0,
    verify_fail_fast: VerifyFailFastOpt = False,
    max_repair_rounds: MaxRepairRoundsOpt = 2,
    reanalyze_command: ReanalyzeCommandOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Run a plan phase by phase (non-deferred phases, in order), recorded in the run store."""
    options = run_options(ctx, locals(), analysis=plan)
    # The store always runs incrementally: --resume is about the plan's phases (state.yaml), not a
    # demand that the store holds an unfinished run (`--phase B --resume` after A finished is fine).
    options = dataclasses.replace(options, history=dataclasses.replace(options.history, resume=False))
    request = ExecuteRequest(plan=plan, phase=phase, resume=resume, analysis=analysis)
    raise typer.Exit(run_execute(request, options, Console(stderr=True)))


def run_execute(request: ExecuteRequest, options: RunOptions, console: Console) -> int:
    job = ExecuteJob(request)
    return run_command(
        job,
        options,
        console,
        dry_document=execute_dry_run,
        print_dry=_print_dry_run,
        summarize=lambda run: execute_summary(job, run, options),
        print_result=_print_result,
    )


def _print_result(summary: dict[str, Any], console: Console) -> None:
    print_summary(summary, console)
    print_batch_summary(summary, console)
    console.print("phases: " + " · ".join(f"{r['id']} {r['status']}" for r in summary["phases"]))


def _print_dry_run(document: dict[str, Any], console: Console) -> None:
    table = Table(title="Dry run: what each phase would send (no model is called)")
    for column in ("phase", "name", "requests", "incidents", "est. input tokens", "est. cost", "min"):
        table.add_column(column, overflow="fold")
    for r in document["phases"]:
        cost = "unknown" if r["expected_cost_usd"] is None else f"${r['expected_cost_usd']:.4f}"
        table.add_row(
            r["phase"],
            r["name"],
            str(r["requests"]),
            str(r["incidents"]),
            f"{r['input_tokens']:,}",
            cost,
            str(r["minutes"]),
        )
    console.print(table)
    console.print(price_line(document["totals"]["model"], document["totals"].get("price")), highlight=False)
    print_batch_dry_run(document["totals"], console)
