"""Every generation of the analyzer's output schema, read into one raw shape.

Three generations are accepted, in one pass over the parsed document:

* current (analyzer-lsp / kantra): a list of rulesets, each with `violations` and `insights`
  mappings (rule id -> violation), `errors` (rule id -> text), `unmatched`, `skipped`;
* older: the same list, but informational rules sit under `violations` without `effort`;
* the predecessor's simplified format: a mapping (or list of mappings) whose `violations` is a
  *list* of `{id, description | rule.message, category, effort, ruleSet, rule, incidents}`.

A violation is informational when it comes from `insights`, or has no effort, or effort 0 (the
Konveyor Hub applies the same 0-is-insight rule when it converts analyses).

Shape errors raise `SchemaError` naming the offending field; the loader adds the file name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kantra_ai import bounds
from kantra_ai.analysis.model import NO_VARIABLES, Category, Link, Violation
from kantra_ai.bounds import Bound


class SchemaError(ValueError):
    """The document is not a Konveyor analysis; the message names the field.

    `key` and `value` name the offending scalar when there is one, so that the loader can point
    at its line in the file."""

    def __init__(self, message: str, *, key: str = "", value: object = None) -> None:
        super().__init__(message)
        self.key = key
        self.value = value


@dataclass(frozen=True, slots=True)
class RawIncident:
    uri: str
    message: str
    code_snip: str
    line: int | None
    variables: Mapping[str, object]
    dependency: bool  # the analyzer's isDependencyIncident flag


@dataclass
class RawViolation:
    violation: Violation
    incidents: list[RawIncident] = field(default_factory=list)


@dataclass
class RawAnalysis:
    rulesets: int
    violations: list[RawViolation]
    errors: dict[str, str]


def _describe(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _text(value: object, where: str) -> str:
    """A string field. YAML turns unquoted `42` or `true` into numbers and booleans; those are
    still meant as text, so scalars are accepted and converted."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    raise SchemaError(f"{where}: expected text, got {_describe(value)}")


def _uri(value: object, where: str) -> str:
    """An incident's URI: text, or nothing (a tag-only finding). Unlike other text a number is
    refused: YAML reads `uri: 123` as one, and no analyzer writes it; taken as the relative path
    "123" it would be reported as a missing file instead of a broken analysis."""
    if value is None or isinstance(value, str):
        return value or ""
    raise SchemaError(
        f"{where}: expected text, got {_describe(value)} (a file URI such as file:///src/App.java)",
        key=where.rsplit(".", 1)[-1],
        value=value,
    )


def _int(value: object, where: str, bound: Bound) -> int | None:
    """An integer field within `bound` (a line number of 10^20 would overflow the run store)."""
    if value is None:
        return None
    key = where.rsplit(".", 1)[-1]
    if isinstance(value, bool):  # bool is an int subclass; `effort: true` is still wrong
        raise SchemaError(f"{where}: expected an integer, got bool", key=key, value=value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise SchemaError(f"{where}: expected an integer, got {_describe(value)}", key=key, value=value)
    problem = bound.problem(number)
    if problem:
        raise SchemaError(f"{where}: {problem}", key=key, value=value)
    return number


def _mapping(value: object, where: str) -> Mapping[object, object]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise SchemaError(f"{where}: expected a mapping, got {_describe(value)}")


def _list(value: object, where: str) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise SchemaError(f"{where}: expected a list, got {_describe(value)}")


def _category(value: object, where: str) -> Category:
    text = _text(value, where).strip().lower()
    try:
        return Category(text)
    except ValueError:
        # Missing, or a category a newer analyzer invented: the least demanding bucket, so that
        # `--categories mandatory` never picks it up by accident, while the file still loads.
        return Category.POTENTIAL


def _labels(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, Mapping):  # the predecessor's Go type was map[string]string
        return tuple(f"{_text(k, where)}={_text(v, f'{where}.{k}')}" for k, v in value.items())
    return tuple(_text(item, f"{where}[{i}]") for i, item in enumerate(_list(value, where)))


def _links(value: object, where: str) -> tuple[Link, ...]:
    links: list[Link] = []
    for i, item in enumerate(_list(value, where)):
        if isinstance(item, str):  # the predecessor's simplified format: plain URLs
            links.append(Link(url=item))
            continue
        entry = _mapping(item, f"{where}[{i}]")
        links.append(
            Link(url=_text(entry.get("url"), f"{where}[{i}].url"), title=_text(entry.get("title"), ""))
        )
    return tuple(links)


_COMPLEXITY_KEYS = ("migration_complexity", "migrationComplexity", "migration-complexity")


def _migration_complexity(raw: Mapping[object, object], labels: tuple[str, ...]) -> str | None:
    """From the violation itself, its `extras`, or a label such as
    `konveyor.io/migration-complexity=high`; absent in every real analyzer output so far."""
    extras = raw.get("extras")
    for source in (raw, extras if isinstance(extras, Mapping) else {}):
        for key in _COMPLEXITY_KEYS:
            value = source.get(key)
            if isinstance(value, (str, int)) and str(value).strip():
                return str(value).strip()
    for label in labels:
        name, sep, value = label.partition("=")
        if sep and value.strip() and name.rsplit("/", 1)[-1] in _COMPLEXITY_KEYS:
            return value.strip()
    return None


def _incident(raw: object, where: str) -> RawIncident:
    if isinstance(raw, RawIncident):  # read while the file was parsed (`compact_incident`)
        return raw
    entry = _mapping(raw, where)
    line = _int(entry.get("lineNumber"), f"{where}.lineNumber", bounds.LINE_NUMBER)
    variables = _mapping(entry.get("variables"), f"{where}.variables")
    return RawIncident(
        uri=_uri(entry.get("uri"), f"{where}.uri"),
        message=_text(entry.get("message"), f"{where}.message"),
        code_snip=_text(entry.get("codeSnip"), f"{where}.codeSnip"),
        line=line if line is not None and line > 0 else None,
        variables={str(k): v for k, v in variables.items()} if variables else NO_VARIABLES,
        dependency=entry.get("isDependencyIncident") is True,
    )


def compact_incident(raw: object) -> object:
    """An incident as the parser reads it, made a `RawIncident` at once when it is one (a parsed
    mapping of its fields is four times its size); anything else is left for `parse_document` to
    refuse with the place it is in."""
    try:
        return _incident(raw, "")
    except SchemaError:
        return raw


def _violation(
    ruleset: str, rule_id: str, raw: object, where: str, *, insight: bool, consume: bool
) -> RawViolation:
    entry = _mapping(raw, where)
    rule = entry.get("rule")
    rule_map = rule if isinstance(rule, Mapping) else {}
    # Simplified format: the ruleset may be named per violation, and the text may live in `rule`.
    ruleset = _text(entry.get("ruleSet") or rule_map.get("ruleSet"), f"{where}.ruleSet") or ruleset
    description = entry.get("description") or rule_map.get("message") or rule_map.get("description")
    effort = _int(entry.get("effort"), f"{where}.effort", bounds.EFFORT)
    labels = _labels(entry.get("labels") or rule_map.get("labels"), f"{where}.labels")
    violation = Violation(
        ruleset=ruleset,
        rule_id=rule_id,
        description=_text(description, f"{where}.description"),
        category=_category(entry.get("category") or rule_map.get("category"), f"{where}.category"),
        effort=effort,
        labels=labels,
        links=_links(entry.get("links") or rule_map.get("links"), f"{where}.links"),
        informational=insight or not effort,
        migration_complexity=_migration_complexity(entry, labels),
    )
    items = _list(entry.get("incidents"), f"{where}.incidents")
    incidents: list[RawIncident] = []
    for i, item in enumerate(items):
        incidents.append(_incident(item, f"{where}.incidents[{i}]"))
        if consume:
            items[i] = None  # read: not held in two shapes at once
    return RawViolation(violation, incidents)


def _simplified_id(raw: object, where: str) -> str:
    entry = _mapping(raw, where)
    rule = entry.get("rule")
    rule_map = rule if isinstance(rule, Mapping) else {}
    for value in (
        entry.get("id"),
        entry.get("ruleID"),
        entry.get("rule_id"),
        entry.get("name"),
        rule_map.get("id"),
        rule_map.get("ruleID"),
    ):
        text = _text(value, f"{where}.id").strip()
        if text:
            return text
    raise SchemaError(f"{where}: violation has no id (expected 'id', 'ruleID' or 'name')")


def _section(ruleset: str, value: object, where: str, *, insight: bool, consume: bool) -> list[RawViolation]:
    if isinstance(value, list):
        return [
            _violation(
                ruleset,
                _simplified_id(item, f"{where}[{i}]"),
                item,
                f"{where}[{i}]",
                insight=insight,
                consume=consume,
            )
            for i, item in enumerate(value)
        ]
    return [
        _violation(
            ruleset, _text(rule_id, where), raw, f"{where}.{rule_id}", insight=insight, consume=consume
        )
        for rule_id, raw in _mapping(value, where).items()
    ]


def _ruleset(raw: object, where: str, *, consume: bool) -> tuple[list[RawViolation], dict[str, str]]:
    entry = _mapping(raw, where)
    name = _text(entry.get("name"), f"{where}.name")
    if name:
        where = f"{where} ({_one_line(name, 60)})"
    sections = (("violations", False), ("insights", True))
    violations = [
        found
        for key, insight in sections
        for found in _section(name, entry.get(key), f"{where}.{key}", insight=insight, consume=consume)
    ]
    errors = {
        f"{name}/{_text(rule_id, f'{where}.errors')}": _text(text, f"{where}.errors.{rule_id}")
        for rule_id, text in _mapping(entry.get("errors"), f"{where}.errors").items()
    }
    return violations, errors


def parse_document(document: object, *, consume: bool = False) -> RawAnalysis:
    """Read a parsed output.yaml / output.json document of any supported generation. `consume`:
    each incident of `document` is dropped from it once read (the loader's own document: 100,000
    incidents are then not held as parsed YAML and as raw incidents at once)."""
    if isinstance(document, Mapping):
        if "violations" not in document and "insights" not in document:
            keys = ", ".join(sorted(str(k) for k in document)[:5])
            got = f"a mapping with keys {keys}" if keys else "an empty mapping"
            raise SchemaError(
                f"top level: expected a list of rulesets or a mapping with 'violations', got {got}"
            )
        rulesets: list[object] = [document]
    elif isinstance(document, list):
        rulesets = document
    else:
        raise SchemaError(f"top level: expected a list of rulesets, got {_describe(document)}")

    violations: list[RawViolation] = []
    errors: dict[str, str] = {}
    for index, raw in enumerate(rulesets):
        found, found_errors = _ruleset(raw, f"ruleset[{index}]", consume=consume)
        violations += found
        errors.update(found_errors)
    return RawAnalysis(rulesets=len(rulesets), violations=violations, errors=errors)
