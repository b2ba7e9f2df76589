"""The rule book: every rule of a run, numbered once, with what its incidents have in common.

Requests used to repeat each rule's id, description and message for every incident. The rule book
says them once, in the run-wide prefix that every request shares (and the provider caches): rules
are numbered R1, R2, ... and a request names an incident's rule by that number. A message that
several incidents of a rule share is written once, with the rule; an incident whose message is the
shared one is listed without it. The built-in notes of every language in the run follow the rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from kantra_ai.analysis.model import Incident, Violation
from kantra_ai.prompts.render import language_of, render

# Languages with built-in notes in prompts/templates/languages/.
BUILTIN_LANGUAGES = frozenset(
    {"java", "xml", "pom", "properties", "yaml", "javascript", "typescript", "python", "go", "csharp"}
)


def template_language(path: str | PurePosixPath) -> str:
    """The language that picks a file's notes and templates: its file type, Maven POMs on their own."""
    name = PurePosixPath(path).name.lower()
    if name == "pom.xml" or name.endswith(".pom"):
        return "pom"
    return language_of(path)


def language_notes(language: str) -> str:
    """The built-in notes for a language; "" for languages without any."""
    if language not in BUILTIN_LANGUAGES:
        return ""
    return _notes(language)


_NOTES: dict[str, str] = {}


def _notes(language: str) -> str:
    if language not in _NOTES:
        _NOTES[language] = render(f"languages/{language}.j2").strip()
    return _NOTES[language]


@dataclass(frozen=True)
class RuleBook:
    violations: tuple[Violation, ...]  # in R-number order
    numbers: Mapping[str, int]  # violation key -> its R number
    shared_messages: Mapping[str, str]  # violation key -> the message several incidents share
    languages: tuple[str, ...]  # whose built-in notes the book carries

    @classmethod
    def of(cls, incidents: Iterable[Incident], *, notes: bool = True) -> RuleBook:
        """The book of these incidents' rules; `notes`: with the built-in notes of their languages."""
        by_key: dict[str, Violation] = {}
        messages: dict[str, Counter[str]] = {}
        languages: set[str] = set()
        for incident in incidents:
            key = incident.violation.key
            by_key.setdefault(key, incident.violation)
            messages.setdefault(key, Counter())[incident.message.strip()] += 1
            if notes and incident.path is not None:
                languages.add(template_language(incident.path))
        keys = sorted(by_key)
        shared = {}
        for key in keys:
            message, count = messages[key].most_common(1)[0]
            if count >= 2 and message:
                shared[key] = message
        return cls(
            tuple(by_key[k] for k in keys),
            {k: n for n, k in enumerate(keys, 1)},
            shared,
            tuple(sorted(language for language in languages if language in BUILTIN_LANGUAGES)),
        )

    def number(self, violation: Violation) -> int:
        return self.numbers[violation.key]

    def message_of(self, incident: Incident) -> str:
        """What the request says about the incident: its message, or "" when it is the rule's."""
        message = incident.message.strip()
        return "" if self.shared_messages.get(incident.violation.key) == message else message

    def text(self, extra_languages: Sequence[str] = ()) -> str:
        """The book as the model reads it: the rules, then the notes of the run's languages."""
        if not self.violations:
            return ""
        rules: list[dict[str, Any]] = [
            {
                "number": self.numbers[v.key],
                "rule_id": v.rule_id,
                "category": v.category.value,
                "effort": v.effort,
                "description": " ".join(v.description.split()),
                "message": self.shared_messages.get(v.key, ""),
                "links": [{"url": link.url, "title": link.title} for link in v.links],
            }
            for v in self.violations
        ]
        parts = [render("guidance.j2", rules=rules).strip()]
        for language in dict.fromkeys([*self.languages, *extra_languages]):
            notes = language_notes(language)
            if notes:
                parts.append(notes)
        return "\n\n".join(parts) + "\n"
