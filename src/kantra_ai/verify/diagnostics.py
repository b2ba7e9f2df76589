"""A check's output as diagnostics (file, line, message), and which of them are new.

Recognised: javac and Maven (with javac's `symbol:` / `location:` lines), Gradle's Kotlin errors,
tsc and .NET (`file(line,col): error CODE: message`, and tsc's pretty `file:line:col - error`),
eslint's stylish listing, Go and every other `file:line[:col]: message` tool, pytest failures (at
the deepest frame inside the tree, with the exception), and Python tracebacks (`File "...", line N`
followed by the exception; compileall's syntax errors look the same). Warnings and notes are not
diagnostics. Output nothing recognises is kept as the check's tail.

Paths are made relative to the tree (a tool may print absolute paths, `./` paths or `file://` URIs);
a file outside the tree keeps its name but has no `path`. Diagnostics are compared with the
baseline by file and message, never by line: the fixes move lines.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """The text without terminal colour codes (Maven colours its output even when piped)."""
    return _ANSI.sub("", text)


_MAVEN = re.compile(r"^\[ERROR\] (?P<file>\S.*?):\[(?P<line>\d+),(?P<col>\d+)\] (?P<msg>.+)$")
_PAREN = re.compile(
    r"^(?P<file>[^\s(:][^(]*?)\((?P<line>\d+),(?P<col>\d+)\): (?P<sev>error|warning) (?P<code>[A-Z]+\d+): "
    r"(?P<msg>.+?)(?: \[[^\]]+\])?$"
)
_TSC_PRETTY = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<col>\d+) - (?P<sev>error|warning) (?P<code>TS\d+): "
    r"(?P<msg>.+)$"
)
_KOTLIN = re.compile(r"^(?P<sev>e|w): (?:file://)?(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+) (?P<msg>.+)$")
_GCC = re.compile(
    r"^(?P<file>[^\s:()\[][^:()]*\.[A-Za-z0-9]+):(?P<line>\d+)(?::(?P<col>\d+))?:? (?P<msg>\S.*)$"
)
_STYLISH = re.compile(r"^\s+(?P<line>\d+):(?P<col>\d+)\s+error\s+(?P<msg>.+?)(?:\s{2,}\S+)?$")
_CONTINUATION = re.compile(
    r"^(?:\[ERROR\])?\s+(?P<what>symbol|location|required|found|reason):\s+(?P<rest>.+)$"
)
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_EXCEPTION = re.compile(r"^(?P<exc>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)?): (?P<msg>.*)$")
_BARE_EXCEPTION = re.compile(r"^(?P<exc>[A-Za-z_][\w.]*(?:Error|Exception))$")
# pytest: a failure's section header, its `E   ` lines and its `path.py:N: Exception` locations.
_PYTEST_SECTION = re.compile(r"^_{3,} (?P<name>.+?) _{3,}$")
_PYTEST_BANNER = re.compile(r"^={3,} (?P<title>FAILURES|ERRORS|short test summary info) ={3,}$")
_PYTEST_E = re.compile(r"^E\s+(?P<msg>\S.*)$")
_PYTEST_WHERE = re.compile(r"^(?P<file>[^\s:][^:]*\.py):(?P<line>\d+): ?(?P<exc>[\w.]*)\s*$")
_PYTEST_SUMMARY = re.compile(r"^(?P<kind>FAILED|ERROR) (?P<node>\S+)(?: - (?P<msg>.*))?$")
_SKIP_MESSAGES = re.compile(r"^(?:warning|note|info)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Diagnostic:
    path: str | None  # relative to the tree; None when the file is outside it or unknown
    line: int | None
    message: str
    file: str = ""  # as the tool printed it, for a file outside the tree

    @property
    def key(self) -> tuple[str, str]:
        """What identifies it across checks: the file and the message, never the line."""
        return (self.path or self.file, " ".join(self.message.split()))

    def text(self) -> str:
        where = self.path or self.file
        if where and self.line:
            return f"{where}:{self.line}: {self.message}"
        return f"{where}: {self.message}" if where else self.message

    def first_line(self) -> str:
        return self.text().splitlines()[0]

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "message": self.message, "file": self.file}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnostic:
        return cls(data.get("path"), data.get("line"), str(data["message"]), str(data.get("file", "")))


class _Resolver:
    """Tool paths to tree-relative ones; `roots`: the tree and any scratch copy checks ran in."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = [Path(os.path.realpath(r)) for r in roots]

    def __call__(self, file: str) -> str | None:
        file = file.removeprefix("file://")
        candidate = Path(file)
        for root in self.roots:
            full = candidate if candidate.is_absolute() else root / candidate
            full = Path(os.path.normpath(full))
            try:
                relative = full.relative_to(root)
            except ValueError:
                resolved = Path(os.path.realpath(full))
                try:
                    relative = resolved.relative_to(root)
                except ValueError:
                    continue
            if relative.parts and relative.parts[0] != ".." and (root / relative).is_file():
                return PurePosixPath(*relative.parts).as_posix()
        return None

    def clean(self, message: str) -> str:
        """A message without the tree's (or scratch copy's) absolute path in it: comparable."""
        for root in self.roots:
            message = message.replace(f"{root}{os.sep}", "")
        return message.strip()


def _located(resolve: _Resolver, file: str, line: str | int | None, message: str) -> Diagnostic:
    path = resolve(file)
    return Diagnostic(path, int(line) if line else None, resolve.clean(message), "" if path else file)


def parse_diagnostics(output: str, roots: Sequence[Path]) -> list[Diagnostic]:
    """Every error the output reports (see the module docstring), each once, in order."""
    resolve = _Resolver(roots)
    lines = [_ANSI.sub("", line).rstrip("\r") for line in output.splitlines()]
    found: list[Diagnostic] = []
    used: set[int] = set()
    found += _pytest(lines, used, resolve)
    found += _tracebacks(lines, used, resolve)
    found += _line_formats(lines, used, resolve)
    unique: dict[tuple[str | None, int | None, str], Diagnostic] = {}
    for diagnostic in found:
        unique.setdefault(
            (diagnostic.path or diagnostic.file, diagnostic.line, diagnostic.message), diagnostic
        )
    return list(unique.values())


def _pytest(lines: list[str], used: set[int], resolve: _Resolver) -> list[Diagnostic]:
    """pytest's failures: each section becomes one diagnostic at its deepest frame in the tree."""
    if not any(_PYTEST_BANNER.match(line) for line in lines):
        return []
    found: list[Diagnostic] = []
    section: str | None = None
    errors: list[str] = []
    where: list[tuple[str, str, str]] = []
    in_failures = False

    def close() -> None:
        if section is None or not (errors or where):
            return
        message = errors[0] if errors else (where[-1][2] or "failed")
        inside = [w for w in where if resolve(w[0]) is not None]
        file, line, _ = (inside or where or [("", "", "")])[-1]
        text = f"{message} (in {section})"
        found.append(_located(resolve, file, line, text) if file else Diagnostic(None, None, text))

    summary: list[Diagnostic] = []
    for number, line in enumerate(lines):
        banner = _PYTEST_BANNER.match(line)
        if banner:
            close()
            section, errors, where = None, [], []
            in_failures = banner.group("title") in ("FAILURES", "ERRORS")
            used.add(number)
            continue
        summary_line = _PYTEST_SUMMARY.match(line)
        if summary_line:
            node = summary_line.group("node")
            message = summary_line.group("msg") or summary_line.group("kind").lower()
            summary.append(_located(resolve, node.split("::")[0], None, f"{message} (in {node})"))
            used.add(number)
            continue
        if not in_failures:
            continue
        header = _PYTEST_SECTION.match(line)
        if header:
            close()
            section, errors, where = header.group("name"), [], []
            used.add(number)
            continue
        if section is None:
            continue
        used.add(number)
        error = _PYTEST_E.match(line)
        if error:
            errors.append(error.group("msg"))
        location = _PYTEST_WHERE.match(line)
        if location:
            where.append((location.group("file"), location.group("line"), location.group("exc")))
    close()
    return found or summary


def _tracebacks(lines: list[str], used: set[int], resolve: _Resolver) -> list[Diagnostic]:
    """`File "x.py", line N` frames, then the exception: at the deepest frame inside the tree."""
    found: list[Diagnostic] = []
    frame: tuple[str, str] | None = None  # the deepest frame inside the tree so far
    outside: tuple[str, str] | None = None
    for number, line in enumerate(lines):
        if number in used:
            continue
        match = _FRAME.match(line)
        if match:
            used.add(number)
            if resolve(match.group("file")) is not None:
                frame = (match.group("file"), match.group("line"))
            else:
                outside = (match.group("file"), match.group("line"))
            continue
        if frame is None and outside is None:
            continue
        if line.startswith((" ", "\t")) or not line.strip():
            used.add(number)  # the source line and the caret under it
            continue
        exception = _EXCEPTION.match(line) or _BARE_EXCEPTION.match(line)
        if exception:
            used.add(number)
            file, where = frame or outside or ("", "")
            found.append(_located(resolve, file, where, line.strip()))
        frame = outside = None
    return found


def _line_formats(lines: list[str], used: set[int], resolve: _Resolver) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    stylish_file: str | None = None
    last: int | None = None  # the diagnostic javac's `symbol:` lines continue
    for number, line in enumerate(lines):
        if number in used:
            continue
        continuation = _CONTINUATION.match(line)
        if continuation and last is not None:
            extra = f"{continuation.group('what')}: {' '.join(continuation.group('rest').split())}"
            previous = found[last]
            if extra not in previous.message:
                found[last] = Diagnostic(
                    previous.path, previous.line, f"{previous.message}\n  {extra}", previous.file
                )
            continue
        match = _MAVEN.match(line)
        if match:
            found.append(_located(resolve, match["file"], match["line"], match["msg"]))
            last = len(found) - 1
            continue
        match = _PAREN.match(line) or _TSC_PRETTY.match(line)
        if match:
            if match["sev"] == "error":
                found.append(
                    _located(resolve, match["file"], match["line"], f"{match['code']}: {match['msg']}")
                )
            last = None
            continue
        match = _KOTLIN.match(line)
        if match:
            if match["sev"] == "e":
                found.append(_located(resolve, match["file"], match["line"], match["msg"]))
            last = None
            continue
        match = _GCC.match(line)
        if match and resolve(match["file"]) is not None:
            message = match["msg"]
            severity = message.split(":", 1)[0].strip().lower() if ":" in message else ""
            if severity in ("warning", "note", "info") or _SKIP_MESSAGES.match(message):
                last = None
                continue
            message = re.sub(r"^(?:fatal )?error:\s*", "", message)
            found.append(_located(resolve, match["file"], match["line"], message))
            last = len(found) - 1
            continue
        name = line.strip()
        if name and not line[0].isspace() and " " not in name and "." in name and resolve(name) is not None:
            stylish_file = name  # eslint's stylish format: the file, then its problems
            last = None
            continue
        match = _STYLISH.match(line)
        if match and stylish_file is not None:
            found.append(_located(resolve, stylish_file, match["line"], match["msg"]))
            continue
        if line.strip() and not line[0].isspace():
            last = None
    return found


def new_diagnostics(current: Iterable[Diagnostic], baseline: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics of `current` the baseline did not have (as many times as they occur more)."""
    allowance = Counter(d.key for d in baseline)
    new: list[Diagnostic] = []
    for diagnostic in current:
        if allowance[diagnostic.key] > 0:
            allowance[diagnostic.key] -= 1
        else:
            new.append(diagnostic)
    return new
