"""Our batch API clients (providers/anthropic_batches.py, openai_batches.py) on the official SDKs,
against the fake provider's batch endpoints over loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kantra_ai.providers.anthropic_batches import AnthropicBatchClient
from kantra_ai.providers.anthropic_provider import AnthropicProvider
from kantra_ai.providers.base import ModelRequest, ToolSpec
from kantra_ai.providers.batch_api import (
    CANCELED,
    ERRORED,
    EXPIRED,
    SUCCEEDED,
    BatchApiError,
    BatchClient,
    BatchEntry,
    BatchUnsupported,
)
from kantra_ai.providers.openai_batches import OpenAIBatchClient
from kantra_ai.providers.openai_provider import OpenAIProvider
from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall
from testing.fakeprovider.batches import BatchPlan, body_hash
from testing.fakeprovider.server import FakeProviderServer

TOOL = ToolSpec(
    "apply_fixes", "Apply the edits.", {"type": "object", "properties": {"edits": {"type": "array"}}}
)
PROTOCOLS = ("anthropic", "openai")


def answer(request: FakeRequest) -> FakeReply:
    asked = request.last_user_text().splitlines()[-1]
    return FakeReply(tool_calls=[ToolCall("apply_fixes", {"edits": [], "asked": asked})])


def _request(n: int) -> ModelRequest:
    return ModelRequest(
        system="You fix migration findings. " * 250,
        guidance="Rule guidance shared by many files. " * 40,
        prompt=f"File number {n}",
        max_tokens=300,
        tool=TOOL,
        cache_key="kantra-ai-fix",
    )


def _client(protocol: str, server: FakeProviderServer) -> BatchClient:
    if protocol == "anthropic":
        return AnthropicBatchClient(
            "claude-sonnet-5", api_key="k", base_url=server.anthropic_base_url, tool_name="apply_fixes"
        )
    return OpenAIBatchClient(
        "openai", "gpt-5", api_key="k", base_url=server.openai_base_url, tool_name="apply_fixes"
    )


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeProviderServer]]:
    started: list[FakeProviderServer] = []

    def start(plan: BatchPlan | None = None) -> FakeProviderServer:
        server = FakeProviderServer(answer, batch_plan=plan).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def _all_results(client: BatchClient, batch_id: str) -> dict[str, Any]:
    return {r.custom_id: r async for r in client.results(batch_id)}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_batch_request_is_exactly_the_synchronous_request_with_the_one_hour_cache_ttl(
    protocol: str, serve: Callable[..., FakeProviderServer]
) -> None:
    server = serve()
    client = _client(protocol, server)
    sent: list[str] = []
    await client.submit(
        [BatchEntry("kaiabc-00001", _request(1))], tag="kaiabc", sending=lambda: sent.append("x")
    )
    await client.aclose()
    if protocol == "anthropic":
        synchronous = AnthropicProvider("claude-sonnet-5", api_key="k", cache_ttl="1h").build_params(
            _request(1)
        )
        assert synchronous["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    else:
        synchronous = OpenAIProvider("openai", "gpt-5", api_key="k").build_params(_request(1))
    [logged] = server.batches.log
    assert logged.custom_id == "kaiabc-00001" and logged.body_sha256 == body_hash(synchronous)
    assert sent == ["x"]  # told right before the create went out


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_results_come_back_as_replies_matched_by_custom_id(
    protocol: str, serve: Callable[..., FakeProviderServer]
) -> None:
    server = serve(BatchPlan(polls_to_end=2, item_faults={3: "errored"}, seed=5))
    client = _client(protocol, server)
    entries = [BatchEntry(f"kaiabc-{n:05d}", _request(n)) for n in range(1, 6)]
    batch_id = await client.submit(entries, tag="kaiabc", sending=lambda: None)
    first = await client.retrieve(batch_id)
    assert not first.ended and first.total == 5
    done = await client.retrieve(batch_id)
    assert done.ended and done.counts[SUCCEEDED] == 4
    results = await _all_results(client, batch_id)
    await client.aclose()
    assert set(results) == {e.custom_id for e in entries}
    errored = results["kaiabc-00003"]
    assert errored.kind == ERRORED and errored.response is None and "Internal server error" in errored.error
    reply = results["kaiabc-00002"].response
    assert reply is not None and reply.stop_reason == "tool_use"
    assert reply.tool_input == {"edits": [], "asked": "File number 2"}
    assert reply.usage.output_tokens > 0 and reply.usage.total_input > 0
    # The shared prefix was cached by the first request the fake answered; later ones read it.
    assert sum(r.response.usage.cache_read_tokens for r in results.values() if r.response) > 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_cancelled_and_expired_requests_say_so(
    protocol: str, serve: Callable[..., FakeProviderServer]
) -> None:
    server = serve(BatchPlan(polls_to_end=3, expire_batches={2}, expired_share=0.5))
    client = _client(protocol, server)
    cancelled = await client.submit([BatchEntry("kaic-1", _request(1))], tag="kaic", sending=lambda: None)
    await client.cancel(cancelled)
    assert (await client.retrieve(cancelled)).ended
    assert [r.kind for r in (await _all_results(client, cancelled)).values()] == [CANCELED]
    expiring = await client.submit(
        [BatchEntry(f"kaie-{n}", _request(n)) for n in range(4)], tag="kaie", sending=lambda: None
    )
    for _ in range(3):
        state = await client.retrieve(expiring)
    assert state.ended
    kinds = sorted(r.kind for r in (await _all_results(client, expiring)).values())
    await client.aclose()
    assert kinds == [EXPIRED, EXPIRED, SUCCEEDED, SUCCEEDED]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_create_whose_answer_is_lost_is_not_retried_and_can_be_found_again(
    protocol: str, serve: Callable[..., FakeProviderServer]
) -> None:
    server = serve(BatchPlan(drop_create_answers={1}))
    client = _client(protocol, server)
    with pytest.raises(BatchApiError) as lost:
        await client.submit([BatchEntry("kaiz-1", _request(1))], tag="kaiz", sending=lambda: None)
    assert lost.value.accepted is None  # nobody can tell: never assumed refused
    assert len(server.batches.batch_ids) == 1  # the SDK did not submit it a second time
    [found] = await client.recent(0.0)
    await client.aclose()
    assert found.id == server.batches.batch_ids[0] and found.total == 1
    assert found.tag == ("kaiz" if protocol == "openai" else "")  # OpenAI keeps our metadata


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_endpoint_without_a_batch_api_is_refused_by_the_probe(
    protocol: str, serve: Callable[..., FakeProviderServer]
) -> None:
    client = _client(protocol, serve(BatchPlan(enabled=False)))
    with pytest.raises(BatchUnsupported, match="404"):
        await client.probe()
    await client.aclose()
    working = _client(protocol, serve())
    await working.probe()
    await working.aclose()
