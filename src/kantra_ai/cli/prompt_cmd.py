"""`kantra-ai prompt`: print the exact request that would be sent for one incident, with its tokens.

Plans the run exactly as `remediate` would (same selection, batching and templates), finds the
request that carries the incident and prints it: system prompt, guidance (rules, language notes or
the user's template), the file and its incidents, the tool schema, and the estimated input tokens.
With `--json` it prints the provider's request body as the SDK would send it. No network.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from kantra_ai.analysis.selection import Selection
from kantra_ai.cli.errors import UserError
from kantra_ai.cli.remediate import RemediateOptions, load_selection
from kantra_ai.cli.run_options import (
    CategoriesOpt,
    ExcludeOpt,
    IncludeInformationalOpt,
    IncludeOpt,
    MaxEffortOpt,
    ViolationIdsOpt,
)
from kantra_ai.config.cli import ConfigOpt, check_templates, custom_templates
from kantra_ai.edits.apply import plan_region
from kantra_ai.edits.files import SourceFileError, read_source
from kantra_ai.edits.protocol import TOOL_DESCRIPTION, TOOL_INPUT_SCHEMA, TOOL_NAME
from kantra_ai.engine.runner import BatchSettings, RunPlan, plan_run
from kantra_ai.planning.batches import Batch
from kantra_ai.planning.tokens import estimate_tokens
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.base import ModelRequest
from kantra_ai.providers.registry import Preset, ProviderConfigError, resolve_preset

_TOOL_TOKENS = estimate_tokens(json.dumps(TOOL_INPUT_SCHEMA))


def prompt(
    ctx: typer.Context,
    analysis: Annotated[
        Path,
        typer.Option("--analysis", help="Konveyor output.yaml / output.json, or a directory holding one."),
    ],
    input_dir: Annotated[
        Path, typer.Option("--input", help="The application's source tree (your checkout).")
    ],
    incident: Annotated[
        str,
        typer.Option(
            "--incident",
            help="The incident: its id (as in remediate --json outcomes), a unique prefix of it, "
            "or FILE:LINE.",
            show_default=False,
        ),
    ],
    provider: Annotated[str, typer.Option(help="Provider whose request format to show.")] = "claude",
    model: Annotated[str | None, typer.Option(help="Model id; default: the provider's default.")] = None,
    source_root: Annotated[str | None, typer.Option(help="The analyzer's source root to strip.")] = None,
    violation_ids: ViolationIdsOpt = None,
    categories: CategoriesOpt = None,
    max_effort: MaxEffortOpt = None,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    include_informational: IncludeInformationalOpt = False,
    batch_size: Annotated[int, typer.Option(min=1, help="At most N incidents per request.")] = 25,
    max_batch_tokens: Annotated[
        int, typer.Option(min=2000, help="Input-token budget per request; larger files go in windows.")
    ] = 24_000,
    text_edits: Annotated[
        bool, typer.Option(help="Show the plain-text SEARCH/REPLACE form instead of tool calls.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the provider's request body as JSON.")
    ] = False,
    config_file: ConfigOpt = None,
) -> None:
    """Print the exact request (and its token estimate) that remediate would send for one incident."""
    opts = RemediateOptions(
        analysis=analysis,
        input_dir=input_dir,
        provider=provider,
        model=model,
        source_root=source_root,
        violation_ids=violation_ids or [],
        categories=categories or [],
        max_effort=max_effort,
        include=include or [],
        exclude=exclude or [],
        include_informational=include_informational,
        batch=BatchSettings(max_batch_tokens, batch_size),
        text_edits=text_edits,
        templates=custom_templates(ctx),
    )
    try:
        preset = resolve_preset(provider)
    except ProviderConfigError as exc:
        raise UserError(str(exc)) from None
    chosen_model = model or preset.default_model
    selection = load_selection(opts)
    use_tools = preset.supports_tools and not text_edits
    prompts = PromptBuilder(use_tools, opts.templates)
    plan = plan_run(
        selection.selected, input_dir, opts.batch, prompts.system(), use_tools=use_tools, prompts=prompts
    )
    check_templates(prompts, plan)
    batch = find_batch(plan, selection, incident)
    request = prompts.first_request(batch, *_shown_content(input_dir, batch))
    tokens = {
        "system": estimate_tokens(request.system) + (_TOOL_TOKENS if use_tools else 0),
        "guidance": estimate_tokens(request.guidance),
        "prompt": estimate_tokens(request.prompt),
    }
    tokens["total"] = sum(tokens.values())
    if json_output:
        document = {
            "provider": preset.name,
            "model": chosen_model,
            "file": str(batch.path),
            "window": list(batch.window) if batch.window else None,
            "incident_ids": [i.id for i in batch.incidents],
            "estimated_input_tokens": tokens,
            "planned_input_tokens": batch.estimated_input_tokens,
            "body": {**wire_body(preset, chosen_model, request), "stream": True},
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    sys.stdout.write(_as_text(preset, chosen_model, batch, request, tokens))


def find_batch(plan: RunPlan, selection: Selection, spec: str) -> Batch:
    """The planned request carrying the incident named by id, unique id prefix, or FILE:LINE."""
    batches = [b for f in plan.files for b in f.batches]
    by_id = {i.id: b for b in batches for i in b.incidents}
    if spec in by_id:
        return by_id[spec]
    prefixed = {by_id[i].path: by_id[i] for i in by_id if i.startswith(spec)} if len(spec) >= 4 else {}
    if len(prefixed) == 1:
        return next(iter(prefixed.values()))
    file, sep, line = spec.rpartition(":")
    if sep and line.isdigit():
        wanted = PurePosixPath(file.strip().replace("\\", "/"))
        hits = {
            (str(b.path), b.window): b
            for b in batches
            for i in b.incidents
            if i.line == int(line) and (b.path == wanted or str(b.path).endswith("/" + str(wanted)))
        }
        if len(hits) == 1:
            return next(iter(hits.values()))
        if len(hits) > 1:
            files = sorted({path for path, _ in hits})
            raise UserError(
                f"--incident {spec}: matches several files ({', '.join(files)}); give more of the path"
            )
    for incident in selection.not_applicable:
        if incident.id == spec:
            raise UserError(f"--incident {spec}: not sent to a model ({incident.applicability.value})")
    if len(prefixed) > 1:
        raise UserError(
            f"--incident {spec}: the prefix matches incidents in several files; give more of the id"
        )
    raise UserError(
        f"--incident {spec}: no such incident among the {sum(len(b.incidents) for b in batches)} selected "
        "(use an id from `remediate --json` outcomes, or FILE:LINE)"
    )


def _shown_content(input_dir: Path, batch: Batch) -> tuple[str, int]:
    """The file text the request shows (the window, for large files) and the file's line count,
    exactly as engine.batch_runner computes them."""
    try:
        text = read_source(input_dir / batch.path).text
    except (OSError, SourceFileError) as exc:
        raise UserError(f"{batch.path}: cannot read file: {exc}") from None
    total_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if batch.window is None:
        return text, total_lines
    start, end = plan_region(text, *batch.window)
    return text[start:end], total_lines


def wire_body(preset: Preset, model: str, request: ModelRequest) -> dict[str, Any]:
    """The body the provider's SDK would send (built offline; the client never connects)."""
    # Imported here: the SDKs are slow to import and only this command's output needs them.
    from kantra_ai.providers.anthropic_provider import AnthropicProvider
    from kantra_ai.providers.openai_provider import OpenAIProvider

    client: AnthropicProvider | OpenAIProvider
    if preset.protocol == "anthropic":
        client = AnthropicProvider(model, api_key="unused", base_url="http://127.0.0.1:9", local=preset.local)
    else:
        client = OpenAIProvider(
            preset.name,
            model,
            api_key="unused",
            base_url="http://127.0.0.1:9",
            local=preset.local,
            supports_tools=request.use_tools,
            max_tokens_field=preset.max_tokens_field,
        )
    try:
        body = client.build_params(request)
        if isinstance(client, OpenAIProvider):
            body["stream_options"] = {"include_usage": True}
        return body
    finally:
        asyncio.run(client.aclose())


def _as_text(preset: Preset, model: str, batch: Batch, request: ModelRequest, tokens: dict[str, int]) -> str:
    lines = "all lines" if batch.window is None else f"lines {batch.window[0]}-{batch.window[1]}"
    ids = ", ".join(i.id for i in batch.incidents)
    header = [
        f"# Request for {batch.path} ({lines}), {len(batch.incidents)} incident(s): {ids}",
        f"# Provider {preset.name}, model {model}, max_tokens {request.max_tokens}, "
        + ("answer by tool call" if request.use_tools else "answer as SEARCH/REPLACE text"),
        f"# Estimated input tokens: {tokens['total']:,} (system{' + tool' if request.use_tools else ''} "
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
    if request.use_tools:
        tool = {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": TOOL_INPUT_SCHEMA}
        parts += [f"=== tool: {TOOL_NAME} (the model must call it) ===", json.dumps(tool, indent=2), ""]
    return "\n".join(header + parts)
