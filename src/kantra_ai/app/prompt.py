"""`prompt`: the exact request `remediate` would send for one incident, with its token estimate.

Plans the run exactly as `remediate` does (same selection, batching, templates and request builder),
finds the request that carries the incident, and builds it from the file as it is (with the other
small files packed into it, if any). No network.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from kantra_ai.analysis.selection import Selection
from kantra_ai.app.model_choice import ModelChoice, choose_model
from kantra_ai.app.options import RunOptions
from kantra_ai.app.prepare import load_selection, plan_batches, run_prompts
from kantra_ai.batching.batches import MAX_OUTPUT_TOKENS, Batch, output_prior
from kantra_ai.edits.files import SourceFileError, read_source
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.estimate import batches_of
from kantra_ai.engine.runner import RunBatches
from kantra_ai.errors import UserError
from kantra_ai.prompts.builder import PackPart, line_count
from kantra_ai.providers.base import ModelRequest
from kantra_ai.tokens import estimate_tokens


@dataclass(frozen=True)
class ShownRequest:
    choice: ModelChoice
    batch: Batch
    request: ModelRequest
    tokens: dict[str, int]  # system (with the tool definition), guidance, prompt, total
    packed_with: tuple[str, ...] = ()  # the other small files the request carries (batching/packing.py)

    def wire_body(self) -> dict[str, Any]:
        """The body the provider's SDK would send (built offline; the client never connects)."""
        return {**wire_body(self.choice, self.request), "stream": True}


def show_request(options: RunOptions, spec: str) -> ShownRequest:
    choice = choose_model(options.model)
    selection = load_selection(options.selection)
    prompts = run_prompts(choice, options, selection.selected)
    batches = plan_batches(selection.selected, options.input_dir, options.limits.batch, prompts)
    batch = find_batch(batches, selection, spec)
    unit = next(u for u in batches.units() if any(f.path == batch.path for f in u))
    if len(unit) > 1:  # a small file packed with others: the request carries them all
        members = [f.batches[0] for f in unit]
        offsets = prompts.pack_offsets(members)
        parts = []
        for member, offset in zip(members, offsets, strict=True):
            text = _read(options, member)
            numbered = dataclasses.replace(member, handle_offset=offset)
            parts.append(PackPart(numbered, text, line_count(text), numbered.incidents))
        room = min(
            sum(_first_max_tokens(p.batch, p.content, full_verdicts=prompts.full_verdicts) for p in parts),
            MAX_OUTPUT_TOKENS,
        )
        request = prompts.pack_request(parts, max_tokens=room)
    else:
        text = _read(options, batch)
        request = dataclasses.replace(
            prompts.first_request(batch, text),
            max_tokens=_first_max_tokens(batch, text, full_verdicts=prompts.full_verdicts),
        )
    tokens = {
        "system": prompts.system_tokens(),
        "guidance": estimate_tokens(request.guidance),
        "prompt": estimate_tokens(request.prompt),
    }
    tokens["total"] = sum(tokens.values())
    others = tuple(str(f.path) for f in unit if f.path != batch.path)
    return ShownRequest(choice, batch, request, tokens, others)


def _first_max_tokens(batch: Batch, text: str, *, full_verdicts: bool) -> int:
    """max_tokens of the batch's first request in a run with no replies seen yet: from its incidents'
    lines (`output_prior`), never above the static budget."""
    prior = output_prior(batch.incidents, text.splitlines(keepends=True), full_verdicts=full_verdicts)
    return Calibration().max_tokens_for(batch.incidents, batch.max_output_tokens, prior)


def _read(options: RunOptions, batch: Batch) -> str:
    try:
        return read_source(options.input_dir / batch.path).text
    except (OSError, SourceFileError) as exc:
        raise UserError(f"{batch.path}: cannot read file: {exc}") from None


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
