"""Which groups of writes broke the check: tried on a scratch copy of the tree, never on the tree.

The scratch copy holds the tree as it is (without `.git` and kantra-ai's own folder); a probe puts
back, in the copy, the content of every file of the groups tried as it was before their writes
(`content_without`: the same computation an undo makes, three-way merged when other writes of ours
built on them) and runs the check there. Bisection then finds, one at a time, the group whose writes
taken out (with those found before) make the check pass, in about log2(groups) checks each.
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from kantra_ai.edits.files import SourceFileError, read_source
from kantra_ai.store.revert import content_without, live_writes
from kantra_ai.store.run_store import RunStore
from kantra_ai.verify.groups import Group

IGNORED = (".git", ".kantra-ai")

Probe = Callable[[Sequence[Group]], Awaitable[bool]]


class ScratchTree:
    """A copy of the tree to try checks on; `without(groups)` sets it to the tree minus their writes."""

    def __init__(self, tree: Path, root: Path, store: RunStore) -> None:
        self.tree = tree
        self.root = root
        self.store = store
        shutil.copytree(tree, root, symlinks=True, ignore=shutil.ignore_patterns(*IGNORED))
        self._changed: set[str] = set()

    def without(self, groups: Sequence[Group]) -> None:
        for path in self._changed:  # back to the tree as it is
            shutil.copy2(self.tree / path, self.root / path)
        self._changed = set()
        recorded = {w.id: w for w in live_writes(self.store)}
        by_path: dict[str, list[int]] = {}
        for group in groups:
            for write in group.writes:
                by_path.setdefault(write.path, []).append(write.id)
        for path, ids in sorted(by_path.items()):
            chosen = [recorded[i] for i in sorted(set(ids)) if i in recorded]
            if not chosen:
                continue
            try:
                current = read_source(self.tree / path)
            except (OSError, SourceFileError):
                continue
            content = content_without(self.store, path, current.sha256, current.raw, chosen)
            if isinstance(content, bytes):
                (self.root / path).write_bytes(content)
                self._changed.add(path)


async def find_culprits(groups: Sequence[Group], probe: Probe) -> list[Group] | None:
    """The groups whose writes, taken out, make the check pass; None when taking out all of them
    does not (then the failure is not ours). `probe(gs)`: does it pass without the writes of gs?"""
    seen: dict[frozenset[str], bool] = {}

    async def passes(chosen: Sequence[Group]) -> bool:
        key = frozenset(g.key for g in chosen)
        if key not in seen:
            seen[key] = await probe(chosen)
        return seen[key]

    if not await passes(groups):
        return None
    culprits: list[Group] = []
    remaining = list(groups)
    while not await passes(culprits):
        # The smallest prefix of `remaining` that, taken out with the culprits, makes it pass: its
        # last group is a culprit (taking out everything passes, so there is one).
        low, high = 1, len(remaining)
        while low < high:
            middle = (low + high) // 2
            if await passes(culprits + remaining[:middle]):
                high = middle
            else:
                low = middle + 1
        culprits.append(remaining.pop(low - 1))
    return culprits
