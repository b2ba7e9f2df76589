"""Prompt caching accounting, as both real APIs report it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from testing.fakeprovider.caching import CachingModel
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.server import FakeProviderServer
from testing.fakeprovider.tokens import OPENAI_VOCABULARY, count_tokens

ServerFactory = Callable[..., FakeProviderServer]
Sync = Callable[..., anthropic.Anthropic]

# Well above every default minimum (1024, haiku 2048).
LONG = "Migrate javax.persistence imports to jakarta.persistence in every entity class. " * 150
LONG_TOKENS = count_tokens(LONG)
SHORT = "Keep the public API unchanged."


def cached_system(text: str = LONG, ttl: str | None = None) -> Any:
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    return [{"type": "text", "text": text, "cache_control": control}]


def ask(client: anthropic.Anthropic, question: str, **params: Any) -> anthropic.types.Message:
    params.setdefault("system", cached_system())
    params.setdefault("model", "claude-sonnet-5")
    message: anthropic.types.Message = client.messages.create(
        max_tokens=50, messages=[{"role": "user", "content": question}], **params
    )
    return message


def test_long_prompt_is_tokenised_above_the_minimums() -> None:
    assert LONG_TOKENS > 2048


def test_first_request_writes_the_cache_and_second_reads_it(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    client = anthropic_for(make_server())
    first = ask(client, "Fix Order.java")
    second = ask(client, "Fix Invoice.java")
    assert first.usage.cache_creation_input_tokens == LONG_TOKENS
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.input_tokens == count_tokens("Fix Order.java")
    assert second.usage.cache_read_input_tokens == LONG_TOKENS
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == count_tokens("Fix Invoice.java")


def test_streamed_usage_reports_cache_read_too(make_server: ServerFactory, anthropic_for: Sync) -> None:
    client = anthropic_for(make_server())
    ask(client, "warm the cache")
    with client.messages.stream(
        model="claude-sonnet-5",
        max_tokens=50,
        system=cached_system(),
        messages=[{"role": "user", "content": "again"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == LONG_TOKENS
    assert final.usage.cache_creation_input_tokens == 0


def test_prefix_below_model_minimum_is_not_cached(make_server: ServerFactory, anthropic_for: Sync) -> None:
    client = anthropic_for(make_server())
    for _ in range(2):
        message = ask(client, "question", system=cached_system(SHORT))
        assert message.usage.cache_creation_input_tokens == 0
        assert message.usage.cache_read_input_tokens == 0
        assert message.usage.input_tokens == count_tokens(SHORT) + count_tokens("question")


def test_each_model_has_its_own_minimum(make_server: ServerFactory, anthropic_for: Sync) -> None:
    medium = "word " * 2500  # above Sonnet's 1,024 and Claude 3 Haiku's 2,048, below Haiku 4.5's 4,096
    assert 2048 <= count_tokens(medium) < 4096
    client = anthropic_for(make_server())
    sonnet = ask(client, "q", system=cached_system(medium), model="claude-sonnet-5")
    old_haiku = ask(client, "q", system=cached_system(medium), model="claude-3-5-haiku")
    haiku = ask(client, "q", system=cached_system(medium), model="claude-haiku-4-5")
    assert sonnet.usage.cache_creation_input_tokens == count_tokens(medium)
    assert old_haiku.usage.cache_creation_input_tokens == count_tokens(medium)
    assert haiku.usage.cache_creation_input_tokens == 0


def test_custom_minimum_table_is_honoured(make_server: ServerFactory, anthropic_for: Sync) -> None:
    caching = CachingModel(anthropic_default_min_tokens=10, anthropic_min_tokens={})
    client = anthropic_for(make_server(caching=caching))
    created = ask(client, "q", system=cached_system(SHORT + " " + SHORT)).usage.cache_creation_input_tokens
    assert created is not None and created > 0


def test_cache_is_per_model(make_server: ServerFactory, anthropic_for: Sync) -> None:
    client = anthropic_for(make_server())
    ask(client, "q", model="claude-sonnet-5")
    other = ask(client, "q", model="claude-opus-4-8")
    assert other.usage.cache_read_input_tokens == 0
    assert other.usage.cache_creation_input_tokens == LONG_TOKENS


def test_entries_expire_after_their_ttl(make_server: ServerFactory, anthropic_for: Sync) -> None:
    now = [1000.0]
    client = anthropic_for(make_server(caching=CachingModel(clock=lambda: now[0])))
    ask(client, "q")
    now[0] += 299
    assert ask(client, "q").usage.cache_read_input_tokens == LONG_TOKENS  # a hit also refreshes the TTL
    now[0] += 299
    assert ask(client, "q").usage.cache_read_input_tokens == LONG_TOKENS
    now[0] += 301
    expired = ask(client, "q")
    assert expired.usage.cache_read_input_tokens == 0
    assert expired.usage.cache_creation_input_tokens == LONG_TOKENS


def test_one_hour_ttl_outlives_five_minutes_and_is_reported_separately(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    now = [0.0]
    client = anthropic_for(make_server(caching=CachingModel(clock=lambda: now[0])))
    first = ask(client, "q", system=cached_system(ttl="1h"))
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == LONG_TOKENS
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 0
    now[0] += 1800
    assert ask(client, "q", system=cached_system(ttl="1h")).usage.cache_read_input_tokens == LONG_TOKENS


def test_growing_conversation_reads_earlier_breakpoint_through_lookback(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    client = anthropic_for(make_server())
    opening: Any = {
        "role": "user",
        "content": [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}],
    }
    first = client.messages.create(model="claude-sonnet-5", max_tokens=50, messages=[opening])
    assert first.usage.cache_creation_input_tokens == LONG_TOKENS
    # Next turn: the breakpoint moves to the newest block; the old one is found by looking back.
    follow_up = "Now also fix the persistence.xml namespace. " * 3
    second = client.messages.create(
        model="claude-sonnet-5",
        max_tokens=50,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": LONG}]},
            {"role": "assistant", "content": "Done."},
            {
                "role": "user",
                "content": [{"type": "text", "text": follow_up, "cache_control": {"type": "ephemeral"}}],
            },
        ],
    )
    assert second.usage.cache_read_input_tokens == LONG_TOKENS
    assert second.usage.cache_creation_input_tokens == count_tokens("Done.") + count_tokens(follow_up)
    assert second.usage.input_tokens == 0


def test_tokens_split_into_read_write_and_uncached_add_up(
    make_server: ServerFactory, anthropic_for: Sync
) -> None:
    tool = {"name": "apply_edit", "description": LONG, "input_schema": {"type": "object"}}
    tool_tokens = count_tokens(json.dumps(tool))
    cached_tool: Any = dict(tool, cache_control={"type": "ephemeral"})
    client = anthropic_for(make_server())
    client.messages.create(
        model="claude-sonnet-5",
        max_tokens=50,
        tools=[cached_tool],
        messages=[{"role": "user", "content": "x"}],
    )
    both = client.messages.create(
        model="claude-sonnet-5",
        max_tokens=50,
        tools=[cached_tool],
        system=cached_system(),
        messages=[{"role": "user", "content": "tail question"}],
    )
    assert both.usage.cache_read_input_tokens == tool_tokens
    assert both.usage.cache_creation_input_tokens == LONG_TOKENS
    assert both.usage.input_tokens == count_tokens("tail question")


def test_more_than_four_breakpoints_is_a_400(make_server: ServerFactory, anthropic_for: Sync) -> None:
    blocks: Any = [
        {"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(5)
    ]
    client = anthropic_for(make_server())
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="claude-sonnet-5", max_tokens=50, messages=[{"role": "user", "content": blocks}]
        )
    assert "maximum of 4 blocks with cache_control" in str(caught.value)


def test_disabled_caching_reports_no_cache_tokens(make_server: ServerFactory, anthropic_for: Sync) -> None:
    client = anthropic_for(make_server(caching=CachingModel(enabled=False)))
    ask(client, "q")
    second = ask(client, "q")
    assert second.usage.cache_read_input_tokens == 0
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == LONG_TOKENS + count_tokens("q")


async def test_parallel_identical_requests_all_pay_the_write(
    make_server: ServerFactory, async_anthropic_for: Callable[..., anthropic.AsyncAnthropic]
) -> None:
    server = make_server(latency=LatencyModel(ttft=0.3))
    client = async_anthropic_for(server)

    async def one() -> anthropic.types.Message:
        return await client.messages.create(
            model="claude-sonnet-5",
            max_tokens=50,
            system=cached_system(),
            messages=[{"role": "user", "content": "q"}],
        )

    parallel = await asyncio.gather(one(), one(), one())
    assert [m.usage.cache_creation_input_tokens for m in parallel] == [LONG_TOKENS] * 3
    assert all(m.usage.cache_read_input_tokens == 0 for m in parallel)
    later = await one()
    assert later.usage.cache_read_input_tokens == LONG_TOKENS


def test_openai_caches_repeated_long_prefix_in_128_token_steps(
    make_server: ServerFactory, openai_for: Callable[..., openai.OpenAI]
) -> None:
    client = openai_for(make_server())

    def call(question: str) -> int:
        completion = client.chat.completions.create(
            model="gpt-5",
            messages=[{"role": "system", "content": LONG}, {"role": "user", "content": question}],
            prompt_cache_key="kantra-ai-test",
        )
        assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
        return completion.usage.prompt_tokens_details.cached_tokens or 0

    assert call("Fix Order.java") == 0
    cached = call("Fix Invoice.java")
    assert cached == (count_tokens(LONG, OPENAI_VOCABULARY) // 128) * 128
    assert cached > 0 and cached % 128 == 0


def test_openai_short_prompts_are_never_cached(
    make_server: ServerFactory, openai_for: Callable[..., openai.OpenAI]
) -> None:
    client = openai_for(make_server())
    for _ in range(2):
        completion = client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": SHORT}]
        )
        assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
        assert completion.usage.prompt_tokens_details.cached_tokens == 0
