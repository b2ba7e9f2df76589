"""A scripted "model": it reads our fix prompt and answers with known-correct edits.

`--provider simulated` (the demo without an API key), the tests and the benchmarks need a model
whose answers are right, repeatable and free. This responder parses the prompt: the rule book
(`guidance.j2`: rules numbered R1, R2, ... with their shared messages) and the request rendered from
`fix_request.j2` (or `retry_request.j2`, which repeats the same `## File:` and `## Incidents`
sections, incidents numbered #1, #2, ...), applies hand-written recipes chosen by rule id *and* by
what the incident's line contains, and answers in the format the request asked for: an
`apply_fixes` tool call when tools were offered, else SEARCH/REPLACE text.

Edits are produced the way a careful model would write them: one edit per run of adjacent changed
lines, `old` being the whole original lines, widened with a neighbouring line only when the lines
alone are not unique; incidents that touch the same lines share that edit. An incident no recipe can
handle gets a `cannot_fix` verdict with a reason, never a guess. Answers are terse (verdicts only
for incidents not fixed) unless the instructions ask for a verdict per incident, which then carry a
confidence and an explanation.

Pure function of the request: no I/O, no randomness, no clock.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall

FIXED_CONFIDENCE = 0.9
CANNOT_FIX_CONFIDENCE = 0.3

# --- prompt parsing --------------------------------------------------------------------------------

_FILE_HEADER = re.compile(
    r"^## File: (?P<path>.*?)"
    r"(?: \(lines (?P<first>\d+)-(?P<last>\d+) of (?P<total>\d+); only this part is shown\))?[ \t]*$",
    re.MULTILINE,
)
_OPEN_FENCE = re.compile(r"\n\n```(?P<lang>[^\n]*)\n")
_CLOSE_FENCE = "\n```\n\n## Incidents"
_INCIDENT_HEADER = re.compile(
    r"^#(?P<id>\d+) line (?P<line>\d+|unknown) R(?P<rule>\d+)(?:: (?P<message>.*))?$", re.MULTILINE
)
_RULE_HEADER = re.compile(r"^R(?P<number>\d+) (?P<rule>\S+) \(", re.MULTILINE)
_RULE_MESSAGE = "  Message: "
# Instructions that want a verdict for every incident say this (formats/base.py FULL_VERDICTS_MARKER).
FULL_VERDICTS_MARKER = "one per incident"
# Instructions that let words replaced on the incidents' own lines go in `subs` say this
# (formats/tool_call.txt).
OWN_LINES_MARKER = "Such a change needs no edit"


@dataclass(frozen=True)
class PromptIncident:
    id: str
    line: int | None  # absolute 1-based file line, as the prompt gives it
    rule_id: str
    message: str


@dataclass(frozen=True)
class ParsedPrompt:
    path: str
    language: str
    content: str  # the file text (or window) exactly as shown, "\n" newlines
    first_line: int  # the absolute line number of the content's first line
    incidents: tuple[PromptIncident, ...]


@dataclass(frozen=True)
class _Rule:
    rule_id: str
    message: str  # the message its incidents share ("" when none)


def _rule_book(text: str) -> dict[str, _Rule]:
    """R number -> rule, from the rule book at the start of the request."""
    rules: dict[str, _Rule] = {}
    for header in _RULE_HEADER.finditer(text):
        following = text[header.end() :].split("\n")[1:]
        message: list[str] = []
        if following and following[0].startswith(_RULE_MESSAGE):
            message.append(following[0][len(_RULE_MESSAGE) :])
            for line in following[1:]:
                if not line.startswith("    "):
                    break
                message.append(line[4:])
        rules.setdefault(header.group("number"), _Rule(header.group("rule"), "\n".join(message).strip()))
    return rules


def parse_prompt(text: str) -> ParsedPrompt | None:
    """The file block and incident list of a fix or retry prompt; None when the text has neither.
    A request packing several files: the first of them (`parse_prompts` reads them all)."""
    prompts = parse_prompts(text)
    return prompts[0] if prompts else None


def parse_prompts(text: str) -> list[ParsedPrompt]:
    """Every file block and its incident list: one for a fix or retry prompt, one per file for a
    request that packs several files (each `## File:` section followed by its `## Incidents`)."""
    text = text.replace("\r\n", "\n")
    starts = [
        header for header in _FILE_HEADER.finditer(text) if _OPEN_FENCE.match(text, header.end()) is not None
    ]
    prompts = []
    rules = _rule_book(text[: starts[0].start()]) if starts else {}
    for number, header in enumerate(starts):
        end = starts[number + 1].start() if number + 1 < len(starts) else len(text)
        parsed = _parse_section(text[:end], header, rules)
        if parsed is not None:
            prompts.append(parsed)
    return prompts


def _parse_section(text: str, header: re.Match[str], rules: dict[str, _Rule]) -> ParsedPrompt | None:
    fence = _OPEN_FENCE.match(text, header.end())
    if fence is None:
        return None
    body_start = fence.end()
    # The last closing fence before "## Incidents": the file itself may contain ``` lines, and
    # incident messages (Markdown) come after it, so searching backwards finds the right one.
    close = text.rfind(_CLOSE_FENCE, body_start - 1)
    if close < body_start - 1:
        return None
    content = text[body_start:close] if close >= body_start else ""
    first = int(header.group("first")) if header.group("first") else 1
    return ParsedPrompt(
        path=header.group("path").strip(),
        language=fence.group("lang").strip(),
        content=content,
        first_line=first,
        incidents=tuple(_parse_incidents(text[close + len(_CLOSE_FENCE) :], rules)),
    )


_NAMES_ONLY = re.compile(r"`[^`\n]+`(?: `[^`\n]+`)*")
_SLOT = re.compile(r"\$(\d+)")


def _filled(rule_message: str, own: str) -> str:
    """An incident listed with names only, under a rule whose message has `$1`, `$2`, ... slots:
    the message the names fill in; any other message as it is."""
    if not _SLOT.search(rule_message) or not _NAMES_ONLY.fullmatch(own):
        return own
    names = re.findall(r"`([^`\n]+)`", own)
    return _SLOT.sub(
        lambda m: names[int(m.group(1)) - 1] if int(m.group(1)) <= len(names) else m.group(0), rule_message
    )


def _parse_incidents(section: str, rules: dict[str, _Rule]) -> list[PromptIncident]:
    headers = list(_INCIDENT_HEADER.finditer(section))
    incidents = []
    for number, header in enumerate(headers):
        end = headers[number + 1].start() if number + 1 < len(headers) else len(section)
        body = section[header.end() : end].split("\n")[1:]
        # The template indents further message lines by two spaces (blank lines stay empty).
        own = [header.group("message") or ""]
        own += [line[2:] if line.startswith("  ") else line for line in body]
        message = "\n".join(own).strip("\n").rstrip()
        rule = rules.get(header.group("rule"), _Rule(f"R{header.group('rule')}", ""))
        raw_line = header.group("line")
        incidents.append(
            PromptIncident(
                id=header.group("id"),
                line=None if raw_line == "unknown" else int(raw_line),
                rule_id=rule.rule_id,
                message=_filled(rule.message, message) if message else rule.message,
            )
        )
    return incidents


# --- the working copy recipes edit -----------------------------------------------------------------


@dataclass
class _Document:
    """The shown lines and what recipes made of them, with the incidents behind each change.

    `lines[i]` is the current text of original line i: a string (which may hold extra lines a recipe
    inserted after it) or None once deleted. Line indexes never shift, so several recipes can work on
    one file without invalidating each other's positions.
    """

    original: list[str]
    first_line: int = 1  # absolute number of original[0]: windows start later
    lines: list[str | None] = field(init=False)
    owners: list[list[str]] = field(init=False)
    # Incidents whose explanation quotes what their line finally became (index of that line): a later
    # recipe may rewrite or remove the same line, and the verdict must describe the edit as sent.
    quoted_lines: dict[str, int] = field(default_factory=dict)
    rule_of: dict[str, str] = field(default_factory=dict)  # incident handle -> its rule id
    incident_lines: dict[str, int] = field(default_factory=dict)  # incident handle -> its line index

    def __post_init__(self) -> None:
        self.lines = list(self.original)
        self.owners = [[] for _ in self.original]

    def claim(self, index: int, incident_id: str) -> None:
        if incident_id not in self.owners[index]:
            self.owners[index].append(incident_id)

    def set(self, index: int, text: str | None, incident_id: str) -> None:
        self.lines[index] = text
        self.claim(index, incident_id)

    def rewrite(self, index: int, change: Callable[[str], str], incident_id: str) -> None:
        """Change the line's current text; a line another recipe deleted stays deleted."""
        current = self.lines[index]
        self.set(index, None if current is None else change(current), incident_id)

    def find(self, pattern: re.Pattern[str]) -> int | None:
        """The first line whose current text matches (deleted lines never do)."""
        for index, text in enumerate(self.lines):
            if text is not None and pattern.search(text):
                return index
        return None

    def has(self, pattern: re.Pattern[str]) -> bool:
        return self.find(pattern) is not None


# A recipe gets the document, the incident's line index (None when the prompt had no usable line)
# and the incident. It returns an explanation when it handled the incident, None when it does not
# apply, so the next candidate recipe can try.
RecipeFn = Callable[[_Document, int | None, PromptIncident], str | None]


@dataclass(frozen=True)
class Recipe:
    name: str
    rule: re.Pattern[str]
    apply: RecipeFn


# --- javax -> jakarta ------------------------------------------------------------------------------

# The packages Jakarta EE 9 renamed. JDK packages that merely share the prefix (javax.naming,
# javax.sql, javax.xml.parsers, javax.transaction.xa, javax.annotation.processing, ...) stay put:
# renaming them would break a build that compiled before.
_EE_PACKAGE = re.compile(
    r"\bjavax\.(?=(?:activation|annotation(?!\.processing)|batch|decorator|ejb|el|enterprise|faces|inject"
    r"|interceptor|jms|json|jws|mail|persistence|resource|security\.(?:auth\.message|enterprise|jacc)"
    r"|servlet|transaction(?!\.xa)|validation|websocket|ws\.rs|xml\.(?:bind|soap|ws))\b)"
)
_IMPORT = re.compile(r"^\s*import\s+(?:static\s+)?[\w.]+(?:\.\*)?\s*;")


def _jakartify(text: str) -> str:
    return _EE_PACKAGE.sub("jakarta.", text)


def _quote(before: str, after: str | None) -> str:
    """Old and new text quoted for an explanation, shortened to keep verdicts one readable line."""

    def short(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= 90 else text[:87] + "..."

    if after is None:
        return f"removed `{short(before)}`"
    return f"replaced `{short(before)}` with `{short(after)}`"


def _import_rename(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
    if index is None or not _IMPORT.match(doc.original[index]) or not _EE_PACKAGE.search(doc.original[index]):
        return None
    # Another recipe may already have rewritten or removed this import (the @Stateless swap turns
    # `import javax.ejb.Stateless;` into a CDI import): then the javax import is gone all the same.
    doc.rewrite(index, _jakartify, incident.id)
    doc.quoted_lines[incident.id] = index
    return "Moved the import to the jakarta namespace:"


def _line_rename(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
    """The general fallback: rename Jakarta EE `javax.` packages on the incident's line."""
    if index is None or not _EE_PACKAGE.search(doc.original[index]):
        return None
    doc.rewrite(index, _jakartify, incident.id)
    doc.quoted_lines[incident.id] = index
    return "Moved the Jakarta EE packages on this line to jakarta:"


def _property_rename(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
    """`<property name="javax.persistence.*">` and friends: the specification properties moved too."""
    pattern = re.compile(r"""(name\s*=\s*["'])javax\.""")
    if index is None or not pattern.search(doc.original[index]):
        return None
    doc.rewrite(index, lambda text: pattern.sub(r"\1jakarta.", text), incident.id)
    return "Renamed the javax-prefixed property to its jakarta name."


# --- Maven dependencies ----------------------------------------------------------------------------

_GROUP_RENAMES = {"javax": "jakarta.platform"}
_ARTIFACT_RENAMES = {"javaee-api": "jakarta.jakartaee-api", "javaee-web-api": "jakarta.jakartaee-web-api"}
# The old javaee-api versions (7.0, 8.0) do not exist as jakarta.jakartaee-api, whose 8.0.0 still
# holds javax packages anyway; 10.0.0 is the jakarta-namespace API current servers (EAP 8) implement.
_PLATFORM_VERSION = "10.0.0"


def _element_rename(tag: str, renames: dict[str, str]) -> RecipeFn:
    pattern = re.compile(rf"<{tag}>\s*(?P<value>[^<\s]+)\s*</{tag}>")

    def apply(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
        if index is None:
            return None
        match = pattern.search(doc.original[index])
        if match is None:
            return None
        old = match.group("value")
        new = renames.get(old)
        if new is None and old.startswith("javax."):
            new = "jakarta." + old[len("javax.") :]
        if new is None:
            return None
        doc.rewrite(index, lambda text: pattern.sub(f"<{tag}>{new}</{tag}>", text, count=1), incident.id)
        note = ""
        if tag == "artifactId" and new in _ARTIFACT_RENAMES.values():
            note = _bump_platform_version(doc, index, incident.id)
        return f"Changed the {tag} `{old}` to `{new}`{note}."

    return apply


def _bump_platform_version(doc: _Document, index: int, incident_id: str) -> str:
    """The renamed platform artifact does not exist in the old version: move its <version> along."""
    version = re.compile(r"<version>\s*[78](?:\.\d+)*\s*</version>")
    for near in range(index + 1, min(len(doc.lines), index + 6)):
        text = doc.lines[near]
        if text is None or "</dependency>" in text:
            break
        if version.search(text):
            doc.set(near, version.sub(f"<version>{_PLATFORM_VERSION}</version>", text), incident_id)
            return f" and its version to {_PLATFORM_VERSION}"
    return ""


# --- XML deployment descriptors --------------------------------------------------------------------

_MESSAGE_REPLACE = re.compile(r"Replace `(?P<old>[^`]+)` with `(?P<new>[^`]+)`")
_MESSAGE_VERSION = re.compile(
    r"replace the `version` attribute value (?:`(?P<old>[^`]+)` )?with `(?P<new>[^`]+)`", re.IGNORECASE
)
_KNOWN_NAMESPACES = {
    "http://xmlns.jcp.org/xml/ns/javaee": "https://jakarta.ee/xml/ns/jakartaee",
    "http://xmlns.jcp.org/xml/ns/persistence": "https://jakarta.ee/xml/ns/persistence",
    "http://xmlns.jcp.org/xml/ns/validation": "https://jakarta.ee/xml/ns/validation",
}


def _namespace_or_schema(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
    """Namespace URIs and XSD names: the rule's message names the exact text to swap, as in
    "Replace `persistence_2_1.xsd` with `persistence_3_0.xsd` ..."; known namespaces otherwise."""
    if index is None:
        return None
    pairs = [(m.group("old"), m.group("new")) for m in _MESSAGE_REPLACE.finditer(incident.message)]
    if not _MESSAGE_VERSION.search(incident.message):
        # A version rule that did not apply must not "fix" itself by touching a namespace instead.
        pairs += [(old, new) for old, new in _KNOWN_NAMESPACES.items() if (old, new) not in pairs]
    found = next(((old, new) for old, new in pairs if old in doc.original[index]), None)
    if found is None:
        return None
    old, new = found
    doc.rewrite(index, lambda text: text.replace(old, new), incident.id)
    return f"Replaced `{old}` with `{new}`."


def _root_version(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
    """Rules saying "In the root tag, replace the `version` attribute value ...". The analyzer often
    reports them at a child element's line, so the root start tag is located, not the incident's line."""
    wanted = _MESSAGE_VERSION.search(incident.message)
    if wanted is None or doc.first_line != 1:
        return None  # without the file's start, the first element shown is not the root
    root = _root_tag_lines(doc.original)
    if root is None:
        return None
    attribute = re.compile(r"""\bversion\s*=\s*(["'])(?P<value>[^"']*)\1""")
    matches = [(n, m) for n in range(root[0], root[1] + 1) if (m := attribute.search(doc.original[n]))]
    if not matches:
        return None
    line, match = matches[0]
    old = match.group("value")
    if wanted.group("old") and old != wanted.group("old"):
        return None
    new = f'version="{wanted.group("new")}"'
    doc.rewrite(line, lambda text: attribute.sub(new, text, count=1), incident.id)
    return f'Set the root element\'s version from "{old}" to "{wanted.group("new")}".'


def _root_tag_lines(lines: Sequence[str]) -> tuple[int, int] | None:
    """First and last line index of the document element's start tag (after prolog and comments)."""
    text = "\n".join(lines)
    position = 0
    while True:
        start = text.find("<", position)
        if start < 0:
            return None
        for opener, closer in (("<?", "?>"), ("<!--", "-->"), ("<!", ">")):
            if text.startswith(opener, start):
                end = text.find(closer, start + len(opener))
                if end < 0:
                    return None
                position = end + len(closer)
                break
        else:
            end = text.find(">", start)
            return text.count("\n", 0, start), text.count("\n", 0, max(end, start))


# --- Java EE -> Quarkus ----------------------------------------------------------------------------


def _annotation_swap(old: str, new_import: str, *, bare_only: bool = False) -> RecipeFn:
    """Replace `@Old` on the incident's line by `@New` and swap the import: the old annotation's
    import becomes the new one (or disappears when the new one is already imported)."""
    simple_old = old.rsplit(".", 1)[1]
    annotation = re.compile(rf"@{simple_old}\b(?P<args>\s*\([^)]*\))?")
    old_import = re.compile(rf"^\s*import\s+(?:javax|jakarta)\.{re.escape(old.split('.', 1)[1])}\s*;")
    new_package, simple_new = new_import.rsplit(".", 1)
    new_import_re = re.compile(
        rf"^\s*import\s+(?:javax|jakarta)\.{re.escape(new_package.split('.', 1)[1])}\.(?:{simple_new}|\*)\s*;"
    )

    def apply(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
        if index is None:
            return None
        match = annotation.search(doc.original[index])
        if match is None:
            return None
        if bare_only and match.group("args"):
            return None
        doc.rewrite(index, lambda text: annotation.sub(f"@{simple_new}", text, count=1), incident.id)
        already = doc.has(new_import_re)
        swapped = doc.find(old_import)
        imports = f"; @{simple_new} was already imported" if already else f" and imported {new_import}"
        if swapped is not None:
            doc.set(swapped, None if already else f"import {new_import};", incident.id)
            imports += f" in place of {old}" if not already else f", so the {old} import was removed"
        elif not already:
            last = max(
                (i for i, t in enumerate(doc.lines) if t is not None and _IMPORT.match(t)), default=None
            )
            if last is not None:
                doc.set(last, f"{doc.lines[last]}\nimport {new_import};", incident.id)
        return f"Replaced @{simple_old} with @{simple_new}{imports}."

    return apply


def _method_rename(old: str, new: str) -> RecipeFn:
    call = re.compile(rf"\.{old}\s*\(")

    def apply(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
        if index is None or not call.search(doc.original[index]):
            return None
        doc.rewrite(index, lambda text: call.sub(f".{new}(", text), incident.id)
        return f"Replaced the removed {old}() with {new}()."

    return apply


# --- UTF-8 by default (JEP 400) -------------------------------------------------------------------

# One level of nested parentheses is enough for the argument lists the examples hold.
_ARGS = r"\((?P<args>(?:[^()]|\([^()]*\))*)\)"
_CHARSET_CONSTRUCTORS = {
    "io": re.compile(rf"new (?P<cls>FileReader|FileWriter|InputStreamReader|OutputStreamWriter){_ARGS}"),
    "util": re.compile(rf"new (?P<cls>Formatter|Scanner){_ARGS}"),
    "urlcodec": re.compile(rf"(?P<cls>URLEncoder\.encode|URLDecoder\.decode){_ARGS}"),
}


def _explicit_charset(kind: str) -> RecipeFn:
    """ "Supply the appropriate character set": `StandardCharsets.UTF_8` as the last argument. Like a
    hurried model, it does not check that the class is imported or that such an overload exists,
    so the first fix can break the build (the bundled `utf8-reports` example shows the repair)."""
    pattern = _CHARSET_CONSTRUCTORS[kind]

    def apply(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
        if index is None:
            return None
        match = pattern.search(doc.original[index])
        if match is None or "charset" in match.group("args").lower() or not match.group("args").strip():
            return None
        call = f"{match.group(0)[:-1]}, StandardCharsets.UTF_8)"
        doc.rewrite(index, lambda text: text.replace(match.group(0), call, 1), incident.id)
        return f"Passed StandardCharsets.UTF_8 to {match.group('cls')} explicitly."

    return apply


# --- Python and TypeScript deprecations (the verification tests' projects) -------------------------

_UTCNOW = re.compile(r"\bdatetime\.utcnow\(\)")
_TO_PROMISE = re.compile(r"(?P<source>[\w$.]+)\.toPromise\(\)")


def _utcnow(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
    """`datetime.utcnow()` -> `datetime.now(timezone.utc)`; `timezone` is left unimported (a model's
    usual slip, which only the tests catch: Python compiles it)."""
    if index is None or not _UTCNOW.search(doc.original[index]):
        return None
    doc.rewrite(index, lambda text: _UTCNOW.sub("datetime.now(timezone.utc)", text), incident.id)
    return "Replaced the deprecated datetime.utcnow() with an aware datetime.now(timezone.utc)."


def _to_promise(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
    """RxJS 7: `source.toPromise()` -> `lastValueFrom(source)`, without importing it."""
    if index is None or not _TO_PROMISE.search(doc.original[index]):
        return None
    doc.rewrite(index, lambda text: _TO_PROMISE.sub(r"lastValueFrom(\g<source>)", text), incident.id)
    return "Replaced the deprecated toPromise() with lastValueFrom()."


# --- the recipe book -------------------------------------------------------------------------------

RECIPES: tuple[Recipe, ...] = (
    Recipe("javax import rename", re.compile(r"^javax-to-jakarta-import-\d+$"), _import_rename),
    Recipe("javax property rename", re.compile(r"^javax-to-jakarta-properties-\d+$"), _property_rename),
    Recipe(
        "dependency groupId",
        re.compile(r"^javax-to-jakarta-dependencies-\d+$"),
        _element_rename("groupId", _GROUP_RENAMES),
    ),
    Recipe(
        "dependency artifactId",
        re.compile(r"^javax-to-jakarta-dependencies-\d+$"),
        _element_rename("artifactId", _ARTIFACT_RENAMES),
    ),
    Recipe("descriptor root version", re.compile(r"^javaee-to-jakarta-namespaces-\d+$"), _root_version),
    Recipe(
        "descriptor namespace/xsd", re.compile(r"^javaee-to-jakarta-namespaces-\d+$"), _namespace_or_schema
    ),
    Recipe(
        "@Stateless to @ApplicationScoped",
        re.compile(r"^ee-to-quarkus-00000$"),
        _annotation_swap("javax.ejb.Stateless", "jakarta.enterprise.context.ApplicationScoped"),
    ),
    Recipe(
        "@Stateful to @SessionScoped",
        re.compile(r"^ee-to-quarkus-00010$"),
        _annotation_swap("javax.ejb.Stateful", "jakarta.enterprise.context.SessionScoped"),
    ),
    Recipe(
        "@PersistenceContext to @Inject",
        re.compile(r"^persistence-to-quarkus-00010$"),
        # A named unit needs a Quarkus @PersistenceUnit qualifier and configuration: left to a human.
        _annotation_swap("javax.persistence.PersistenceContext", "jakarta.inject.Inject", bare_only=True),
    ),
    Recipe(
        "getCallerIdentity",
        re.compile(r"^eap8-ejb-00001$"),
        _method_rename("getCallerIdentity", "getCallerPrincipal"),
    ),
    Recipe("charset for java.io", re.compile(r"^utf-8-by-default-00000$"), _explicit_charset("io")),
    Recipe("charset for java.util", re.compile(r"^utf-8-by-default-00010$"), _explicit_charset("util")),
    Recipe(
        "charset for URL codecs", re.compile(r"^utf-8-by-default-000[23]0$"), _explicit_charset("urlcodec")
    ),
    Recipe("aware utcnow", re.compile(r"^python-datetime-00001$"), _utcnow),
    Recipe("rxjs toPromise", re.compile(r"^rxjs-7-00001$"), _to_promise),
    Recipe("javax fallback", re.compile(r".*"), _line_rename),
)


def _fix_one(doc: _Document, index: int | None, incident: PromptIncident) -> str | None:
    for recipe in RECIPES:
        if recipe.rule.search(incident.rule_id):
            explanation = recipe.apply(doc, index, incident)
            if explanation is not None:
                return explanation
    return None


# --- from the document to edits --------------------------------------------------------------------


@dataclass(frozen=True)
class _Edit:
    incident_ids: tuple[str, ...]
    old_text: str
    new_text: str
    # [from, to] pairs that make the whole change on the incidents' own lines, when the instructions
    # let an edit leave `old` out and such pairs exist (`_on_own_lines`); None otherwise.
    line_sub: list[list[str]] | None = None


def _count(haystack: str, needle: str) -> int:
    """Occurrences, overlapping ones included (as the tool's applier counts them)."""
    count, start = 0, haystack.find(needle)
    while start >= 0:
        count += 1
        start = haystack.find(needle, start + 1)
    return count


def _hunk_text(doc: _Document, first: int, last: int) -> tuple[str, str]:
    old = "\n".join(doc.original[first : last + 1])
    kept = [text for text in doc.lines[first : last + 1] if text is not None]
    if kept:
        return old, "\n".join(kept)
    # Only deletions: take a newline with the lines, or a blank line would stay behind.
    if last + 1 < len(doc.original):
        return old + "\n", ""
    if first > 0:
        return "\n" + old, ""
    return old, ""


def _build_edits(doc: _Document) -> list[_Edit]:
    changed = [i for i, text in enumerate(doc.lines) if text != doc.original[i]]
    hunks = [[i, i] for i in changed]
    content = "\n".join(doc.original)
    # Each round widens a hunk by a line or merges two, so coverage of the content bounds the rounds.
    for _ in range(2 * len(doc.original) + 2):
        hunks = _merge(hunks, doc)
        problem = _first_ambiguous(doc, hunks, content)
        if problem is None:
            break
        first, last = hunks[problem]
        # Prefer the line above as context (the way people quote code), then the line below.
        if first > 0 and (last + 1 >= len(doc.original) or (last - first) % 2 == 0):
            hunks[problem] = [first - 1, last]
        elif last + 1 < len(doc.original):
            hunks[problem] = [first, last + 1]
        else:
            break
    edits = []
    for first, last in hunks:
        old, new = _hunk_text(doc, first, last)
        ids: list[str] = []
        for i in range(first, last + 1):
            if doc.lines[i] != doc.original[i]:
                ids.extend(x for x in doc.owners[i] if x not in ids)
        edits.append(_Edit(tuple(ids), old, new, _on_own_lines(doc, first, last, ids, old, new)))
    return edits


def _on_own_lines(
    doc: _Document, first: int, last: int, ids: list[str], old: str, new: str
) -> list[list[str]] | None:
    """The `sub` pairs of an edit that can leave `old` out: applied to each line of its incidents
    they make exactly the change of the hunk [first, last], and leave their other lines (outside the
    hunk) as they are. None when that is not so, or the incidents' lines are unknown."""
    pairs = _substitutions(old, new)
    if pairs is None:
        return None
    own = {doc.incident_lines.get(i) for i in ids}
    if None in own or not own:
        return None
    changed = {i for i in range(first, last + 1) if doc.lines[i] != doc.original[i]}
    if not changed <= own:
        return None
    for index in own:
        assert index is not None
        text = doc.original[index]
        for before, after in pairs:
            text = text.replace(before, after)
        wanted = doc.lines[index] if index in changed else doc.original[index]
        if text != wanted:
            return None
    return pairs


def _merge(hunks: list[list[int]], doc: _Document) -> list[list[int]]:
    """Overlapping hunks as one, and adjacent ones made for the same rules: one edit per run of lines
    one rule changed. Adjacent lines of different rules stay separate edits, as a careful model keeps
    them (each commit of a per-violation delivery then holds only its own rule's lines)."""

    def owners(first: int, last: int) -> frozenset[str]:
        return frozenset(
            doc.rule_of.get(x, x)
            for i in range(first, last + 1)
            if doc.lines[i] != doc.original[i]
            for x in doc.owners[i]
        )

    merged: list[list[int]] = []
    for first, last in sorted(hunks):
        if merged and (
            first <= merged[-1][1]
            or (first == merged[-1][1] + 1 and owners(first, last) == owners(*merged[-1]))
        ):
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return merged


def _first_ambiguous(doc: _Document, hunks: list[list[int]], content: str) -> int | None:
    """The first hunk whose old text would not match exactly once when the edits run in order."""
    running = content
    for number, (first, last) in enumerate(hunks):
        old, new = _hunk_text(doc, first, last)
        if _count(running, old) != 1 or not old.strip():
            return number
        running = running.replace(old, new, 1)
    return None


# --- replies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    edits: list[_Edit]
    verdicts: list[dict[str, Any]]


def _answer(prompt: ParsedPrompt) -> _Answer:
    lines = prompt.content.split("\n")
    doc = _Document(
        lines,
        prompt.first_line,
        rule_of={i.id: i.rule_id for i in prompt.incidents},
        incident_lines={
            i.id: i.line - prompt.first_line
            for i in prompt.incidents
            if i.line is not None and 0 <= i.line - prompt.first_line < len(lines)
        },
    )
    explanations: dict[str, str] = {}
    for incident in prompt.incidents:
        index = None
        if incident.line is not None and 0 <= incident.line - prompt.first_line < len(lines):
            index = incident.line - prompt.first_line
        explanation = _fix_one(doc, index, incident)
        if explanation is not None:
            explanations[incident.id] = explanation
    for incident_id, line in doc.quoted_lines.items():
        explanations[incident_id] += f" {_quote(doc.original[line], doc.lines[line])}."
    edits = _build_edits(doc)
    in_edits = {incident_id for edit in edits for incident_id in edit.incident_ids}
    verdicts = []
    for incident in prompt.incidents:
        if incident.id in explanations and incident.id in in_edits:
            verdicts.append(_verdict(incident.id, "fixed", FIXED_CONFIDENCE, explanations[incident.id]))
        elif incident.id in explanations:
            # The recipe applied but the text already reads as it should: nothing to edit or claim.
            reason = "Already migrated; nothing to edit."
            verdicts.append(_verdict(incident.id, "cannot_fix", CANNOT_FIX_CONFIDENCE, reason))
        else:
            verdicts.append(
                _verdict(incident.id, "cannot_fix", CANNOT_FIX_CONFIDENCE, _why_not(incident, prompt))
            )
    return _Answer(edits, verdicts)


def _why_not(incident: PromptIncident, prompt: ParsedPrompt) -> str:
    if incident.line is None:
        return "No line given; cannot locate it."
    last = prompt.first_line + len(prompt.content.split("\n")) - 1
    if not prompt.first_line <= incident.line <= last:
        return f"Line {incident.line} is outside the lines shown."
    return f"{incident.rule_id}: no safe rewrite known; needs a human."


def _verdict(incident_id: str, status: str, confidence: float, explanation: str) -> dict[str, Any]:
    return {"id": _number(incident_id), "status": status, "confidence": confidence, "reason": explanation}


def _number(handle: str) -> int | str:
    """Handles are numbers in the request; answered as JSON numbers, as the schema asks."""
    return int(handle) if handle.isdigit() else handle


def _terse(verdicts: list[dict[str, Any]], full: bool) -> list[dict[str, Any]]:
    """Full: every verdict as is. Terse: only incidents not fixed, without confidence."""
    if full:
        return verdicts
    return [
        {"id": v["id"], "status": v["status"], "reason": v["reason"]}
        for v in verdicts
        if v["status"] != "fixed"
    ]


_WORDISH = re.compile(r"[\w$]")


def _substitutions(old: str, new: str) -> list[list[str]] | None:
    """[from, to] pairs (whole words) that turn `old` into `new` when every occurrence of each is
    replaced in turn, as the tool format's `sub` says; None when the change is not of that kind."""
    old_lines, new_lines = old.split("\n"), new.split("\n")
    if len(old_lines) != len(new_lines):
        return None
    pairs: list[list[str]] = []
    for a, b in zip(old_lines, new_lines, strict=True):
        if a == b:
            continue
        start = 0
        while start < min(len(a), len(b)) and a[start] == b[start]:
            start += 1
        tail = 0
        while tail < min(len(a), len(b)) - start and a[-1 - tail] == b[-1 - tail]:
            tail += 1
        while start > 0 and _WORDISH.match(a[start - 1]):
            start -= 1
        end_a, end_b = len(a) - tail, len(b) - tail
        while end_a < len(a) and _WORDISH.match(a[end_a]):
            end_a, end_b = end_a + 1, end_b + 1
        pair = [a[start:end_a], b[start:end_b]]
        if not pair[0]:
            return None
        if pair not in pairs:
            pairs.append(pair)
    text = old
    for before, after in pairs:
        if before not in text:
            return None
        text = text.replace(before, after)
    return pairs if text == new and pairs else None


def _tool_edit(edit: _Edit) -> dict[str, Any]:
    """An edit as a careful model writes it: `sub` when only words inside `old` change and that is
    shorter than repeating the lines, else `new`."""
    out: dict[str, Any] = {"ids": [_number(i) for i in edit.incident_ids], "old": edit.old_text}
    pairs = _substitutions(edit.old_text, edit.new_text)
    if pairs is not None and len(json.dumps(pairs)) < len(json.dumps(edit.new_text)):
        out["sub"] = pairs
    else:
        out["new"] = edit.new_text
    return out


def _sub_item(edit: _Edit) -> list[Any]:
    """A `subs` item: [ids, from, to, ...], a single incident number written bare."""
    ids = [_number(i) for i in edit.incident_ids]
    assert edit.line_sub is not None
    return [ids[0] if len(ids) == 1 else ids, *(text for pair in edit.line_sub for text in pair)]


def _as_tool_call(answer: _Answer, tool_name: str, full: bool, own_lines: bool) -> ToolCall:
    """The `apply_fixes` call. When the instructions allow it (`own_lines`), words replaced on the
    incidents' own lines go in `subs`, and `edits` is left out if nothing else needs one."""
    # One item per set of pairs: the same words replaced on the lines of several incidents (of any
    # file of the request) are said once.
    grouped: dict[str, _Edit] = {}
    for edit in answer.edits:
        if own_lines and edit.line_sub is not None:
            key = json.dumps(edit.line_sub)
            seen = grouped.get(key)
            ids = edit.incident_ids if seen is None else seen.incident_ids + edit.incident_ids
            grouped[key] = _Edit(tuple(dict.fromkeys(ids)), "", "", edit.line_sub)
    subs = [_sub_item(e) for e in grouped.values()]
    edits = [_tool_edit(e) for e in answer.edits if not (own_lines and e.line_sub is not None)]
    tool_input: dict[str, Any] = {"subs": subs} if subs else {}
    if edits or not subs:
        tool_input["edits"] = edits
    verdicts = _terse(answer.verdicts, full)
    if verdicts or full:
        tool_input["verdicts"] = verdicts
    return ToolCall(name=tool_name, input=tool_input)


def _as_text(answer: _Answer, full: bool) -> str:
    parts = []
    for edit in answer.edits:
        # Blocks hold whole lines; the parser re-adds each line's newline, so a deletion that carried
        # its newline in old_text is written without it.
        old = edit.old_text[:-1] if edit.old_text.endswith("\n") else edit.old_text
        old = old[1:] if old.startswith("\n") else old
        block = [f"<<<<<<< SEARCH [{', '.join(edit.incident_ids)}]", old, "======="]
        if edit.new_text:
            block.append(edit.new_text)
        block.append(">>>>>>> REPLACE")
        parts.append("\n".join(block))
    verdicts = _terse(answer.verdicts, full)
    if verdicts or full or not parts:
        parts.append("```json\n" + json.dumps({"verdicts": verdicts}) + "\n```")
    return "\n\n".join(parts) + "\n"


# --- repairs: what a check said, and how the scripted model answers it --------------------------------

_PROBLEMS = re.compile(r"^## Problems\n(?P<body>.*?)(?=^## )", re.MULTILINE | re.DOTALL)
_PROBLEM = re.compile(r"^- (?P<path>[^\s:]+):(?P<line>\d+): (?P<message>.*(?:\n  .*)*)", re.MULTILINE)
# Where the classes a fix names without importing them live.
_KNOWN_CLASSES = {
    "StandardCharsets": "java.nio.charset.StandardCharsets",
    "Charset": "java.nio.charset.Charset",
}
_MISSING_SYMBOL = re.compile(r"cannot find symbol\s+symbol:\s+(?:variable|class) (?P<name>\w+)")
# Python's NameError and tsc's TS2304 for names a fix used without importing them, and their modules.
_MISSING_NAME = re.compile(r"(?:NameError: name|TS2304: Cannot find name) '(?P<name>\w+)'")
_NAME_MODULES = {"timezone": "datetime", "lastValueFrom": "rxjs", "firstValueFrom": "rxjs"}
_NO_CONSTRUCTOR = re.compile(r"no suitable constructor found for Formatter\((?P<args>[^)]*)\)")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str


def parse_problems(text: str) -> list[Problem]:
    """The `## Problems` of a repair request (the check's diagnostics), empty for a fix request."""
    section = _PROBLEMS.search(text.replace("\r\n", "\n"))
    if section is None:
        return []
    return [
        Problem(m.group("path"), int(m.group("line")), " ".join(m.group("message").split()))
        for m in _PROBLEM.finditer(section.group("body"))
    ]


def _add_import(doc: _Document, qualified: str, owner: str) -> bool:
    """`import qualified;` where it sorts among the imports (before the first that sorts after it)."""
    wanted = f"import {qualified};"
    if any(text is not None and text.strip() == wanted for text in doc.lines):
        return False
    imports = [i for i, text in enumerate(doc.lines) if text is not None and _IMPORT.match(text)]
    if not imports:
        return False
    after = next((i for i in imports if str(doc.lines[i]).strip() > wanted), None)
    if after is None:
        doc.set(imports[-1], f"{doc.lines[imports[-1]]}\n{wanted}", owner)
    else:
        doc.set(after, f"{wanted}\n{doc.lines[after]}", owner)
    return True


def _import_name(doc: _Document, name: str, module: str, owner: str) -> str | None:
    """Add `name` to the import from `module`: Python `from m import a`, TS `import { a } from "m"`."""
    python = re.compile(rf"^(?P<head>\s*from {re.escape(module)} import )(?P<names>[\w ,]+?)\s*$")
    script = re.compile(
        rf"""^(?P<head>\s*import \{{)(?P<names>[^}}]*)(?P<tail>\}} from ["']{re.escape(module)}["'];?\s*)$"""
    )
    for index, text in enumerate(doc.lines):
        if text is None:
            continue
        found = python.match(text) or script.match(text)
        if found is None:
            continue
        names = [n.strip() for n in found.group("names").split(",") if n.strip()]
        if name in names:
            return None
        joined = ", ".join([*names, name])
        if found.re is script:
            doc.set(index, f"{found.group('head')} {joined} {found.group('tail')}".rstrip(), owner)
        else:
            doc.set(index, f"{found.group('head')}{joined}", owner)
        return f"Imported {name} from {module}, which the fix used without importing it."
    return None


def _replacing(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new, 1)


def _repair(doc: _Document, problem: Problem, owner: str) -> str | None:
    """One diagnostic repaired the way a model shown it would (or would try to)."""
    missing = _MISSING_SYMBOL.search(problem.message)
    if missing and missing.group("name") in _KNOWN_CLASSES:
        qualified = _KNOWN_CLASSES[missing.group("name")]
        if _add_import(doc, qualified, owner):
            return f"Imported {qualified}, which the fix used without importing it."
        return None
    name = _MISSING_NAME.search(problem.message)
    if name and name.group("name") in _NAME_MODULES:
        return _import_name(doc, name.group("name"), _NAME_MODULES[name.group("name")], owner)
    wrong = _NO_CONSTRUCTOR.search(problem.message)
    index = problem.line - doc.first_line
    if wrong and 0 <= index < len(doc.lines) and doc.lines[index] is not None:
        # A guess that stays wrong: Formatter has no charset overload for an Appendable at all (the
        # rule does not apply to it), and the scripted model keeps swapping one argument for another.
        swaps = {
            "StandardCharsets.UTF_8)": "StandardCharsets.UTF_8.name())",
            "StandardCharsets.UTF_8.name())": "StandardCharsets.UTF_8)",
        }
        for old, new in swaps.items():
            if old in str(doc.lines[index]):
                doc.rewrite(index, _replacing(old, new), owner)
                return f"Passed the charset as {new[:-1]} instead."
    return None


def _repair_answer(prompt: ParsedPrompt, problems: Sequence[Problem]) -> _Answer:
    lines = prompt.content.split("\n")
    doc = _Document(lines, prompt.first_line)
    owner = ",".join(i.id for i in prompt.incidents)
    notes = [
        note for problem in problems if problem.path == prompt.path and (note := _repair(doc, problem, owner))
    ]
    edits = [
        _Edit(tuple(i.id for i in prompt.incidents), edit.old_text, edit.new_text)
        for edit in _build_edits(doc)
    ]
    explanation = " ".join(notes) or "No repair known for these problems."
    status, confidence = ("fixed", FIXED_CONFIDENCE) if edits else ("cannot_fix", CANNOT_FIX_CONFIDENCE)
    return _Answer(edits, [_verdict(i.id, status, confidence, explanation) for i in prompt.incidents])


def request_text(request: FakeRequest) -> str:
    """What the model reads: the system text (over OpenAI it carries the rule book) and the last
    user turn (over Anthropic the rule book opens it)."""
    return f"{request.system}\n\n{request.last_user_text()}"


def quoting(request: FakeRequest) -> FakeRequest:
    """The request without the instruction that lets words replaced on the incidents' own lines go
    in `subs`: answered, every change is an edit quoting its lines (what drifting, and tests that
    spoil quoted text, work on)."""
    return dataclasses.replace(request, system=request.system.replace(OWN_LINES_MARKER, "quote `old` always"))


def respond(request: FakeRequest) -> FakeReply:
    """Answer one fix, retry or repair request with scripted edits and verdicts."""
    text = request_text(request)
    prompts = parse_prompts(text)
    problems = parse_problems(request.last_user_text())
    if not prompts:
        answer = _Answer([], [])
    elif problems:
        answer = _repair_answer(prompts[0], problems)
    else:
        # Several files in one request: each answered as alone; their incident numbers run across
        # the request, so the edits of all of them go in one answer.
        answers = [_answer(prompt) for prompt in prompts]
        answer = _Answer([e for a in answers for e in a.edits], [v for a in answers for v in a.verdicts])
    full = FULL_VERDICTS_MARKER in request.system
    if request.tools:
        # The tool offered is the one to call (the request says how to answer, as for a real model).
        name = str(request.tools[0].get("name", ""))
        own_lines = OWN_LINES_MARKER in request.system
        return FakeReply(tool_calls=[_as_tool_call(answer, name, full, own_lines)])
    return FakeReply(text=_as_text(answer, full))
