"""User prompt templates: per language and per rule pattern, from `.kantra-ai.yaml` `prompts`.

A user template writes the instructions a request carries for its file, in place of the built-in
per-language guidance. It is rendered with this context (the documented contract):

- `language`: the file's language, e.g. `java`, `pom`, `xml`, `properties`, `yaml`, `typescript`;
- `path`: the file's path relative to `--input`;
- `rules`: the rules involved, each `{rule_id, category, effort, complexity, description, labels,
  links: [{url, title}]}`;
- `incidents`: the incidents of the request, each `{id, line, rule_id, message}`;
- `incident_count`: how many incidents the request carries;
- `default_guidance`: the built-in guidance for the language ("" when there is none), to extend
  rather than replace it.

What a user template cannot do is break the answer: the tool always adds the file, the incident
list and, after the user's text, the answer format (tool call or SEARCH/REPLACE blocks).

Templates run in Jinja2's sandbox (a project's config file may come from a checkout you do not
control) with strict undefined variables. All of them are compiled and test-rendered when the
config is loaded, and rendered for every planned request before the first one is sent, so a broken
template is a one-line error before any request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from kantra_ai.analysis.model import Violation
from kantra_ai.errors import UserError

CONTEXT_VARIABLES = frozenset(
    {"language", "path", "rules", "incidents", "incident_count", "default_guidance"}
)
# Languages whose files fall back to another language's user template when they have none.
LANGUAGE_FALLBACK = {"pom": "xml"}

SAMPLE_CONTEXT: dict[str, Any] = {
    "language": "java",
    "path": "src/main/java/com/example/Example.java",
    "rules": [
        {
            "rule_id": "javax-to-jakarta-import-00001",
            "category": "mandatory",
            "effort": 1,
            "complexity": "trivial",
            "description": "The package 'javax' has been replaced by 'jakarta'.",
            "labels": ["konveyor.io/source=java-ee", "konveyor.io/target=jakarta-ee"],
            "links": [{"url": "https://jakarta.ee", "title": "Jakarta EE"}],
        }
    ],
    "incidents": [
        {"id": "0123456789ab", "line": 3, "rule_id": "javax-to-jakarta-import-00001", "message": "Replace"}
    ],
    "incident_count": 1,
    "default_guidance": "",
}


class TemplateError(UserError):
    """A user template that cannot be used: one line naming the config key and the file. A user
    error wherever it surfaces (loading, planning, the pre-flight render of every request)."""


@dataclass(frozen=True)
class CustomTemplate:
    key: str  # the config key that named it, e.g. "prompts.rule-templates[0].template"
    path: Path
    template: jinja2.Template = field(compare=False)

    def render(self, context: Mapping[str, Any]) -> str:
        try:
            return self.template.render(**context)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{self.key}: {self.path}: {_one_line(exc)}") from None
        except Exception as exc:  # a filter misused on a value, e.g. int + str
            raise TemplateError(f"{self.key}: {self.path}: {type(exc).__name__}: {_one_line(exc)}") from None


@dataclass(frozen=True)
class RuleTemplateRef:
    match: str
    template: CustomTemplate

    def matches(self, violations: Sequence[Violation]) -> bool:
        return any(
            fnmatchcase(v.rule_id, self.match) or any(fnmatchcase(label, self.match) for label in v.labels)
            for v in violations
        )


@dataclass(frozen=True)
class LanguagePair:
    single: CustomTemplate | None = None
    batch: CustomTemplate | None = None

    def pick(self, single: bool) -> CustomTemplate | None:
        """A one-incident request takes single-fix (else batch-fix); others take batch-fix."""
        return (self.single or self.batch) if single else self.batch


@dataclass(frozen=True)
class CustomTemplates:
    generic: LanguagePair = field(default_factory=LanguagePair)
    languages: Mapping[str, LanguagePair] = field(default_factory=dict)
    rules: tuple[RuleTemplateRef, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.rules or self.languages or self.generic.single or self.generic.batch)

    def choose(
        self, language: str, violations: Sequence[Violation], *, single: bool
    ) -> CustomTemplate | None:
        """The first rule template matching a rule (id or label) of the request, else the
        language's template, else the generic one; None: the built-in guidance applies."""
        for ref in self.rules:
            if ref.matches(violations):
                return ref.template
        for name in (language, LANGUAGE_FALLBACK.get(language)):
            pair = self.languages.get(name or "")
            chosen = pair.pick(single) if pair else None
            if chosen is not None:
                return chosen
        return self.generic.pick(single)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@lru_cache(maxsize=64)
def _environment(directory: str) -> jinja2.Environment:
    return ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def compile_template(key: str, path: Path) -> CustomTemplate:
    """Read, parse, check the variables of, and test-render one user template."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
        raise TemplateError(f"{key}: {path}: cannot read the template: {reason}") from None
    env = _environment(str(path.parent))
    try:
        tree = env.parse(source, name=path.name, filename=str(path))
        template = env.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{key}: {path}:{exc.lineno}: template syntax error: {exc.message}") from None
    unknown = sorted(meta.find_undeclared_variables(tree) - CONTEXT_VARIABLES - set(env.globals))
    if unknown:
        raise TemplateError(
            f"{key}: {path}: undefined variable {unknown[0]!r}; "
            f"available: {', '.join(sorted(CONTEXT_VARIABLES))}"
        )
    compiled = CustomTemplate(key, path, template)
    compiled.render(SAMPLE_CONTEXT)
    return compiled
