"""Options shared by the commands that send requests (`remediate`, `execute`): one definition each.

Defaults live here too, so both commands (and the config defaults that mirror them) agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from kantra_ai import bounds
from kantra_ai.app.options import BatchApiOptions, BatchRetry
from kantra_ai.bounds import Bound
from kantra_ai.cli import help as panel
from kantra_ai.engine.ratelimit import RateLimitConfig, checked_rate_limits
from kantra_ai.engine.runner import BatchSettings
from kantra_ai.errors import UserError
from kantra_ai.providers.registry import PRESETS

DEFAULT_BATCH = BatchSettings()
PROVIDER_CHOICES = "[" + "|".join(PRESETS) + "]"


def in_range(bound: Bound) -> Callable[[Any], Any]:
    """An option callback refusing what `bound` does not allow (NaN, infinities, out of range),
    also when the value came from a config file (click checks default-map values the same way)."""

    def check(value: Any) -> Any:
        problem = None if value is None else bound.problem(value)
        if problem:
            raise typer.BadParameter(problem)
        return value

    return check


AnalysisOpt = Annotated[
    Path,
    typer.Option(
        "--analysis",
        "-a",
        metavar="FILE|DIR",
        help="Konveyor output: output.yaml / output.json, or the kantra output directory holding one.",
        show_default=False,
        rich_help_panel=panel.INPUT,
    ),
]
InputOpt = Annotated[
    Path,
    typer.Option(
        "--input",
        "-i",
        metavar="DIR",
        help="The application's source tree (your checkout), as given to kantra analyze -i.",
        show_default=False,
        rich_help_panel=panel.INPUT,
    ),
]
ProviderOpt = Annotated[
    str,
    typer.Option(
        "--provider",
        "-p",
        metavar=PROVIDER_CHOICES,
        help="Who answers: simulated is a local fake model that knows the bundled examples.",
        rich_help_panel=panel.MODEL,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="NAME",
        help="Model id; default: the provider's default.",
        rich_help_panel=panel.MODEL,
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="Provider endpoint (else ANTHROPIC_BASE_URL / OPENAI_BASE_URL).",
        rich_help_panel=panel.MODEL,
    ),
]
SourceRootOpt = Annotated[
    str | None,
    typer.Option(
        metavar="PATH",
        help="The analyzer's source root to strip from URIs, e.g. /opt/input/source (default: detected).",
        rich_help_panel=panel.INPUT,
    ),
]
# What to work on: the same filters for remediate, plan, prompt.
ViolationIdsOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="IDS",
        help="Only these rule ids (comma-separated or repeated).",
        rich_help_panel=panel.SELECTION,
    ),
]
CategoriesOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="[mandatory|optional|potential]",
        help="Only these categories (comma-separated or repeated).",
        rich_help_panel=panel.SELECTION,
    ),
]
MaxEffortOpt = Annotated[
    int | None,
    typer.Option(
        min=0,
        max=bounds.EFFORT.high,
        metavar="N",
        help="Only violations with effort <= N.",
        rich_help_panel=panel.SELECTION,
    ),
]
IncludeOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="GLOBS",
        help="Only files matching these globs (relative paths).",
        rich_help_panel=panel.SELECTION,
    ),
]
ExcludeOpt = Annotated[
    list[str] | None,
    typer.Option(metavar="GLOBS", help="Skip files matching these globs.", rich_help_panel=panel.SELECTION),
]
IncludeInformationalOpt = Annotated[
    bool,
    typer.Option(
        "--include-informational/--no-include-informational",
        metavar="",
        show_default=False,
        help="Also include informational findings (no effort / insights).",
        rich_help_panel=panel.SELECTION,
    ),
]
IncludeGeneratedOpt = Annotated[
    bool,
    typer.Option(
        "--include-generated/--no-include-generated",
        metavar="",
        show_default=False,
        help="Also fix build output and vendored code (target/, build/, node_modules/, "
        "bower_components/, .git/, git-ignored files), otherwise not applicable.",
        rich_help_panel=panel.SELECTION,
    ),
]
MaxCostOpt = Annotated[
    float | None,
    typer.Option(
        metavar="USD",
        callback=in_range(bounds.MAX_COST_USD),
        help="Never start a request whose worst case would pass this USD total.",
        rich_help_panel=panel.BUDGET,
    ),
]
MaxMinutesOpt = Annotated[
    float | None,
    typer.Option(
        metavar="MIN",
        callback=in_range(bounds.MAX_MINUTES),
        help="Stop the run after this many minutes as Ctrl-C would (the same command continues it).",
        rich_help_panel=panel.BUDGET,
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run/--no-dry-run",  # the config file can turn it on
        metavar="",
        show_default=False,
        help="Make no network call: show the requests, tokens and cost it would take.",
        rich_help_panel=panel.BUDGET,
    ),
]
BatchSizeOpt = Annotated[
    int,
    typer.Option(
        min=1,
        max=bounds.BATCH_SIZE.high,
        metavar="N",
        help="At most N incidents per request.",
        rich_help_panel=panel.BUDGET,
    ),
]
PackFilesOpt = Annotated[
    int,
    typer.Option(
        min=1,
        max=bounds.PACK_FILES.high,
        metavar="N",
        help="In a run with many small files, send up to N of them in one request (each still fixed, "
        "checked and written on its own); 1 sends every file alone.",
        rich_help_panel=panel.BUDGET,
    ),
]
BatchParallelismOpt = Annotated[
    int,
    typer.Option(
        min=1,
        max=bounds.PARALLELISM.high,
        metavar="N",
        rich_help_panel=panel.BUDGET,
        help="Most requests in flight. The adaptive limiter starts at 8 and grows toward this "
        "while the provider keeps up; it backs off on 429/529.",
    ),
]
RateLimitsOpt = Annotated[
    str | None,
    typer.Option(
        metavar="SPEC",
        rich_help_panel=panel.BUDGET,
        help="Your tier's per-minute limits, e.g. 'rpm=1000,itpm=450k,otpm=90k' (requests, input "
        "and output tokens). Unset ones are learned from the provider's rate-limit headers.",
    ),
]
MaxBatchTokensOpt = Annotated[
    int,
    typer.Option(
        min=bounds.BATCH_TOKENS.low,
        max=bounds.BATCH_TOKENS.high,
        metavar="TOKENS",
        help="Input-token budget per request; larger files go in windows.",
        rich_help_panel=panel.BUDGET,
    ),
]
MaxRetriesOpt = Annotated[
    int,
    typer.Option(
        min=0,
        max=5,
        metavar="N",
        help="Retries per request for failed edits or bad replies.",
        rich_help_panel=panel.BUDGET,
    ),
]
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="YAML price overrides: MODEL: {input: X, output: Y} in USD per million tokens.",
        rich_help_panel=panel.MODEL,
    ),
]
TextEditsOpt = Annotated[
    bool,
    typer.Option(
        "--text-edits/--no-text-edits",
        metavar="",
        show_default=False,
        help="Ask for plain-text SEARCH/REPLACE edits instead of tool calls.",
        rich_help_panel=panel.MODEL,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        metavar="",
        help="Print the result as JSON on stdout (progress still goes to stderr on a terminal).",
        rich_help_panel=panel.OUTPUT,
    ),
]
ReportOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="Where to write report.html (default: INPUT/.kantra-ai/report.html).",
        rich_help_panel=panel.OUTPUT,
    ),
]
ProgressOpt = Annotated[
    bool,
    typer.Option(
        "--progress/--no-progress",
        metavar="",
        show_default=False,
        help="Live progress on stderr: a live view on a terminal, a line every few seconds otherwise.",
        rich_help_panel=panel.OUTPUT,
    ),
]
RetryFailedOpt = Annotated[
    bool,
    typer.Option(
        "--retry-failed",
        metavar="",
        help="Also ask again about incidents an earlier reply did not fix.",
        rich_help_panel=panel.HISTORY,
    ),
]
DEFAULT_BATCH_API = BatchApiOptions()
BatchApiOpt = Annotated[
    bool,
    typer.Option(
        "--batch-api/--no-batch-api",
        metavar="",
        show_default=False,
        help="Send the requests through the provider's batch API: half the price, answered within "
        "24 hours (claude, openai, groq, OpenAI-compatible servers with /v1/batches). Run the same "
        "command again to apply what has ended and submit what is left; exit 75 while requests wait.",
        rich_help_panel=panel.BUDGET,
    ),
]
WaitOpt = Annotated[
    bool,
    typer.Option(
        "--wait",
        metavar="",
        help="With --batch-api: keep polling until every batch has ended and is applied.",
        rich_help_panel=panel.BUDGET,
    ),
]
PollIntervalOpt = Annotated[
    float,
    typer.Option(
        metavar="SECONDS",
        callback=in_range(bounds.POLL_SECONDS),
        help="With --batch-api --wait: the longest pause between two polls.",
        rich_help_panel=panel.BUDGET,
    ),
]
BatchRetryOpt = Annotated[
    BatchRetry,
    typer.Option(
        help="With --batch-api: a request a batch returned without a reply (errored, expired, "
        "cancelled) goes into the next batch, or at once through the normal API at the normal price.",
        rich_help_panel=panel.BUDGET,
    ),
]
BatchMaxRequestsOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        callback=in_range(bounds.BATCH_REQUESTS),
        help="With --batch-api: at most N requests per submitted batch (default: the provider's limit).",
        rich_help_panel=panel.BUDGET,
    ),
]
WaitLockOpt = Annotated[
    bool,
    typer.Option(
        "--wait-lock",
        metavar="",
        help="If another run is working on this tree, wait for it instead of refusing.",
        rich_help_panel=panel.HISTORY,
    ),
]


# Verification (app/verification.py): the predecessor's names (`--verify-type` is its spelling).
VerifyOpt = Annotated[
    str | None,
    typer.Option(
        "--verify",
        "--verify-type",
        metavar="build|test|off",
        help="Check every fix: `build` compiles the tree, `test` runs its tests (the command is detected "
        "from pom.xml, build.gradle, go.mod, package.json, pyproject.toml, ...). Fixes that break it are "
        "repaired by the model or reverted. `off`: not even when the config turns it on.",
        show_default=False,
        rich_help_panel=panel.VERIFICATION,
    ),
]
VerifyCommandOpt = Annotated[
    str | None,
    typer.Option(
        metavar="CMD",
        help="The check to run instead of the detected one (through the shell, in the tree).",
        rich_help_panel=panel.VERIFICATION,
    ),
]
VerifyStrategyOpt = Annotated[
    str | None,
    typer.Option(
        metavar="per-file|per-violation|per-phase|at-end",
        help="When to check: after each file's fixes (remediate's default), after each violation's, "
        "after each phase (execute's default), or once at the end (then bisect what broke it).",
        show_default=False,
        rich_help_panel=panel.VERIFICATION,
    ),
]
VerifyTimeoutOpt = Annotated[
    float,
    typer.Option(
        min=1,
        metavar="SECONDS",
        help="Seconds a check may take; then its whole process tree is killed.",
        rich_help_panel=panel.VERIFICATION,
    ),
]
VerifyFailFastOpt = Annotated[
    bool,
    typer.Option(
        metavar="",
        help="Stop the run at the first fix that still fails its check after repair.",
        rich_help_panel=panel.VERIFICATION,
    ),
]
MaxRepairRoundsOpt = Annotated[
    int,
    typer.Option(
        min=0,
        max=10,
        metavar="N",
        help="Rounds of repair (model requests) before a failing fix is reverted.",
        rich_help_panel=panel.VERIFICATION,
    ),
]
ReanalyzeCommandOpt = Annotated[
    str | None,
    typer.Option(
        metavar="CMD",
        help="A command that writes a fresh analysis to {output} (e.g. 'kantra analyze --input . "
        "--output {output} ...'): it decides whether the fixed incidents are really gone.",
        rich_help_panel=panel.VERIFICATION,
    ),
]


def parse_rate_limits(spec: str | None) -> RateLimitConfig | None:
    """`--rate-limits 'rpm=1000,itpm=450k,otpm=90k'`; a bad spec is a usage error."""
    if not spec:
        return None
    try:
        return checked_rate_limits(spec)
    except ValueError as exc:
        raise UserError(f"--rate-limits: {exc}") from None
