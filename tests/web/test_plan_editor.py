"""Changing a plan from the planner: each change checked as `execute` checks a plan, saved
atomically, re-estimated where it reshaped phases, and never over a plan edited on disk meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.helpers import analysis_of, copy_example, run

from kantra_ai.app.options import RunOptions, SelectionOptions
from kantra_ai.app.plan_editor import PlanConflict, PlanEditor
from kantra_ai.errors import UserError
from kantra_ai.plan import edits
from kantra_ai.plan.model import Plan, PlanError, dump_plan, load_plan


@pytest.fixture
def editor(tmp_path: Path) -> PlanEditor:
    app = copy_example("javaee-inventory", tmp_path)
    out = tmp_path / "plan"
    assert (
        run(
            "plan", "--analysis", analysis_of("javaee-inventory"), "--input", app, "--output", out,
            "--planner", "deterministic", "--risk-tolerance", "conservative",
        )
        == 0
    )  # fmt: skip
    options = RunOptions(SelectionOptions(analysis=out / "plan.yaml", input_dir=app))
    return PlanEditor(out / "plan.yaml", options)


def test_a_change_is_saved_and_the_new_hash_handed_out(editor: PlanEditor) -> None:
    first = editor.load()

    def rename(plan: Plan) -> list[str]:
        edits.rename(plan, "phase-1", "  Imports   first ")
        return []

    changed = editor.change(first.sha256, rename)
    assert load_plan(editor.path).phase("phase-1").name == "Imports first"
    assert changed.sha256 != first.sha256
    assert "Imports first" in editor.path.with_name("plan.html").read_text()


@pytest.mark.parametrize("name", ["phase\x00one", "\u202eeno esahp", "tab\x7fbed"])
def test_a_name_with_control_or_formatting_characters_is_refused(editor: PlanEditor, name: str) -> None:
    seen = editor.load()
    before = editor.path.read_bytes()
    with pytest.raises(PlanError, match="control or formatting characters"):
        editor.change(seen.sha256, lambda plan: [edits.rename(plan, "phase-1", name)][1:])
    assert editor.path.read_bytes() == before


def test_a_plan_edited_on_disk_meanwhile_is_not_overwritten(editor: PlanEditor) -> None:
    seen = editor.load()
    by_hand = load_plan(editor.path)
    by_hand.phase("phase-2").name = "edited by hand"
    dump_plan(by_hand, editor.path)
    on_disk = editor.path.read_bytes()
    with pytest.raises(PlanConflict, match="changed on disk since this page read it"):
        editor.change(seen.sha256, lambda plan: [])
    assert editor.path.read_bytes() == on_disk


def test_a_change_that_breaks_the_plan_is_refused_and_nothing_written(editor: PlanEditor) -> None:
    seen = editor.load()
    before = editor.path.read_bytes()

    def duplicate(plan: Plan) -> list[str]:
        plan.phases[1].violations.append(plan.phases[0].violations[0])  # one violation in two phases
        return []

    with pytest.raises(UserError, match="appears in phases phase-1 and phase-2"):
        editor.change(seen.sha256, duplicate)
    assert editor.path.read_bytes() == before


def test_split_and_merge_keep_every_violation_once_and_estimate_the_new_phases(editor: PlanEditor) -> None:
    seen = editor.load()
    keys = [v.key for v in seen.plan.phase("phase-1").violations]

    def split(plan: Plan) -> list[str]:
        return ["phase-1", edits.split(plan, "phase-1", keys[:2])]

    after_split = editor.change(seen.sha256, split)
    plan = after_split.plan
    assert [p.id for p in plan.ordered_phases()] == ["phase-1", "phase-3", "phase-2"]
    assert [v.key for v in plan.phase("phase-3").violations] == keys[:2]
    whole = seen.plan.phase("phase-1").estimated_cost
    # Estimated by the run's estimator (claude prices): each part sends fewer incidents than the whole
    # (and, estimated alone, writes the run's cached prefix as the whole did).
    for part in ("phase-1", "phase-3"):
        assert 0 < plan.phase(part).estimated_cost < whole

    def merge(plan: Plan) -> list[str]:
        edits.merge(plan, "phase-1", "phase-3")
        return ["phase-1"]

    merged = editor.change(after_split.sha256, merge)
    assert sorted(v.key for v in merged.plan.phase("phase-1").violations) == sorted(keys)
    assert merged.plan.phase("phase-1").estimated_cost == pytest.approx(whole)  # re-estimated as before
    assert sum(p.incident_count for p in merged.plan.phases) == sum(
        p.incident_count for p in seen.plan.phases
    )


def test_operations_refuse_what_would_leave_a_phase_empty_or_lose_a_phase(editor: PlanEditor) -> None:
    plan = editor.load().plan
    only = plan.phase("phase-2").violations
    with pytest.raises(ValueError, match="would have no violations left"):
        for v in list(only):
            edits.move_violation(plan, v.key, "phase-1")
    with pytest.raises(ValueError, match="at least one violation"):
        edits.split(plan, "phase-1", [v.key for v in plan.phase("phase-1").violations])
    with pytest.raises(ValueError, match="every phase once"):
        edits.reorder(plan, ["phase-1"])


def test_moves_and_reorders_renumber_the_phases(editor: PlanEditor) -> None:
    plan = editor.load().plan
    edits.move_phase(plan, "phase-2", -1)
    assert [(p.id, p.order) for p in plan.ordered_phases()] == [("phase-2", 1), ("phase-1", 2)]
    edits.move_phase(plan, "phase-2", -5)  # stops at the top
    assert [p.id for p in plan.ordered_phases()] == ["phase-2", "phase-1"]
    key = plan.phase("phase-1").violations[0].key
    assert edits.move_violation(plan, key, "phase-2") == ("phase-1", "phase-2")
    assert key in [v.key for v in plan.phase("phase-2").violations]
