"""Cache layout and accounting: minimum lengths, TTL choice, breakpoints, pricing of 1 h writes."""

from __future__ import annotations

from kantra_ai.formats import TOOL_CALL
from kantra_ai.providers.anthropic_provider import AnthropicProvider
from kantra_ai.providers.base import ModelRequest
from kantra_ai.providers.caching import choose_ttl, min_cacheable_tokens, prefix_key
from kantra_ai.providers.openai_provider import OpenAIProvider
from kantra_ai.providers.pricing import ModelPrice, PriceTable, Usage


def _request(guidance: str = "rules", prompt: str = "file") -> ModelRequest:
    return ModelRequest("instructions", guidance, prompt, max_tokens=100, tool=TOOL_CALL.tool)


def test_minimum_cacheable_length_follows_the_model_family() -> None:
    assert min_cacheable_tokens("claude-sonnet-5-5") == 1024
    assert min_cacheable_tokens("claude-haiku-4-5-20251001") == 4096
    assert min_cacheable_tokens("claude-opus-5") == 512
    assert min_cacheable_tokens("some-future-model") == 1024
    assert min_cacheable_tokens("gpt-5.5", protocol="openai") == 1024


def test_long_runs_get_the_one_hour_ttl() -> None:
    assert choose_ttl(60) == "5m"
    assert choose_ttl(3600) == "1h"


def test_anthropic_breakpoints_follow_instructions_and_guidance_with_the_chosen_ttl() -> None:
    provider = AnthropicProvider("claude-sonnet-5-5", api_key="k", cache_ttl="1h")
    params = provider.build_params(_request())
    assert params["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    guidance, prompt = params["messages"][0]["content"]
    assert guidance["cache_control"]["ttl"] == "1h"
    assert "cache_control" not in prompt  # the file and its incidents are never cached
    assert params["tools"][0]["name"] == "apply_fixes"  # tools come first in the cached prefix


def test_openai_cache_key_is_shared_by_requests_with_the_same_prefix_only() -> None:
    provider = OpenAIProvider("openai", "gpt-5.5", api_key="k")
    keyed = [
        provider.build_params(ModelRequest("s", g, p, 10, cache_key="kantra"))["prompt_cache_key"]
        for g, p in (("rules A", "file 1"), ("rules A", "file 2"), ("rules B", "file 1"))
    ]
    assert keyed[0] == keyed[1] != keyed[2]
    assert prefix_key(_request("a", "x")) == prefix_key(_request("a", "y"))


def test_one_hour_cache_writes_are_priced_at_their_own_rate() -> None:
    price = ModelPrice.anthropic_style(2.0, 10.0)
    mixed = Usage(cache_write_tokens=1_000_000, cache_write_1h_tokens=400_000)
    cost = PriceTable.cost(price, mixed)
    assert cost == 0.6 * 2.5 + 0.4 * 4.0
    assert PriceTable.cost(price, Usage(cache_write_tokens=1_000_000), cache_ttl="1h") == 4.0
