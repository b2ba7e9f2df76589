"""The rule book: every rule of a run, numbered once, with what its incidents have in common.

Requests used to repeat each rule's id, description and message for every incident. The rule book
says them once, in the run-wide prefix that every request shares (and the provider caches): rules
are numbered R1, R2, ... and a request names an incident's rule by that number. A message that
several incidents of a rule share is written once, with the rule; an incident whose message is the
shared one is listed without it. When a rule's messages differ only in their quoted names (`javax.ejb`
here, `javax.inject` there: most analyzer messages are such templates), and that is shorter, the book
gives the message once with `$1`, `$2`, ... where the names go, and each incident is listed with its
names alone. The built-in notes of every language in the run follow the rules.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from kantra_ai.analysis.model import QUOTED_NAME, Incident, Violation, quoted_names
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


_SLOT = re.compile(r"\$(\d+)")
_NAMES_ONLY = re.compile(r"`[^`\n]+`(?: `[^`\n]+`)*")


def message_pattern(message: str) -> tuple[str, tuple[str, ...]] | None:
    """The message with its quoted names as slots (`$1`, `$2`, ...) and the names; None when it
    quotes nothing, or could not be told apart from its pattern (it contains a `$` already)."""
    names = quoted_names(message)
    if not names or "$" in message:
        return None
    slots = iter(range(1, len(names) + 1))
    return QUOTED_NAME.sub(lambda _: f"`${next(slots)}`", message), names


def fill_pattern(pattern: str, names: Sequence[str]) -> str:
    """The message a pattern and an incident's names stand for (the inverse of `message_pattern`)."""
    return _SLOT.sub(
        lambda m: names[int(m.group(1)) - 1] if int(m.group(1)) <= len(names) else m.group(0), pattern
    )


def _names(names: Sequence[str]) -> str:
    """An incident's names as its request lists them."""
    return " ".join(f"`{name}`" for name in names)


def _pattern_for(messages: Counter[str]) -> str | None:
    """The pattern of a rule's messages when listing names is shorter than listing the messages the
    shared one does not cover (estimated in characters: both sides are the same kind of text)."""
    patterns: Counter[str] = Counter()
    for message, count in messages.items():
        found = message_pattern(message)
        if found is not None:
            patterns[found[0]] += count
    if not patterns:
        return None
    pattern, covered = patterns.most_common(1)[0]
    if covered < 2:
        return None
    for message in messages:
        found = message_pattern(message)
        if found is not None and found[0] != pattern and _NAMES_ONLY.fullmatch(message):
            return None  # listed in full, it would read as names filling the pattern
    shared, shared_count = messages.most_common(1)[0]
    as_messages = sum(len(m) * n for m, n in messages.items() if not (m == shared and shared_count >= 2))
    as_names = 0
    for message, count in messages.items():
        found = message_pattern(message)
        as_names += count * (len(_names(found[1])) if found and found[0] == pattern else len(message))
    return pattern if as_names < as_messages else None


@dataclass(frozen=True)
class RuleBook:
    violations: tuple[Violation, ...]  # in R-number order
    numbers: Mapping[str, int]  # violation key -> its R number
    shared_messages: Mapping[str, str]  # violation key -> the message several incidents share
    languages: tuple[str, ...]  # whose built-in notes the book carries
    patterns: Mapping[str, str] = field(default_factory=dict)  # violation key -> its message pattern

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
        patterns = {}
        for key in keys:
            pattern = _pattern_for(messages[key])
            message, count = messages[key].most_common(1)[0]
            if pattern is not None:
                patterns[key] = pattern
            elif count >= 2 and message:
                shared[key] = message
        return cls(
            tuple(by_key[k] for k in keys),
            {k: n for n, k in enumerate(keys, 1)},
            shared,
            tuple(sorted(language for language in languages if language in BUILTIN_LANGUAGES)),
            patterns,
        )

    def number(self, violation: Violation) -> int:
        return self.numbers[violation.key]

    def message_of(self, incident: Incident) -> str:
        """What the request says about the incident: its message, "" when it is the rule's, or the
        names that fill the rule's message pattern."""
        message = incident.message.strip()
        pattern = self.patterns.get(incident.violation.key)
        if pattern is not None:
            found = message_pattern(message)
            return _names(found[1]) if found is not None and found[0] == pattern else message
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
                "message": self.patterns.get(v.key) or self.shared_messages.get(v.key, ""),
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
