"""File-based batching: one request per file, split by count, windowed by token budget."""

from __future__ import annotations

from pathlib import PurePosixPath

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import batch_file, output_budget
from kantra_ai.tokens import estimate_tokens

RULE_A = Violation("rs", "rule-a", "Replace javax with jakarta", Category.MANDATORY, 1)
RULE_B = Violation("rs", "rule-b", "Use CDI", Category.OPTIONAL, 3)
PATH = PurePosixPath("src/Foo.java")


def _incident(n: int, line: int | None, rule: Violation = RULE_A) -> Incident:
    return Incident(f"id{n:04d}", rule, f"file:///src/Foo.java#{n}", PATH, line, f"message {n}")


def _lines(count: int) -> list[str]:
    return [f'    int value{i} = compute({i}, "some text here");\n' for i in range(1, count + 1)]


def test_a_file_with_incidents_of_several_rules_is_one_request() -> None:
    incidents = [_incident(1, 3, RULE_A), _incident(2, 5, RULE_B), _incident(3, 9, RULE_A)]
    plan = batch_file(PATH, _lines(20), incidents, fixed_tokens=500, max_batch_tokens=20_000, batch_size=25)
    assert len(plan.batches) == 1
    batch = plan.batches[0]
    assert batch.window is None
    assert [i.id for i in batch.incidents] == ["id0001", "id0002", "id0003"]
    assert [v.rule_id for v in batch.violations] == ["rule-a", "rule-b"]


def test_more_incidents_than_batch_size_become_consecutive_requests_in_line_order() -> None:
    incidents = [_incident(n, 30 - n) for n in range(1, 8)]
    plan = batch_file(PATH, _lines(40), incidents, fixed_tokens=500, max_batch_tokens=20_000, batch_size=3)
    assert [len(b.incidents) for b in plan.batches] == [3, 3, 1]
    lines = [i.line for b in plan.batches for i in b.incidents]
    assert lines == sorted(lines)


def test_a_file_over_the_token_budget_is_sent_as_windows_around_its_incidents() -> None:
    lines = _lines(2000)
    budget = 4000
    incidents = [_incident(1, 10), _incident(2, 12), _incident(3, 1500)]
    plan = batch_file(PATH, lines, incidents, fixed_tokens=500, max_batch_tokens=budget, batch_size=25)
    assert estimate_tokens("".join(lines)) > budget
    assert len(plan.batches) == 2
    first, second = plan.batches
    assert first.window is not None and first.window[0] <= 10 and first.window[1] >= 12
    assert second.window is not None and second.window[0] <= 1500 <= second.window[1]
    assert all(b.estimated_input_tokens <= budget for b in plan.batches)


def test_incidents_without_a_line_go_to_the_top_of_a_large_file() -> None:
    plan = batch_file(
        PATH, _lines(2000), [_incident(1, None)], fixed_tokens=500, max_batch_tokens=3000, batch_size=25
    )
    (batch,) = plan.batches
    assert batch.window is not None and batch.window[0] == 1


def test_output_budget_grows_with_incidents_but_is_capped() -> None:
    assert output_budget(1) < output_budget(10)
    assert output_budget(10_000) == output_budget(100_000)


def test_planning_is_deterministic() -> None:
    incidents = [_incident(n, (n * 37) % 500 + 1) for n in range(40)]
    args = {"fixed_tokens": 500, "max_batch_tokens": 3000, "batch_size": 7}
    first = batch_file(PATH, _lines(600), incidents, **args)  # type: ignore[arg-type]
    second = batch_file(PATH, _lines(600), list(reversed(incidents)), **args)  # type: ignore[arg-type]
    assert first == second


def test_incidents_on_one_line_are_never_split_between_requests() -> None:
    # Two rules on line 12: one edit usually fixes both, and the model can only tie it to what it sees.
    incidents = [
        _incident(1, 10),
        _incident(2, 11),
        _incident(3, 12),
        _incident(4, 12, RULE_B),
        _incident(5, 13),
    ]
    plan = batch_file(PATH, _lines(40), incidents, fixed_tokens=500, max_batch_tokens=20_000, batch_size=3)
    assert [[i.id for i in b.incidents] for b in plan.batches] == [
        ["id0001", "id0002", "id0003", "id0004"],
        ["id0005"],
    ]


def test_incidents_on_one_line_share_a_window_even_over_the_budget() -> None:
    lines = _lines(400)
    incidents = [_incident(1, 200), _incident(2, 200, RULE_B)]
    one = batch_file(PATH, lines, incidents[:1], fixed_tokens=500, max_batch_tokens=1_500, batch_size=25)
    budget = one.batches[0].estimated_input_tokens + 5  # room for one incident's window, not two
    plan = batch_file(PATH, lines, incidents, fixed_tokens=500, max_batch_tokens=budget, batch_size=25)
    assert [len(b.incidents) for b in plan.batches] == [2]
