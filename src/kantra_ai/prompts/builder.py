"""The one place that assembles requests, from the built-in templates, the user's own and the edit format.

The layout keeps what many requests share first, so providers can cache it:

1. `system`: instructions and the edit format's protocol; identical for every request of a run;
2. `guidance`: the rules involved, then the per-language notes (built-in `languages/*.j2`) or the
   user's template for this language / rule, followed by the protocol again whenever a user
   template was used, so that no custom text can change how the model must answer; shared by the
   requests of files in the same language that hit the same rules;
3. `prompt`: the file (or a window of it) and its incidents (`fix_request.j2`), or after failed
   edits the retry (`retry_request.j2`), or after a fix broke the build the repair
   (`repair_request.j2`: the new diagnostics, the edits made, the file); never customised.

The engine sends what `request` builds and `kantra-ai prompt` shows what `first_request` builds:
one builder, so what is shown is what is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import PurePosixPath
from typing import Any

from kantra_ai.analysis.complexity import complexity_of
from kantra_ai.analysis.model import Incident, Violation
from kantra_ai.batching.batches import Batch
from kantra_ai.edits.apply import plan_region
from kantra_ai.edits.model import Edit, FailedEdit
from kantra_ai.formats import TOOL_CALL, EditFormat
from kantra_ai.prompts.custom import CustomTemplates
from kantra_ai.prompts.render import (
    fix_prompt,
    guidance_text,
    language_of,
    render,
    repair_prompt,
    retry_prompt,
    system_prompt,
)
from kantra_ai.providers.base import ModelRequest
from kantra_ai.tokens import estimate_tokens

CACHE_KEY = "kantra-ai-fix"
# Languages with built-in guidance in prompts/templates/languages/.
BUILTIN_LANGUAGES = frozenset(
    {"java", "xml", "pom", "properties", "yaml", "javascript", "typescript", "python", "go", "csharp"}
)


def template_language(path: str | PurePosixPath) -> str:
    """The language that picks a file's templates: its file type, with Maven POMs on their own."""
    name = PurePosixPath(path).name.lower()
    if name == "pom.xml" or name.endswith(".pom"):
        return "pom"
    return language_of(path)


@cache
def language_guidance(language: str) -> str:
    """The built-in notes for a language; "" for languages without any."""
    if language not in BUILTIN_LANGUAGES:
        return ""
    return render(f"languages/{language}.j2").strip()


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


class PromptBuilder:
    """The text of every request of a run; user templates must have been loaded (and so checked)."""

    def __init__(self, edit_format: EditFormat = TOOL_CALL, custom: CustomTemplates | None = None) -> None:
        self.format = edit_format
        self.custom = custom if custom is not None and not custom.empty else None

    def system(self) -> str:
        return _system(self.format.protocol)

    def system_tokens(self) -> int:
        """Estimated input tokens of what every request starts with: instructions and tool definition."""
        return estimate_tokens(self.system()) + self.format.overhead_tokens

    def guidance(
        self, path: str | PurePosixPath, violations: Sequence[Violation], incidents: Sequence[Incident]
    ) -> str:
        language = template_language(path)
        default = language_guidance(language)
        parts = [guidance_text(violations)]
        chosen = self.custom.choose(language, violations, single=len(incidents) == 1) if self.custom else None
        if chosen is None:
            parts.append(default)
        else:
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
            parts.append(chosen.render(context))
            parts.append(self.format.protocol)  # always last: custom text cannot change it
        text = "\n\n".join(p.strip() for p in parts if p.strip())
        return text + "\n" if text else ""

    def check(self, batches: Iterable[Batch]) -> None:
        """Render the guidance of every planned request: a template that fails, fails here, before
        any request is sent (TemplateError)."""
        if self.custom is None:
            return
        for batch in batches:
            self.guidance(batch.path, batch.violations, batch.incidents)

    def request(
        self,
        batch: Batch,
        content: str,
        *,
        total_lines: int,
        pending: Sequence[Incident] | None = None,
        failures: Sequence[FailedEdit] = (),
        problem: str = "",
        max_tokens: int | None = None,
    ) -> ModelRequest:
        """A request for `batch`: `content` is what the model is shown (the file or its window, as it
        is now; `batch.window` numbers its lines); with `failures` (edits that did not apply) or a
        `problem` (the last reply could not be used), the retry for the `pending` incidents."""
        incidents = batch.incidents if pending is None else pending
        path = str(batch.path)
        if failures or problem:
            prompt = retry_prompt(
                path,
                content,
                incidents,
                failures,
                window=batch.window,
                total_lines=total_lines,
                problem=problem,
            )
        else:
            prompt = fix_prompt(path, content, incidents, window=batch.window, total_lines=total_lines)
        return ModelRequest(
            system=self.system(),
            guidance=self.guidance(batch.path, batch.violations, batch.incidents),
            prompt=prompt,
            max_tokens=batch.max_output_tokens if max_tokens is None else max_tokens,
            tool=self.format.tool,
            cache_key=CACHE_KEY,
        )

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
        prompt = repair_prompt(
            str(batch.path),
            content,
            batch.incidents,
            edits=edits,
            problems=problems,
            other_problems=other_problems,
            command=command,
            window=batch.window,
            total_lines=total_lines,
        )
        return ModelRequest(
            system=self.system(),
            guidance=self.guidance(batch.path, batch.violations, batch.incidents),
            prompt=prompt,
            max_tokens=batch.max_output_tokens,
            tool=self.format.tool,
            cache_key=CACHE_KEY,
        )

    def first_request(self, batch: Batch, text: str) -> ModelRequest:
        """The first request for a batch, given the file's text as read."""
        region = visible_region(text, batch)
        content = text if region is None else text[region[0] : region[1]]
        return self.request(batch, content, total_lines=line_count(text))
