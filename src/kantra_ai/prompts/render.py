"""Turns a planned batch into the text of a model request, from the Jinja2 templates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import jinja2

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


def retry_prompt(
    path: str,
    content: str,
    incidents: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]],
    *,
    window: tuple[int, int] | None,
    total_lines: int,
) -> str:
    """Asks again for the incidents whose edits failed, showing the file as it is now; each failure a
    mapping with `handles`, `reason`, `old_text` and `closest`."""
    return render(
        "retry_request.j2",
        failures=failures,
        path=path,
        window=window,
        total_lines=total_lines,
        language=language_of(path),
        content=content.rstrip("\n"),
        incidents=incidents,
    )
