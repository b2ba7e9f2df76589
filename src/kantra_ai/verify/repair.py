"""One file's repair in one round: ask the model with the check's diagnostics, apply what it answers.

The request is built by the one request builder (`PromptBuilder.repair_request`: the file as it is
now, the edits we made to it, the diagnostics, not the build log), sent like every request of the
run (`send_request`: budget, stored replies of a killed run, the store's records), and its edits go
through the same gates as a fix (`apply_checked`: syntax and integrity) and the same stale-checked
atomic write. The caller's observer (with a `RepairObserver`) records it as a round of its scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import Batch, output_budget
from kantra_ai.edits.apply import plan_region
from kantra_ai.edits.checked import apply_checked
from kantra_ai.edits.files import (
    SourceFile,
    SourceFileError,
    StaleFileError,
    check_inside,
    content_sha256,
    encode_text,
    read_source,
    write_source_atomic,
)
from kantra_ai.edits.model import Edit
from kantra_ai.edits.parse import MalformedReply
from kantra_ai.engine.batch_runner import RequestSkipped, RunContext, send_request
from kantra_ai.engine.budget import reserved_input_tokens
from kantra_ai.prompts.builder import line_count
from kantra_ai.tokens import estimate_tokens
from kantra_ai.verify.diagnostics import Diagnostic

CONTEXT_LINES = 40  # around the diagnostics and edits, when the file is too large to show whole
MAX_OTHER_PROBLEMS = 10


@dataclass(frozen=True)
class RepairJob:
    path: str
    incidents: tuple[Incident, ...]  # those the file's edits fixed
    edits: tuple[Edit, ...]  # what we changed in the file so far (fixes and earlier repairs)
    problems: tuple[Diagnostic, ...]  # the new diagnostics in this file
    others: tuple[Diagnostic, ...]  # new diagnostics in no file of ours
    command: str
    max_input_tokens: int  # the batch token budget: a larger file is shown as a window


@dataclass(frozen=True)
class RepairResult:
    written: bool = False
    stopped: bool = False  # the run was stopped before the request: the round is not done
    note: str = ""  # why nothing was written


def _window(text: str, job: RepairJob) -> tuple[int, int] | None:
    """The lines to show when the file is too large: around its diagnostics and our edits."""
    if estimate_tokens(text) <= job.max_input_tokens:
        return None
    lines = [d.line for d in job.problems if d.line]
    for edit in job.edits:
        at = text.find(edit.new_text) if edit.new_text else -1
        if at >= 0:
            lines.append(text.count("\n", 0, at) + 1)
    if not lines:
        return None
    return (max(1, min(lines) - CONTEXT_LINES), min(line_count(text), max(lines) + CONTEXT_LINES))


def _texts(diagnostics: Sequence[Diagnostic]) -> list[str]:
    return [d.text() for d in diagnostics]


async def repair_file(job: RepairJob, ctx: RunContext) -> RepairResult:
    """Ask for and apply one repair of `job.path`; see the module docstring."""
    observer = ctx.observer
    try:
        source = await asyncio.to_thread(read_source, ctx.input_dir / job.path)
        check_inside(source, ctx.input_dir)  # a link swapped in since (by the check): not sent, not written
    except (OSError, SourceFileError) as exc:
        observer.batch_finished(job.path, [])
        return RepairResult(note=f"cannot read it: {exc}")
    text = source.text
    window = _window(text, job)
    region = plan_region(text, *window) if window else None
    shown = text[region[0] : region[1]] if region else text
    batch = Batch(
        PurePosixPath(job.path),
        job.incidents,
        window,
        estimated_input_tokens=0,
        max_output_tokens=output_budget(len(job.incidents) + len(job.problems)),
    )
    request = ctx.prompts.repair_request(
        batch,
        shown,
        total_lines=line_count(text),
        edits=job.edits,
        problems=_texts(job.problems),
        other_problems=_texts(job.others[:MAX_OTHER_PROBLEMS]),
        command=job.command,
    )
    batch = Batch(
        batch.path,
        batch.incidents,
        window,
        estimate_tokens(request.system + request.guidance + request.prompt)
        + ctx.prompts.format.overhead_tokens,
        batch.max_output_tokens,
    )
    ids = tuple(i.id for i in job.incidents)
    worst = ctx.guard.worst_case(reserved_input_tokens(batch), request.max_tokens)
    try:
        response = await send_request(request, job.path, ids, 0, worst, ctx)
    except RequestSkipped as skip:
        if ctx.control.stop.is_set() and not ctx.control.fatal_error:
            return RepairResult(stopped=True, note=str(skip))  # the next run does this round
        observer.batch_finished(job.path, [])
        return RepairResult(note=str(skip))
    note = ""
    if response.truncated:
        note = "the repair was cut off at max_tokens; nothing applied"
    else:
        try:
            proposed = ctx.prompts.parse(response, batch, job.incidents)
        except MalformedReply as exc:
            note = f"malformed repair: {exc}"
        else:
            result = apply_checked(job.path, text, proposed.edits, region=region)
            if result.content != text:
                written, note = await _write(job.path, source, result.content, result.applied, ctx)
                observer.batch_finished(job.path, [])
                return RepairResult(written=written, note=note)
            refused = "; ".join(f.reason for f in result.failed[:3])
            note = f"the repair changed nothing{': ' + refused if refused else ''}"
    observer.batch_finished(job.path, [])
    return RepairResult(note=note)


async def _write(
    path: str, source: SourceFile, content: str, applied: list[Edit], ctx: RunContext
) -> tuple[bool, str]:
    """Intent first (the store can tell afterwards whether it happened), then the atomic write."""
    planned = encode_text(source, content)
    after_sha = content_sha256(planned)
    ctx.observer.write_planned(path, source.sha256, after_sha, [], (source.raw, planned), applied)
    try:
        after = await asyncio.to_thread(write_source_atomic, source, content, tree=ctx.input_dir)
    except StaleFileError:
        return False, "the file changed on disk during the repair; not overwritten"
    except (OSError, SourceFileError) as exc:
        return False, f"cannot write it: {exc}"
    ctx.observer.file_written(path, source.sha256, after, applied)
    return True, ""
