"""The incidents a plan will fix, mapped onto `--input` exactly as `remediate` maps an analysis.

A plan carries its incidents in the Konveyor layout (uri, message, codeSnip, lineNumber,
variables). They are handed to the analysis loader as a Konveyor document, one ruleset per
recorded ruleset, so URI mapping, dependency detection and incident identity are the loader's own:
an incident has the same id in `execute` as it had when the analysis was planned.

One difference: an incident whose URI leads outside `--input` is refused, not "not applicable". An
analysis may name files outside the tree (the analyzer's dependencies); a plan holds only the
incidents `plan` selected to fix, files of the tree, so one outside it was put there by hand or by
someone else, and a run that went on without it would run a plan other than the one written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kantra_ai.analysis.loader import AnalysisError, load_analysis
from kantra_ai.analysis.model import Analysis, Applicability, Incident
from kantra_ai.plan.model import DEFAULT_RULESET, INCIDENT_LIST, Plan, PlanError
from kantra_ai.scratch import scratch_folder


@dataclass
class PlanIncidents:
    analysis: Analysis
    by_phase: dict[str, list[Incident]]  # phase id -> its fixable incidents, in analysis order
    not_applicable: dict[str, list[Incident]]  # phase id -> incidents with nothing to edit


def _document(plan: Plan) -> list[dict[str, Any]]:
    rulesets: dict[str, dict[str, Any]] = {}
    for phase in plan.phases:
        for v in phase.violations:
            name = v.ruleset or DEFAULT_RULESET
            ruleset = rulesets.setdefault(name, {"name": name, "violations": {}})
            ruleset["violations"][v.violation_id] = {
                "description": v.description,
                "category": v.category
                if v.category in ("mandatory", "optional", "potential")
                else "mandatory",
                # The plan chose this violation: it is fixable even if the analyzer gave it no effort.
                "effort": max(v.effort, 1),
                "labels": v.labels,
                "links": v.links,
                "migration_complexity": v.migration_complexity,
                "incidents": INCIDENT_LIST.dump_python(v.incidents, by_alias=True, exclude_none=True),
            }
    return list(rulesets.values())


def plan_incidents(
    plan: Plan,
    plan_path: Path,
    input_dir: Path,
    *,
    source_root: str | None = None,
    include_generated: bool = False,
) -> PlanIncidents:
    with scratch_folder("plan") as tmp:
        document = tmp / "output.json"
        document.write_text(json.dumps(_document(plan)), encoding="utf-8")
        try:
            analysis = load_analysis(
                document,
                input_dir,
                source_root=source_root,
                include_informational=True,
                include_generated=include_generated,
            )
        except AnalysisError as exc:
            raise PlanError(str(exc).replace(str(document), str(plan_path))) from exc
    phase_of = {
        f"{v.ruleset or DEFAULT_RULESET}/{v.violation_id}": phase.id
        for phase in plan.phases
        for v in phase.violations
    }
    refuse_outside(analysis.incidents, phase_of, plan_path, input_dir)
    result = PlanIncidents(analysis, {p.id: [] for p in plan.phases}, {p.id: [] for p in plan.phases})
    for incident in analysis.incidents:
        phase_id = phase_of[incident.violation.key]
        (result.by_phase if incident.fixable else result.not_applicable)[phase_id].append(incident)
    return result


def refuse_outside(
    incidents: list[Incident], phase_of: dict[str, str], plan_path: Path, input_dir: Path
) -> None:
    """PlanError naming the first incident whose URI leads outside `input_dir` (see the module)."""
    outside = [i for i in incidents if i.applicability is Applicability.OUTSIDE_INPUT]
    if not outside:
        return
    first = outside[0]
    line = f" line {first.line}" if first.line else ""
    more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
    raise PlanError(
        f"{plan_path}: phase {phase_of[first.violation.key]}: violation {first.violation.rule_id!r}: "
        f"incident {first.uri!r}{line} is outside --input {input_dir}{more}; a plan names only files "
        "of the tree: make the plan again with `kantra-ai plan`, or correct the uri"
    )


def check_against_analysis(plan: Plan, analysis: Analysis, where: str) -> None:
    """With `--analysis`: every planned violation must exist in it (a hand edit may have a typo)."""
    known = {v.rule_id for v in analysis.violations} | {v.key for v in analysis.violations}
    for phase in plan.ordered_phases():
        for v in phase.violations:
            if v.violation_id not in known and v.key not in known:
                raise PlanError(
                    f"{where}: phase {phase.id}: unknown violation {v.violation_id!r} "
                    f"(not in {analysis.source})"
                )
