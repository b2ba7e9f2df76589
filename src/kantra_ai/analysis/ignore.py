"""Is a path of the checkout ignored by git? Read from the tree's own `.gitignore` files.

Build output and vendored copies are usually git-ignored; an incident in such a file is better
fixed at its source than in the copy. `GitIgnored` answers "is this path ignored" the way git
does, without git: every `.gitignore` from the root down to the path's folder (plus
`.git/info/exclude`) applies, a deeper file's rule beats a shallower one's, the last matching line
of a file wins, `!` re-includes, and nothing below an ignored folder can be re-included. Files
are read once, on demand, with pathspec's `GitIgnoreSpec` (git's own wildmatch rules).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pathspec

GITIGNORE = ".gitignore"


class GitIgnored:
    """`is_ignored(relative_path)` for the checkout at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Keyed by the POSIX text of a folder ("" for the root): a 100,000-incident analysis asks
        # about every file, and building a path object per folder level cost more than the answers.
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._answers: dict[tuple[str, bool], bool] = {}

    def is_ignored(self, path: str | PurePosixPath, *, is_dir: bool | None = None) -> bool:
        """True when git would ignore `path` (relative to the root, POSIX separators). `is_dir`
        None means: look at the disk (a folder-only pattern like `build/` needs to know)."""
        rel = PurePosixPath(path)
        parts = rel.parts
        if rel.is_absolute() or ".." in parts:
            raise ValueError(f"{path}: not a path inside the checkout")
        if is_dir is None:
            is_dir = self.root.joinpath(*parts).is_dir()
        # Git does not look inside an ignored folder: an ignored ancestor decides.
        for depth in range(1, len(parts)):
            if self._own_rule(parts[:depth], True):
                return True
        return bool(parts) and self._own_rule(parts, is_dir)

    def _own_rule(self, parts: tuple[str, ...], is_dir: bool) -> bool:
        key = ("/".join(parts), is_dir)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = self._decide(parts, is_dir)
        return answer

    def _decide(self, parts: tuple[str, ...], is_dir: bool) -> bool:
        # The deepest .gitignore with a matching line decides; within one, the last line does.
        for depth in range(len(parts) - 1, -1, -1):
            spec = self._spec(parts[:depth])
            if spec is None:
                continue
            inner = "/".join(parts[depth:]) + ("/" if is_dir else "")
            include = spec.check_file(inner).include
            if include is not None:
                return include
        return False

    def _spec(self, folder: tuple[str, ...]) -> pathspec.GitIgnoreSpec | None:
        key = "/".join(folder)
        if key not in self._specs:
            lines: list[str] = []
            sources = [self.root.joinpath(*folder, GITIGNORE)]
            if not folder:
                sources.insert(0, self.root / ".git" / "info" / "exclude")
            for source in sources:
                try:
                    lines += source.read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:  # none here (or unreadable): no rules from it
                    continue
            self._specs[key] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._specs[key]
