"""`--reanalyze-command`: a fresh analysis decides whether the fixed incidents are really gone, and
whether the fixes raised new incidents of the rules they fixed.

The command (e.g. `kantra analyze --input . --output {output} --target ...`) runs in the tree with
`{output}` replaced by an empty folder of ours; what it writes there is read like any analysis.
Incidents are matched rule by rule and file by file: a fresh incident is the original incident of
the same rule, file and message closest to its line (lines moved with the fixes). An incident we
fixed that is matched is still reported; a fresh incident of a rule we fixed that matches none of the
original ones is new.
"""

from __future__ import annotations

import asyncio
import shlex
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kantra_ai.analysis.loader import AnalysisError, load_analysis
from kantra_ai.analysis.model import Incident
from kantra_ai.scratch import make_folder, remove
from kantra_ai.verify.command import run_command

OUTPUT_PLACEHOLDER = "{output}"


@dataclass
class Reanalysis:
    command: str
    gone: list[str] = field(default_factory=list)  # incidents we fixed that it no longer reports
    still_reported: list[str] = field(default_factory=list)  # incidents we fixed that it still reports
    new: list[dict[str, Any]] = field(default_factory=list)  # incidents of our rules it did not report before
    error: str = ""  # why it could not decide

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "gone": len(self.gone),
            "still_reported": self.still_reported,
            "new_incidents": self.new,
            "error": self.error or None,
        }


def _key(incident: Incident) -> tuple[str, str, str]:
    return (incident.violation.ruleset, incident.violation.rule_id, str(incident.path))


def compare(original: Sequence[Incident], fresh: Sequence[Incident], fixed: Sequence[Incident]) -> Reanalysis:
    """Which fixed incidents the fresh analysis still reports, and which of its incidents are new."""
    result = Reanalysis("")
    fixed_ids = {i.id for i in fixed}
    rules = {(i.violation.ruleset, i.violation.rule_id) for i in fixed}
    before: dict[tuple[str, str, str], list[Incident]] = defaultdict(list)
    for incident in original:
        if incident.path is not None:
            before[_key(incident)].append(incident)
    matched: set[str] = set()
    for incident in fresh:
        if incident.path is None or (incident.violation.ruleset, incident.violation.rule_id) not in rules:
            continue
        candidates = [o for o in before.get(_key(incident), []) if o.id not in matched]
        same = [o for o in candidates if o.message.strip() == incident.message.strip()] or candidates
        if not same:
            result.new.append(
                {
                    "rule": incident.violation.rule_id,
                    "file": str(incident.path),
                    "line": incident.line,
                    "message": incident.message.strip().splitlines()[0] if incident.message.strip() else "",
                }
            )
            continue
        best = min(same, key=lambda o: abs((o.line or 0) - (incident.line or 0)))
        matched.add(best.id)
    result.still_reported = sorted(matched & fixed_ids)
    result.gone = sorted(fixed_ids - matched)
    return result


async def reanalyze(
    template: str,
    *,
    analysis: Path,
    tree: Path,
    source_root: str | None,
    fixed: Sequence[Incident],
    timeout: float,
    stop: asyncio.Event | None,
    say: Callable[[str], None],
) -> Reanalysis:
    """Run the command, read what it wrote and compare it with the analysis the job fixed."""
    folder = make_folder("reanalysis")
    command = template.replace(OUTPUT_PLACEHOLDER, shlex.quote(str(folder)))
    try:
        say(f"re-analysis: {template}")
        result = await run_command(command, tree, timeout=timeout, stop=stop)
        if not result.passed:
            what = "did not finish in time" if result.timed_out else f"failed (exit code {result.exit_code})"
            return Reanalysis(template, error=f"the re-analysis {what}: {result.tail(3)}")
        try:
            fresh = load_analysis(folder, tree, source_root=source_root)
            original = load_analysis(analysis, tree, source_root=source_root)
        except AnalysisError as exc:
            return Reanalysis(template, error=f"cannot read the re-analysis: {exc}")
        found = compare(original.incidents, fresh.incidents, fixed)
        found.command = template
        say(
            f"re-analysis: {len(found.gone)} fixed incidents are gone, {len(found.still_reported)} still "
            f"reported, {len(found.new)} new incidents of the rules fixed"
        )
        return found
    finally:
        remove(folder)
