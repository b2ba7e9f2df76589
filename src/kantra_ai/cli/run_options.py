"""Options shared by the commands that send requests (`remediate`, `execute`): one definition each.

Defaults live here too, so both commands (and the config defaults that mirror them) agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.engine.runner import BatchSettings
from kantra_ai.errors import UserError

DEFAULT_BATCH = BatchSettings()

AnalysisOpt = Annotated[
    Path,
    typer.Option(
        "--analysis",
        help="Konveyor output: output.yaml / output.json, or a directory holding one.",
        show_default=False,
    ),
]
InputOpt = Annotated[
    Path, typer.Option("--input", help="The application's source tree (your checkout).", show_default=False)
]
ProviderOpt = Annotated[
    str,
    typer.Option(
        help="claude, openai, groq, together, openrouter, ollama, lmstudio, vllm, llama.cpp, "
        "or simulated (a local fake model for the bundled examples)."
    ),
]
ModelOpt = Annotated[str | None, typer.Option(help="Model id; default: the provider's default.")]
BaseUrlOpt = Annotated[
    str | None, typer.Option(help="Provider endpoint (else ANTHROPIC_BASE_URL / OPENAI_BASE_URL).")
]
SourceRootOpt = Annotated[
    str | None, typer.Option(help="The analyzer's source root to strip from URIs (default: detected).")
]
# What to work on: the same filters for remediate, plan, prompt.
ViolationIdsOpt = Annotated[
    list[str] | None, typer.Option(help="Only these rule ids (comma-separated or repeated).")
]
CategoriesOpt = Annotated[
    list[str] | None, typer.Option(help="Only these categories: mandatory, optional, potential.")
]
MaxEffortOpt = Annotated[int | None, typer.Option(help="Only violations with effort <= N.")]
IncludeOpt = Annotated[
    list[str] | None, typer.Option(help="Only files matching these globs (relative paths).")
]
ExcludeOpt = Annotated[list[str] | None, typer.Option(help="Skip files matching these globs.")]
IncludeInformationalOpt = Annotated[
    bool, typer.Option(help="Also include informational findings (no effort / insights).")
]
MaxCostOpt = Annotated[
    float | None, typer.Option(help="Never start a request whose worst case would pass this USD total.")
]
DryRunOpt = Annotated[
    bool, typer.Option(help="Make no network call: show the requests, tokens and cost it would take.")
]
BatchSizeOpt = Annotated[int, typer.Option(min=1, help="At most N incidents per request.")]
BatchParallelismOpt = Annotated[
    int,
    typer.Option(
        min=1,
        help="Most requests in flight. The adaptive limiter starts at 8 and grows toward this "
        "while the provider keeps up; it backs off on 429/529.",
    ),
]
RateLimitsOpt = Annotated[
    str | None,
    typer.Option(
        help="Your tier's per-minute limits, e.g. 'rpm=1000,itpm=450k,otpm=90k' (requests, input "
        "and output tokens). Unset ones are learned from the provider's rate-limit headers.",
    ),
]
MaxBatchTokensOpt = Annotated[
    int, typer.Option(min=2000, help="Input-token budget per request; larger files go in windows.")
]
MaxRetriesOpt = Annotated[
    int, typer.Option(min=0, max=5, help="Retries per request for failed edits or bad replies.")
]
PricesOpt = Annotated[
    Path | None, typer.Option(help="YAML price overrides: MODEL: {input: X, output: Y} per MTok.")
]
TextEditsOpt = Annotated[
    bool, typer.Option(help="Ask for plain-text SEARCH/REPLACE edits instead of tool calls.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
ReportOpt = Annotated[
    Path | None, typer.Option(help="Where to write report.html (default: INPUT/.kantra-ai/report.html).")
]
ProgressOpt = Annotated[bool, typer.Option(help="Show a progress bar.")]
RetryFailedOpt = Annotated[
    bool, typer.Option(help="Also ask again about incidents an earlier reply did not fix.")
]
WaitLockOpt = Annotated[
    bool, typer.Option(help="If another run is working on this tree, wait for it instead of refusing.")
]


def parse_rate_limits(spec: str | None) -> RateLimitConfig | None:
    """`--rate-limits 'rpm=1000,itpm=450k,otpm=90k'`; a bad spec is a usage error."""
    if not spec:
        return None
    try:
        return RateLimitConfig.parse(spec)
    except ValueError as exc:
        raise UserError(f"--rate-limits: {exc}") from exc
