"""A fresh checkout of a tree whose writes the store already holds: put our writes back.

With a store shared by machines (PostgreSQL), a retry can start on a machine that has none of the
files the killed attempt wrote: a Hub pod re-queued onto an empty volume clones the repository
again. The store knows every write of ours with the bytes after it (`blobs`), so each file is
brought to what our last write left, exactly, before the run looks at what is settled. Only a file
that is still what our first write of it found is touched; a file that is neither that nor our last
write's result is refused (someone else's content), never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from kantra_ai.edits.files import SourceFileError, read_source, write_source_bytes
from kantra_ai.store.run_store import RunStore
from kantra_ai.store.schema import StoreError


def restore_writes(store: RunStore, tree: Path) -> list[str]:
    """Bring every file we wrote to its last written content; the paths restored."""
    first_before: dict[str, str] = {}
    last_after: dict[str, str] = {}
    for path, before, after in store.query(
        "SELECT path, before_sha, after_sha FROM writes WHERE tree=? AND state='written' ORDER BY id",
        (store.tree,),
    ):
        first_before.setdefault(str(path), str(before))
        last_after[str(path)] = str(after)
    restored: list[str] = []
    for path, after in last_after.items():
        try:
            source = read_source(tree / path)
        except SourceFileError as exc:
            raise StoreError(f"cannot restore the run store's writes: {exc}") from None
        if source.sha256 == after:
            continue
        content = store.content(after)
        if source.sha256 != first_before[path] or content is None:
            raise StoreError(
                f"{path}: the checkout holds neither what kantra-ai's first write of it found nor what "
                "its last write left; check out the commit the earlier attempt started from"
            )
        try:
            write_source_bytes(source, content, tree=tree)  # a file of the tree, through no link
        except SourceFileError as exc:  # changed while we looked, too
            raise StoreError(f"cannot restore {path}: {exc}") from None
        restored.append(path)
    return restored
