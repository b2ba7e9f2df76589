"""The AI planner: a model groups the violations into phases; `repair` makes its answer valid.

The model sees one line per violation (id, category, effort, complexity, incident and file counts,
description), never the sources, and answers with JSON. Large analyses are split into chunks that
each fit `chunk_tokens`, planned one request each, and the chunks' phases merged by name, so no
request can overflow the context window. Whatever comes back is checked:

- a reply cut off at `max_tokens` is never used: the request is retried with a larger budget;
- a reply that is not the expected JSON is retried once with a reminder;
- when retries run out (or the request fails) that chunk is planned deterministically, and the
  phases say so;
- otherwise `repair` drops invented ids and duplicates and gives omitted violations a phase of
  their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from kantra_ai.plan.deterministic import RiskTolerance, plan_deterministic
from kantra_ai.plan.phases import PhaseDraft, ViolationGroup, merge_to_max
from kantra_ai.plan.repair import ProposedPhase, repair
from kantra_ai.providers.base import ModelRequest, Provider, ProviderError
from kantra_ai.providers.pricing import ModelPrice, PriceTable, Usage
from kantra_ai.tokens import estimate_tokens

DEFAULT_CHUNK_TOKENS = 8_000
MAX_REPLY_TOKENS = 16_000
_DESCRIPTION_CHARS = 160

SYSTEM_PROMPT = """\
You plan a phased application migration. You are given the rule violations that Konveyor's
analyzer found, one per line: id, category (mandatory, optional, potential), effort (1-10),
migration complexity, how many incidents and files it has, and its description.

Group them into ordered phases that a team would apply and review one after the other: mechanical,
low-risk changes first, changes that need understanding of the code later, high-risk redesigns
last. Keep related changes together (for example all package renames of one API).

Answer with JSON only, no prose, exactly this shape:
{"phases": [{"name": "short phase name", "risk": "low|medium|high",
  "explanation": "one or two sentences: why these go together and why at this point",
  "violation_ids": ["id", "..."]}]}

Every violation id you were given must appear in exactly one phase, spelled exactly as given.
Do not invent ids."""


class PlannerFailure(Exception):
    """The provider refused the planning run for good (bad key, unknown model): one line."""


class _ReplyPhase(BaseModel):
    name: str = ""
    violation_ids: list[str]
    explanation: str = ""
    risk: str | None = None


class _Reply(BaseModel):
    phases: list[_ReplyPhase]


class MalformedPlan(ValueError):
    pass


@dataclass
class AiPlan:
    drafts: list[PhaseDraft]
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0


def listing(groups: Sequence[ViolationGroup]) -> str:
    lines = []
    for g in groups:
        description = " ".join(g.violation.description.split())
        if len(description) > _DESCRIPTION_CHARS:
            description = description[: _DESCRIPTION_CHARS - 1] + "…"
        lines.append(
            f"- id: {g.plan_id} | {g.violation.category.value} | effort {g.effort} | {g.complexity.value} "
            f"| {len(g.incidents)} incidents in {g.files} files | {description}"
        )
    return "\n".join(lines)


def chunk_groups(groups: Sequence[ViolationGroup], chunk_tokens: int) -> list[list[ViolationGroup]]:
    """Consecutive chunks whose listing (plus the instructions) fits `chunk_tokens`."""
    budget = max(chunk_tokens - estimate_tokens(SYSTEM_PROMPT) - 200, 200)
    chunks: list[list[ViolationGroup]] = []
    current: list[ViolationGroup] = []
    used = 0
    for group in groups:
        cost = estimate_tokens(listing([group])) + 1
        if current and used + cost > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(group)
        used += cost
    if current:
        chunks.append(current)
    return chunks


def parse_reply(text: str) -> list[ProposedPhase]:
    """The phases of a reply: JSON, possibly fenced or with prose around it."""
    cleaned = re.sub(r"```(?:json)?", "", text).strip()
    start = min((i for i in (cleaned.find("{"), cleaned.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise MalformedPlan("the reply holds no JSON")
    try:
        document, _ = json.JSONDecoder().raw_decode(cleaned[start:])
    except json.JSONDecodeError as exc:
        raise MalformedPlan(f"the reply is not valid JSON ({exc.msg})") from exc
    if isinstance(document, list):
        document = {"phases": document}
    try:
        reply = _Reply.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MalformedPlan(f"unexpected JSON shape at {where}: {first['msg']}") from exc
    return [ProposedPhase(p.name, p.violation_ids, p.explanation, p.risk) for p in reply.phases]


def _prompt(chunk: Sequence[ViolationGroup], number: int, total: int, max_phases: int | None) -> str:
    head = f"Violations (part {number} of {total} of a larger analysis):" if total > 1 else "Violations:"
    limit = f"\n\nUse at most {max_phases} phases." if max_phases else ""
    return f"{head}\n{listing(chunk)}{limit}\n"


async def plan_with_model(
    provider: Provider,
    groups: Sequence[ViolationGroup],
    *,
    price: ModelPrice | None,
    tolerance: RiskTolerance = "balanced",
    max_phases: int | None = None,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    max_retries: int = 1,
) -> AiPlan:
    result = AiPlan(drafts=[])
    chunks = chunk_groups(groups, chunk_tokens)
    merged: dict[str, PhaseDraft] = {}
    for number, chunk in enumerate(chunks, 1):
        proposed, problem = await _ask(
            provider, chunk, number, len(chunks), max_phases, max_retries, price, result
        )
        if proposed is None:
            drafts = plan_deterministic(chunk, tolerance=tolerance)
            part = f" (part {number} of {len(chunks)})" if len(chunks) > 1 else ""
            note = (
                f"The model gave no usable plan{part}: {problem}; "
                "these phases were planned deterministically."
            )
            for draft in drafts:
                draft.notes.append(note)
            result.notes.append(note)
        else:
            repaired = repair(proposed, chunk)
            drafts = repaired.drafts
            result.notes += repaired.notes
        for draft in drafts:
            name = draft.name.strip().lower()
            if name in merged:
                merged[name].keys += draft.keys
                merged[name].notes += [n for n in draft.notes if n not in merged[name].notes]
            else:
                merged[name] = draft
    result.drafts = merge_to_max(list(merged.values()), max_phases)
    return result


async def _ask(
    provider: Provider,
    chunk: Sequence[ViolationGroup],
    number: int,
    total: int,
    max_phases: int | None,
    max_retries: int,
    price: ModelPrice | None,
    result: AiPlan,
) -> tuple[list[ProposedPhase] | None, str]:
    prompt = _prompt(chunk, number, total, max_phases)
    max_tokens = min(MAX_REPLY_TOKENS, 600 + 40 * len(chunk))
    problem = ""
    for _ in range(1 + max_retries):
        request = ModelRequest(
            system=SYSTEM_PROMPT,
            guidance="",
            prompt=prompt,
            max_tokens=max_tokens,
            cache_key="kantra-ai-plan",
        )
        try:
            response = await provider.complete(request)
        except ProviderError as exc:
            _account(result, exc.usage, price)
            if exc.fatal:
                raise PlannerFailure(str(exc)) from exc
            return None, f"request failed: {exc}"
        _account(result, response.usage, price)
        if response.truncated:
            problem = f"the reply was cut off at max_tokens ({max_tokens})"
            max_tokens = min(max_tokens * 2, MAX_REPLY_TOKENS)
            continue
        try:
            return parse_reply(response.text), ""
        except MalformedPlan as exc:
            problem = str(exc)
            prompt = (
                _prompt(chunk, number, total, max_phases)
                + "\nYour previous answer could not be read: answer with the JSON object only.\n"
            )
    return None, problem


def _account(result: AiPlan, usage: Usage, price: ModelPrice | None) -> None:
    result.requests += 1
    result.usage = result.usage + usage
    cost = PriceTable.cost(price, usage)
    result.cost = None if cost is None or result.cost is None else result.cost + cost
