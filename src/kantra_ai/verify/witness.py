"""What a check must leave alone: the files our writes made and the run store.

A check is run to judge the files as our writes left them. One that changes them (`git checkout .`,
a formatter, `git stash`) has judged something else, and what it passes is not what the tree holds;
one that deletes the run store (`git clean -fdx`) leaves the run writing to a file nobody will find,
so `status` and `undo` would know nothing of it. Both are found by looking again after the check;
no verdict is drawn from such a check, and the run stops there (verify/loop.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kantra_ai._fs import file_identity
from kantra_ai.edits.files import sha256_file

_GONE = "gone"


def _fingerprint(path: Path) -> str:
    """The file's content hash, or why it has none; never follows a link (a swapped-in link is a change)."""
    try:
        if path.is_symlink():
            return f"link to {os.readlink(path)}"
        return sha256_file(path)
    except FileNotFoundError:
        return _GONE
    except OSError as exc:
        return f"unreadable ({exc.strerror})"


@dataclass(frozen=True)
class Witness:
    """The state of what a check must not touch, seen just before it ran."""

    tree: Path
    files: dict[str, str]  # path in the tree -> fingerprint
    store_file: Path | None  # the SQLite store (a server's store is out of the check's reach)
    store_identity: tuple[int, int] | None

    @classmethod
    def before(cls, tree: Path, paths: Iterable[str], store_file: Path | None) -> Witness:
        files = {path: _fingerprint(tree / path) for path in sorted(set(paths))}
        identity = file_identity(store_file) if store_file is not None else None
        return cls(tree, files, store_file, identity)

    def changes(self) -> list[str]:
        """What the check changed, as people read it ("src/A.java was changed"); empty: nothing."""
        found = []
        store = self.store_file
        if (
            store is not None
            and self.store_identity is not None
            and file_identity(store) != self.store_identity
        ):
            found.append(f"the run store {self.store_file} was deleted or replaced")
        for path, seen in self.files.items():
            now = _fingerprint(self.tree / path)
            if now != seen:
                found.append(f"{path} was {'deleted' if now == _GONE else 'changed'}")
        return found

    def verdict(self, command: str) -> str:
        """Why no verdict may be drawn from the check that just ran; "": nothing was touched."""
        changes = self.changes()
        if not changes:
            return ""
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        return (
            f"the check `{command}` changed what it checks while it ran: {changes[0]}{more}; a check must "
            "leave the source files and .kantra-ai/ alone, so what it passed is not verified. Pass a "
            "--verify-command that only builds or tests"
        )
