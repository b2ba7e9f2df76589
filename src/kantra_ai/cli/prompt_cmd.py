"""`kantra-ai prompt`: print the exact request that would be sent for one incident, with its tokens.

Plans the run exactly as `remediate` would (same selection, batching and templates), finds the
request that carries the incident and prints it: system prompt, guidance (rules, language notes or
the user's template), the file and its incidents, the tool schema, and the estimated input tokens.
With `--json` it prints the provider's request body as the SDK would send it. No network.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from kantra_ai.app.prompt import ShownRequest, show_request
from kantra_ai.cli.help import INPUT, OUTPUT, epilog
from kantra_ai.cli.options import run_options
from kantra_ai.cli.run_options import (
    DEFAULT_BATCH,
    AnalysisOpt,
    BatchSizeOpt,
    CategoriesOpt,
    ExcludeOpt,
    IncludeGeneratedOpt,
    IncludeInformationalOpt,
    IncludeOpt,
    InputOpt,
    MaxBatchTokensOpt,
    MaxEffortOpt,
    ModelOpt,
    PackFilesOpt,
    ProviderOpt,
    SourceRootOpt,
    TextEditsOpt,
    ViolationIdsOpt,
)
from kantra_ai.config.cli import ConfigOpt

EPILOG = epilog(
    "kantra-ai prompt -a output.yaml -i ./my-app --incident pom.xml:21",
    "kantra-ai prompt -a output.yaml -i ./my-app --incident 3f2a9c --json",
)


def prompt(
    ctx: typer.Context,
    analysis: AnalysisOpt,
    input_dir: InputOpt,
    incident: Annotated[
        str,
        typer.Option(
            "--incident",
            metavar="ID|FILE:LINE",
            rich_help_panel=INPUT,
            help="The incident: its id (as in remediate --json outcomes), a unique prefix of it, "
            "or FILE:LINE.",
            show_default=False,
        ),
    ],
    provider: ProviderOpt = "claude",
    model: ModelOpt = None,
    source_root: SourceRootOpt = None,
    violation_ids: ViolationIdsOpt = None,
    categories: CategoriesOpt = None,
    max_effort: MaxEffortOpt = None,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    include_informational: IncludeInformationalOpt = False,
    include_generated: IncludeGeneratedOpt = False,
    batch_size: BatchSizeOpt = DEFAULT_BATCH.batch_size,
    pack_files: PackFilesOpt = DEFAULT_BATCH.packing.max_files,
    max_batch_tokens: MaxBatchTokensOpt = DEFAULT_BATCH.max_batch_tokens,
    text_edits: TextEditsOpt = False,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", metavar="", help="Print the provider's request body as JSON.", rich_help_panel=OUTPUT
        ),
    ] = False,
    config_file: ConfigOpt = None,
) -> None:
    """Print the exact request (and its token estimate) that remediate would send for one incident."""
    shown = show_request(run_options(ctx, locals()), incident)
    if json_output:
        batch = shown.batch
        document = {
            "provider": shown.choice.provider_name,
            "model": shown.choice.model,
            "file": str(batch.path),
            "window": list(batch.window) if batch.window else None,
            "incident_ids": [i.id for i in batch.incidents],
            "packed_with": list(shown.packed_with),
            "estimated_input_tokens": shown.tokens,
            "planned_input_tokens": batch.estimated_input_tokens,
            "body": shown.wire_body(),
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    sys.stdout.write(_as_text(shown))


def _as_text(shown: ShownRequest) -> str:
    batch, request, tokens = shown.batch, shown.request, shown.tokens
    lines = "all lines" if batch.window is None else f"lines {batch.window[0]}-{batch.window[1]}"
    ids = ", ".join(i.id for i in batch.incidents)
    tool = request.tool
    header = [
        f"# Request for {batch.path} ({lines}), {len(batch.incidents)} incident(s): {ids}",
        *(
            [f"# Packed with {len(shown.packed_with)} other small file(s): {', '.join(shown.packed_with)}"]
            if shown.packed_with
            else []
        ),
        f"# Provider {shown.choice.provider_name}, model {shown.choice.model}, "
        f"max_tokens {request.max_tokens}, "
        + ("answer by tool call" if tool else "answer as SEARCH/REPLACE text"),
        f"# Estimated input tokens: {tokens['total']:,} (system{' + tool' if tool else ''} "
        f"{tokens['system']:,}, guidance {tokens['guidance']:,}, file and incidents {tokens['prompt']:,})",
        "",
    ]
    parts = [
        "=== system (shared by every request; cached) ===",
        request.system.rstrip("\n"),
        "",
        "=== guidance (rules and language notes; cached) ===",
        request.guidance.rstrip("\n") or "(none)",
        "",
        "=== file and incidents ===",
        request.prompt.rstrip("\n"),
        "",
    ]
    if tool is not None:
        definition = {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
        parts += [f"=== tool: {tool.name} (the model must call it) ===", json.dumps(definition, indent=2), ""]
    return "\n".join(header + parts)
