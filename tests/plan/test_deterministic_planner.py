"""The deterministic planner places every violation of every real analysis in exactly one phase."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from tests.datasets import KONVEYOR_DATA

from kantra_ai.analysis.loader import load_analysis
from kantra_ai.engine.runner import BatchSettings
from kantra_ai.plan.build import build_plan
from kantra_ai.plan.deterministic import RISK_TOLERANCES, RiskTolerance, plan_deterministic
from kantra_ai.plan.model import PlanMetadata, parse_plan, plan_document
from kantra_ai.plan.phases import ViolationGroup, group_incidents
from kantra_ai.prompts.builder import PromptBuilder

REAL_FILES = sorted(p.name for p in KONVEYOR_DATA.glob("*.yaml"))


def _groups(name: str, checkout: Path) -> list[ViolationGroup]:
    analysis = load_analysis(KONVEYOR_DATA / name, checkout)
    # The analysed applications are not here, so no file exists: plan every actionable incident.
    return group_incidents([i for i in analysis.incidents if not i.violation.informational])


def test_the_real_data_is_there() -> None:
    assert len(REAL_FILES) >= 15


@pytest.mark.parametrize("name", REAL_FILES)
@pytest.mark.parametrize("tolerance", RISK_TOLERANCES)
def test_every_violation_of_a_real_analysis_lands_in_exactly_one_phase(
    name: str, tolerance: RiskTolerance, tmp_path: Path
) -> None:
    groups = _groups(name, tmp_path)
    assert groups, f"{name} has actionable violations"
    plan = build_plan(
        plan_deterministic(groups, tolerance=tolerance),
        groups,
        metadata=PlanMetadata(provider="claude", planner="deterministic"),
        input_dir=tmp_path,
        batch=BatchSettings(),
        price=None,
        prompts=PromptBuilder(),
    )
    placed = Counter(f"{v.ruleset}/{v.violation_id}" for p in plan.phases for v in p.violations)
    assert set(placed) == {g.key for g in groups}
    assert set(placed.values()) == {1}
    assert sum(p.incident_count for p in plan.phases) == sum(len(g.incidents) for g in groups)
    # What we write is a valid v1.0 plan that reads back identically.
    assert parse_plan(plan_document(plan), name) == plan


@pytest.mark.parametrize("name", ["koncur-daytrader-output.yaml", "kai-bmt-initial-output.yaml"])
def test_max_phases_merges_phases_without_losing_a_violation(name: str, tmp_path: Path) -> None:
    groups = _groups(name, tmp_path)
    unlimited = plan_deterministic(groups, tolerance="conservative")
    assert len(unlimited) > 2
    limited = plan_deterministic(groups, tolerance="conservative", max_phases=2)
    assert len(limited) == 2
    assert sorted(k for d in limited for k in d.keys) == sorted(g.key for g in groups)


def test_the_same_analysis_always_gives_the_same_plan(tmp_path: Path) -> None:
    first = plan_deterministic(_groups("koncur-daytrader-output.yaml", tmp_path))
    second = plan_deterministic(list(reversed(_groups("koncur-daytrader-output.yaml", tmp_path))))
    assert [(d.name, d.keys) for d in first] == [(d.name, d.keys) for d in second]


def test_phases_run_mandatory_first_and_low_risk_before_high(tmp_path: Path) -> None:
    groups = {g.key: g for g in _groups("koncur-daytrader-output.yaml", tmp_path)}
    drafts = plan_deterministic(list(groups.values()))
    order = {"mandatory": 0, "optional": 1, "potential": 2}
    risk = {"low": 0, "medium": 1, "high": 2}
    keys = [(order[groups[d.keys[0]].violation.category.value], risk[d.risk or "low"]) for d in drafts]
    assert keys == sorted(keys)


def test_conservative_tolerance_defers_high_risk_phases_only(tmp_path: Path) -> None:
    drafts = plan_deterministic(_groups("koncur-daytrader-output.yaml", tmp_path), tolerance="conservative")
    assert any(d.deferred for d in drafts)
    assert all(d.deferred == (d.risk == "high") for d in drafts)
