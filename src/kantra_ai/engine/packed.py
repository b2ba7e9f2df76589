"""Runs a pack: several small files asked in one request (`batching/packing.py`), fixed one by one.

Only the first request is shared. Each file is read, relocated and settled as its own batch
(`batch_runner._prepare`); the reply is parsed once and split by file, each edit going to the file
whose incidents it names (incident numbers run across the pack); each file's part is applied behind
the same gates as a reply of its own, and written, recorded and decided on its own. What cannot be
used for one file never costs the others their edits:

- an edit quoting text that names incidents of several files is applied to none; those incidents
  are asked again, in a request for their file alone, with the rest of that file's retries (words
  replaced on the incidents' own lines, `subs`, are split by file instead: each file's lines are
  known);
- a reply cut off at `max_tokens` is asked again with twice the room, once; a reply that cannot be
  used at all (cut off again, malformed), or a pack refused by the `--max-cost` guard, sends each
  file alone, as if it had never been packed (no repair round is used up);
- a file that changed on disk while the pack ran is run again alone from the start.

The reply is split by file before any file's part is applied, and each file's share is kept in the
run store (`engine/replies.py`): a run killed after some files of the pack were written applies the
others' shares when it runs again, instead of asking the model again for them.

A file is never in two requests at once: the pack holds all its files until every one is finished.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import MAX_OUTPUT_TOKENS, Batch
from kantra_ai.edits.files import SourceFileError, check_inside, read_source
from kantra_ai.edits.model import ProposedFix
from kantra_ai.edits.parse import MalformedReply
from kantra_ai.engine.batch_runner import (
    RequestSkipped,
    Resume,
    RunContext,
    _all,
    _BatchState,
    _converse,
    _finish,
    _prepare,
    _reply_problem,
    _skipped,
    _visible,
    pending_of,
    planned_max_tokens,
    request_prior,
    rest_room,
    resume_from_share,
    run_batch,
    send_request,
    shared_max_tokens,
    take_share,
)
from kantra_ai.engine.continuation import added_input, continuable, continue_reply
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.engine.replies import PackShare, request_fingerprint
from kantra_ai.prompts.builder import PackPart, line_count
from kantra_ai.providers.base import ModelRequest, ModelResponse

# A packed reply cut off at max_tokens is asked again with twice the room this many times, before its
# files are asked alone (as a file alone is: the same question, more room).
PACK_CUT_OFF_RETRIES = 1


@dataclass
class _Member:
    """One file of a pack: its batch as planned and, once read, its state."""

    batch: Batch
    state: _BatchState | None = None
    outcomes: list[IncidentOutcome] = field(default_factory=list)
    pending: list[Incident] = field(default_factory=list)
    resume: Resume | None = None  # after the shared request: what is left to ask alone
    done: bool = False  # nothing left to ask (answered, skipped or failed for good)


async def run_pack(batches: Sequence[Batch], ctx: RunContext) -> list[IncidentOutcome]:
    """Fix the files of `batches` (one whole-file batch each, distinct files) with one shared
    request, then each file's retries alone; the outcomes of all their incidents."""
    # Incident numbers run across the pack; each file keeps its own for its retries alone.
    offsets = ctx.prompts.pack_offsets(batches)
    members = [
        _Member(dataclasses.replace(b, handle_offset=n)) for b, n in zip(batches, offsets, strict=True)
    ]
    for member in members:
        await _read(member, ctx)
    asking = [m for m in members if m.state is not None and m.pending]
    if len(asking) >= 2:
        await _ask_together(asking, ctx)
    await asyncio.gather(*(_finish_alone(m, ctx) for m in members if m.state is not None))
    return [outcome for member in members for outcome in member.outcomes]


async def _read(member: _Member, ctx: RunContext) -> None:
    path = ctx.input_dir / member.batch.path
    try:
        if ctx.read_file is not None:
            source = await ctx.read_file(path)
        else:
            source = await asyncio.to_thread(read_source, path)
        check_inside(source, ctx.input_dir)  # a link swapped in since loading: not sent, not written
    except (OSError, SourceFileError) as exc:
        member.outcomes = _all(member.batch, Status.FAILED, f"cannot read file: {exc}")
        ctx.observer.batch_finished(str(member.batch.path), member.outcomes)
        return
    member.state = _prepare(member.batch, source, ctx)
    member.pending = pending_of(member.state)
    resumed = resume_from_share(member.state, ctx)
    if resumed is not None:  # answered by the pack a killed run asked: not asked again
        member.resume = resumed if resumed.pending else None
        member.done = not resumed.pending
        member.pending = []


def _states(members: Sequence[_Member]) -> list[_BatchState]:
    return [m.state for m in members if m.state is not None]


async def _ask_together(members: Sequence[_Member], ctx: RunContext) -> None:
    states = _states(members)
    parts = [
        PackPart(s.batch, _visible(s), line_count(s.working), m.pending)
        for m, s in zip(members, states, strict=True)
    ]
    sizes = [planned_max_tokens(s, m.pending, ctx) for m, s in zip(members, states, strict=True)]
    asked = [(s, m.pending) for m, s in zip(members, states, strict=True)]
    prior = request_prior(asked, ctx) if ctx.calibration is not None else {}
    max_tokens = min(shared_max_tokens(asked, ctx, prior), sum(sizes), MAX_OUTPUT_TOKENS)
    path = str(parts[0].batch.path)  # the request is recorded under its first file
    others = tuple(str(m.batch.path) for m in members[1:])
    ids = tuple(i.id for m in members for i in m.pending)
    problem = ""
    for attempt in range(1 + PACK_CUT_OFF_RETRIES):
        request = ctx.prompts.pack_request(parts, max_tokens=max_tokens)
        worst = sum(ctx.guard.worst_case_of(s.batch, size) for s, size in zip(states, sizes, strict=True))
        worst *= max_tokens / max(1, sum(sizes))
        try:
            response = await send_request(request, path, ids, attempt, worst, ctx, others)
        except RequestSkipped as skip:
            if skip.status is Status.SKIPPED and not ctx.control.stop.is_set():
                return  # the pack would exceed --max-cost: each file is asked alone, as it fits
            for member, state in zip(members, states, strict=True):
                _skipped(state, member.pending, skip)
                member.done = True
            return
        fingerprint = _shared(request, members, ctx)

        async def send(
            asked: ModelRequest, attempt: int = attempt, worst: float = worst, cut: ModelRequest = request
        ) -> tuple[ModelResponse, str]:
            # (the cut-off request's worst case, and what arrived, shown again: the rest asks for
            # less output)
            extra = ctx.guard.worst_case(added_input(asked, cut), 0)
            reply = await send_request(asked, path, ids, attempt, worst + extra, ctx, others)
            return reply, _shared(asked, members, ctx)

        if continuable(response, tool=request.tool is not None):
            # (the cut-off reply stays in the store, unused: a killed run continues from it again)
            try:
                continued = await continue_reply(
                    request,
                    response,
                    continuation=ctx.prompts.continuation,
                    send=send,
                    rest_room=rest_room(asked, ctx, prior, max_tokens),
                    rejected=lambda cut, why: ctx.observer.reply_rejected(path, cut, why),
                )
            except RequestSkipped as skip:
                for member, state in zip(members, states, strict=True):
                    _skipped(state, member.pending, skip)
                    member.done = True
                return
            if continued is not None:
                response, fingerprint = continued.response, continued.fingerprint
        if response.truncated:
            problem = f"reply cut off at max_tokens ({max_tokens}); nothing applied"
            ctx.observer.reply_rejected(path, fingerprint, problem)
            if ctx.calibration is not None:
                ctx.calibration.observe_truncation(i for m in members for i in m.pending)
            max_tokens = min(max_tokens * 2, MAX_OUTPUT_TOKENS)  # the same question, more room
            continue
        try:
            proposed = ctx.prompts.parse_pack(response, parts)
        except MalformedReply as exc:
            problem = f"malformed reply: {exc}; nothing applied"
            ctx.observer.reply_rejected(path, fingerprint, problem)
            break
        if ctx.calibration is not None:
            everyone = [i for m in members for i in m.pending]
            ctx.calibration.observe_output(everyone, response.usage.output_tokens, prior, proposed)
        split = _split(members, proposed)
        _keep_shares(members, split, fingerprint, ctx)
        for member, (part, across) in zip(members, split, strict=True):
            assert member.state is not None
            resumed = take_share(member.state, part, member.pending, across)
            member.resume = resumed if resumed.pending else None
            member.done = not resumed.pending
        return
    # Nothing of the replies could be used: each file is asked alone, as if it had not been packed.
    for member, state in zip(members, states, strict=True):
        _reply_problem(state, member.pending, problem)


def _shared(request: ModelRequest, members: Sequence[_Member], ctx: RunContext) -> str:
    """The fingerprint of a packed request, told as answering the incidents of every file it asked
    about (it is recorded under the first)."""
    fingerprint = request_fingerprint(request, ctx.provider.name, ctx.provider.model)
    for member in members[1:]:
        ctx.observer.reply_shared(str(member.batch.path), tuple(i.id for i in member.pending), fingerprint)
    return fingerprint


def _split(members: Sequence[_Member], proposed: ProposedFix) -> list[tuple[ProposedFix, set[str]]]:
    """Each file's part of the reply, and its incidents named by an edit quoting text for several
    files (applied to none, asked again alone; words replaced on the incidents' own lines are split
    by file)."""
    owner = {i.id: index for index, m in enumerate(members) for i in m.pending}
    parts: list[tuple[ProposedFix, set[str]]] = [(ProposedFix(), set()) for _ in members]
    for edit in proposed.edits:
        files = {owner[i] for i in edit.incident_ids if i in owner}
        if len(files) == 1:
            parts[files.pop()][0].edits.append(edit)
        elif files and edit.line_sub:
            # Words replaced on the incidents' own lines: each file gets the pairs for its incidents'
            # lines (placed and checked there like any edit of its own).
            for index in sorted(files):
                mine = tuple(i for i in edit.incident_ids if owner.get(i) == index)
                parts[index][0].edits.append(dataclasses.replace(edit, incident_ids=mine))
        else:  # several files (or none of the pack's: an edit naming nothing cannot be placed)
            for incident_id in edit.incident_ids:
                if incident_id in owner:
                    parts[owner[incident_id]][1].add(incident_id)
    for verdict in proposed.verdicts:
        if verdict.incident_id in owner:
            parts[owner[verdict.incident_id]][0].verdicts.append(verdict)
    return parts


def _keep_shares(
    members: Sequence[_Member],
    parts: Sequence[tuple[ProposedFix, set[str]]],
    fingerprint: str,
    ctx: RunContext,
) -> None:
    """Every file's share, kept before any is applied (see `engine/replies.py`)."""
    shares = []
    for member, (part, across) in zip(members, parts, strict=True):
        state = member.state
        assert state is not None
        shares.append(
            PackShare(
                str(member.batch.path),
                fingerprint,
                tuple(i.id for i in member.pending),
                member.batch.handle_offset,
                state.source.sha256,
                part,
                tuple(sorted(across)),
            )
        )
    ctx.observer.pack_split(shares)


async def _finish_alone(member: _Member, ctx: RunContext) -> None:
    """The rest of the file's conversation alone (retries, or everything when the shared request
    could not be used), then its write and outcomes."""
    state = member.state
    assert state is not None
    if not member.done:
        await _converse(state, ctx, member.resume)
    outcomes = await _finish(state, ctx, replan_if_stale=True)
    if outcomes is None:  # the file changed on disk meanwhile: read it again and ask it alone
        outcomes = await run_batch(dataclasses.replace(member.batch, handle_offset=0), ctx)
    member.outcomes = outcomes
