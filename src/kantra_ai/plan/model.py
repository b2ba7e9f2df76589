"""`plan.yaml`, version "1.0": the predecessor's schema, read and written faithfully.

A plan groups violations into ordered phases. Plans written by the predecessor load unchanged;
we add a few optional fields it never wrote (`ruleset`, `labels`, `links` on a violation; `planner`,
`model`, `notes`, `analysis` in the metadata) and ignore fields we do not know, as it did.

`load_plan` turns every problem with a hand-edited plan into one line that names the file and the
place: unsupported version, duplicate phase ids, a violation in two phases, an incident count that
does not match its incident list, a total that does not match the phases.
"""

from __future__ import annotations

import difflib
import io
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.fields import FieldInfo

# Re-exported: plan.yaml, plan.html and state.yaml are written with the one atomic writer.
from kantra_ai._fs import atomic_writer
from kantra_ai._fs import write_atomic as write_atomic
from kantra_ai.analysis.plain_yaml import NotPlain, emit_plain
from kantra_ai.redact import redact_obj, value_redactor

PLAN_VERSION = "1.0"
DEFAULT_RULESET = "plan"  # ruleset of violations from plans that did not record one

Risk = Literal["low", "medium", "high"]
RISK_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2}


class PlanError(ValueError):
    """The plan cannot be used as given; one line naming the file and the problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# A slotted pydantic dataclass, not a model: a plan holds one per incident, and a model keeps a
# `__dict__` and a set of the fields given in each (about 670 bytes an incident, 67 MB in a
# 100,000-incident plan; about 150 bytes this way). Validated and written the same.
@pydantic_dataclass(slots=True, config=ConfigDict(extra="ignore", populate_by_name=True))
class PlanIncident:
    """One incident, with the Konveyor field names."""

    uri: str = ""
    message: str = ""
    code_snip: str = Field(default="", alias="codeSnip")
    line_number: int | None = Field(default=None, alias="lineNumber")
    variables: dict[str, Any] = Field(default_factory=dict)
    is_dependency_incident: bool | None = Field(default=None, alias="isDependencyIncident")


class PlannedViolation(_Model):
    violation_id: str = Field(min_length=1)
    description: str = ""
    category: str = "mandatory"
    effort: int = 0
    migration_complexity: str | None = None
    manual_review_required: bool = False
    incident_count: int = Field(default=0, ge=0)
    incidents: list[PlanIncident] = Field(default_factory=list)
    ruleset: str | None = None  # ours: the analyzer ruleset, so ids stay unique across rulesets
    labels: list[str] = Field(default_factory=list)
    links: list[dict[str, str]] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.ruleset or DEFAULT_RULESET}/{self.violation_id}"


class Phase(_Model):
    id: str = Field(min_length=1)
    name: str = ""
    order: int = Field(default=0, ge=0)
    risk: Risk = "medium"
    category: str = "mandatory"
    effort_range: tuple[int, int] = (0, 0)
    explanation: str = ""
    estimated_cost: float = Field(default=0.0, ge=0)
    estimated_duration_minutes: int = Field(default=0, ge=0)
    deferred: bool = False
    violations: list[PlannedViolation] = Field(default_factory=list)

    @property
    def incident_count(self) -> int:
        return sum(v.incident_count for v in self.violations)


class PlanMetadata(_Model):
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    provider: str = ""
    total_violations: int = Field(default=0, ge=0)
    planner: str | None = None  # ours: "ai" or "deterministic"
    model: str | None = None
    analysis: str | None = None  # the analysis file the plan was made from
    cost_known: bool = True  # False: no price for the model, estimated costs are 0
    notes: list[str] = Field(default_factory=list)  # what the planner repaired, and why


class Plan(_Model):
    version: str
    metadata: PlanMetadata = Field(default_factory=PlanMetadata)
    phases: list[Phase] = Field(default_factory=list)

    def ordered_phases(self) -> list[Phase]:
        return sorted(self.phases, key=lambda p: (p.order, self.phases.index(p)))

    def phase(self, phase_id: str) -> Phase:
        for phase in self.phases:
            if phase.id == phase_id:
                return phase
        known = ", ".join(p.id for p in self.phases)
        raise PlanError(f"no phase {phase_id!r} in the plan; phases: {known}")

    @property
    def violation_count(self) -> int:
        return sum(len(p.violations) for p in self.phases)


def _where(loc: tuple[int | str, ...], plan: dict[str, Any] | None) -> str:
    """`phases[1].violations[0].effort`, with the phase id when we can tell it."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if plan and len(loc) >= 2 and loc[0] == "phases" and isinstance(loc[1], int):
        phases = plan.get("phases")
        if isinstance(phases, list) and loc[1] < len(phases) and isinstance(phases[loc[1]], dict):
            phase_id = phases[loc[1]].get("id")
            if phase_id:
                text += f" (phase {phase_id})"
    return text


def validate_plan(plan: Plan, where: str) -> None:
    """Checks pydantic cannot express; raises PlanError with one line."""
    if plan.version != PLAN_VERSION:
        raise PlanError(f"{where}: unsupported plan version {plan.version!r} (expected {PLAN_VERSION!r})")
    if not plan.phases:
        raise PlanError(f"{where}: the plan has no phases")
    duplicates = [pid for pid, n in Counter(p.id for p in plan.phases).items() if n > 1]
    if duplicates:
        raise PlanError(f"{where}: duplicate phase id {duplicates[0]!r}")
    seen: dict[str, str] = {}
    for phase in plan.phases:
        if not phase.violations:
            raise PlanError(f"{where}: phase {phase.id} has no violations")
        low, high = phase.effort_range
        if low > high:
            raise PlanError(f"{where}: phase {phase.id}: effort_range [{low}, {high}] is reversed")
        for v in phase.violations:
            if v.key in seen:
                other = seen[v.key]
                place = "twice in" if other == phase.id else f"in phases {other} and"
                raise PlanError(f"{where}: violation {v.violation_id!r} appears {place} {phase.id}")
            seen[v.key] = phase.id
            if v.incident_count != len(v.incidents):
                raise PlanError(
                    f"{where}: phase {phase.id}: violation {v.violation_id!r} has incident_count "
                    f"{v.incident_count} but lists {len(v.incidents)} incidents"
                )
            if not v.incidents:  # execute fixes only what the plan lists: it would do nothing
                raise PlanError(
                    f"{where}: phase {phase.id}: violation {v.violation_id!r} lists no incidents; "
                    "remove the violation, or make the plan again"
                )
    if plan.metadata.total_violations and plan.metadata.total_violations != len(seen):
        raise PlanError(
            f"{where}: metadata.total_violations is {plan.metadata.total_violations} but the phases "
            f"hold {len(seen)} violations"
        )


def parse_plan(document: object, where: str) -> Plan:
    if not isinstance(document, dict):
        raise PlanError(f"{where}: expected a mapping with version, metadata and phases")
    if "version" not in document:
        raise PlanError(f'{where}: no version; a plan starts with version: "{PLAN_VERSION}"')
    document = {**document, "version": str(document["version"])}
    _refuse_misspelt_keys(document, Plan, (), document, where)
    try:
        plan = Plan.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = " ".join(str(error["msg"]).split())
        raise PlanError(f"{where}: {_where(error['loc'], document)}: {message}") from exc
    validate_plan(plan, where)
    return plan


def _refuse_misspelt_keys(
    value: object, model: type[object], loc: tuple[int | str, ...], plan: dict[str, Any], where: str
) -> None:
    """A key of a hand-edited plan that is a near miss of one we read (`deferd: true`, `phses:`) is
    a PlanError: ignored, the phase the user deferred would run. Keys far from every name (another
    tool's) are still ignored."""
    if not isinstance(value, dict):
        return
    # A model's fields, or a pydantic dataclass's (PlanIncident).
    fields: dict[str, FieldInfo] = getattr(model, "model_fields", None) or model.__pydantic_fields__  # type: ignore[attr-defined]
    spelt = {f.alias or name for name, f in fields.items()}  # as plan.yaml spells them
    known = set(fields) | spelt
    for key in value:
        if str(key) in known:
            continue
        close = difflib.get_close_matches(str(key), sorted(spelt), n=1, cutoff=0.85)
        if close:
            at = _where((*loc, str(key)), plan)
            raise PlanError(f"{where}: {at}: unknown key (did you mean {close[0]!r}?)")
    nested: dict[str, type[object]] = {
        "metadata": PlanMetadata,
        "phases": Phase,
        "violations": PlannedViolation,
        "incidents": PlanIncident,
    }
    for key, inner in nested.items():
        if key not in fields or key not in value:
            continue
        items = value[key]
        if isinstance(items, list):
            for index, item in enumerate(items):
                _refuse_misspelt_keys(item, inner, (*loc, key, index), plan, where)
        else:
            _refuse_misspelt_keys(items, inner, (*loc, key), plan, where)


def load_plan(path: Path) -> Plan:
    if path.is_dir():
        path = path / "plan.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PlanError(f"{path}: plan file not found (write one with `kantra-ai plan`)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read: {exc}") from exc
    return plan_from_text(text, str(path))


def plan_from_text(text: str, where: str) -> Plan:
    """A plan from the text of a plan.yaml (`where` names it in errors)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise PlanError(f"{where}: YAML syntax error{at}: {problem}") from exc
    return parse_plan(document, where)


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as plain data in the predecessor's field order and names (`_streamed_document`, made
    whole)."""
    whole = _made_whole(_streamed_document(plan))
    assert isinstance(whole, dict)
    return whole


def _made_whole(value: object) -> object:
    if isinstance(value, dict):
        return {key: _made_whole(item) for key, item in value.items()}
    if isinstance(value, (list, Iterator)):
        return [_made_whole(item) for item in value]
    return value


# libyaml's C emitter when PyYAML was built with it: the pure-Python one takes most of `plan`'s
# time on a 100,000-incident plan. Same YAML either way.
_Dumper: type[yaml.SafeDumper] | type[yaml.CSafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_INCIDENTS_AT_ONCE = 1_000  # incidents turned into plain data at a time while plan.yaml is written
INCIDENT_LIST: TypeAdapter[list[PlanIncident]] = TypeAdapter(list[PlanIncident])


def dump_plan(plan: Plan, path: Path) -> None:
    """Write plan.yaml (atomically), every string redacted (the AI planner's notes are model output,
    the messages the analyzer's: no secret in either). Written as libyaml emits it from the plan's
    data made a violation at a time (`emit_plain`): the text of a 100,000-incident plan, or its
    whole data, is never in memory, and `yaml.dump`'s representer, which builds a node per scalar in
    Python first, is not needed."""
    if _Dumper is not yaml.SafeDumper:
        try:
            with atomic_writer(path) as out, io.TextIOWrapper(out, encoding="utf-8", newline="") as text:
                emit_plain(_streamed_document(plan), text, width=100, clean=value_redactor())
            return
        except NotPlain:
            pass  # not expected of a plan's data; `yaml.dump` writes anything it holds
    with atomic_writer(path) as out:
        yaml.dump(
            redact_obj(plan_document(plan)),
            out,
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            width=100,
            encoding="utf-8",
        )


def _streamed_document(plan: Plan) -> dict[str, Any]:
    """The plan as plain data in the predecessor's field order and names, with its phases, their
    violations and their incidents as generators: made while it is written."""
    data = _dump_with(plan, "phases", (_phase_document(phase) for phase in plan.phases))
    if not data["metadata"]["notes"]:
        del data["metadata"]["notes"]
    return data


def _phase_document(phase: Phase) -> dict[str, Any]:
    data = _dump_with(phase, "violations", (_violation_document(v) for v in phase.violations))
    data["effort_range"] = list(data["effort_range"])
    return data


def _violation_document(violation: PlannedViolation) -> dict[str, Any]:
    data = _dump_with(violation, "incidents", _incident_documents(violation.incidents))
    for key in ("labels", "links"):  # ours, optional: not written when empty
        if not data[key]:
            del data[key]
    return data


def _incident_documents(incidents: list[PlanIncident]) -> Iterator[dict[str, Any]]:
    for start in range(0, len(incidents), _INCIDENTS_AT_ONCE):
        chunk = incidents[start : start + _INCIDENTS_AT_ONCE]
        yield from INCIDENT_LIST.dump_python(chunk, mode="json", by_alias=True, exclude_none=True)


def _dump_with(model: BaseModel, field: str, items: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """`model.model_dump(...)` with `items` in place of the list `field` (made lazily), in the
    model's field order."""
    dumped = model.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={field})
    data: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        key = info.alias or name
        if name == field:
            data[key] = items
        elif key in dumped:
            data[key] = dumped[key]
    return data
