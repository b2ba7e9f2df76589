"""Turns a planned batch into the text of a model request, from the Jinja2 templates."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import jinja2

from kantra_ai.edits.model import FailedEdit

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


def continuation_section(arrived: Mapping[str, Any] | str) -> str:
    """What follows a request's prompt to have a reply cut off at max_tokens continued: what arrived
    whole (a tool call's items as JSON, or a text answer's blocks as written) and the request for
    the rest."""
    if isinstance(arrived, str):
        return render("continuation_text.j2", arrived=arrived).rstrip("\n")
    return render("continuation.j2", arrived=json.dumps(arrived, ensure_ascii=False)).rstrip("\n")


def fix_prompt(
    path: str,
    content: str,
    incidents: Sequence[Mapping[str, Any]],
    *,
    window: tuple[int, int] | None,
    total_lines: int,
) -> str:
    """The file (or window) and its incidents; each incident a mapping with `handle`, `line`,
    `rule` (its number in the rule book) and `message` ("" when its rule's message applies)."""
    return render(
        "fix_request.j2",
        path=path,
        window=window,
        total_lines=total_lines,
        language=language_of(path),
        content=content.rstrip("\n"),
        incidents=incidents,
    )


def failure_context(failure: FailedEdit, handles: Sequence[str]) -> dict[str, Any]:
    """A failed edit as the retry names it: `handles` are the numbers of its incidents."""
    return {
        "handles": list(handles),
        "reason": failure.reason,
        "old_text": failure.edit.old_text,
        # "old text matches N places": each place; "not found": the closest lines. Numbered.
        "places": [{"line": p.line, "lines": list(p.lines)} for p in failure.places],
        "ambiguous": failure.reason.startswith("old text matches"),
    }


def retry_prompt(
    path: str,
    content: str,
    incidents: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]],
    *,
    window: tuple[int, int] | None,
    total_lines: int,
    problem: str = "",
    unanswered: bool = False,
) -> str:
    """Asks again for the incidents whose edits failed (each failure named by the numbers of its
    incidents, with the places to look at; see `failure_context`), whose reply could not be used
    (`problem`) or that the last reply said nothing about (`unanswered`), showing the file as it is
    now."""
    return render(
        "retry_request.j2",
        problem=problem,
        unanswered=unanswered,
        failures=failures,
        path=path,
        window=window,
        total_lines=total_lines,
        language=language_of(path),
        content=content.rstrip("\n"),
        incidents=incidents,
    )


def repair_prompt(
    path: str,
    content: str,
    incidents: Sequence[Mapping[str, Any]],
    *,
    edits: Sequence[Mapping[str, Any]],
    problems: Sequence[str],
    other_problems: Sequence[str],
    command: str,
    window: tuple[int, int] | None,
    total_lines: int,
) -> str:
    """Asks to repair what the edits of a fix broke: the check's new diagnostics (not its log), the
    edits that were made (each a mapping with `handles`, `old_text` and `new_text`), the file as it
    is now and the incidents the edits fixed (mappings as for `fix_prompt`)."""
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
        incidents=incidents,
    )
