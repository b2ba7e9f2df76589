"""Load a Konveyor analysis (output.yaml / output.json, any schema generation) onto a checkout.

`load_analysis` is the only entry point the rest of the pipeline needs: it finds the file, parses
it (libyaml when available), reads every schema generation (`schema.py`), maps every incident URI
onto `--input` (`uris.py`), gives every incident a stable identity and returns an `Analysis` in a
deterministic order. Anything wrong with the file raises `AnalysisError` with one line naming it.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import yaml

from kantra_ai.analysis.ignore import GitIgnored
from kantra_ai.analysis.model import Analysis, Applicability, Incident, incident_identity
from kantra_ai.analysis.plain_yaml import NotPlain, load_plain
from kantra_ai.analysis.schema import SchemaError, compact_incident, parse_document
from kantra_ai.analysis.unmatched import BlankedStream, blank_ignored_blocks
from kantra_ai.analysis.uris import (
    MappedPath,
    TreeLocator,
    generated_path,
    is_dependency_path,
    map_uri,
    mapping_roots,
    normalize_root,
    strip_root,
    uri_to_path,
)
from kantra_ai.collector import collector_paused

try:  # libyaml is ~10x faster on multi-megabyte outputs; pure Python still works without it
    _YamlLoader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _YamlLoader = yaml.SafeLoader

ANALYSIS_FILE_NAMES = ("output.yaml", "output.json")


class AnalysisError(ValueError):
    """The analysis cannot be loaded. The message is one line and names the file."""


def find_analysis_file(path: Path) -> Path:
    """The analysis file `path` names (itself, or the output.yaml/json of a folder); AnalysisError
    when there is none."""
    if path.is_dir():
        for name in ANALYSIS_FILE_NAMES:
            candidate = path / name
            if candidate.is_file():
                return candidate
        raise AnalysisError(f"{path}: directory holds no {' or '.join(ANALYSIS_FILE_NAMES)}")
    if not path.exists():
        raise AnalysisError(f"{path}: analysis file not found")
    if not path.is_file():
        raise AnalysisError(f"{path}: not a regular file")
    return path


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _first_clause(exc: ValueError) -> str:
    """Python's own words, without its advice to programmers ("use sys.set_int_max_str_digits()")."""
    return _one_line(str(exc).split(":")[0])


def _parse_yaml(stream: BinaryIO, file: Path) -> object:
    if _YamlLoader is not yaml.SafeLoader:  # plain_yaml reads libyaml's events
        try:  # the file read as it is parsed, each incident made compact as soon as it is read
            return load_plain(BlankedStream(stream), items=("incidents", compact_incident))
        except NotPlain:
            pass  # tags, anchors or a syntax error: PyYAML reads the rest of YAML and words errors
        stream.seek(0)
    data = stream.read()
    blanked = blank_ignored_blocks(data)
    try:
        return yaml.load(blanked, Loader=_YamlLoader)
    except yaml.YAMLError:
        pass
    # Report the error of the untouched text, in case blanking itself was the cause.
    try:
        return yaml.load(data, Loader=_YamlLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        # "while scanning a quoted scalar" + where it began is what points at the real mistake.
        started = exc.context_mark
        if exc.problem and exc.context and started is not None and started is not mark:
            problem += f" ({exc.context} started at line {started.line + 1})"
        raise AnalysisError(f"{file}: YAML syntax error{where}: {_one_line(problem)}") from exc
    except yaml.YAMLError as exc:
        raise AnalysisError(f"{file}: YAML syntax error: {_one_line(str(exc))}") from exc


def _refuse_empty(head: bytes, stream: BinaryIO, file: Path) -> None:
    """AnalysisError when the file holds only white space: `head`, its start, and (only when that is
    blank) the rest of it."""
    chunk = head
    while chunk:
        if chunk.strip():
            return
        chunk = stream.read(len(head))
    raise AnalysisError(f"{file}: the file is empty")


def _refuse_cut_short(stream: BinaryIO, file: Path) -> None:
    """A YAML analysis cut short (a copy or a transfer that stopped, a disk that filled while kantra
    wrote it) is mostly still valid YAML: it would load part of the incidents, and the run would
    look complete. Every analyzer's emitter ends its file with a line break; a file that ends in
    the middle of a line was cut. (JSON cut short never parses.)"""
    end = stream.seek(0, io.SEEK_END)
    stream.seek(max(0, end - 4096))
    tail = stream.read()
    stream.seek(0)
    if tail.endswith(b"\n"):
        return
    last = _one_line(tail[tail.rfind(b"\n") + 1 :].decode(errors="replace"))[-40:]
    raise AnalysisError(
        f"{file}: the file ends in the middle of a line ({last!r}): "
        "it looks cut short; analyze again, or end it with a line break if it is complete"
    )


def _parse(file: Path) -> object:
    try:
        with file.open("rb") as stream:
            return _parse_stream(stream, file)
    except OSError as exc:
        raise AnalysisError(f"{file}: cannot read: {exc.strerror or exc}") from exc


def _parse_stream(stream: BinaryIO, file: Path) -> object:
    head = stream.read(1 << 16)
    _refuse_empty(head, stream, file)
    stream.seek(0)
    if file.suffix.lower() == ".json":
        data = stream.read()
        try:
            document: object = json.loads(data)
        except json.JSONDecodeError as exc:
            raise AnalysisError(
                f"{file}: JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise AnalysisError(f"{file}: not UTF-8 text: {exc.reason}") from exc
        except ValueError as exc:  # a number of more than 4,300 digits
            raise AnalysisError(f"{file}: a value cannot be read: {_first_clause(exc)}") from exc
    else:
        if b"\x00" in head:  # a store, an archive, a class file: YAML never holds a NUL
            raise AnalysisError(f"{file}: not a text file (it holds NUL bytes): not an analysis output")
        _refuse_cut_short(stream, file)
        try:
            document = _parse_yaml(stream, file)
        except AnalysisError:
            raise
        except ValueError as exc:  # a number of more than 4,300 digits (Python's limit)
            raise AnalysisError(f"{file}: a value cannot be read: {_first_clause(exc)}") from exc
    if document is None:  # only comments, or a bare `---`
        raise AnalysisError(f"{file}: the file is empty")
    return document


def _line_of(file: Path, key: str, value: object) -> int | None:
    """The line of `key: value` in the file (YAML or JSON), for errors about one scalar; the first
    such line when several match (the parser meets them in file order too)."""
    if not key or value is None or not isinstance(value, (str, int, float)):
        return None
    shown = str(value).lower() if isinstance(value, bool) else str(value)
    pattern = re.compile(
        rb'(?<![\w])"?'
        + re.escape(key.encode())
        + rb'"?[ \t]*:[ \t]*["\']?'
        + re.escape(shown.encode())
        + rb"(?![\w.])"
    )
    try:
        match = pattern.search(file.read_bytes())
    except OSError:
        return None
    return None if match is None else match.string.count(b"\n", 0, match.start()) + 1


def _sort_key(incident: Incident) -> tuple[str, int, str, str, str]:
    where = incident.path.as_posix() if incident.path is not None else incident.uri
    return (
        where,
        incident.line or 0,
        incident.violation.ruleset,
        incident.violation.rule_id,
        incident.message,
    )


def load_analysis(
    path: Path,
    input_dir: Path,
    *,
    source_root: str | None = None,
    include_informational: bool = False,
    include_generated: bool = False,
) -> Analysis:
    """Load the analysis at `path` (a file, or a directory holding output.yaml / output.json)
    and map its incidents onto the checkout at `input_dir`.

    `source_root` forces the analyzer root to strip (e.g. `/opt/input/source`); by default it is
    detected from the files that exist under `input_dir`. Informational incidents (insights and
    rules without effort) are always loaded; `include_informational` makes them fixable
    candidates (see `Analysis.fixable` and `select_incidents`). Incidents in build output or vendored
    code (`uris.generated_path`) are not applicable (GENERATED) unless `include_generated`.
    """
    file = find_analysis_file(Path(path))
    if not Path(input_dir).is_dir():
        raise AnalysisError(f"{input_dir}: input directory does not exist or is not a directory")
    if source_root is not None and not normalize_root(source_root).startswith("/"):
        raise AnalysisError(f"{file}: source root must be an absolute path, got {source_root!r}")

    with collector_paused():
        return _load(file, Path(input_dir), source_root, include_informational, include_generated)


def _load(
    file: Path, input_dir: Path, source_root: str | None, include_informational: bool, include_generated: bool
) -> Analysis:
    try:
        raw = parse_document(_parse(file), consume=True)
    except SchemaError as exc:
        line = _line_of(file, exc.key, exc.value)
        raise AnalysisError(f"{file}{f':{line}' if line else ''}: {_one_line(str(exc))}") from exc

    decoded = {inc.uri: uri_to_path(inc.uri) for rv in raw.violations for inc in rv.incidents if inc.uri}
    roots = mapping_roots(
        (p for p in decoded.values() if not is_dependency_path(p)), Path(input_dir), source_root
    )

    ignored = GitIgnored(Path(input_dir))
    locator = TreeLocator(Path(input_dir))

    def generated(rel: PurePosixPath) -> bool:
        return generated_path(rel, ignored)

    mapped: dict[tuple[str, bool], MappedPath] = {}
    # Exact duplicates found by their first copy's id (the id of occurrence 0), a string each
    # incident holds anyway: a tuple of five fields per incident was the largest thing of a load.
    later_copies: dict[str, int] = {}
    incidents: list[Incident] = []
    # Analyzer order, so that `occurrence` numbers exact duplicates the same way on every load.
    # Each raw incident is let go once its incident is made: the two are not held side by side.
    for rv in raw.violations:
        v = rv.violation
        pending, rv.incidents = rv.incidents[::-1], []
        while pending:
            inc = pending.pop()
            cache_key = (inc.uri, inc.dependency)
            if cache_key not in mapped:
                mapped[cache_key] = map_uri(
                    inc.uri,
                    Path(input_dir),
                    roots,
                    dependency=inc.dependency,
                    generated=None if include_generated else generated,
                    locator=locator,
                )
            target = mapped[cache_key]
            # The identity uses the checkout-relative path when there is one, so that re-running the
            # analyzer in a container or on the host (different URIs, same file) keeps every id.
            where = target.path.as_posix() if target.path is not None else inc.uri
            identity = incident_identity(v.ruleset, v.rule_id, where, inc.line, inc.message, 0)
            occurrence = later_copies.get(identity, 0)
            later_copies[identity] = occurrence + 1
            if occurrence:
                identity = incident_identity(v.ruleset, v.rule_id, where, inc.line, inc.message, occurrence)
            incident = Incident(
                id=identity,
                violation=v,
                uri=inc.uri,
                path=target.path,
                line=inc.line,
                message=inc.message,
                code_snip=inc.code_snip,
                variables=inc.variables,  # made for this incident by parse_document, let go here
                applicability=target.applicability,
            )
            incidents.append(incident)

    # Stable: exact duplicates stay in the analyzer's order, that of their occurrence numbers.
    incidents.sort(key=_sort_key)
    violations = sorted(
        (rv.violation for rv in raw.violations),
        key=lambda v: (v.ruleset, v.rule_id, v.informational),
    )
    used_root = _used_root(roots, decoded.values(), source_root)
    return Analysis(
        source=str(file),
        violations=violations,
        incidents=incidents,
        errors=dict(sorted(raw.errors.items())),
        source_root=used_root,
        include_informational=include_informational,
    )


def _used_root(roots: list[str], paths: Iterable[str], source_root: str | None) -> str | None:
    """The root that actually mapped the most paths, for reports ("mapped /opt/input/source")."""
    if source_root is not None:
        return normalize_root(source_root)
    counts: dict[str, int] = {}
    for path in paths:
        if not path.startswith("/") or is_dependency_path(path):
            continue
        root = next((r for r in roots if strip_root(path, r) is not None), None)
        if root is not None:
            counts[root] = counts.get(root, 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda r: (-counts[r], roots.index(r)))


def count_by_applicability(analysis: Analysis) -> dict[Applicability, int]:
    """Incidents per applicability, every kind present (zeros included), in enum order."""
    counts = dict.fromkeys(Applicability, 0)
    for incident in analysis.incidents:
        counts[incident.applicability] += 1
    return counts
