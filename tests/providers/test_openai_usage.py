"""OpenAI usage: cached prompt tokens are cache reads, and are not counted as input a second time."""

from __future__ import annotations

import pytest
from openai.types.completion_usage import CompletionUsage, PromptTokensDetails

from kantra_ai.providers.openai_provider import _usage_of
from kantra_ai.providers.pricing import PriceTable, resolve_price


def test_cached_tokens_are_cache_reads_and_the_rest_is_input() -> None:
    reported = CompletionUsage(
        prompt_tokens=10_000,
        completion_tokens=600,
        total_tokens=10_600,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=8_000),
    )
    usage = _usage_of(reported)
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (2_000, 8_000, 600)
    assert usage.total_input == reported.prompt_tokens
    price = resolve_price("gpt-5.5", provider="openai")
    assert price is not None
    expected = (2_000 * price.input + 8_000 * price.cache_read + 600 * price.output) / 1_000_000
    assert PriceTable.cost(price, usage) == pytest.approx(expected)


def test_a_usage_without_details_is_all_input() -> None:
    usage = _usage_of(CompletionUsage(prompt_tokens=500, completion_tokens=20, total_tokens=520))
    assert (usage.input_tokens, usage.cache_read_tokens) == (500, 0)
