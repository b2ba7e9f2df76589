"""Choose the incidents a run will try to fix, and account for every one it will not.

Every incident of the analysis lands in exactly one bucket, decided in this order:

1. `informational`: its violation is informational (an insight, or a rule without effort) and
   neither `include_informational` nor an explicit `--violation-ids` entry asked for it;
2. `filtered_out`: the user's filters (violation ids, categories, max effort, include/exclude
   globs) leave it out;
3. `not_applicable`: in scope, but there is no file of the checkout to edit (dependency source,
   missing file, no file, outside --input);
4. `selected`: everything else, in the analysis's deterministic order.

Filters come before applicability so that "not applicable" only reports what the user asked for
and still cannot get. Nothing is dropped silently: the four buckets always add up to the total.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath

import pathspec

from kantra_ai.analysis.model import Analysis, Applicability, Category, Incident, Violation


class SelectionError(ValueError):
    """The user's selection cannot be satisfied as given (e.g. unknown violation ids)."""


@dataclass
class Selection:
    selected: list[Incident]  # fixable and in scope, in the analysis's order
    not_applicable: list[Incident]  # in scope, but nothing in the checkout to edit
    filtered_out: int = 0  # left out by the user's filters
    informational: int = 0  # informational and not asked for
    not_applicable_by_reason: dict[Applicability, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.selected) + len(self.not_applicable) + self.filtered_out + self.informational


@lru_cache(maxsize=256)
def _spec(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    # A leading "./" means "from the top" to users; gitignore spells that "/".
    lines = [("/" + p[2:].lstrip("/")) if p.startswith("./") else p for p in (p.strip() for p in patterns)]
    return pathspec.GitIgnoreSpec.from_lines([line for line in lines if line])


def path_matches(path: PurePosixPath, patterns: Sequence[str]) -> bool:
    """True when the relative POSIX `path` matches the glob `patterns`, with .gitignore semantics
    (pathspec): a pattern without `/` matches a name at any depth, a leading `/` anchors it, `**`
    spans directories, a directory's pattern covers everything below it, `!pattern` takes a path
    back out, the last matching pattern wins, `\\` escapes."""
    return bool(_spec(tuple(patterns)).match_file(path.as_posix()))  # pathspec 0.12 says None


def _wanted_violations(analysis: Analysis, violation_ids: Sequence[str]) -> set[str]:
    """Keys of the violations the user named; raises SelectionError for names that match none."""
    by_name: dict[str, set[str]] = {}
    for v in analysis.violations:
        by_name.setdefault(v.rule_id, set()).add(v.key)
        by_name.setdefault(v.key, set()).add(v.key)
    wanted: set[str] = set()
    unknown: list[str] = []
    for raw in violation_ids:
        name = raw.strip()
        if not name:
            continue
        if name in by_name:
            wanted |= by_name[name]
        elif name not in unknown:
            unknown.append(name)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(by_name), n=1, cutoff=0.75)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise SelectionError(
            f"unknown violation id(s): {', '.join(hints)}; ids are rule ids or ruleset/rule-id as "
            f"listed in the analysis ({len(analysis.violations)} violations; `kantra-ai plan` lists them)"
        )
    return wanted


def _refuse_include_matching_nothing(analysis: Analysis, include: Sequence[str]) -> None:
    """Include globs that match no file the analysis has incidents in are a mistake (`*.jav`), as an
    unknown violation id is: taken as given, the run selected nothing and ended with exit 0."""
    paths = sorted({i.path for i in analysis.incidents if i.path is not None})
    if not any(path_matches(path, include) for path in paths):
        examples = ", ".join(p.as_posix() for p in paths[:2]) + (", ..." if len(paths) > 2 else "")
        shown = ", ".join(repr(p) for p in include)
        raise SelectionError(
            f"--include {shown} matches no file with incidents in the analysis ({len(paths)} files: "
            f"{examples or 'none'}); patterns are relative to --input and follow .gitignore rules"
        )


def _in_filters(
    incident: Incident,
    v: Violation,
    *,
    wanted: set[str] | None,
    categories: set[Category] | None,
    max_effort: int | None,
    include: Sequence[str],
    exclude: Sequence[str],
) -> bool:
    if wanted is not None and v.key not in wanted:
        return False
    if categories is not None and v.category not in categories:
        return False
    # An informational rule has no effort; when it is in scope at all it costs nothing to list.
    if max_effort is not None and (v.effort or 0) > max_effort:
        return False
    if include and (incident.path is None or not path_matches(incident.path, include)):
        return False
    return not (exclude and incident.path is not None and path_matches(incident.path, exclude))


def select_incidents(
    analysis: Analysis,
    *,
    violation_ids: Sequence[str] | None = None,
    categories: Sequence[Category] | None = None,
    max_effort: int | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    include_informational: bool | None = None,
) -> Selection:
    """Split the analysis into selected, not applicable, filtered out and informational.

    Empty lists mean "no filter". `violation_ids` match a rule id (in any ruleset) or
    `ruleset/rule-id`; naming an informational violation explicitly selects it. Globs match the
    checkout-relative path (see `path_matches`); incidents without a path never match `include`.
    `include_informational` defaults to the analysis's own setting from `load_analysis`.
    """
    if include_informational is None:
        include_informational = analysis.include_informational
    wanted = _wanted_violations(analysis, violation_ids) if violation_ids else None
    if wanted is not None and not wanted:  # only blank ids were given
        wanted = None
    category_set = set(categories) if categories else None
    if include:
        _refuse_include_matching_nothing(analysis, include)

    selection = Selection(selected=[], not_applicable=[])
    reasons: dict[Applicability, int] = {a: 0 for a in Applicability if a is not Applicability.SOURCE}
    for incident in analysis.incidents:
        v = incident.violation
        if v.informational and not include_informational and (wanted is None or v.key not in wanted):
            selection.informational += 1
        elif not _in_filters(
            incident,
            v,
            wanted=wanted,
            categories=category_set,
            max_effort=max_effort,
            include=include or (),
            exclude=exclude or (),
        ):
            selection.filtered_out += 1
        elif not incident.fixable:
            selection.not_applicable.append(incident)
            reasons[incident.applicability] += 1
        else:
            selection.selected.append(incident)
    selection.not_applicable_by_reason = reasons
    return selection
