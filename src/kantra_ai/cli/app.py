"""The `kantra-ai` command line."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kantra_ai import __version__
from kantra_ai.cli.confidence_opts import (
    ComplexityThresholdOpt,
    EnableConfidenceOpt,
    MinConfidenceOpt,
    OnLowConfidenceOpt,
    ReviewFileOpt,
)
from kantra_ai.cli.run_options import (
    DEFAULT_BATCH,
    AnalysisOpt,
    BaseUrlOpt,
    BatchParallelismOpt,
    BatchSizeOpt,
    CategoriesOpt,
    DryRunOpt,
    ExcludeOpt,
    IncludeInformationalOpt,
    IncludeOpt,
    InputOpt,
    JsonOpt,
    MaxBatchTokensOpt,
    MaxCostOpt,
    MaxEffortOpt,
    MaxRetriesOpt,
    ModelOpt,
    PricesOpt,
    ProgressOpt,
    ProviderOpt,
    RateLimitsOpt,
    ReportOpt,
    RetryFailedOpt,
    SourceRootOpt,
    TextEditsOpt,
    ViolationIdsOpt,
    WaitLockOpt,
)
from kantra_ai.config.cli import ConfigOpt
from kantra_ai.engine.confidence import LowConfidenceAction
from kantra_ai.errors import ExitCode, UserError

app = typer.Typer(
    name="kantra-ai",
    help="Fix the findings of a Konveyor migration analysis (output.yaml) with an LLM, safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        # The interpreter too: "works on my machine" reports need to say which Python it was.
        python = f"{platform.python_implementation()} {platform.python_version()}"
        typer.echo(f"kantra-ai {__version__} on {python} ({sys.executable})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Fix the findings of a Konveyor migration analysis with an LLM, safely."""


@app.command()
def remediate(
    ctx: typer.Context,
    analysis: AnalysisOpt,
    input_dir: InputOpt,
    provider: ProviderOpt = "claude",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    source_root: SourceRootOpt = None,
    violation_ids: ViolationIdsOpt = None,
    categories: CategoriesOpt = None,
    max_effort: MaxEffortOpt = None,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    include_informational: IncludeInformationalOpt = False,
    max_cost: MaxCostOpt = None,
    dry_run: DryRunOpt = False,
    batch_size: BatchSizeOpt = DEFAULT_BATCH.batch_size,
    batch_parallelism: BatchParallelismOpt = DEFAULT_BATCH.parallelism,
    rate_limits: RateLimitsOpt = None,
    max_batch_tokens: MaxBatchTokensOpt = DEFAULT_BATCH.max_batch_tokens,
    max_retries: MaxRetriesOpt = 1,
    prices: PricesOpt = None,
    text_edits: TextEditsOpt = False,
    json_output: JsonOpt = False,
    report: ReportOpt = None,
    progress: ProgressOpt = True,
    state: Annotated[
        Path | None,
        typer.Option(help="The run store recording every run (SQLite); default: INPUT/.kantra-ai/state.db."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(help="Continue an interrupted run; refuse if there is none (re-running continues too)."),
    ] = False,
    retry_failed: RetryFailedOpt = False,
    fresh: Annotated[
        bool, typer.Option(help="Ignore the run history: plan every selected incident, reuse no reply.")
    ] = False,
    wait_lock: WaitLockOpt = False,
    enable_confidence: EnableConfidenceOpt = False,
    min_confidence: MinConfidenceOpt = None,
    on_low_confidence: OnLowConfidenceOpt = LowConfidenceAction.SKIP,
    complexity_threshold: ComplexityThresholdOpt = None,
    review_file: ReviewFileOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Fix incidents directly: one request per file, edits applied safely, summary at the end.

    Incremental: incidents fixed by earlier runs on the tree are skipped (no tokens spent), and a
    run that was interrupted or killed is continued where it stopped.
    """
    from kantra_ai.cli.options import run_options
    from kantra_ai.cli.remediate import remediate as run

    options = run_options(ctx, locals())
    raise typer.Exit(run(options, Console(stderr=True)))


def _register_phased_commands() -> None:
    """`plan`, `execute` and `report` live in their own modules (cli/plan_cmd.py, ...)."""
    from kantra_ai.cli import execute_cmd, plan_cmd, report_cmd

    app.command("plan")(plan_cmd.plan)
    app.command("execute")(execute_cmd.execute)
    app.command("report")(report_cmd.report)


def _register_status_command() -> None:
    """`status`: the run store's view of a tree (cli/status.py); `undo` (cli/undo_cmd.py)."""
    from kantra_ai.cli import status, undo_cmd

    app.command("status")(status.status)
    app.command("undo")(undo_cmd.undo)


def _register_config_commands() -> None:
    """`prompt` (cli/prompt_cmd.py) and `config show` (cli/config_cmd.py)."""
    from kantra_ai.cli import config_cmd, prompt_cmd

    app.command("prompt")(prompt_cmd.prompt)
    app.add_typer(config_cmd.config_app, name="config")


_register_phased_commands()
_register_status_command()
_register_config_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: every error the user can cause becomes one line and a distinct exit code."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = app(args=argv, prog_name="kantra-ai", standalone_mode=False)
    except typer.TyperException as exc:  # typer's (vendored click) usage errors
        err.print(f"kantra-ai: error: {exc.format_message()}", markup=False)
        return ExitCode.USAGE
    except UserError as exc:
        err.print(f"kantra-ai: error: {exc}", markup=False)
        return ExitCode.USAGE
    except (KeyboardInterrupt, typer.Abort):
        err.print("kantra-ai: interrupted", markup=False)
        return ExitCode.INTERRUPTED
    return int(result) if isinstance(result, int) else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
