"""Commit messages and pull request texts, in the predecessor's style.

Commit: `fix(konveyor): <rule id> - <description>`, then the incidents as file:line, the model,
tokens, cost, confidence and verification, and trailers naming the job's run and the unit (how a
rerun finds the commits a killed run already made).

Every text made here leaves the machine (commits get pushed, pull requests are a forge's pages):
each passes the redaction layer (`outgoing`), the check command of --verify it names included.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from kantra_ai.delivery.layout import IncidentInfo
from kantra_ai.redact import redact

Text = TypeVar("Text", bound=Callable[..., str])


def outgoing(make: Text) -> Text:
    """`make`'s text through the redaction layer (a secret in --verify-command, say)."""

    @functools.wraps(make)
    def masked(*args: Any, **kwargs: Any) -> str:
        return redact(make(*args, **kwargs))

    return cast(Text, masked)


RUN_TRAILER = "Kantra-AI-Run"
UNIT_TRAILER = "Kantra-AI-Unit"
TITLE_LIMIT = 100


@dataclass(frozen=True)
class Facts:
    """What every message of the job states besides its incidents."""

    run: int  # the job's first run
    model: str  # "provider/model"
    check: str | None = None  # the check of --verify ("build check `mvn -q -o compile`"); None: not run


def verification_text(incidents: Sequence[IncidentInfo], facts: Facts) -> str:
    """What verification (--verify) decided about a change's incidents. Git delivery commits only
    writes the check accepted (verified, or repaired), so a delivered change normally "passed"."""
    if facts.check is None:
        return "not run"
    verified = sum(1 for i in incidents if i.verification == "verified")
    repaired = [i for i in incidents if i.verification == "repaired"]
    rounds = max((i.repair_rounds for i in repaired), default=0)
    parts = [f"{verified} verified"] if verified else []
    if repaired:
        up_to = "up to " if len({i.repair_rounds for i in repaired}) > 1 else ""
        parts.append(f"{len(repaired)} repaired in {up_to}{rounds} round{'s' if rounds != 1 else ''}")
    others = Counter(i.verification or "not verified" for i in incidents)
    del others["verified"], others["repaired"]
    parts += [f"{count} {state}" for state, count in sorted(others.items())]
    verdict = "passed the" if not others else "checked with the"
    return f"{verdict} {facts.check}: {', '.join(parts) or 'nothing to verify'}"


def trailers(run: int, unit: str) -> str:
    return f"{RUN_TRAILER}: {run}\n{UNIT_TRAILER}: {unit}"


def parse_trailers(message: str) -> tuple[int | None, str | None]:
    """(run, unit) named by a commit message's trailers."""
    run: int | None = None
    unit: str | None = None
    for line in message.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if key.strip() == RUN_TRAILER and value.strip().isdigit():
            run = int(value.strip())
        elif key.strip() == UNIT_TRAILER:
            unit = value.strip()
    return run, unit


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _shorten(text: str, limit: int = TITLE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _rules(incidents: Sequence[IncidentInfo]) -> list[str]:
    return sorted({i.rule_id for i in incidents})


def title(key: str, incidents: Sequence[IncidentInfo]) -> str:
    """The first line: the rule and its description when the unit is one rule's, else what it is."""
    rules = _rules(incidents)
    files = sorted({i.path for i in incidents})
    kind, _, name = key.partition(":")
    name = name.split("|", 1)[0].split("@", 1)[0]
    rule = name if kind == "violation" and name in rules else rules[0] if len(rules) == 1 else None
    if rule is not None:
        first = next(i for i in incidents if i.rule_id == rule)
        text = f"{rule} - {_first_line(first.description) or 'fixes'}"
        if kind == "file":
            text += f" ({name})"
    elif kind == "file":
        text = f"{name} - {len(incidents)} incident(s) of {len(rules)} rules"
    elif kind == "phase":
        stage_name = incidents[0].stage_name if incidents else name
        text = f"phase {name} - {stage_name}"
    else:
        text = f"{len(incidents)} incident(s) of {len(rules)} rules in {len(files)} file(s)"
    return _shorten(f"fix(konveyor): {text}")


def _also(key: str, incidents: Sequence[IncidentInfo]) -> list[str]:
    """Rules a violation's unit fixes besides its own (their change is the same edit as its)."""
    kind, _, name = key.partition(":")
    name = name.split("|", 1)[0].split("@", 1)[0]
    if kind != "violation":
        return []
    return [r for r in _rules(incidents) if r != name]


def _money(cost: float | None) -> str:
    if cost is None:
        return "unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


def usage_lines(incidents: Sequence[IncidentInfo], facts: Facts) -> list[str]:
    tokens_in = sum(i.input_tokens for i in incidents)
    tokens_out = sum(i.output_tokens for i in incidents)
    costs = [i.cost for i in incidents]
    cost = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
    known = [i.confidence for i in incidents if i.confidence is not None]
    confidence = f"{min(known):.2f} lowest, {sum(known) / len(known):.2f} mean" if known else "not given"
    return [
        f"Model: {facts.model}",
        f"Tokens: {tokens_in:,} input, {tokens_out:,} output (this change's share)",
        f"Cost: {_money(cost)}",
        f"Confidence: {confidence}",
        f"Verification: {verification_text(incidents, facts)}",
    ]


@outgoing
def commit_message(key: str, incidents: Sequence[IncidentInfo], files: Sequence[str], facts: Facts) -> str:
    lines = [title(key, incidents), ""]
    also = _also(key, incidents)
    if also:
        lines += [f"Also fixes {', '.join(also)}: the same edits fix both.", ""]
    lines.append(f"Fixes {len(incidents)} incident(s) of Konveyor's analysis:")
    for info in sorted(incidents, key=lambda i: (i.path, i.line or 0, i.rule_id)):
        where = f"{info.path}:{info.line}" if info.line else info.path
        lines.append(f"- {where} {info.rule_id}")
    lines += ["", "Files: " + ", ".join(files), *usage_lines(incidents, facts), "", trailers(facts.run, key)]
    return "\n".join(lines) + "\n"


def confidence_buckets(incidents: Sequence[IncidentInfo]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for info in incidents:
        c = info.confidence
        counts["unknown" if c is None else "high" if c >= 0.9 else "medium" if c >= 0.7 else "low"] += 1
    return {k: counts.get(k, 0) for k in ("high", "medium", "low", "unknown")}


@dataclass(frozen=True)
class PrLink:
    group: str
    title: str
    number: int | None
    url: str


@outgoing
def pr_title(group: str, incidents: Sequence[IncidentInfo], run: int) -> str:
    rules = _rules(incidents)
    if group.startswith("violation:"):
        return title(group, incidents)
    if len(rules) == 1:
        return title(f"violation:{rules[0]}", incidents)
    if group.startswith("phase:"):
        name = incidents[0].stage_name if incidents else group
        return _shorten(f"fix(konveyor): phase {group.partition(':')[2]} - {name}")
    return _shorten(
        f"fix(konveyor): kantra-ai run #{run} - {len(incidents)} incident(s) of {len(rules)} rules"
    )


@outgoing
def pr_body(
    *,
    group: str,
    incidents: Sequence[IncidentInfo],
    files: Sequence[str],
    facts: Facts,
    stacked_on: tuple[str, int | None] | None,
    also_depends: Sequence[tuple[str, int | None]],
    low_confidence: float | None,
    links: Sequence[PrLink],
) -> str:
    """The pull request's description (markdown)."""
    by_rule: dict[str, list[IncidentInfo]] = {}
    for info in incidents:
        by_rule.setdefault(info.rule_id, []).append(info)
    out = [
        f"Fixes found by Konveyor's migration analysis, made by kantra-ai (run #{facts.run}): "
        f"{len(incidents)} incident(s) of {len(by_rule)} rule(s) in {len(files)} file(s).",
        "",
    ]
    if stacked_on is not None:
        branch, number = stacked_on
        ref = f"#{number}" if number else f"`{branch}`"
        out += [
            f"**Depends on {ref}**: this branch is stacked on `{branch}` (its changes touch the same "
            "lines); merge that one first.",
            "",
        ]
    for branch, number in also_depends:
        out += [f"Also touches lines changed by {f'#{number}' if number else f'`{branch}`'}.", ""]
    also = _also(group, incidents)
    if also:
        out += [f"Also fixes {', '.join(f'`{r}`' for r in also)}: the same edits fix both.", ""]
    out += ["### Incidents per rule", "", "| rule | incidents | description |", "|---|---|---|"]
    for rule, items in sorted(by_rule.items()):
        description = _first_line(items[0].description).replace("|", "\\|")
        out.append(f"| `{rule}` | {len(items)} | {description} |")
    out += ["", "### Files", ""]
    for path in files:
        lines = sorted(i.line for i in incidents if i.path == path and i.line)
        out.append(f"- `{path}`" + (f" (lines {', '.join(map(str, lines))})" if lines else ""))
    out += ["", "### Cost and tokens", ""]
    out += [f"- {line}" for line in usage_lines(incidents, facts)[:3]]
    buckets = confidence_buckets(incidents)
    out += [
        "",
        "### Confidence",
        "",
        f"high (0.9 and above): {buckets['high']} · medium (0.7 to 0.9): {buckets['medium']} · "
        f"low (below 0.7): {buckets['low']} · not given: {buckets['unknown']}",
    ]
    if low_confidence is not None:
        below = sum(1 for i in incidents if i.confidence is not None and i.confidence < low_confidence)
        out.append(f"Fixes below {low_confidence:g} carry an inline review comment ({below}).")
    out += [
        "",
        "### Verification",
        "",
        verification_text(incidents, facts),
        "",
        "### Review checklist",
        "",
        "- [ ] The project builds and its tests pass",
        "- [ ] Every fix marked with a low-confidence comment was read line by line",
        "- [ ] The changes follow each rule's migration guidance",
        "- [ ] Nothing unrelated changed",
    ]
    if len(links) > 1:
        out += ["", f"### Pull requests of kantra-ai run #{facts.run}", ""]
        for link in links:
            name = f"#{link.number}" if link.number else link.url or "(not opened yet)"
            here = " (this one)" if link.group == group else ""
            out.append(f"- {name} {link.title}{here}")
    out += ["", f"<!-- kantra-ai run={facts.run} group={group} -->"]
    return "\n".join(out) + "\n"


def comment_marker(incident_id: str) -> str:
    return f"<!-- kantra-ai incident={incident_id} -->"


@outgoing
def review_comment(info: IncidentInfo, threshold: float) -> str:
    confidence = "not given" if info.confidence is None else f"{info.confidence:.2f}"
    return (
        f"**kantra-ai: low confidence ({confidence}, below {threshold:g})** for `{info.rule_id}`: "
        f"{_first_line(info.message) or _first_line(info.description)}\n\nPlease review this change "
        f"by hand.\n\n{comment_marker(info.id)}"
    )


def by_id(infos: Mapping[str, IncidentInfo], ids: Sequence[str]) -> list[IncidentInfo]:
    return [infos[i] for i in ids if i in infos]
