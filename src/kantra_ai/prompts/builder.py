"""Assembles what a request says, from the built-in templates and the user's own.

The layout keeps what many requests share first, so providers can cache it:

1. `system`: instructions and the answer format; identical for every request of a run;
2. `guidance`: the rules involved, then the per-language notes (built-in `languages/*.j2`) or the
   user's template for this language / rule, followed by the answer format again whenever a user
   template was used, so that no custom text can change how the model must answer; shared by the
   requests of files in the same language that hit the same rules;
3. `prompt`: the file (or a window of it) and its incidents (`fix_request.j2`), never customised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import PurePosixPath
from typing import Any

from kantra_ai.analysis.model import Incident, Violation
from kantra_ai.engine.confidence import complexity_of
from kantra_ai.planning.batches import Batch
from kantra_ai.prompts.custom import CustomTemplates
from kantra_ai.prompts.render import fix_prompt, guidance_text, language_of, render, system_prompt
from kantra_ai.providers.base import ModelRequest

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


@cache
def _protocol(use_tools: bool) -> str:
    return render("protocol_tool.j2" if use_tools else "protocol_text.j2").strip()


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

    def __init__(self, use_tools: bool = True, custom: CustomTemplates | None = None) -> None:
        self.use_tools = use_tools
        self.custom = custom if custom is not None and not custom.empty else None

    def system(self) -> str:
        return system_prompt(self.use_tools)

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
            parts.append(_protocol(self.use_tools))  # always last: custom text cannot change it
        text = "\n\n".join(p.strip() for p in parts if p.strip())
        return text + "\n" if text else ""

    def check(self, batches: Iterable[Batch]) -> None:
        """Render the guidance of every planned request: a template that fails, fails here, before
        any request is sent (TemplateError)."""
        if self.custom is None:
            return
        for batch in batches:
            self.guidance(batch.path, batch.violations, batch.incidents)

    def first_request(self, batch: Batch, content: str, total_lines: int) -> ModelRequest:
        """The first request for a batch, as `engine.batch_runner` sends it; `content` is the file
        text (or the window of it) as read."""
        return ModelRequest(
            system=self.system(),
            guidance=self.guidance(batch.path, batch.violations, batch.incidents),
            prompt=fix_prompt(
                str(batch.path), content, batch.incidents, window=batch.window, total_lines=total_lines
            ),
            max_tokens=batch.max_output_tokens,
            use_tools=self.use_tools,
            cache_key=CACHE_KEY,
        )
