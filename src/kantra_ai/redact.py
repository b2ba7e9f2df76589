"""Secrets never leave the process: one redaction layer for everything that does.

Every text kantra-ai shows or keeps (the console, `--json`, run.json, report.html, the run store,
the review file, plan files, provider error messages) passes through `redact` on its way out, which
masks:

- configured secrets: the values of the environment variables that hold credentials: the provider
  keys the presets name (`watch_env`, called by `providers/registry.py`), the forge tokens
  (`GITHUB_TOKEN`, `GH_TOKEN`, `GITLAB_TOKEN`), and any variable whose name ends in `_API_KEY`,
  `_TOKEN`, `_SECRET`, `_PASSWORD` or `_ACCESS_KEY`; plus values registered with `add_secret` (the
  password of a `--base-url`). A value shorter than `MIN_SECRET_LENGTH` is too short to be a real
  credential and would mask ordinary words, so it is not masked by value;
- anything shaped like a known credential, configured here or not: Anthropic and OpenAI keys
  (`sk-ant-…`, `sk-proj-…`, `sk-…`), GitHub (`ghp_…`, `github_pat_…`) and GitLab (`glpat-…`)
  tokens, AWS access key ids and secret keys, Google (`AIza…`), Groq (`gsk_…`), Hugging Face
  (`hf_…`) and Slack (`xox…-`) tokens, bearer tokens, `x-api-key` headers, and the password in a
  URL (`https://user:PASSWORD@host`).

A masked value becomes `***` (shapes keep their recognisable prefix: `sk-ant-***`), which keeps
JSON valid and says what was there. Bottom-level: imports nothing from kantra_ai.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

MASK = "***"
MIN_SECRET_LENGTH = 8
FORGE_TOKEN_ENV = ("GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN")
SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_ACCESS_KEY", "_SECRET_ACCESS_KEY")

_lock = threading.Lock()
_watched: set[str] = set(FORGE_TOKEN_ENV)
_registered: set[str] = set()

# A token of at least N characters with a digit in it: keys have digits, words in code seldom do.
_TOKEN = r"(?=[A-Za-z0-9_\-]*\d)[A-Za-z0-9_\-]{{{},}}"


@dataclass(frozen=True)
class _Shape:
    """A credential shape: `pattern` and its `replacement`, which keeps the part that says what kind
    of secret it was. `gate` finds a part of every match and starts with a literal, which the regular
    expression engine searches for at memchr speed; most of the patterns start with `\\b` and try
    every position of the text (a 6 MB plan took 2 s). `caseless`: `gate` is lower case, searched in
    the lower-cased text (ASCII text; other text is searched with `gate` ignoring case)."""

    pattern: re.Pattern[str]
    replacement: str
    gate: re.Pattern[str]
    caseless: bool = False


def _shape(pattern: str, replacement: str, gate: str, *, caseless: bool = False) -> _Shape:
    return _Shape(re.compile(pattern), replacement, re.compile(gate), caseless)


# The password of a URL: scheme://user:PASSWORD@host
_URL_PASSWORD = _shape(
    r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"<>]+):[^\s@/'\"<>]+@",
    r"\1:" + MASK + "@",
    r"://[^\s:/@'\"<>]",  # not `file:///`, which every analysis and plan is full of
)
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_WHITESPACE = re.compile(r"\s")

_SHAPES: list[_Shape] = [
    _URL_PASSWORD,
    _shape(r"\b(sk-ant-)[A-Za-z0-9_\-]{8,}", r"\1" + MASK, "sk-ant-"),
    _shape(r"\b(sk-(?:proj-|or-v1-|svcacct-|admin-)?)" + _TOKEN.format(16), r"\1" + MASK, "sk-"),
    _shape(r"\b(gh[pousr]_)[A-Za-z0-9]{20,}", r"\1" + MASK, "gh[pousr]_"),
    _shape(r"\b(github_pat_)[A-Za-z0-9_]{20,}", r"\1" + MASK, "github_pat_"),
    _shape(r"\b(glpat-)[A-Za-z0-9_\-]{16,}", r"\1" + MASK, "glpat-"),
    _shape(r"\b(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", r"\1" + MASK, "AKIA|ASIA|ABIA|ACCA"),
    _shape(
        r"(?i)(aws_secret_access_key[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{30,}",
        r"\1" + MASK,
        "aws_secret_access_key",
        caseless=True,
    ),
    _shape(r"\b(AIza)[0-9A-Za-z_\-]{30,}", r"\1" + MASK, "AIza"),
    _shape(r"\b(gsk_)[A-Za-z0-9]{20,}", r"\1" + MASK, "gsk_"),
    _shape(r"\b(hf_)[A-Za-z0-9]{20,}", r"\1" + MASK, "hf_"),
    _shape(r"\b(xox[abposr]-)[A-Za-z0-9\-]{10,}", r"\1" + MASK, "xox[abposr]-"),
    _shape(
        r"(?i)\b(bearer\s+)(?=[A-Za-z0-9._~+/\-]*\d)[A-Za-z0-9._~+/\-]{8,}=*",
        r"\1" + MASK,
        "bearer",
        caseless=True,
    ),
    _shape(
        r"(?i)\b(x-api-key[\"']?\s*[:=]\s*[\"']?)(?=[A-Za-z0-9._~+/\-]*\d)[A-Za-z0-9._~+/\-]{8,}",
        r"\1" + MASK,
        "x-api-key",
        caseless=True,
    ),
    # A password in a URL's query (JDBC URLs: ...?user=app&password=...), escaped & included.
    _shape(
        r"(?i)([?&;](?:amp;)?(?:password|passwd|pwd)=)[^\s&;#'\"<>\\]+",
        r"\1" + MASK,
        "(?:password|passwd|pwd)=",
        caseless=True,
    ),
    # The body of a PEM private key, up to its END line (or the end of a text cut short); a JSON
    # text writes its line breaks as \n.
    _shape(
        r"(-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----)(?:\\[nr]|[\sA-Za-z0-9+/=])+",
        r"\1" + MASK,
        "-----BEGIN ",
    ),
]
_CASELESS_GATES = {shape.gate.pattern: re.compile(shape.gate.pattern, re.IGNORECASE) for shape in _SHAPES}
# Every gate in one pattern: a short text (one value of a report written value by value) that none
# of them occurs in holds no credential shape, found with one search instead of one per shape. Not
# for long texts, where an alternation of unrelated words is slower than the gates one at a time.
_ANY_GATE = re.compile(
    "|".join(
        f"(?i:{shape.gate.pattern})" if shape.caseless else f"(?:{shape.gate.pattern})" for shape in _SHAPES
    )
)
_SHORT_TEXT = 4096


def watch_env(names: Iterable[str | None]) -> None:
    """Treat the values of these environment variables as secrets (read at each `redact`)."""
    with _lock:
        _watched.update(name for name in names if name)


def add_secret(value: str | None) -> None:
    """Mask this value wherever it appears from now on (e.g. a password given in a URL)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _registered.add(value)


def without_our_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a program kantra-ai starts that has no use for kantra-ai's own credentials (a
    verification check runs the repository's build, which may be anyone's code): without the
    provider keys it reads (`watch_env`) and without any variable holding a value registered as a
    secret (the Hub's repository password). Other variables stay, tokens included: a build may need
    its own (a private Maven repository's, a forge token for GitHub Packages)."""
    with _lock:
        watched, registered = _watched - set(FORGE_TOKEN_ENV), set(_registered)
    return {
        name: value for name, value in env.items() if name.upper() not in watched and value not in registered
    }


def url_password(url: str | None) -> str | None:
    """The password of `scheme://user:password@host/...`, if the URL carries one."""
    if not url:
        return None
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]+:([^\s@/]+)@", url)
    return match.group(1) if match else None


def _is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper in _watched or upper.endswith(SECRET_ENV_SUFFIXES)


def configured_secrets() -> list[str]:
    """Every secret value known now, longest first (so that no shorter one masks part of it)."""
    global _cache
    with _lock:
        cache = _cache
        registered = frozenset(_registered)
    if cache is not None and cache.registered == registered and cache.signature == _signature(cache.names):
        return cache.secrets
    watched = set(_watched)
    found = {spelling for value in registered for spelling in _spellings(value)}
    names: list[str] = []
    for name, value in os.environ.items():
        password = url_password(value) if "://" in value else None
        if name in watched or _is_secret_name(name) or password:
            names.append(name)
        if (name in watched or _is_secret_name(name)) and len(value) >= MIN_SECRET_LENGTH:
            found.update(_spellings(value))
        if password and len(password) >= MIN_SECRET_LENGTH:
            found.update(_spellings(password))  # HTTPS_PROXY=http://user:password@proxy and the like
    names += sorted(watched - set(names))
    secrets = sorted(found, key=len, reverse=True)
    with _lock:
        _cache = _Cache(tuple(names), _signature(tuple(names)), registered, secrets)
    return secrets


def _spellings(secret: str) -> set[str]:
    """The secret, and the secret as JSON (`--json`, run.json, the web app's answers and events) and
    HTML (pages, report.html) write it: a password with a `"`, a `&` or an `ä` is not the same bytes
    there, and is masked wherever it is redacted, before or after the escaping."""
    found = {secret}
    if not secret.isascii() or any(c in secret for c in "\"\\&<>'") or not secret.isprintable():
        found.update(
            (
                json.dumps(secret)[1:-1],
                json.dumps(secret, ensure_ascii=False)[1:-1],
                html.escape(secret),
                html.escape(secret).replace("&quot;", "&#34;").replace("&#x27;", "&#39;"),  # markupsafe's
            )
        )
    return found


@dataclass(frozen=True)
class _Cache:
    """What the environment held at the last look. Reading all of it costs ~50 µs; its size and the
    values of the variables that held (or may hold) secrets tell whether to look again."""

    names: tuple[str, ...]
    signature: tuple[object, ...]
    registered: frozenset[str]
    secrets: list[str]


_cache: _Cache | None = None


def _signature(names: Iterable[str]) -> tuple[object, ...]:
    return (len(os.environ), *(os.environ.get(name) for name in names))


class Redactor:
    """The secrets known at one moment, applied to many texts (the store redacts thousands of
    values per statement and reads the environment once for all of them)."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if self.secrets and len(text) >= PIECE_LENGTH:
            text = self._mask_pieces(text)
        if len(text) <= _SHORT_TEXT and _ANY_GATE.search(text) is None:
            return text
        return _mask_shapes(text)

    def _mask_pieces(self, text: str) -> str:
        """A secret cut in two (a reply stopped at max_tokens inside it, and the continuation that
        wrote the rest; each kept as JSON, so the cut is not at the end of the text masked): a run
        of its first or of its last PIECE_LENGTH characters or more is masked too."""
        for secret in self.secrets:
            if len(secret) <= PIECE_LENGTH:
                continue
            text = _mask_runs(text, secret, first=True)
            text = _mask_runs(text, secret, first=False)
        return text


# A piece of a configured secret this long is masked on its own: long enough that text of the
# user's sharing it by chance is unlikely, short enough that little of a cut secret stays shown.
PIECE_LENGTH = 12


def _mask_runs(text: str, secret: str, *, first: bool) -> str:
    """`text` with each run of the secret's `first` (else last) PIECE_LENGTH characters or more
    masked: from where the probe is, as far as the text goes on reading as the secret."""
    probe = secret[:PIECE_LENGTH] if first else secret[-PIECE_LENGTH:]
    at = text.find(probe)
    if at < 0:
        return text
    pieces: list[str] = []
    done = 0
    while at >= 0:
        size = PIECE_LENGTH
        if first:
            while size < len(secret) and at + size < len(text) and text[at + size] == secret[size]:
                size += 1
            start, end = at, at + size
        else:
            end = at + PIECE_LENGTH
            while size < len(secret) and end - size > 0 and text[end - size - 1] == secret[-size - 1]:
                size += 1
            start = end - size
        if start >= done:
            pieces += [text[done:start], MASK]
            done = end
        at = text.find(probe, max(at + 1, done))
    return "".join(pieces) + text[done:]


# The characters other than ASCII letters that Python's regular expressions, ignoring case, take
# for an ASCII letter: İ and ı for i, ſ for s, the Kelvin sign for k.
ASCII_LETTER_LOOKALIKES = "\u0130\u0131\u017f\u212a"


def _lowers_to_ascii_only(text: str) -> bool:
    """Whether every match of an ASCII word, ignoring case, is that word in `text.lower()`."""
    return text.isascii() or not any(c in text for c in ASCII_LETTER_LOOKALIKES)


_CHUNK = 1 << 20  # characters lower-cased at a time: a copy of a 24 MB report each time was not


def _caseless_gates_found(text: str) -> set[str]:
    """The caseless gates that occur in `text`, ignoring case; lower-cased a chunk at a time (each
    chunk overlapping the next by a gate's length, so that no occurrence is cut in two)."""
    gates = [shape.gate for shape in _SHAPES if shape.caseless]
    if not _lowers_to_ascii_only(text):  # Unicode case rules (the Kelvin sign is a `k`)
        return {gate.pattern for gate in gates if _CASELESS_GATES[gate.pattern].search(text)}
    overlap = max(len(gate.pattern) for gate in gates)
    found: set[str] = set()
    for offset in range(0, len(text), _CHUNK):
        lowered = text[offset : offset + _CHUNK + overlap].lower()
        found.update(gate.pattern for gate in gates if gate.search(lowered))
    return found


def _mask_shapes(text: str) -> str:
    caseless: set[str] | None = None  # the caseless gates in the text, once needed
    for shape in _SHAPES:
        if not shape.caseless:
            found = shape.gate.search(text) is not None
        else:
            caseless = _caseless_gates_found(text) if caseless is None else caseless
            found = shape.gate.pattern in caseless
        if found:
            if shape is _URL_PASSWORD:
                masked = _mask_urls(text)
            else:
                masked = shape.pattern.sub(shape.replacement, text)
            if masked != text:
                text, caseless = masked, None
    return text


def _mask_urls(text: str) -> str:
    """`_URL_PASSWORD` applied only around its gates: a report links to web pages (`https://`), and
    the pattern, which starts with `\\b`, took a second over a 24 MB plan.html. A match holds no
    whitespace and has one `://`, its gate, right after its scheme: it lies in the stretch from the
    run of scheme characters before a gate (and the character before that, for `\\b`) to the next
    whitespace, and the pattern finds the same matches in that stretch as in the whole text."""
    masked: list[tuple[int, int, str]] = []  # (start, end, the stretch masked), where it changed
    done = 0  # the text before this is settled
    for gate in _URL_PASSWORD.gate.finditer(text):
        if gate.start() < done:
            continue  # in the stretch just looked at
        start = gate.start()
        while start > done and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        start = max(done, start - 1)
        space = _WHITESPACE.search(text, gate.end())
        end = len(text) if space is None else space.start()
        stretch = text[start:end]
        new = _URL_PASSWORD.pattern.sub(_URL_PASSWORD.replacement, stretch)
        if new != stretch:
            masked.append((start, end, new))
        done = end
    if not masked:
        return text  # no copy of a large text that holds no password
    pieces: list[str] = []
    done = 0
    for start, end, new in masked:
        pieces += [text[done:start], new]
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def redactor() -> Redactor:
    return Redactor(configured_secrets())


def value_redactor() -> Callable[[str], str]:
    """A redactor for a report written value by value: its keys, messages and paths repeat, and
    each distinct value among the last few thousand is redacted once."""
    return functools.lru_cache(maxsize=4096)(redactor())


def redact(text: str) -> str:
    """`text` with every configured secret and every credential-shaped string masked."""
    return redactor()(text) if text else text


def redact_obj(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_obj(k): redact_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value


class RedactingStream:
    """A text stream that redacts what is written to it and passes everything else through.

    The command line wraps stdout and stderr in it for the whole run, so nothing printed (rich
    output, typer's errors, an unexpected traceback) can carry a secret out.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    @property
    def inner(self) -> TextIO:
        return self._inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
