"""File-based batching under a token budget.

One request carries one file, sent once, with all of its selected incidents from all violations.
A file whose incidents exceed `batch_size` is split into several requests that run one after the
other (each sees the file as the previous one left it), never between incidents on the same line:
one edit often fixes both, and the model can only tie it to the incidents it was shown. A file too
large for the token budget is sent as windows of lines around its incidents instead of whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from kantra_ai.analysis.model import Incident, Violation, names_a_rename
from kantra_ai.tokens import estimate_tokens

# Output sizing before any evidence: replies are terse (an edit names its incidents; verdicts only
# for incidents not fixed), so a low-effort incident costs its changed lines twice (old and new
# text) and a little JSON. Sizing max_tokens to the need matters because providers reserve output
# rate limit from max_tokens up front (and some never give back what a reply did not use). Once a
# run has seen replies for a rule, engine/calibration.py sizes from them instead. A reply cut off at
# max_tokens is never applied; its batch is retried with twice the room.
OUTPUT_BASE_TOKENS = 120
OUTPUT_TOKENS_PER_INCIDENT = 150  # a low-effort incident: one or two small edits
MAX_OUTPUT_TOKENS = 32_000
WINDOW_CONTEXT_LINES = 40
PROMPT_OVERHEAD_TOKENS = 40  # the file heading and fences, the incident list heading


@dataclass(frozen=True)
class Batch:
    """One planned request: part or all of one file and the incidents in it."""

    path: PurePosixPath
    incidents: tuple[Incident, ...]
    window: tuple[int, int] | None  # 1-based inclusive lines; None: the whole file
    estimated_input_tokens: int
    max_output_tokens: int
    # Requests number the batch's incidents from this plus one: 0 alone; in a request packing several
    # files, the incidents of the files before it (batching/packing.py), kept for its retries.
    handle_offset: int = 0
    # Each incident's expected output from its line (`output_prior`), in the order of `incidents`;
    # empty when not planned from the file's lines. What a dry run expects of a rule it has no
    # replies of yet.
    output_prior: tuple[int, ...] = ()

    @property
    def violations(self) -> list[Violation]:
        seen: dict[str, Violation] = {}
        for incident in self.incidents:
            seen.setdefault(incident.violation.key, incident.violation)
        return [seen[k] for k in sorted(seen)]


@dataclass
class FileBatches:
    """The batches of one file, to be sent strictly in order."""

    path: PurePosixPath
    batches: list[Batch] = field(default_factory=list)
    fixed_tokens: int = 0  # of each batch's estimate, what every request carries (prefix, guidance)

    @property
    def incident_count(self) -> int:
        return sum(len(b.incidents) for b in self.batches)


def output_budget(incident_count: int, effort_units: int | None = None) -> int:
    """max_tokens for a request fixing `incident_count` incidents; `effort_units` (see
    `incident_units`) weighs harder rules, whose fixes are longer."""
    units = incident_count if effort_units is None else effort_units
    return min(MAX_OUTPUT_TOKENS, OUTPUT_BASE_TOKENS + OUTPUT_TOKENS_PER_INCIDENT * units)


def incident_units(incidents: Sequence[Incident]) -> int:
    """Output weight: 1 per incident of an effort 0-1 rule, 2 for effort 2-4, 3 for effort 5+."""
    units = 0
    for incident in incidents:
        effort = incident.violation.effort or 0
        units += 1 if effort <= 1 else 2 if effort <= 4 else 3
    return units


IncidentTokens = Callable[[Incident], int]

# The output prior from an incident's shape: an edit gives the words that change on its line (or,
# quoting the line, the new one), with its incident numbers and a little JSON: about the line once.
# Used to size max_tokens before a run has seen replies for the incident's rule
# (engine/calibration.py); the static budget above stays the ceiling, and a reply cut off is asked
# again with twice the room.
EDIT_FRAME_TOKENS = 12  # {"ids": [3], "sub": [["", ""]]}
# Harder rules change more than their line, but not in proportion to their effort (measured on the
# benchmark's coolstore and daytrader analyses): weights by `incident_units`.
PRIOR_WEIGHTS = {1: 1.0, 2: 1.25, 3: 1.5}
SAME_LINE_TOKENS = 3  # one more number in the ids of an edit already counted
DECLINED_TOKENS = 32  # {"id": 3, "status": "cannot_fix", "reason": "..."}: a terse verdict
NO_LINE_TOKENS = 40  # an incident without a usable line: a short edit or a verdict with a reason
VERDICT_TOKENS = 45  # a verdict with confidence and a one-sentence reason (confidence filtering)


def _build_descriptor(incident: Incident) -> bool:
    """In a Maven POM a dependency's fix takes its neighbours along (its group, artifact and version
    lines): the prior quotes the lines around the incident's."""
    if incident.path is None:
        return False
    name = incident.path.name.lower()
    return name == "pom.xml" or name.endswith(".pom")


def output_prior(
    incidents: Sequence[Incident],
    lines: Sequence[str],
    *,
    full_verdicts: bool = False,
    said: set[tuple[str, str]] | None = None,
) -> dict[str, int]:
    """Expected output tokens per incident from the lines it is on (`lines`: the file as it is now,
    newlines kept), by its output weight.

    A rename (a message naming what to replace with what) costs the words that change on its line
    and a change's frame; the same rename again (same rule and message, in this file or, through
    `said`, another file of the same request) only its number, as the same words are replaced on
    all their lines at once. Any other finding costs its line and a frame, or a verdict with a reason
    if that is more (it may be declined, however often it occurs). An incident on a line another one
    accounts for adds its number only, and the line right after another incident's shares its frame.
    In a Maven POM the lines around the incident's count too; `full_verdicts`: every incident also
    gets a verdict with confidence and a reason."""
    prior: dict[str, int] = {}
    seen: set[int] = set()
    said = set() if said is None else said  # renames already counted
    for incident in sorted(incidents, key=lambda i: (i.line or 0, i.id)):
        weight = PRIOR_WEIGHTS[incident_units([incident])]
        line = incident.line
        finding = (incident.violation.key, incident.message)
        rename = names_a_rename(incident.message)
        if line is None or not 1 <= line <= len(lines):
            prior[incident.id] = round(NO_LINE_TOKENS * weight)
            continue
        if line in seen or _said_before(incident, said):
            seen.add(line)
            prior[incident.id] = SAME_LINE_TOKENS
            continue
        frame = SAME_LINE_TOKENS if line - 1 in seen else EDIT_FRAME_TOKENS
        seen.add(line)
        shown = lines[max(0, line - 2) : line + 1] if _build_descriptor(incident) else lines[line - 1 : line]
        tokens: float = sum(estimate_tokens(text.strip()) for text in shown) + frame
        if rename:
            said.add(finding)
        else:
            tokens = max(tokens, DECLINED_TOKENS)
        prior[incident.id] = round(tokens * weight)
    if full_verdicts:
        prior = {key: tokens + VERDICT_TOKENS for key, tokens in prior.items()}
    return prior


def _said_before(incident: Incident, said: set[tuple[str, str]]) -> bool:
    """The same rename (rule and message) was counted earlier in the request: it costs its number.
    (The set first: the message's pattern is matched only for a finding already counted.)"""
    return (incident.violation.key, incident.message) in said and names_a_rename(incident.message)


def pack_output_prior(batches: Sequence[Batch]) -> tuple[int, ...]:
    """The output prior of one request packing these files' batches (each planned with its file's
    `output_prior`), in the order of their incidents: a rename said in an earlier file of the request
    costs only its numbers again, as `output_prior` counts it with `said`. Empty when a batch has none."""
    if any(len(b.output_prior) != len(b.incidents) for b in batches):
        return ()
    said: set[tuple[str, str]] = set()
    prior: list[int] = []
    for batch in batches:
        mine: set[tuple[str, str]] = set()
        for incident, tokens in zip(batch.incidents, batch.output_prior, strict=True):
            if _said_before(incident, said):
                tokens = min(tokens, SAME_LINE_TOKENS)
            mine.add((incident.violation.key, incident.message))
            prior.append(tokens)
        said |= mine
    return tuple(prior)


def _incident_tokens(incident: Incident) -> int:
    """An incident as a request lists it: "#3 line 12 R2: its message"."""
    return estimate_tokens(incident.message) + 8


def batch_file(
    path: PurePosixPath,
    lines: Sequence[str],
    incidents: Sequence[Incident],
    *,
    fixed_tokens: int,
    max_batch_tokens: int,
    batch_size: int,
    incident_tokens: IncidentTokens = _incident_tokens,
    full_verdicts: bool = False,
) -> FileBatches:
    """Plan the requests for one file.

    `lines` is the file's text split into lines (newlines kept); `fixed_tokens` is what every
    request pays regardless of the file (system prompt, tool schema, rule guidance);
    `incident_tokens` what listing one incident costs (the request builder knows which messages
    its rule book already carries).
    """
    ordered = sorted(incidents, key=lambda i: (i.line or 0, i.id))
    plan = FileBatches(path, fixed_tokens=fixed_tokens)
    file_tokens = estimate_tokens("".join(lines))
    prior = output_prior(ordered, lines, full_verdicts=full_verdicts)
    for group in _groups(ordered, batch_size):
        cost = fixed_tokens + PROMPT_OVERHEAD_TOKENS + sum(incident_tokens(i) for i in group)
        if cost + file_tokens <= max_batch_tokens:
            plan.batches.append(
                Batch(
                    path,
                    tuple(group),
                    None,
                    cost + file_tokens,
                    output_budget(len(group), incident_units(group)),
                    output_prior=tuple(prior[i.id] for i in group),
                )
            )
        else:
            windows = _windows(path, lines, group, fixed_tokens, max_batch_tokens, incident_tokens)
            plan.batches += [
                dataclasses.replace(b, output_prior=tuple(prior[i.id] for i in b.incidents)) for b in windows
            ]
    return plan


def _same_line(a: Incident, b: Incident) -> bool:
    return a.line is not None and a.line == b.line


def _groups(ordered: Sequence[Incident], batch_size: int) -> list[list[Incident]]:
    """At most `batch_size` incidents each, except that incidents on one line stay together."""
    groups: list[list[Incident]] = []
    for incident in ordered:
        if groups and (len(groups[-1]) < max(batch_size, 1) or _same_line(groups[-1][-1], incident)):
            groups[-1].append(incident)
        else:
            groups.append([incident])
    return groups


def _windows(
    path: PurePosixPath,
    lines: Sequence[str],
    incidents: Sequence[Incident],
    fixed_tokens: int,
    max_batch_tokens: int,
    incident_tokens: IncidentTokens = _incident_tokens,
) -> list[Batch]:
    """Cover the incidents with line windows that each fit the budget.

    Incidents without a line are put with the top of the file, where imports live. Windows of
    nearby incidents are merged while the merged window still fits.
    """
    total = len(lines)
    line_tokens = [estimate_tokens(line) for line in lines]

    def span_tokens(first: int, last: int) -> int:
        return sum(line_tokens[first - 1 : last])

    batches: list[Batch] = []
    current: list[Incident] = []
    first = last = 0
    for incident in incidents:
        line = min(max(incident.line or 1, 1), max(total, 1))
        lo, hi = max(1, line - WINDOW_CONTEXT_LINES), min(total, line + WINDOW_CONTEXT_LINES)
        if current:
            merged_first, merged_last = min(first, lo), max(last, hi)
            cost = (
                fixed_tokens + PROMPT_OVERHEAD_TOKENS + sum(incident_tokens(i) for i in [*current, incident])
            )
            fits = cost + span_tokens(merged_first, merged_last) <= max_batch_tokens
            if fits or _same_line(current[-1], incident):
                current.append(incident)
                first, last = merged_first, merged_last
                continue
            batches.append(
                _window_batch(path, current, first, last, fixed_tokens, span_tokens, incident_tokens)
            )
        current, first, last = [incident], lo, hi
        # A single window can still be too big (very long lines): shrink it around the incident.
        while (
            first < last
            and fixed_tokens + PROMPT_OVERHEAD_TOKENS + span_tokens(first, last) > max_batch_tokens
        ):
            first, last = (first + 1 if first < line else first), (last - 1 if last > line else last)
            if first == line and last == line:
                break
    if current:
        batches.append(_window_batch(path, current, first, last, fixed_tokens, span_tokens, incident_tokens))
    return batches


def _window_batch(
    path: PurePosixPath,
    incidents: Sequence[Incident],
    first: int,
    last: int,
    fixed_tokens: int,
    span_tokens: Callable[[int, int], int],
    incident_tokens: IncidentTokens = _incident_tokens,
) -> Batch:
    tokens = fixed_tokens + PROMPT_OVERHEAD_TOKENS + span_tokens(first, last)
    tokens += sum(incident_tokens(i) for i in incidents)
    budget = output_budget(len(incidents), incident_units(incidents))
    return Batch(path, tuple(incidents), (first, last), tokens, budget)
