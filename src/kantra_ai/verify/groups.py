"""Groups of our writes that are verified, repaired and reverted together, and which group a
diagnostic belongs to.

A group is what a strategy checks as one: a file's writes (per-file, and the groups at-end bisects),
a violation's writes (per-violation: every write that fixed one of its incidents, and the repairs of
those files), or everything pending (per-phase). A diagnostic located in a file belongs to the groups
that wrote that file; for violations, narrowed to those whose edits are on or next to its line. A
diagnostic in no file of ours (a failing test, a file outside the tree, output naming no file) is
unattributed: the strategy decides (one group: it is that group's; several: bisection finds out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kantra_ai.edits.model import Edit
from kantra_ai.store.checks import PendingWrite
from kantra_ai.verify.diagnostics import Diagnostic

GroupBy = Literal["file", "violation", "all"]
NEAR_LINES = 1  # a diagnostic this close to an edit's lines is that edit's


@dataclass(frozen=True)
class Group:
    key: str  # file:PATH, violation:RULE, all
    writes: tuple[PendingWrite, ...]

    @property
    def paths(self) -> list[str]:
        return sorted({w.path for w in self.writes})

    @property
    def incident_ids(self) -> list[str]:
        return list(dict.fromkeys(i for w in self.writes for i in w.fixed))

    @property
    def write_ids(self) -> list[int]:
        return [w.id for w in self.writes]

    def edits_of(self, path: str) -> list[Edit]:
        return [e for w in self.writes if w.path == path for e in w.edits]


def group_writes(writes: Sequence[PendingWrite], by: GroupBy, rule_of: Mapping[str, str]) -> list[Group]:
    """The pending writes as groups, in the order their first write happened."""
    if not writes:
        return []
    if by == "all":
        return [Group("all", tuple(writes))]
    members: dict[str, list[PendingWrite]] = {}
    if by == "file":
        for write in writes:
            members.setdefault(f"file:{write.path}", []).append(write)
        return [Group(key, tuple(ws)) for key, ws in members.items()]
    # By violation: a fix joins the groups of the rules it fixed; a repair (or a fix that fixed
    # nothing) joins every group that wrote its file, else a group of its own file.
    paths_of: dict[str, set[str]] = {}
    for write in writes:
        for rule in dict.fromkeys(rule_of.get(i, "") for i in write.fixed):
            if rule:
                members.setdefault(f"violation:{rule}", []).append(write)
                paths_of.setdefault(f"violation:{rule}", set()).add(write.path)
    for write in writes:
        if any(rule_of.get(i) for i in write.fixed):
            continue
        keys = [k for k, paths in paths_of.items() if write.path in paths] or [f"file:{write.path}"]
        for key in keys:
            members.setdefault(key, []).append(write)
    return [Group(key, tuple(sorted(ws, key=lambda w: w.id))) for key, ws in members.items()]


def edit_lines(text: str, edits: Iterable[Edit]) -> list[tuple[int, int, tuple[str, ...]]]:
    """Where the edits' new text is in `text`: (first, last) 1-based lines and the incidents."""
    spans = []
    for edit in edits:
        if not edit.new_text.strip():
            continue
        at = text.find(edit.new_text)
        if at < 0:
            continue
        first = text.count("\n", 0, at) + 1
        spans.append((first, first + edit.new_text.strip("\n").count("\n"), edit.incident_ids))
    return spans


@dataclass
class Attribution:
    by_group: dict[str, list[Diagnostic]] = field(default_factory=dict)
    unattributed: list[Diagnostic] = field(default_factory=list)

    def of(self, group: Group) -> list[Diagnostic]:
        return self.by_group.get(group.key, [])


def attribute(
    diagnostics: Iterable[Diagnostic],
    groups: Sequence[Group],
    read: Callable[[str], str | None],
    rule_of: Mapping[str, str],
) -> Attribution:
    """Each diagnostic to the groups that caused it (see the module docstring)."""
    result = Attribution()
    for diagnostic in diagnostics:
        owners = [g for g in groups if diagnostic.path is not None and diagnostic.path in g.paths]
        if len(owners) > 1 and diagnostic.line is not None:
            owners = _near(diagnostic, owners, read, rule_of) or owners
        if not owners:
            result.unattributed.append(diagnostic)
        for group in owners:
            result.by_group.setdefault(group.key, []).append(diagnostic)
    return result


def _near(
    diagnostic: Diagnostic,
    groups: Sequence[Group],
    read: Callable[[str], str | None],
    rule_of: Mapping[str, str],
) -> list[Group]:
    """The groups whose edits are on or next to the diagnostic's line."""
    assert diagnostic.path is not None and diagnostic.line is not None
    text = read(diagnostic.path)
    if text is None:
        return []
    edits = [e for g in groups for e in g.edits_of(diagnostic.path)]
    rules = {
        rule_of.get(i, "")
        for first, last, ids in edit_lines(text, edits)
        if first - NEAR_LINES <= diagnostic.line <= last + NEAR_LINES
        for i in ids
    }
    return [g for g in groups if g.key.removeprefix("violation:") in rules]
