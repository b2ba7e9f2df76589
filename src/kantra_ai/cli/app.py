"""The `kantra-ai` command line."""

from __future__ import annotations

import contextlib
import platform
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
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
from kantra_ai.cli.help import HISTORY, Command, Group, epilog
from kantra_ai.cli.run_options import (
    DEFAULT_BATCH,
    DEFAULT_BATCH_API,
    AnalysisOpt,
    BaseUrlOpt,
    BatchApiOpt,
    BatchMaxRequestsOpt,
    BatchParallelismOpt,
    BatchRetryOpt,
    BatchSizeOpt,
    CategoriesOpt,
    DryRunOpt,
    ExcludeOpt,
    IncludeGeneratedOpt,
    IncludeInformationalOpt,
    IncludeOpt,
    InputOpt,
    JsonOpt,
    MaxBatchTokensOpt,
    MaxCostOpt,
    MaxEffortOpt,
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
    ViolationIdsOpt,
    WaitLockOpt,
    WaitOpt,
)
from kantra_ai.cli.status import StateOpt, StoreOpt
from kantra_ai.config.cli import ConfigOpt
from kantra_ai.delivery.layout import PrStrategy
from kantra_ai.engine.confidence import LowConfidenceAction
from kantra_ai.errors import ExitCode, Interrupted, UserError
from kantra_ai.redact import RedactingStream

app = typer.Typer(
    name="kantra-ai",
    help="Fix the findings of a Konveyor migration analysis (output.yaml) with an LLM, safely.",
    epilog=epilog(
        "kantra-ai remediate -a output.yaml -i ./my-app --dry-run",
        "kantra-ai remediate -a output.yaml -i ./my-app --max-cost 5",
        "kantra-ai status -i ./my-app",
        "kantra-ai report -i ./my-app",
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=Group,
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
        bool,
        typer.Option(
            "--version", "-V", metavar="", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Fix the findings of a Konveyor migration analysis with an LLM, safely."""


@app.command(
    cls=Command,
    epilog=epilog(
        "kantra-ai remediate -a output.yaml -i ./my-app --dry-run     # requests, tokens, cost; no network",
        "kantra-ai remediate -a output.yaml -i ./my-app --max-cost 5  # Claude (ANTHROPIC_API_KEY)",
        "kantra-ai remediate -a out/ -i ./my-app -p ollama            # a local model, free",
        "kantra-ai remediate -a output.yaml -i ./my-app --retry-failed",
    ),
)
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
    json_output: JsonOpt = False,
    report: ReportOpt = None,
    progress: ProgressOpt = True,
    state: StateOpt = None,
    store_url: StoreOpt = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            metavar="",
            rich_help_panel=HISTORY,
            help="Continue an interrupted run; refuse if there is none (re-running continues too).",
        ),
    ] = False,
    retry_failed: RetryFailedOpt = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            metavar="",
            rich_help_panel=HISTORY,
            help="Ignore the run history: plan every selected incident, reuse no reply.",
        ),
    ] = False,
    wait_lock: WaitLockOpt = False,
    batch_api: BatchApiOpt = False,
    wait: WaitOpt = False,
    poll_interval: PollIntervalOpt = DEFAULT_BATCH_API.poll_seconds,
    batch_retry: BatchRetryOpt = DEFAULT_BATCH_API.retry,
    batch_max_requests: BatchMaxRequestsOpt = None,
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

    app.command("plan", cls=Command, epilog=plan_cmd.EPILOG)(plan_cmd.plan)
    app.command("execute", cls=Command, epilog=execute_cmd.EPILOG)(execute_cmd.execute)
    app.command("report", cls=Command, epilog=report_cmd.EPILOG)(report_cmd.report)


def _register_status_command() -> None:
    """`status`: the run store's view of a tree (cli/status.py); `undo` (cli/undo_cmd.py); `web`
    (cli/web_cmd.py: the web stack itself is imported only when it runs); `batches cancel`
    (cli/batches_cmd.py); `hub-addon` (cli/hub_cmd.py: the Konveyor Hub addon's entrypoint)."""
    from kantra_ai.cli import batches_cmd, hub_cmd, status, undo_cmd, web_cmd

    app.command("status", cls=Command, epilog=status.EPILOG)(status.status)
    app.command("undo", cls=Command, epilog=undo_cmd.EPILOG)(undo_cmd.undo)
    app.command("web", cls=Command, epilog=web_cmd.EPILOG)(web_cmd.web)
    app.add_typer(batches_cmd.batches_app, name="batches")
    app.command("hub-addon", cls=Command, epilog=hub_cmd.EPILOG)(hub_cmd.hub_addon)


def _register_config_commands() -> None:
    """`prompt` (cli/prompt_cmd.py) and `config show` (cli/config_cmd.py)."""
    from kantra_ai.cli import config_cmd, prompt_cmd

    app.command("prompt", cls=Command, epilog=prompt_cmd.EPILOG)(prompt_cmd.prompt)
    app.add_typer(config_cmd.config_app, name="config")


def _register_portfolio_commands() -> None:
    """`portfolio run|status|report` (cli/portfolio_cmd.py)."""
    from kantra_ai.cli import portfolio_cmd

    app.add_typer(portfolio_cmd.portfolio_app, name="portfolio")


_register_phased_commands()
_register_status_command()
_register_config_commands()
_register_portfolio_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: every error the user can cause becomes one line and a distinct exit code.

    Everything printed while it runs goes through the redaction layer (`kantra_ai.redact`): no
    configured secret or credential-shaped string reaches stdout or stderr, not even in a traceback.
    """
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(stdout), RedactingStream(stderr)
    try:
        with _sigterm_as_interrupt():
            return _main(argv)
    except Exception:  # a bug: show it (for the report), with secrets masked
        sys.stderr.write(traceback.format_exc())
        return ExitCode.SOME_FAILED
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = stdout, stderr


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (`docker stop`, systemd, CI cancellation) stops the command as Ctrl-C does, not at
    once: a check it runs is killed with it, the lock released, the run recorded as interrupted.
    During a run's requests engine/interrupt.py takes it over (abandoning what is in flight)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # "file:100:" stays text
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="kantra-ai", standalone_mode=False)
    except typer.TyperException as exc:  # typer's (vendored click) usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # `kantra-ai` alone: typer printed the help
            return ExitCode.OK
        err.print(f"kantra-ai: error: {exc.format_message()}", markup=False)
        return ExitCode.USAGE
    except UserError as exc:
        err.print(f"kantra-ai: error: {exc}", markup=False)
        return ExitCode.USAGE
    except Interrupted as exc:
        if not exc.told:
            err.print("kantra-ai: interrupted", markup=False)
        return ExitCode.INTERRUPTED
    except (KeyboardInterrupt, typer.Abort):
        err.print("kantra-ai: interrupted", markup=False)
        return ExitCode.INTERRUPTED
    return int(result) if isinstance(result, int) else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
