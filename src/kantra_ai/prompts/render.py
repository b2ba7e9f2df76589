"""Turns a planned batch into the text of a model request, from the Jinja2 templates."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import jinja2

from kantra_ai.analysis.model import Incident, Violation
from kantra_ai.edits.model import Edit, FailedEdit

_LANGUAGES = {
    ".java": "java",
    ".xml": "xml",
    ".xhtml": "xml",
    ".jsp": "jsp",
    ".properties": "properties",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".js": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".py": "python",
    ".go": "go",
    ".cs": "csharp",
    ".gradle": "groovy",
    ".kts": "kotlin",
    ".json": "json",
    ".sql": "sql",
}


def language_of(path: str | PurePosixPath) -> str:
    return _LANGUAGES.get(PurePosixPath(path).suffix.lower(), "")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("kantra_ai.prompts", "templates"),
        keep_trailing_newline=True,
        trim_blocks=False,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text, not HTML
    )


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def system_prompt(protocol: str) -> str:
    """The instructions shared by every request of a run, ending with the answer format's protocol."""
    return render("system.j2").rstrip() + "\n\n" + protocol.rstrip() + "\n"


def _rule_context(v: Violation) -> dict[str, Any]:
    return {
        "rule_id": v.rule_id,
        "category": v.category.value,
        "effort": v.effort,
        "description": v.description.strip(),
        "links": [{"url": link.url, "title": link.title} for link in v.links],
    }


def guidance_text(violations: Sequence[Violation]) -> str:
    """The rules section: shared by every request whose file hit the same rules (cacheable)."""
    if not violations:
        return ""
    return render("guidance.j2", rules=[_rule_context(v) for v in violations]).strip() + "\n"


def _incident_context(incidents: Sequence[Incident]) -> list[dict[str, Any]]:
    return [
        {"id": i.id, "line": i.line, "rule_id": i.violation.rule_id, "message": i.message.strip()}
        for i in incidents
    ]


def fix_prompt(
    path: str,
    content: str,
    incidents: Sequence[Incident],
    *,
    window: tuple[int, int] | None,
    total_lines: int,
) -> str:
    return render(
        "fix_request.j2",
        rules=[],
        path=path,
        window=window,
        total_lines=total_lines,
        language=language_of(path),
        content=content.rstrip("\n"),
        incidents=_incident_context(incidents),
    )


def _failure_context(failure: FailedEdit) -> dict[str, Any]:
    return {
        "incident_ids": list(failure.edit.incident_ids),
        "reason": failure.reason,
        "old_text": failure.edit.old_text,
        # "old text matches N places": each place; "not found": the closest lines. Numbered.
        "places": [{"line": p.line, "lines": list(p.lines)} for p in failure.places],
        "ambiguous": failure.reason.startswith("old text matches"),
    }


def retry_prompt(
    path: str,
    content: str,
    incidents: Sequence[Incident],
    failures: Sequence[FailedEdit],
    *,
    window: tuple[int, int] | None,
    total_lines: int,
    problem: str = "",
) -> str:
    """Asks again for the incidents whose edits failed (each failure named, with the places to look
    at) or whose reply could not be used (`problem`), showing the file as it is now."""
    return render(
        "retry_request.j2",
        problem=problem,
        failures=[_failure_context(f) for f in failures],
        path=path,
        window=window,
        total_lines=total_lines,
        language=language_of(path),
        content=content.rstrip("\n"),
        incidents=_incident_context(incidents),
    )


def repair_prompt(
    path: str,
    content: str,
    incidents: Sequence[Incident],
    *,
    edits: Sequence[Edit],
    problems: Sequence[str],
    other_problems: Sequence[str],
    command: str,
    window: tuple[int, int] | None,
    total_lines: int,
) -> str:
    """Asks to repair what the edits of a fix broke: the check's new diagnostics (not its log), the
    edits that were made, the file as it is now and the incidents the edits fixed."""
    return render(
        "repair_request.j2",
        problems=problems,
        other_problems=other_problems,
        edits=edits,
        command=command,
        path=path,
        window=window,
        total_lines=total_lines,
        language=language_of(path),
        content=content.rstrip("\n"),
        incidents=_incident_context(incidents),
    )
