"""Map the analyzer's incident URIs onto the user's checkout, refusing anything that escapes it.

The analyzer records paths where *it* saw the source: `/opt/input/source/...` inside the kantra
container, `/shared/source/...` on the Konveyor Hub, `/source/...` in test harnesses, a host path
such as `/home/runner/work/app/...`, or a plain relative path. None of those is where the user's
checkout is, so every incident path goes through `map_uri`, and only a path that provably stays
inside `--input` comes out as fixable. The predecessor skipped this step and never found files.

Everything here is a plain function of its arguments (plus reads of the file system under
`input_dir`), so it can be tested without loading an analysis.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from kantra_ai._fs import visible_file
from kantra_ai.analysis.ignore import GitIgnored
from kantra_ai.analysis.model import Applicability

# Where analyzers are known to mount the application. Tried after any root found on disk, so a
# checkout that proves another root wins; a prefix only ever matches whole path components.
KNOWN_ROOTS: tuple[str, ...] = ("/opt/input/source", "/shared/source", "/source")

# Dependency sources the analyzer unpacked or decompiled: Maven repositories (`/root/.m2/`,
# `/addon/.m2/`, `/cache/m2/`) and the java provider's temp dirs (Go's MkdirTemp("java-bin-")
# appends digits). They are not the user's code, so they are never edited.
_DEPENDENCY_PATTERN = re.compile(r"(?:^|/)(?:\.m2|cache/m2|java-bin-\d+)/")

# Build output and vendored code: a copy of a source (Maven's target/classes holds src/main/resources)
# or someone else's code. Anywhere in a path; `target` and `build` only outside `src/` (a Java
# package may well be called `build`).
VENDORED_DIRS = frozenset({"node_modules", "bower_components", ".git"})
BUILD_DIRS = frozenset({"target", "build"})

# Upper bound on extra roots found on disk: a real analysis has one or two (kantra's container
# root plus, in merged outputs, a host root). More would mean the votes are noise.
_MAX_DETECTED_ROOTS = 4


@dataclass(frozen=True)
class MappedPath:
    """Where an incident's URI lands in the checkout, and whether it may be edited."""

    path: PurePosixPath | None  # relative to input_dir; None when there is nothing safe to name
    applicability: Applicability


def generated_path(rel: PurePosixPath, ignored: GitIgnored | None = None) -> bool:
    """Whether a checkout path is build output or vendored code: under one of `VENDORED_DIRS`, under
    a `BUILD_DIRS` folder that is not inside `src/`, or ignored by the checkout's .gitignore files."""
    folders = rel.parts[:-1]
    for depth, name in enumerate(folders):
        if name in VENDORED_DIRS or (name in BUILD_DIRS and "src" not in folders[:depth]):
            return True
    return ignored is not None and ignored.is_ignored(rel, is_dir=False)


def uri_to_path(uri: str) -> str:
    """The file path inside a URI: `file://` stripped and percent-escapes decoded (once).

    Relative paths stay relative. `file://localhost/x` is `/x` (RFC 8089); any other authority is
    kept as the first path component so that it cannot accidentally match a root.
    """
    text = uri.strip()
    if text.startswith("file://"):
        text = text[len("file://") :]
        if text.startswith("localhost/"):
            text = text[len("localhost") :]
    elif text.startswith("file:"):
        text = text[len("file:") :]
    return unquote(text)


def is_dependency_path(path: str) -> bool:
    """True for files inside dependency sources (.m2 repositories, java-bin-NNN dirs)."""
    return _DEPENDENCY_PATTERN.search(path) is not None


def normalize_root(root: str) -> str:
    """`file:///opt/input/source/` -> `/opt/input/source`; `/` stays `/`."""
    text = uri_to_path(root)
    stripped = text.rstrip("/")
    if not stripped:
        return "/" if text.startswith("/") else ""
    return stripped


def strip_root(path: str, root: str) -> str | None:
    """The part of `path` below `root`, or None when `root` is not a whole-component prefix."""
    if root == "/":
        return path[1:] if path.startswith("/") else None
    if path == root:
        return ""
    if path.startswith(root + "/"):
        return path[len(root) + 1 :]
    return None


def _safe_relative(text: str) -> PurePosixPath | None:
    """A relative POSIX path with no `..`, no NUL and no leading `/`, or None if unsafe.

    `..` is refused outright instead of being normalized away: the analyzer never writes it, so
    its presence means a crafted or corrupt file, and `a/../b` resolution is exactly how
    traversal sneaks past a prefix check.
    """
    if "\x00" in text or text.startswith("/"):
        return None
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts) if parts else PurePosixPath()


def _resolve_inside(root_real: Path, rel: PurePosixPath) -> Path | None:
    """The real location of `rel` under `root_real` after following symlinks, or None if it
    leaves `root_real` (or cannot be resolved at all)."""
    try:
        real = (root_real / rel).resolve()
    except (OSError, RuntimeError):  # RuntimeError: symlink loop on Python 3.10
        return None
    if real == root_real or root_real in real.parents:
        return real
    return None


class TreeLocator:
    """Where the paths of one checkout really are, following symlinks, each folder resolved once:
    resolving every file from the root costs a system call per path component, and an analysis
    names thousands of files in a few dozen folders."""

    def __init__(self, input_dir: Path) -> None:
        self.root = input_dir.resolve()
        self._folders: dict[PurePosixPath, Path | None] = {}

    def locate(self, rel: PurePosixPath) -> tuple[Path | None, bool]:
        """The real location of `rel` if it is inside the checkout (None: it leads out of it, or
        cannot be resolved), and whether it is a regular file."""
        parent = rel.parent
        if parent not in self._folders:
            self._folders[parent] = _resolve_inside(self.root, parent)
        folder = self._folders[parent]
        if folder is not None:
            candidate = folder / rel.name
            try:
                status = os.lstat(candidate)
            except OSError:
                status = None
            # Not a link: its real location is its folder's (a link, or nothing there, is
            # resolved in full below).
            if status is not None and not stat.S_ISLNK(status.st_mode):
                return candidate, stat.S_ISREG(status.st_mode)
        real = _resolve_inside(self.root, rel)
        return real, real is not None and visible_file(real)


def map_uri(
    uri: str,
    input_dir: Path,
    roots: Sequence[str] = KNOWN_ROOTS,
    *,
    dependency: bool = False,
    generated: Callable[[PurePosixPath], bool] | None = None,
    locator: TreeLocator | None = None,
) -> MappedPath:
    """Map one incident URI onto `input_dir`.

    `roots` are tried in order; the first whole-component prefix of an absolute path is
    stripped. Relative paths are taken relative to `input_dir` as they are. The result's path is
    never outside `input_dir`: `..`, an absolute path no root explains, and symlinks leading out
    of the tree are all refused as OUTSIDE_INPUT (with no path). `dependency` is the analyzer's
    own `isDependencyIncident` flag. `generated` says which existing files are build output or
    vendored code (GENERATED); None: none are. `locator`: one for `input_dir`, shared by the calls
    of one analysis.
    """
    if not uri.strip():
        return MappedPath(None, Applicability.NO_FILE)
    decoded = uri_to_path(uri)
    if dependency or is_dependency_path(decoded):
        return MappedPath(None, Applicability.DEPENDENCY)

    remainder: str | None = decoded
    if decoded.startswith("/"):
        remainder = None
        for root in roots:
            remainder = strip_root(decoded, root)
            if remainder is not None:
                break
    if remainder is None:
        # Absolute and under no root: it names a place outside the checkout.
        return MappedPath(None, Applicability.OUTSIDE_INPUT)

    rel = _safe_relative(remainder)
    if rel is None:
        return MappedPath(None, Applicability.OUTSIDE_INPUT)
    if not rel.parts:
        # The URI names the root itself: a project-level finding with no file to edit.
        return MappedPath(None, Applicability.NO_FILE)

    real, is_file = (locator or TreeLocator(input_dir)).locate(rel)
    if real is None:
        return MappedPath(None, Applicability.OUTSIDE_INPUT)
    if not is_file:
        return MappedPath(rel, Applicability.MISSING_FILE)
    if generated is not None and generated(rel):
        return MappedPath(rel, Applicability.GENERATED)
    return MappedPath(rel, Applicability.SOURCE)


def _candidate_paths(paths: Iterable[str]) -> list[str]:
    """Unique absolute non-dependency paths worth voting with, sorted for determinism."""
    out = {
        p
        for p in paths
        if p.startswith("/") and "\x00" not in p and not is_dependency_path(p) and ".." not in p.split("/")
    }
    return sorted(out)


def _root_rank(root: str, explained: int) -> tuple[int, int, int, str]:
    # More paths explained first; then the analyzers' own roots; then the shorter root, whose
    # matches used more path components and are therefore stronger evidence; then by name.
    return (-explained, 0 if root in KNOWN_ROOTS else 1, len(root), root)


def _rest_is_file(root_real: Path, path: str, root: str) -> bool:
    rest = strip_root(path, root)
    return rest is not None and rest != "" and visible_file(root_real / rest)


def detect_source_roots(paths: Iterable[str], input_dir: Path) -> list[str]:
    """The analyzer roots that explain `paths` (decoded file paths, as from `uri_to_path`).

    Every split of every absolute path into `root` + `rest` votes for `root` when `rest` is a
    file under `input_dir`; roots are then taken greedily, best first, each explaining paths the
    ones before it did not. When nothing exists on disk (wrong --input, or loading without a
    checkout), falls back to the known roots in use and, for paths under none of them, their
    common directory, so that reports still show readable relative paths.
    Deterministic: the same paths and the same tree always give the same list.
    """
    candidates = _candidate_paths(paths)
    if not candidates:
        return []
    root_real = input_dir.resolve()
    votes: dict[str, set[int]] = {}
    if root_real.is_dir():
        for index, path in enumerate(candidates):
            # Fast path: a root that already has evidence usually explains the next path too,
            # which costs one stat instead of one per directory level. Only a path no leading
            # root explains pays for the full scan, so secondary roots still collect their votes.
            leaders = sorted(votes, key=lambda r: _root_rank(r, len(votes[r])))[:_MAX_DETECTED_ROOTS]
            hits = [r for r in leaders if _rest_is_file(root_real, path, r)]
            for root in hits:
                votes[root].add(index)
            if hits:
                continue
            parts = path.split("/")[1:]  # drop the empty string before the leading "/"
            for k in range(1, len(parts)):
                rest = PurePosixPath(*parts[k:])
                if visible_file(root_real / rest):
                    votes.setdefault("/" + "/".join(parts[:k]), set()).add(index)

    chosen: list[str] = []
    explained: set[int] = set()
    while votes and len(chosen) < _MAX_DETECTED_ROOTS:
        best = min(votes, key=lambda r: _root_rank(r, len(votes[r] - explained)))
        gained = votes[best] - explained
        if not gained:
            break
        chosen.append(best)
        explained |= gained
    if chosen:
        return chosen
    return _fallback_roots(candidates)


def _fallback_roots(candidates: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    unrooted: list[str] = []
    for path in candidates:
        root = next((r for r in KNOWN_ROOTS if strip_root(path, r) is not None), None)
        if root is None:
            unrooted.append(path)
        else:
            counts[root] = counts.get(root, 0) + 1
    roots = sorted(counts, key=lambda r: _root_rank(r, counts[r]))
    if unrooted:
        common = os.path.commonpath([p.rsplit("/", 1)[0] or "/" for p in unrooted])
        # "/" would turn every stray absolute path into a checkout path; leave those unmapped.
        if common != "/":
            roots.append(common)
    return roots


def detect_source_root(paths: Iterable[str], input_dir: Path) -> str | None:
    """The single best analyzer root for `paths`, or None; see `detect_source_roots`."""
    roots = detect_source_roots(paths, input_dir)
    return roots[0] if roots else None


def mapping_roots(paths: Iterable[str], input_dir: Path, source_root: str | None = None) -> list[str]:
    """The ordered roots `map_uri` should try for an analysis whose decoded paths are `paths`.

    A user-given `source_root` is the only root (the user knows better than any guess); else the
    detected roots come first and the known analyzer roots after them as a safety net.
    """
    if source_root is not None:
        return [normalize_root(source_root)]
    roots = detect_source_roots(paths, input_dir)
    return roots + [r for r in KNOWN_ROOTS if r not in roots]


@dataclass(frozen=True)
class MisplacedInput:
    """`--input` is a folder above or below the one the analysis was made of."""

    expected: Path  # the folder the analysis's paths start at
    levels: int  # how far --input is from it: > 0 below, < 0 above
    root: str  # the analyzer root that would map --input as it is


def _levels_up(path: Path, n: int) -> Path | None:
    parents = path.parents
    return parents[n - 1] if n <= len(parents) - 1 else None


def misplaced_input(paths: Iterable[str], used_root: str | None, input_dir: Path) -> MisplacedInput | None:
    """Whether `input_dir` is one or two levels below or above the folder the analysis describes.

    The analyzer mounts the application at a root (`/opt/input/source`); the detected root says
    which analyzer folder `--input` stands for. A detected root of `/opt/input/source/src` with an
    `--input` named `src` means `--input` is the application's `src`: its files map (the analysis
    seems to match) but every incident outside `src` is lost and the run store, the reports and
    the incident ids belong to the wrong folder. Evidence is required either way: below, the
    parent root is an analyzer's own mount point, or a path of the analysis outside `src` exists
    in the folder above; above, the folder that completes a known mount point exists in `--input`.
    `paths` are decoded file paths (`uri_to_path`); `used_root` is the root that mapped most.
    """
    if used_root is None or not used_root.startswith("/") or used_root == "/":
        return None
    tree = input_dir.resolve()
    components = used_root.split("/")[1:]
    absolute = [p for p in paths if p.startswith("/") and not is_dependency_path(p)]
    for n in (1, 2):
        if len(components) <= n:
            break
        above = _levels_up(tree, n)
        if above is None or list(tree.parts[-n:]) != components[-n:]:
            continue
        parent_root = "/" + "/".join(components[:-n])
        outside = (strip_root(p, parent_root) for p in absolute if strip_root(p, used_root) is None)
        evidence = parent_root in KNOWN_ROOTS or any(
            rest is not None and _safe_relative(rest) is not None and visible_file(above / rest)
            for rest, _ in zip(outside, range(50), strict=False)  # a few stats, not one per incident
        )
        if evidence:
            return MisplacedInput(above, n, used_root)
    for known in KNOWN_ROOTS:
        rest = strip_root(known, used_root)
        if rest and len(rest.split("/")) <= 2 and (tree / rest).is_dir():
            return MisplacedInput(tree / rest, -len(rest.split("/")), used_root)
    return None
