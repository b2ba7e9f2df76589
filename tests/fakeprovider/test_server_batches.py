"""The batch APIs of the fake provider, driven through the real SDKs: Anthropic's Message Batches and
OpenAI's Files + Batches (create, retrieve with counts, results, cancel, expiry, errored requests,
results out of order, batches that take several polls)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from kantra_ai.simulated.contract import FakeReply, FakeRequest
from testing.fakeprovider.batches import BatchPlan
from testing.fakeprovider.server import FakeProviderServer

ServerFactory = Callable[..., FakeProviderServer]
Anthropic = Callable[..., anthropic.Anthropic]
OpenAI = Callable[..., openai.OpenAI]


def echo(request: FakeRequest) -> FakeReply:
    return FakeReply(text=f"answer to {request.last_user_text()}")


def _anthropic_requests(count: int, model: str = "claude-sonnet-5") -> list[Any]:
    return [
        {
            "custom_id": f"req-{n}",
            "params": {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": f"q{n}"}]},
        }
        for n in range(count)
    ]


def _openai_file(client: openai.OpenAI, count: int, *, url: str = "/v1/chat/completions") -> str:
    lines = [
        json.dumps(
            {
                "custom_id": f"req-{n}",
                "method": "POST",
                "url": url,
                "body": {
                    "model": "gpt-5",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": f"q{n}"}],
                },
            }
        )
        for n in range(count)
    ]
    upload = client.files.create(file=("in.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch")
    return upload.id


# -- Anthropic ----------------------------------------------------------------------------------


def test_an_anthropic_batch_is_in_progress_until_its_polls_run_out_then_counts_its_results(
    make_server: ServerFactory, anthropic_for: Anthropic
) -> None:
    server = make_server(echo, batch_plan=BatchPlan(polls_to_end=3))
    client = anthropic_for(server)
    created = client.messages.batches.create(requests=_anthropic_requests(4))
    assert created.processing_status == "in_progress" and created.results_url is None
    seen = [client.messages.batches.retrieve(created.id) for _ in range(3)]
    assert [b.processing_status for b in seen] == ["in_progress", "in_progress", "ended"]
    assert seen[0].request_counts.processing == 4 and seen[0].request_counts.succeeded == 0
    assert seen[-1].request_counts.succeeded == 4 and seen[-1].request_counts.processing == 0
    assert seen[-1].ended_at is not None and seen[-1].results_url


def test_anthropic_results_match_by_custom_id_in_any_order(
    make_server: ServerFactory, anthropic_for: Anthropic
) -> None:
    server = make_server(echo, batch_plan=BatchPlan(polls_to_end=0, seed=3))
    client = anthropic_for(server)
    batch = client.messages.batches.create(requests=_anthropic_requests(12))
    results = list(client.messages.batches.results(batch.id))
    order = [r.custom_id for r in results]
    assert sorted(order) == sorted(f"req-{n}" for n in range(12))
    assert order != sorted(order, key=lambda c: int(c.split("-")[1]))  # not in submission order
    for result in results:
        assert result.result.type == "succeeded"
        n = result.custom_id.split("-")[1]
        assert result.result.message.content[0].text == f"answer to q{n}"  # type: ignore[union-attr]
        assert result.result.message.usage.output_tokens > 0  # type: ignore[union-attr]


def test_anthropic_errored_and_expired_requests_and_an_expiring_batch(
    make_server: ServerFactory, anthropic_for: Anthropic
) -> None:
    plan = BatchPlan(polls_to_end=0, item_faults={2: "errored", 3: "expired"}, expire_batches={2})
    server = make_server(echo, batch_plan=plan)
    client = anthropic_for(server)
    first = client.messages.batches.create(requests=_anthropic_requests(4))
    kinds = {r.custom_id: r.result.type for r in client.messages.batches.results(first.id)}
    assert kinds == {"req-0": "succeeded", "req-1": "errored", "req-2": "expired", "req-3": "succeeded"}
    errored = next(r for r in client.messages.batches.results(first.id) if r.result.type == "errored")
    assert errored.result.error.error.type == "api_error"  # type: ignore[union-attr]
    second = client.messages.batches.create(requests=_anthropic_requests(4))  # expires half way
    counts = client.messages.batches.retrieve(second.id).request_counts
    assert (counts.succeeded, counts.expired) == (2, 2)


def test_a_cancelled_anthropic_batch_ends_with_its_requests_canceled(
    make_server: ServerFactory, anthropic_for: Anthropic
) -> None:
    server = make_server(echo, batch_plan=BatchPlan(polls_to_end=5))
    client = anthropic_for(server)
    batch = client.messages.batches.create(requests=_anthropic_requests(3))
    cancelling = client.messages.batches.cancel(batch.id)
    assert cancelling.processing_status == "canceling" and cancelling.cancel_initiated_at is not None
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 3
    assert {r.result.type for r in client.messages.batches.results(batch.id)} == {"canceled"}


def test_anthropic_batches_list_newest_first_and_refuse_bad_custom_ids(
    make_server: ServerFactory, anthropic_for: Anthropic
) -> None:
    server = make_server(echo)
    client = anthropic_for(server)
    ids = [client.messages.batches.create(requests=_anthropic_requests(1)).id for _ in range(3)]
    assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]  # both pages
    bad = _anthropic_requests(2)
    bad[1]["custom_id"] = bad[0]["custom_id"]
    with pytest.raises(anthropic.BadRequestError, match="Duplicate custom_id"):
        client.messages.batches.create(requests=bad)
    bad[1]["custom_id"] = "has spaces"
    with pytest.raises(anthropic.BadRequestError, match="custom_id"):
        client.messages.batches.create(requests=bad)
    assert len(server.batches.log) == 3  # refused batches log nothing


# -- OpenAI -------------------------------------------------------------------------------------


def test_an_openai_batch_runs_from_an_uploaded_file_to_an_output_file(
    make_server: ServerFactory, openai_for: OpenAI
) -> None:
    server = make_server(echo, batch_plan=BatchPlan(polls_to_end=2))
    client = openai_for(server)
    file_id = _openai_file(client, 3)
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"k": "v"}
    )
    assert batch.status == "validating" and batch.metadata == {"k": "v"}
    assert client.batches.retrieve(batch.id).status == "in_progress"
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.error_file_id is None and done.output_file_id
    assert done.request_counts is not None and (done.request_counts.total, done.request_counts.completed) == (
        3,
        3,
    )
    lines = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    answers = {x["custom_id"]: x["response"]["body"]["choices"][0]["message"]["content"] for x in lines}
    assert answers == {f"req-{n}": f"answer to q{n}" for n in range(3)}
    assert all(x["response"]["status_code"] == 200 for x in lines)


def test_openai_failed_requests_go_to_the_error_file(make_server: ServerFactory, openai_for: OpenAI) -> None:
    server = make_server(echo, batch_plan=BatchPlan(polls_to_end=0, item_faults={1: "errored", 2: "expired"}))
    client = openai_for(server)
    batch = client.batches.create(
        input_file_id=_openai_file(client, 3), endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.error_file_id and batch.output_file_id
    errors = {
        json.loads(x)["custom_id"]: json.loads(x)
        for x in client.files.content(batch.error_file_id).text.splitlines()
    }
    assert errors["req-0"]["response"]["status_code"] == 500
    assert errors["req-1"]["error"]["code"] == "batch_expired"
    assert batch.request_counts is not None and batch.request_counts.failed == 2


def test_an_openai_batch_can_be_cancelled_or_expire(make_server: ServerFactory, openai_for: OpenAI) -> None:
    server = make_server(echo, batch_plan=BatchPlan(polls_to_end=4, expire_batches={2}, expired_share=0.5))
    client = openai_for(server)
    first = client.batches.create(
        input_file_id=_openai_file(client, 2), endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert client.batches.cancel(first.id).status == "cancelling"
    cancelled = client.batches.retrieve(first.id)
    assert cancelled.status == "cancelled" and cancelled.output_file_id is None and cancelled.error_file_id
    codes = {
        json.loads(x)["error"]["code"]
        for x in client.files.content(cancelled.error_file_id).text.splitlines()
    }
    assert codes == {"batch_cancelled"}
    second = client.batches.create(
        input_file_id=_openai_file(client, 4), endpoint="/v1/chat/completions", completion_window="24h"
    )
    for _ in range(4):
        expired = client.batches.retrieve(second.id)
    assert expired.status == "expired"
    assert expired.request_counts is not None and (
        expired.request_counts.completed,
        expired.request_counts.failed,
    ) == (2, 2)


def test_an_openai_input_file_that_does_not_validate_fails_the_batch(
    make_server: ServerFactory, openai_for: OpenAI
) -> None:
    server = make_server(echo)
    client = openai_for(server)
    batch = client.batches.create(
        input_file_id=_openai_file(client, 2, url="/v1/embeddings"),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data
    assert batch.errors.data[0].code == "invalid_url" and batch.errors.data[0].line == 1
    assert server.batches.log == []


def test_a_server_without_batch_endpoints_answers_404(make_server: ServerFactory, openai_for: OpenAI) -> None:
    server = make_server(echo, batch_plan=BatchPlan(enabled=False))
    with pytest.raises(openai.NotFoundError):
        openai_for(server).batches.list(limit=1)


def test_a_create_whose_answer_is_dropped_still_creates_the_batch(
    make_server: ServerFactory, anthropic_for: Anthropic
) -> None:
    server = make_server(echo, batch_plan=BatchPlan(drop_create_answers={1}))
    client = anthropic_for(server)
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.batches.create(requests=_anthropic_requests(2))
    assert len(server.batches.batch_ids) == 1 and len(server.batches.log) == 2
    assert [b.id for b in client.messages.batches.list()] == server.batches.batch_ids
