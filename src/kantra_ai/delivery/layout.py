"""Which commits and which branches a job's changes become.

A *unit* is what one commit carries; its key (`--git-commit`) is the incident, violation, file,
phase or the whole job. A *group* is what one pull request carries (`--pr-strategy`): a violation, a
phase, or everything. Each hunk (see `hunks.py`) goes to the first unit, in a stable order, among
those of the incidents it belongs to.

Branches for review are cut from the job's base, each holding only its group's commits, except when
a group *depends* on an earlier one: it needs a hunk that group's commit carries, or its changes and
the other group's touch the same lines (or neighbouring ones: git's merge would conflict), or its
changes cannot be taken without the other's. Such a group is stacked on the branch of the last group
it depends on, and its pull request targets that branch and says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from kantra_ai.delivery.changes import Picks, WriteChange, file_content, union
from kantra_ai.store.revert import merge_file


class CommitStrategy(str, Enum):
    PER_INCIDENT = "per-incident"
    PER_VIOLATION = "per-violation"
    PER_FILE = "per-file"
    PER_PHASE = "per-phase"
    AT_END = "at-end"


class PrStrategy(str, Enum):
    PER_VIOLATION = "per-violation"
    PER_PHASE = "per-phase"
    AT_END = "at-end"


@dataclass(frozen=True)
class IncidentInfo:
    id: str
    rule_id: str
    description: str
    path: str
    line: int | None
    stage: str
    stage_name: str
    message: str = ""
    confidence: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0
    verification: str = ""  # what --verify decided: verified, repaired ('': not verified)
    repair_rounds: int = 0


@dataclass
class Unit:
    key: str  # the commit's Kantra-AI-Unit trailer
    group: str  # the pull request group it belongs to
    stage_index: int
    order: tuple[object, ...]
    incidents: list[str] = field(default_factory=list)
    picks: dict[int, frozenset[int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.picks.values())


@dataclass
class Group:
    key: str
    units: list[Unit]
    stacked_on: str | None = None  # the group key whose branch this one is cut from
    depends_on: list[str] = field(default_factory=list)  # every group it depends on
    stages: set[str] = field(default_factory=set)

    @property
    def picks(self) -> dict[int, frozenset[int]]:
        return union(*(u.picks for u in self.units))


@dataclass
class Layout:
    units: list[Unit]  # every commit of the job, in order
    groups: list[Group]  # pull request groups, in order
    writes: list[WriteChange]
    unattached: list[str] = field(default_factory=list)  # fixed incidents no change belongs to

    def group(self, key: str) -> Group:
        return next(g for g in self.groups if g.key == key)

    def chain(self, group: Group) -> list[Group]:
        """The groups a group's branch holds, bottom first (its stack, then itself)."""
        below = self.chain(self.group(group.stacked_on)) if group.stacked_on else []
        return [*below, group]

    def writes_of(self, path: str) -> list[WriteChange]:
        return [w for w in self.writes if w.path == path]

    def paths(self, picks: Picks) -> list[str]:
        chosen = {w for w, indices in picks.items() if indices}
        return sorted({w.path for w in self.writes if w.id in chosen})


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def commit_key(strategy: CommitStrategy, info: IncidentInfo, several_stages: bool) -> str:
    stage = f"@{info.stage}" if several_stages else ""
    if strategy is CommitStrategy.PER_INCIDENT:
        return f"incident:{info.id}"
    if strategy is CommitStrategy.PER_VIOLATION:
        return f"violation:{info.rule_id}{stage}"
    if strategy is CommitStrategy.PER_FILE:
        return f"file:{info.path}{stage}"
    if strategy is CommitStrategy.PER_PHASE:
        return f"phase:{info.stage}"
    return "all"


def group_key(strategy: PrStrategy, info: IncidentInfo) -> str:
    if strategy is PrStrategy.PER_VIOLATION:
        return f"violation:{info.rule_id}"
    if strategy is PrStrategy.PER_PHASE:
        return f"phase:{info.stage}"
    return "all"


def branch_suffix(group: str) -> str:
    kind, _, name = group.partition(":")
    return _slug(name) if kind == "violation" else _slug(f"{kind}-{name}") if name else _slug(kind)


def _order(strategy: CommitStrategy, info: IncidentInfo, stage_index: int) -> tuple[object, ...]:
    if strategy is CommitStrategy.PER_INCIDENT:
        return (stage_index, info.path, info.line or 0, info.id)
    if strategy is CommitStrategy.PER_VIOLATION:
        return (stage_index, info.rule_id)
    if strategy is CommitStrategy.PER_FILE:
        return (stage_index, info.path)
    return (stage_index,)


def build_layout(
    writes: Sequence[WriteChange],
    infos: Mapping[str, IncidentInfo],
    stage_order: Sequence[str],
    commit: CommitStrategy,
    prs: PrStrategy,
    base_of: Mapping[str, bytes],
) -> Layout:
    """Units, groups and stacking for the job's writes. `base_of` holds each written file as the
    job's base commit has it (the content review branches start from)."""
    several = len(set(stage_order)) > 1
    stage_index = {s: n for n, s in enumerate(stage_order)}
    units: dict[str, Unit] = {}

    def unit_of(incident_id: str) -> Unit | None:
        info = infos.get(incident_id)
        if info is None:
            return None
        group = group_key(prs, info)
        key = commit_key(commit, info, several)
        if group != "all" and not key.startswith(group):
            key = f"{key}|{group}" if commit is not CommitStrategy.AT_END else group
        found = units.get(key)
        if found is None:
            index = stage_index.get(info.stage, len(stage_index))
            if commit is CommitStrategy.AT_END:
                index = 0
            order = _order(commit, info, index) if commit is not CommitStrategy.AT_END else (0,)
            found = units[key] = Unit(key, group, index, (*order, key))
        return found

    for write in writes:
        # The incidents a write fixed, and those its hunks belong to (an applied edit of an incident
        # the model then called unfixable still changed the file).
        for incident_id in (*write.fixed, *(i for h in write.hunks for i in sorted(h.owners))):
            unit = unit_of(incident_id)
            if unit is not None and incident_id not in unit.incidents:
                unit.incidents.append(incident_id)
    ordered = sorted(units.values(), key=lambda u: u.order)
    rank = {u.key: n for n, u in enumerate(ordered)}
    shared_with: dict[str, set[str]] = {}  # unit key -> units whose hunks it also needs
    for write in writes:
        for hunk in write.hunks:
            owners = sorted(
                {u.key for i in hunk.owners if (u := unit_of(i)) is not None}, key=rank.__getitem__
            )
            if not owners and ordered:  # incidents of no stage of this job: never leave a change out
                owners = [ordered[0].key]
            if not owners:
                continue
            first = units[owners[0]]
            first.picks[write.id] = first.picks.get(write.id, frozenset()) | {hunk.index}
            for other in owners[1:]:
                shared_with.setdefault(other, set()).add(first.key)
    # A unit none of whose changes is its own is folded into the unit holding them.
    unattached: list[str] = []
    for unit in ordered:
        if not unit.empty:
            continue
        holders = sorted(shared_with.get(unit.key, ()), key=lambda k: rank[k])
        target = next((units[k] for k in holders if not units[k].empty), None)
        if target is None:
            unattached.extend(unit.incidents)
        else:
            target.incidents.extend(i for i in unit.incidents if i not in target.incidents)
    kept = [u for u in ordered if not u.empty]
    groups: dict[str, Group] = {}
    for unit in kept:
        group = groups.setdefault(unit.group, Group(unit.group, []))
        group.units.append(unit)
        group.stages |= {infos[i].stage for i in unit.incidents if i in infos}
    layout = Layout(kept, list(groups.values()), list(writes), unattached)
    _stack(layout, shared_with, units, base_of)
    return layout


def _stack(
    layout: Layout,
    shared_with: Mapping[str, set[str]],
    units: Mapping[str, Unit],
    base_of: Mapping[str, bytes],
) -> None:
    """Decide which groups depend on which, and stack each on the last one it depends on."""
    order = {g.key: n for n, g in enumerate(layout.groups)}
    for group in layout.groups:
        needs: set[str] = set()
        for unit in group.units:
            for holder in shared_with.get(unit.key, ()):
                other = units[holder].group
                if other != group.key:
                    needs.add(other)
        for earlier in layout.groups[: order[group.key]]:
            if earlier.key not in needs and _conflict(layout, earlier, group, base_of):
                needs.add(earlier.key)
        group.depends_on = sorted(needs, key=lambda k: order[k])
        if group.depends_on:
            group.stacked_on = group.depends_on[-1]


def _conflict(layout: Layout, first: Group, second: Group, base_of: Mapping[str, bytes]) -> bool:
    """Whether the two groups' changes, each made alone on the base, would not merge."""
    a, b = first.picks, second.picks
    for path in set(layout.paths(a)) & set(layout.paths(b)):
        writes = layout.writes_of(path)
        for write in writes:
            mine = [h for h in write.hunks if h.index in a.get(write.id, ())]
            theirs = [h for h in write.hunks if h.index in b.get(write.id, ())]
            if any(x.touches(y) for x in mine for y in theirs):
                return True
        if len({w.id for w in writes}) == 1:
            continue  # one write: hunks that do not touch always merge
        base = base_of.get(path, writes[0].before)
        alone_a, alone_b = file_content(base, writes, a), file_content(base, writes, b)
        if alone_a is None or alone_b is None or merge_file(alone_a, base, alone_b) is None:
            return True
    return False
