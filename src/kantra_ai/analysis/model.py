"""The normalized view of a Konveyor analysis that the rest of the pipeline works with.

The raw analyzer schema (several generations of it) is parsed in `loader.py`; everything after
loading sees only these types, so the planner and the providers never care which analyzer wrote
the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePosixPath

# Rule messages quote what they are about between backticks: "Replace `javax.ejb` with `jakarta.ejb`".
QUOTED_NAME = re.compile(r"`([^`\n]+)`")


def quoted_names(message: str) -> tuple[str, ...]:
    """The names a message quotes, in order."""
    return tuple(QUOTED_NAME.findall(message))


# "Replace `A` with `B`", "replacing the `javax` groupId with `jakarta.platform`", "replace the
# `version` attribute value `2.1` with `3.0`": the name quoted last before "with" / "by" `...`.
_REPLACED = re.compile(r"`([^`\n]+)`[^`\n]*?\b(?:with|by)\s+[^`\n]*?`")


def replaced_name(message: str) -> str | None:
    """The name a rename message says to replace, when it says one."""
    match = _REPLACED.search(message)
    return match.group(1) if match else None


def names_a_rename(message: str) -> bool:
    """Whether a message names two things on one line: replace the one by the other."""
    return any(len(quoted_names(line)) >= 2 for line in message.splitlines())


class Category(str, Enum):
    MANDATORY = "mandatory"
    OPTIONAL = "optional"
    POTENTIAL = "potential"


class Applicability(str, Enum):
    """Whether an incident can be sent to a model at all."""

    SOURCE = "source"  # a file of the user's checkout: fixable
    DEPENDENCY = "dependency"  # inside .m2, java-bin-*, or flagged isDependencyIncident
    MISSING_FILE = "missing-file"  # mapped path does not exist in --input
    NO_FILE = "no-file"  # empty uri (tag-only insights)
    OUTSIDE_INPUT = "outside-input"  # would escape --input (traversal): refused
    # Build output or vendored code (target/, build/, node_modules/, bower_components/, .git/, what
    # .gitignore ignores): a copy of a source or someone else's code; fixed only when asked for.
    GENERATED = "generated"


@dataclass(frozen=True)
class Link:
    url: str
    title: str = ""


@dataclass(frozen=True)
class Violation:
    """One rule that matched: shared guidance for all of its incidents."""

    ruleset: str
    rule_id: str
    description: str
    category: Category
    effort: int | None  # None: informational (no effort, or under `insights`)
    labels: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    informational: bool = False
    migration_complexity: str | None = None

    @property
    def key(self) -> str:
        """Unique across rulesets: two rulesets may define the same rule id."""
        return f"{self.ruleset}/{self.rule_id}"


# The variables of every incident that has none: one mapping for all, not an empty dict each (read
# only: typed as a Mapping, and nothing writes an incident's variables).
NO_VARIABLES: Mapping[str, object] = {}


@dataclass(frozen=True, slots=True)  # slots: a 100,000-incident analysis holds 100,000 of them
class Incident:
    """One place in one file where a rule matched."""

    id: str  # stable identity, see `incident_identity`
    violation: Violation
    uri: str  # as the analyzer wrote it
    path: PurePosixPath | None  # relative to --input, POSIX separators; None when not mappable
    line: int | None  # 1-based; None when absent or 0
    message: str
    code_snip: str = ""
    variables: Mapping[str, object] = field(default_factory=lambda: NO_VARIABLES, hash=False, compare=False)
    applicability: Applicability = Applicability.SOURCE

    @property
    def fixable(self) -> bool:
        return self.applicability is Applicability.SOURCE


def incident_identity(
    ruleset: str, rule_id: str, path: str, line: int | None, message: str, occurrence: int
) -> str:
    """A short id that is stable across runs and unique within an analysis.

    `occurrence` separates incidents that agree on every other field (the analyzer does emit
    exact duplicates); it counts from 0 in the analyzer's own order, so it is stable too.
    """
    raw = "\x1f".join([ruleset, rule_id, path, str(line or 0), message, str(occurrence)])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]


@dataclass
class Analysis:
    """Everything loaded from one analysis file, mapped onto one checkout."""

    source: str  # the file it came from
    violations: list[Violation]
    incidents: list[Incident]  # deterministic order: path (or uri), line, ruleset, rule, message
    errors: dict[str, str] = field(default_factory=dict)  # "ruleset/rule-id" -> analyzer error
    source_root: str | None = None  # the analyzer root that was stripped, e.g. /opt/input/source
    # Informational incidents (insights, rules without effort) keep applicability SOURCE when
    # their file exists, but are only candidates for fixing when the user asked for them.
    include_informational: bool = False

    def fixable(self) -> list[Incident]:
        return [
            i
            for i in self.incidents
            if i.fixable and (self.include_informational or not i.violation.informational)
        ]
