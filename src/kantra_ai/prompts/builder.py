"""The one place that assembles requests, from the built-in templates, the user's own and the edit format.

The layout keeps what requests share first, so providers can cache it:

1. `system`: instructions and the edit format's protocol; identical for every request of a run;
2. `guidance`: the run's rule book (`rulebook.py`: every rule of the run, numbered, with the
   messages its incidents share, then the built-in notes of the run's languages), identical for
   every request of a run once the builder is bound to the run (`with_rules`). When system and book
   together are shorter than the model's cache minimum, worked examples of the answer format are
   added until they pass it: a prefix under the minimum is billed in full on every request, one
   over it is written once and then read at a tenth of the price;
3. `prompt`: the user's template for this request, if one applies, followed by the protocol again
   (so that no custom text can change how the model must answer); then the file (or a window of
   it) and its incidents (`fix_request.j2`), or after failed edits or an unusable reply the retry
   (`retry_request.j2`), or after a fix broke the build the repair (`repair_request.j2`: the new
   diagnostics, the edits made, then the file and its incidents as in a fix request).

Incidents are numbered within their batch (#1, #2, ...) and replies name them by those numbers;
`parse` turns the numbers back into incident ids.

The engine sends what `request` builds and `kantra-ai prompt` shows what `first_request` builds:
one builder, so what is shown is what is sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath
from typing import Any

from kantra_ai.analysis.complexity import complexity_of
from kantra_ai.analysis.model import Incident, Violation
from kantra_ai.batching.batches import MAX_OUTPUT_TOKENS, Batch
from kantra_ai.edits.apply import plan_region
from kantra_ai.edits.model import Edit, FailedEdit
from kantra_ai.edits.parse import ParsedReply
from kantra_ai.formats import TOOL_CALL, EditFormat
from kantra_ai.prompts.custom import CustomTemplates
from kantra_ai.prompts.render import (
    continuation_section,
    failure_context,
    fix_prompt,
    repair_prompt,
    retry_prompt,
    system_prompt,
)
from kantra_ai.prompts.rulebook import (
    BUILTIN_LANGUAGES,
    RuleBook,
    language_notes,
    template_language,
)
from kantra_ai.providers.base import ModelRequest, ModelResponse
from kantra_ai.tokens import estimate_tokens

CACHE_KEY = "kantra-ai-fix"
# The shared prefix is lengthened to this multiple of the model's cache minimum (as estimated and
# calibrated): a prefix that falls short of the minimum by one token is not cached at all.
CACHE_MINIMUM_MARGIN = 1.3

__all__ = [
    "BUILTIN_LANGUAGES",
    "CACHE_KEY",
    "PackPart",
    "PromptBuilder",
    "language_guidance",
    "line_count",
    "template_language",
    "visible_region",
]


def language_guidance(language: str) -> str:
    """The built-in notes for a language; "" for languages without any."""
    return language_notes(language)


def line_count(text: str) -> int:
    """Lines of `text` as the prompt numbers them (a final line without newline counts)."""
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def visible_region(text: str, batch: Batch) -> tuple[int, int] | None:
    """The character span of `text` the batch's request shows: its window, or None for the whole file."""
    return None if batch.window is None else plan_region(text, *batch.window)


@cache
def _system(protocol: str) -> str:
    return system_prompt(protocol)


def _rule(v: Violation) -> dict[str, Any]:
    return {
        "rule_id": v.rule_id,
        "category": v.category.value,
        "effort": v.effort,
        "complexity": complexity_of(v).value,
        "description": v.description.strip(),
        "labels": list(v.labels),
        "links": [{"url": link.url, "title": link.title} for link in v.links],
    }


@dataclass(frozen=True)
class PackPart:
    """One file of a packed request: its batch, what the model is shown (the file as it is now),
    its line count and the incidents still to fix."""

    batch: Batch
    content: str
    total_lines: int
    pending: Sequence[Incident]


class PromptBuilder:
    """The text of every request of a run; user templates must have been loaded (and so checked).

    `full_verdicts`: ask for a verdict with confidence for every incident (confidence filtering);
    otherwise replies are terse (an edited incident is fixed; verdicts only for the others).
    """

    def __init__(
        self,
        edit_format: EditFormat = TOOL_CALL,
        custom: CustomTemplates | None = None,
        *,
        full_verdicts: bool = False,
        rules: RuleBook | None = None,
        padding: str = "",
    ) -> None:
        self.format = edit_format
        self.custom = custom if custom is not None and not custom.empty else None
        self.full_verdicts = full_verdicts
        self.rules = rules  # None: each request carries a book of its own rules
        self.padding = padding  # worked examples lengthening the shared prefix to the cache minimum

    # -- the run-wide prefix -----------------------------------------------------------------------

    def with_rules(
        self, incidents: Iterable[Incident], *, cache_minimum: int | None = None, token_ratio: float = 1.0
    ) -> PromptBuilder:
        """This builder bound to a run: one rule book for all its incidents, and, given the model's
        cache minimum, padded so that the shared prefix passes it. `token_ratio` is the calibrated
        ratio of real to estimated tokens (`engine/calibration.py`)."""
        incidents = list(incidents)
        book = RuleBook.of(incidents, notes=self.custom is None)
        bound = PromptBuilder(self.format, self.custom, full_verdicts=self.full_verdicts, rules=book)
        files = {i.path for i in incidents}
        if cache_minimum and len(files) > 1:  # one request alone gains nothing from the cache
            bound.padding = bound._padding_for(cache_minimum * CACHE_MINIMUM_MARGIN, token_ratio)
        return bound

    def _padding_for(self, target: float, token_ratio: float) -> str:
        assert self.rules is not None
        have = (self.system_tokens() + estimate_tokens(self.rules.text())) * token_ratio
        if have >= target:
            return ""
        parts = [self.format.example]
        missing = [lang for lang in sorted(BUILTIN_LANGUAGES) if lang not in self.rules.languages]
        for language in missing:  # notes for languages the run has not got: harmless, still short
            if (have + estimate_tokens("\n\n".join(parts)) * token_ratio) >= target:
                break
            parts.append(language_notes(language))
        return "\n\n".join(parts) + "\n"

    def system(self) -> str:
        return _system(self.format.protocol_for(full_verdicts=self.full_verdicts))

    def system_tokens(self) -> int:
        """Estimated input tokens of what every request starts with: instructions and tool definition."""
        return estimate_tokens(self.system()) + self.format.overhead_tokens

    def shared_tokens(self) -> int:
        """Estimated tokens every request of a bound builder starts with: instructions, tool
        definition, rule book and padding (the cacheable prefix); unbound, the instructions alone."""
        shared = self.shared_guidance("", []) if self.rules is not None else ""
        return self.system_tokens() + estimate_tokens(shared)

    def incident_tokens(self, incident: Incident) -> int:
        """Estimated tokens of the incident's line in a request: "#3 line 12 R2: its message"
        (no message when the rule book carries it)."""
        book = self.rules if self.rules is not None else RuleBook.of([incident], notes=False)
        return estimate_tokens(book.message_of(incident)) + 8

    def book(self, incidents: Sequence[Incident]) -> RuleBook:
        return self.rules if self.rules is not None else RuleBook.of(incidents, notes=self.custom is None)

    def shared_guidance(self, path: str | PurePosixPath, incidents: Sequence[Incident]) -> str:
        """The rule book (and padding): the same for every request of a bound builder; unbound, the
        book of these incidents with the notes for the file's language."""
        if self.rules is not None:
            text = self.rules.text()
        else:
            notes = [template_language(path)] if self.custom is None else []
            text = RuleBook.of(incidents, notes=False).text(extra_languages=notes)
        if self.padding:
            text = f"{text}\n{self.padding}" if text else self.padding
        return text

    def request_notes(
        self, path: str | PurePosixPath, violations: Sequence[Violation], incidents: Sequence[Incident]
    ) -> str:
        """What only this request carries before its file: the user's template for it followed by
        the protocol, or (with user templates loaded, whose runs keep notes out of the shared book)
        the built-in notes for its language; "" otherwise."""
        if self.custom is None:
            return ""
        language = template_language(path)
        default = language_guidance(language)
        chosen = self.custom.choose(language, violations, single=len(incidents) == 1)
        if chosen is None:
            return default + "\n" if default else ""
        context = {
            "language": language,
            "path": str(path),
            "rules": [_rule(v) for v in violations],
            "incidents": [
                {"id": i.id, "line": i.line, "rule_id": i.violation.rule_id, "message": i.message.strip()}
                for i in incidents
            ],
            "incident_count": len(incidents),
            "default_guidance": default,
        }
        parts = [chosen.render(context), self.format.protocol_for(full_verdicts=self.full_verdicts)]
        return "\n\n".join(p.strip() for p in parts if p.strip()) + "\n"

    def guidance(
        self, path: str | PurePosixPath, violations: Sequence[Violation], incidents: Sequence[Incident]
    ) -> str:
        """Everything a request for these incidents carries between the system prompt and the file."""
        parts = [self.shared_guidance(path, incidents), self.request_notes(path, violations, incidents)]
        text = "\n\n".join(p.strip() for p in parts if p.strip())
        return text + "\n" if text else ""

    def check(self, batches: Iterable[Batch]) -> None:
        """Render the user templates of every planned request: a template that fails, fails here,
        before any request is sent (TemplateError)."""
        if self.custom is None:
            return
        for batch in batches:
            self.request_notes(batch.path, batch.violations, batch.incidents)

    # -- one request -------------------------------------------------------------------------------

    @staticmethod
    def handles(batch: Batch, incidents: Sequence[Incident] | None = None) -> dict[str, str]:
        """{number shown: incident id} for `incidents` (default: the whole batch). Numbers are
        positions in the batch, so a retry names an incident as its first request did."""
        position = {incident.id: n for n, incident in enumerate(batch.incidents, batch.handle_offset + 1)}
        chosen = batch.incidents if incidents is None else incidents
        return {str(position[i.id]): i.id for i in chosen}

    def _incidents(self, batch: Batch, incidents: Sequence[Incident]) -> list[dict[str, Any]]:
        book = self.book(batch.incidents)
        numbers = {incident_id: handle for handle, incident_id in self.handles(batch, incidents).items()}
        return [
            {
                "handle": numbers[i.id],
                "line": i.line,
                "rule": book.number(i.violation),
                "message": book.message_of(i),
            }
            for i in incidents
        ]

    def request(
        self,
        batch: Batch,
        content: str,
        *,
        total_lines: int,
        pending: Sequence[Incident] | None = None,
        failures: Sequence[FailedEdit] = (),
        problem: str = "",
        unanswered: bool = False,
        max_tokens: int | None = None,
    ) -> ModelRequest:
        """A request for `batch`: `content` is what the model is shown (the file or its window, as it
        is now; `batch.window` numbers its lines); with `failures` (edits that did not apply), a
        `problem` (the last reply could not be used) or `unanswered` (it said nothing about some of
        the `pending` incidents), the retry for them."""
        incidents = batch.incidents if pending is None else pending
        path = str(batch.path)
        listed = self._incidents(batch, incidents)
        if failures or problem or unanswered:
            numbers = {incident_id: handle for handle, incident_id in self.handles(batch).items()}
            failed = [
                failure_context(f, [numbers[i] for i in f.edit.incident_ids if i in numbers])
                for f in failures
            ]
            body = retry_prompt(
                path,
                content,
                listed,
                failed,
                window=batch.window,
                total_lines=total_lines,
                problem=problem,
                unanswered=unanswered,
            )
        else:
            body = fix_prompt(path, content, listed, window=batch.window, total_lines=total_lines)
        notes = self.request_notes(batch.path, batch.violations, batch.incidents)
        return ModelRequest(
            system=self.system(),
            guidance=self.shared_guidance(batch.path, batch.incidents),
            prompt=f"{notes}\n{body}" if notes else body,
            max_tokens=batch.max_output_tokens if max_tokens is None else max_tokens,
            tool=self.format.tool,
            cache_key=CACHE_KEY,
        )

    @staticmethod
    def continuation(
        request: ModelRequest, arrived: Mapping[str, Any] | str, max_tokens: int
    ) -> ModelRequest:
        """`request` again, with what arrived of its cut-off reply, asking for the rest only."""
        return dataclasses.replace(
            request, prompt=request.prompt + continuation_section(arrived), max_tokens=max_tokens, events=None
        )

    # -- several small files in one request (batching/packing.py) ---------------------------------

    @property
    def can_pack(self) -> bool:
        """Packed requests need what every request shares to be the run's: a bound rule book and no
        user templates (those add text of their own to each file's request)."""
        return self.rules is not None and self.custom is None

    @staticmethod
    def pack_offsets(batches: Sequence[Batch]) -> list[int]:
        """Where each file's incident numbers start in a pack: they run across the pack, in file
        order, and a file keeps them for its retries alone (`Batch.handle_offset`)."""
        offsets = []
        total = 0
        for batch in batches:
            offsets.append(total)
            total += len(batch.incidents)
        return offsets

    def pack_request(self, parts: Sequence[PackPart], *, max_tokens: int) -> ModelRequest:
        """One request for several files: each as a fix request would show it (`fix_request.j2`),
        one after the other, the incidents still to fix numbered by their batch's `handle_offset`."""
        assert self.can_pack and parts
        bodies = []
        for part in parts:
            listed = self._incidents(part.batch, part.pending)
            path = str(part.batch.path)
            bodies.append(
                fix_prompt(path, part.content, listed, window=part.batch.window, total_lines=part.total_lines)
            )
        return ModelRequest(
            system=self.system(),
            guidance=self.shared_guidance(parts[0].batch.path, parts[0].batch.incidents),
            prompt="\n".join(bodies),
            max_tokens=max_tokens,
            tool=self.format.tool,
            cache_key=CACHE_KEY,
        )

    def parse_pack(self, response: ModelResponse, parts: Sequence[PackPart]) -> ParsedReply:
        """The reply to a packed request, in incident ids (MalformedReply when it is not in the format
        asked for); which file each edit is for is the engine's to sort out (`engine/packed.py`)."""
        handles: dict[str, str] = {}
        for part in parts:
            handles.update(self.handles(part.batch, part.pending))
        return self.format.parse(response, handles, full_verdicts=self.full_verdicts)

    def repair_request(
        self,
        batch: Batch,
        content: str,
        *,
        total_lines: int,
        edits: Sequence[Edit],
        problems: Sequence[str],
        other_problems: Sequence[str] = (),
        command: str,
    ) -> ModelRequest:
        """A request to repair `batch.path` (its incidents: those the edits fixed) after a check
        failed: the same system and guidance as its fixes (cached), the diagnostics, the edits."""
        numbers = {incident_id: handle for handle, incident_id in self.handles(batch).items()}
        made = [
            {
                "handles": [numbers[i] for i in e.incident_ids if i in numbers],
                "old_text": e.old_text,
                "new_text": e.new_text,
            }
            for e in edits
        ]
        body = repair_prompt(
            str(batch.path),
            content,
            self._incidents(batch, batch.incidents),
            edits=made,
            problems=problems,
            other_problems=other_problems,
            command=command,
            window=batch.window,
            total_lines=total_lines,
        )
        notes = self.request_notes(batch.path, batch.violations, batch.incidents)
        return ModelRequest(
            system=self.system(),
            guidance=self.shared_guidance(batch.path, batch.incidents),
            prompt=f"{notes}\n{body}" if notes else body,
            max_tokens=batch.max_output_tokens,
            tool=self.format.tool,
            cache_key=CACHE_KEY,
        )

    def first_request(self, batch: Batch, text: str) -> ModelRequest:
        """The first request for a batch, given the file's text as read."""
        region = visible_region(text, batch)
        content = text if region is None else text[region[0] : region[1]]
        return self.request(batch, content, total_lines=line_count(text))

    def first_pack_request(self, batches: Sequence[Batch], texts: Sequence[str]) -> ModelRequest:
        """The first request for a pack of whole files (each batch numbered from its `handle_offset`,
        `pack_offsets`), given each file's text as read: room for every file's static budget."""
        parts = [
            PackPart(batch, text, line_count(text), batch.incidents)
            for batch, text in zip(batches, texts, strict=True)
        ]
        room = min(sum(batch.max_output_tokens for batch in batches), MAX_OUTPUT_TOKENS)
        return self.pack_request(parts, max_tokens=room)

    def parse(self, response: ModelResponse, batch: Batch, pending: Sequence[Incident]) -> ParsedReply:
        """The reply to a request for `pending` incidents of `batch`, in incident ids (MalformedReply
        when it is not in the format asked for)."""
        return self.format.parse(response, self.handles(batch, pending), full_verdicts=self.full_verdicts)

    def replace(self, **changes: Any) -> PromptBuilder:
        """A copy with some settings changed (`full_verdicts`, `padding`, ...)."""
        copy = PromptBuilder(
            self.format, self.custom, full_verdicts=self.full_verdicts, rules=self.rules, padding=self.padding
        )
        for name, value in changes.items():
            setattr(copy, name, value)
        return copy
