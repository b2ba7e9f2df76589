"""The AI planner against the fake provider: whatever the model replies, the plan is complete."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.cli.helpers import EXAMPLES
from tests.datasets import KONVEYOR_DATA

from kantra_ai.analysis.loader import load_analysis
from kantra_ai.plan.ai_planner import AiPlan, plan_with_model
from kantra_ai.plan.phases import ViolationGroup, group_incidents
from kantra_ai.plan.repair import UNPLACED_PHASE_NAME
from kantra_ai.providers.anthropic_provider import AnthropicProvider
from kantra_ai.providers.pricing import ModelPrice
from kantra_ai.tokens import estimate_tokens
from testing.fakeprovider.server import FakeProviderServer, FakeReply, FakeRequest

_ID = re.compile(r"^- id: (\S+) \|", re.MULTILINE)
PRICE = ModelPrice.anthropic_style(2.0, 10.0)


def ids_in(request: FakeRequest) -> list[str]:
    return _ID.findall(request.last_user_text())


def two_phases(request: FakeRequest) -> FakeReply:
    ids = ids_in(request)
    half = max(1, len(ids) // 2)
    phases = [
        {"name": "Imports", "risk": "low", "explanation": "renames", "violation_ids": ids[:half]},
        {"name": "The rest", "risk": "medium", "explanation": "review", "violation_ids": ids[half:]},
    ]
    return FakeReply(text="```json\n" + json.dumps({"phases": phases}) + "\n```")


@pytest.fixture
def groups(tmp_path: Path) -> list[ViolationGroup]:
    analysis = load_analysis(KONVEYOR_DATA / "koncur-daytrader-output.yaml", tmp_path)
    return group_incidents([i for i in analysis.incidents if not i.violation.informational])


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[FakeRequest], FakeReply]], FakeProviderServer]]:
    servers: list[FakeProviderServer] = []

    def start(responder: Callable[[FakeRequest], FakeReply]) -> FakeProviderServer:
        server = FakeProviderServer(responder).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


async def _plan(server: FakeProviderServer, groups: list[ViolationGroup], **kwargs: object) -> AiPlan:
    provider = AnthropicProvider("claude-sonnet-5-5", api_key="test", base_url=server.anthropic_base_url)
    try:
        return await plan_with_model(provider, groups, price=PRICE, **kwargs)  # type: ignore[arg-type]
    finally:
        await provider.aclose()


def _assert_complete(plan: AiPlan, groups: list[ViolationGroup]) -> None:
    placed = [k for d in plan.drafts for k in d.keys]
    assert sorted(placed) == sorted(g.key for g in groups)


async def test_a_good_reply_is_used_as_the_model_grouped_it(serve, groups) -> None:  # type: ignore[no-untyped-def]
    server = serve(two_phases)
    plan = await _plan(server, groups)
    _assert_complete(plan, groups)
    assert [d.name for d in plan.drafts] == ["Imports", "The rest"]
    assert plan.notes == []
    assert plan.requests == 1 and plan.cost is not None and plan.cost > 0
    assert server.requests[0].tools == []  # a plain JSON completion, no edit tool


async def test_violations_the_model_omits_get_a_phase_of_their_own_with_a_note(serve, groups) -> None:  # type: ignore[no-untyped-def]
    def omit_two(request: FakeRequest) -> FakeReply:
        ids = ids_in(request)[2:]
        return FakeReply(text=json.dumps({"phases": [{"name": "Most", "violation_ids": ids}]}))

    plan = await _plan(serve(omit_two), groups)
    _assert_complete(plan, groups)
    last = plan.drafts[-1]
    assert last.name == UNPLACED_PHASE_NAME and len(last.keys) == 2
    assert "left out 2 violation" in last.explanation
    assert any("left out" in n for n in plan.notes)


async def test_invented_and_duplicated_ids_are_dropped_with_a_note(serve, groups) -> None:  # type: ignore[no-untyped-def]
    def invent(request: FakeRequest) -> FakeReply:
        ids = ids_in(request)
        phases = [
            {"name": "A", "violation_ids": [*ids, "made-up-rule-00001"]},
            {"name": "B", "violation_ids": ids[:3]},
        ]
        return FakeReply(text=json.dumps({"phases": phases}))

    plan = await _plan(serve(invent), groups)
    _assert_complete(plan, groups)
    assert [d.name for d in plan.drafts] == ["A"]  # B held only duplicates
    assert any("made-up-rule-00001" in n for n in plan.notes)
    assert any("more than one phase" in n for n in plan.notes)


async def test_a_cut_off_reply_is_never_used_and_retried_with_more_room(serve, groups) -> None:  # type: ignore[no-untyped-def]
    def cut_first(request: FakeRequest) -> FakeReply:
        if len(server.requests) == 1:
            return FakeReply(text='{"phases": [{"name": "Imp', stop_reason="max_tokens")
        return two_phases(request)

    server = serve(cut_first)
    plan = await _plan(server, groups)
    _assert_complete(plan, groups)
    assert [d.name for d in plan.drafts] == ["Imports", "The rest"]
    assert server.requests[1].max_tokens == 2 * server.requests[0].max_tokens


async def test_always_cut_off_falls_back_to_the_deterministic_plan_and_says_so(serve, groups) -> None:  # type: ignore[no-untyped-def]
    server = serve(lambda r: FakeReply(text='{"phases": [', stop_reason="max_tokens"))
    plan = await _plan(server, groups)
    _assert_complete(plan, groups)
    assert all("cut off" in n for d in plan.drafts for n in d.notes)
    assert server.request_count == 2  # first try and one retry


async def test_a_reply_that_is_not_json_is_retried_then_planned_deterministically(serve, groups) -> None:  # type: ignore[no-untyped-def]
    server = serve(lambda r: FakeReply(text="Sure! Phase one: the imports. Phase two: the rest."))
    plan = await _plan(server, groups)
    _assert_complete(plan, groups)
    assert any("no JSON" in n for n in plan.notes)
    assert "could not be read" in server.requests[1].last_user_text()


async def test_large_analyses_are_chunked_so_no_request_exceeds_the_budget(serve, groups) -> None:  # type: ignore[no-untyped-def]
    server = serve(two_phases)
    plan = await _plan(server, groups, chunk_tokens=1200, max_phases=3)
    _assert_complete(plan, groups)
    assert server.request_count > 1
    for request in server.requests:
        assert estimate_tokens(request.system) + estimate_tokens(request.last_user_text()) <= 1200
    assert len(plan.drafts) <= 3


def test_the_plan_command_with_the_ai_planner_writes_the_models_phases(  # type: ignore[no-untyped-def]
    serve, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli.helpers import copy_example, run

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    server = serve(two_phases)
    app = copy_example("multi-violation", tmp_path)
    code = run(
        "plan",
        "--analysis",
        EXAMPLES / "multi-violation" / "output.yaml",
        "--input",
        app,
        "--output",
        tmp_path / "out",
        "--base-url",
        server.anthropic_base_url,
        "--json",
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in document["phases"]] == ["Imports", "The rest"]
    assert (tmp_path / "out" / "plan.yaml").is_file() and (tmp_path / "out" / "plan.html").is_file()
