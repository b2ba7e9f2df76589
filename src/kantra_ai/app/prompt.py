"""`prompt`: the exact request `remediate` would send for one incident, with its token estimate.

Plans the run exactly as `remediate` does (same selection, batching, templates and request builder),
finds the request that carries the incident, and builds it from the file as it is. No network.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from kantra_ai.analysis.selection import Selection
from kantra_ai.app.model_choice import ModelChoice, choose_model
from kantra_ai.app.options import RunOptions
from kantra_ai.app.prepare import load_selection, plan_batches, run_prompts
from kantra_ai.batching.batches import Batch
from kantra_ai.edits.files import SourceFileError, read_source
from kantra_ai.engine.estimate import batches_of
from kantra_ai.engine.runner import RunBatches
from kantra_ai.errors import UserError
from kantra_ai.providers.base import ModelRequest
from kantra_ai.tokens import estimate_tokens


@dataclass(frozen=True)
class ShownRequest:
    choice: ModelChoice
    batch: Batch
    request: ModelRequest
    tokens: dict[str, int]  # system (with the tool definition), guidance, prompt, total

    def wire_body(self) -> dict[str, Any]:
        """The body the provider's SDK would send (built offline; the client never connects)."""
        return {**wire_body(self.choice, self.request), "stream": True}


def show_request(options: RunOptions, spec: str) -> ShownRequest:
    choice = choose_model(options.model)
    selection = load_selection(options.selection)
    prompts = run_prompts(choice, options, selection.selected)
    batches = plan_batches(selection.selected, options.input_dir, options.limits.batch, prompts)
    batch = find_batch(batches, selection, spec)
    try:
        text = read_source(options.input_dir / batch.path).text
    except (OSError, SourceFileError) as exc:
        raise UserError(f"{batch.path}: cannot read file: {exc}") from None
    request = prompts.first_request(batch, text)
    tokens = {
        "system": prompts.system_tokens(),
        "guidance": estimate_tokens(request.guidance),
        "prompt": estimate_tokens(request.prompt),
    }
    tokens["total"] = sum(tokens.values())
    return ShownRequest(choice, batch, request, tokens)


def find_batch(plan: RunBatches, selection: Selection, spec: str) -> Batch:
    """The planned request carrying the incident named by id, unique id prefix, or FILE:LINE."""
    batches = batches_of(plan)
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


def wire_body(choice: ModelChoice, request: ModelRequest) -> dict[str, Any]:
    """The body the provider's SDK would send (built offline; the client never connects)."""
    # Imported here: the SDKs are slow to import and only this command's output needs them.
    from kantra_ai.providers.anthropic_provider import AnthropicProvider
    from kantra_ai.providers.openai_provider import OpenAIProvider

    preset = choice.preset
    client: AnthropicProvider | OpenAIProvider
    if preset.protocol == "anthropic":
        client = AnthropicProvider(
            choice.model, api_key="unused", base_url="http://127.0.0.1:9", local=preset.local
        )
    else:
        client = OpenAIProvider(
            preset.name,
            choice.model,
            api_key="unused",
            base_url="http://127.0.0.1:9",
            local=preset.local,
            supports_tools=request.tool is not None,
            max_tokens_field=preset.max_tokens_field,
        )
    try:
        body = client.build_params(request)
        if isinstance(client, OpenAIProvider):
            body["stream_options"] = {"include_usage": True}
        return body
    finally:
        asyncio.run(client.aclose())
