"""plan.yaml and plan.html are written as they are made, never whole in memory, and say exactly what
the whole plan's YAML says."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
import yaml

import kantra_ai.plan.model as plan_model
from kantra_ai.plan.model import (
    Phase,
    Plan,
    PlanIncident,
    PlanMetadata,
    PlannedViolation,
    dump_plan,
    load_plan,
    plan_document,
)
from kantra_ai.report.html import write_plan_html


def _plan(notes: list[str]) -> Plan:
    def violation(name: str, incidents: int, labelled: bool) -> PlannedViolation:
        return PlannedViolation(
            violation_id=name,
            description=f"{name}: replace `javax` with `jakarta`",
            effort=1,
            migration_complexity="trivial" if labelled else None,
            incident_count=incidents,
            incidents=[
                PlanIncident(
                    uri=f"file:///src/{name}/F{n}.java",
                    message="Replace the import\n with `jakarta.ejb`",
                    code_snip="" if n % 2 else f"{n}  import javax.ejb.Stateless;",
                    line_number=n + 1 if n % 3 else None,
                    variables={"package": "javax.ejb"} if n == 1 else {},
                )
                for n in range(incidents)
            ],
            ruleset="eap8/eap7",
            labels=["konveyor.io/target=quarkus"] if labelled else [],
            links=[{"url": "https://example.com/guide", "title": "Guide"}] if labelled else [],
        )

    phases = [
        Phase(
            id="phase-1",
            name="Mandatory",
            order=1,
            risk="low",
            effort_range=(1, 3),
            violations=[violation("rule-a", 5, True), violation("rule-b", 1, False)],
        ),
        Phase(
            id="phase-2",
            name="Optional",
            order=2,
            risk="high",
            deferred=True,
            violations=[violation("rule-c", 3, False)],
        ),
    ]
    return Plan(
        version="1.0",
        metadata=PlanMetadata(provider="claude", total_violations=3, notes=notes),
        phases=phases,
    )


@pytest.mark.parametrize("notes", [[], ["phase-2 deferred: high risk"]])
def test_plan_yaml_written_a_few_incidents_at_a_time_is_the_yaml_of_the_whole_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notes: list[str]
) -> None:
    monkeypatch.setattr(plan_model, "_INCIDENTS_AT_ONCE", 2)  # every violation's incidents in pieces
    plan = _plan(notes)
    dump_plan(plan, tmp_path / "plan.yaml")
    whole = yaml.dump(
        plan_document(plan), Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, width=100
    )
    assert (tmp_path / "plan.yaml").read_text(encoding="utf-8") == whole
    assert load_plan(tmp_path / "plan.yaml") == plan


def test_plan_html_written_as_it_is_rendered_is_one_whole_page(tmp_path: Path) -> None:
    plan = _plan(["a note"])
    write_plan_html(plan, tmp_path / "plan.html")
    page = (tmp_path / "plan.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count("<html") == 1 and page.count("</html>") == 1
    assert page.count('class="incident"') == 9 and "rule-c" in page and "a note" in page


def test_a_plan_that_cannot_be_written_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("the plan before\n")

    def broken(document: object, stream: io.StringIO, **kwargs: object) -> None:
        stream.write("version: '1.0'\nmetadata:\n")  # half of a plan, then the disk is full
        stream.flush()
        raise OSError("disk full")

    monkeypatch.setattr(plan_model, "emit_plain", broken)
    with pytest.raises(OSError, match="disk full"):
        dump_plan(_plan([]), path)
    assert path.read_text() == "the plan before\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.yaml"]


def test_a_plan_holds_each_incident_in_a_few_hundred_bytes() -> None:
    messages = [f"Replace `javax.m{n}` with `jakarta.m{n}`" for n in range(10)]
    lines = list(range(10_000))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [
            PlanIncident(uri="file:///src/A.java", message=messages[n % 10], line_number=lines[n])
            for n in lines
        ]
        per_incident = (tracemalloc.get_traced_memory()[0] - before) / len(held)
    finally:
        tracemalloc.stop()
    # A 100,000-incident plan holds 100,000 of them at once (a pydantic model each: about 670 bytes).
    assert per_incident < 250, f"{per_incident:.0f} bytes per plan incident"


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda d: d["phases"][1].update(deferd=True),
         "phases[1].deferd (phase phase-2): unknown key (did you mean 'deferred'?)"),
        (lambda d: d.update(phses=d.pop("phases")), "phses: unknown key (did you mean 'phases'?)"),
        (lambda d: d["phases"][0]["violations"][0]["incidents"][1].update(linenumber=3),
         "incidents[1].linenumber (phase phase-1): unknown key (did you mean 'lineNumber'?)"),
    ],
)  # fmt: skip
def test_a_misspelt_key_in_a_hand_edited_plan_is_refused_not_ignored(
    edit: object, said: str, tmp_path: Path
) -> None:
    """`deferd: true` was ignored: the phase the user meant to hold back ran."""
    document = plan_document(_plan([]))
    edit(document)  # type: ignore[operator]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(plan_model.PlanError) as refused:
        load_plan(path)
    assert str(refused.value).endswith(said), str(refused.value)


def test_keys_far_from_every_name_are_still_ignored(tmp_path: Path) -> None:
    document = plan_document(_plan([]))
    document["phases"][0]["reviewer"] = "ana"  # another tool's, or a note of the user's
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert [p.id for p in load_plan(path).phases] == ["phase-1", "phase-2"]
