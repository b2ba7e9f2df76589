"""Prices: the user's file, then our table, then genai-prices; each with its source. Unknown models
stay unknown, local ones are free, cache and batch rates are applied by kind."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest

from kantra_ai.providers.pricing import (
    BUILT_IN,
    GENAI_PRICES,
    LOCAL,
    USER_FILE,
    ModelPrice,
    PriceTable,
    PricingError,
    Usage,
    load_price_overrides,
    no_price_message,
    resolve_price,
)
from kantra_ai.providers.registry import PRESETS


def _genai_cost(usage: Usage, model: str, provider_id: str) -> float:
    """The database's own calculation (its usage counts all input, cached or not, as input)."""
    their_usage = genai_prices.Usage(
        input_tokens=usage.total_input,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        output_tokens=usage.output_tokens,
    )
    total = genai_prices.calc_price(their_usage, model, provider_id=provider_id).total_price
    assert isinstance(total, Decimal)
    return float(total)


def test_dated_snapshots_are_priced_by_their_family_from_genai_prices() -> None:
    price = resolve_price("claude-haiku-4-5-20251001", provider="claude")
    assert price is not None and price.source.kind == GENAI_PRICES
    assert price.model == "claude-haiku-4-5"
    assert genai_prices.__version__ in price.source.detail
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert PriceTable.cost(price, usage) == pytest.approx(_genai_cost(usage, "claude-haiku-4-5", "anthropic"))


@pytest.mark.parametrize(
    ("preset", "model", "provider_id"),
    [
        ("openai", "gpt-5.5", "openai"),
        ("groq", "llama-3.3-70b-versatile", "groq"),
        ("openrouter", "anthropic/claude-sonnet-5.5", "openrouter"),
        ("together", "openai/gpt-oss-120b", "together"),
    ],
)
def test_every_hosted_preset_default_model_has_a_price(preset: str, model: str, provider_id: str) -> None:
    price = resolve_price(model, provider=preset)
    assert price is not None and price.source.kind == GENAI_PRICES
    usage = Usage(input_tokens=120_000, output_tokens=30_000, cache_read_tokens=400_000)
    assert PriceTable.cost(price, usage) == pytest.approx(_genai_cost(usage, model, provider_id))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_presets_default_model_has_a_price_with_its_source(preset: str) -> None:
    """Whatever preset a user picks, its default model is priced (hosted: by the database or our
    table, with where from; local: free), so cost, the budget and cost per fixed incident work."""
    p = PRESETS[preset]
    price = resolve_price(p.default_model, provider=p.name, local=p.local)
    assert price is not None, f"{preset}: no price for its default model {p.default_model!r}"
    if p.local:
        assert price.source.kind == LOCAL and price.input == price.output == 0
    else:
        assert price.source.kind in (BUILT_IN, GENAI_PRICES) and price.input > 0 and price.output > 0
        assert price.source.detail


def test_openai_cached_input_is_priced_at_the_cached_rate_and_not_as_input_too() -> None:
    price = resolve_price("gpt-5.5", provider="openai")
    assert price is not None and price.cache_read < price.input
    cached = Usage(input_tokens=1_000, cache_read_tokens=9_000, output_tokens=500)
    uncached = Usage(input_tokens=10_000, output_tokens=500)
    assert PriceTable.cost(price, cached) == pytest.approx(_genai_cost(cached, "gpt-5.5", "openai"))
    assert PriceTable.cost(price, cached) < PriceTable.cost(price, uncached)  # type: ignore[operator]


def test_anthropic_cache_writes_are_priced_at_both_ttls_and_reads_at_theirs() -> None:
    price = resolve_price("claude-sonnet-5-5", provider="claude")
    assert price is not None and price.cache_write_1h > price.cache_write_5m > price.input > price.cache_read
    usage = Usage(
        input_tokens=2_000,
        output_tokens=700,
        cache_write_tokens=50_000,
        cache_write_1h_tokens=20_000,  # the other 30,000 were written with the 5 m TTL
        cache_read_tokens=300_000,
    )
    expected = _genai_cost(usage, "claude-sonnet-5-5", "anthropic")
    assert PriceTable.cost(price, usage) == pytest.approx(expected)


def test_a_request_past_a_long_context_threshold_pays_the_tier_rates_on_all_its_tokens() -> None:
    price = resolve_price("gpt-5.5", provider="openai")
    assert price is not None and price.tiers, "gpt-5.5 has a long-context tier in genai-prices"
    threshold = price.tiers[0][0]
    small = Usage(input_tokens=threshold - 1_000, cache_read_tokens=1_000, output_tokens=4_000)
    large = Usage(input_tokens=threshold, cache_read_tokens=1_000, output_tokens=4_000)
    for usage in (small, large):
        assert PriceTable.cost(price, usage) == pytest.approx(_genai_cost(usage, "gpt-5.5", "openai"))
    # Two requests below the threshold are two small requests, not one large one.
    two = PriceTable.cost_of_requests(price, [small, small])
    assert two == pytest.approx(2 * PriceTable.cost(price, small))  # type: ignore[operator]


def test_an_unknown_model_has_unknown_cost_not_a_guess() -> None:
    assert resolve_price("gpt-9-ultra", provider="openai") is None
    assert resolve_price("my-finetune", provider=None) is None
    assert PriceTable.cost(None, Usage(1000, 1000)) is None


def test_the_refusal_names_the_closest_known_models_and_how_to_give_a_price() -> None:
    message = no_price_message("gpt-5.55", provider="openai")
    assert "gpt-5.5" in message.split("closest known:")[1]
    assert "--prices FILE" in message and "gpt-5.55: {input: X, output: Y}" in message
    assert "\n" not in message


def test_local_models_cost_nothing() -> None:
    price = resolve_price("qwen2.5-coder:14b", provider="ollama", local=True)
    assert price is not None and price.source.kind == LOCAL
    assert PriceTable.cost(price, Usage(1_000_000, 1_000_000)) == 0.0
    assert price.source.detail == "local server: free"


def test_the_simulated_model_is_said_to_run_in_process_not_on_a_local_server() -> None:
    price = resolve_price("simulated-model", provider="simulated", local=True)
    assert price is not None and price.source.kind == LOCAL
    assert price.source.detail == "simulated model, in process: free"


def test_cache_tokens_are_priced_by_kind_and_ttl() -> None:
    price = ModelPrice.anthropic_style(2.0, 10.0)
    usage = Usage(
        input_tokens=1_000_000, output_tokens=0, cache_write_tokens=1_000_000, cache_read_tokens=1_000_000
    )
    assert PriceTable.cost(price, usage, cache_ttl="5m") == pytest.approx(2.0 + 2.5 + 0.2)
    assert PriceTable.cost(price, usage, cache_ttl="1h") == pytest.approx(2.0 + 4.0 + 0.2)


def test_batch_prices_are_half_of_every_rate_and_keep_their_source() -> None:
    price = resolve_price("claude-sonnet-5-5", provider="claude")
    assert price is not None
    batch = price.batch()
    assert batch.rates() == {kind: rate / 2 for kind, rate in price.rates().items()}
    assert getattr(batch, "source", None) == price.source
    usage = Usage(input_tokens=10_000, output_tokens=2_000, cache_read_tokens=5_000)
    assert PriceTable.cost(batch, usage) == pytest.approx(PriceTable.cost(price, usage) / 2)  # type: ignore[operator]


def test_the_users_file_wins_and_is_named_as_the_source(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "gpt-5.5: {input: 1.25, output: 10, cache-read: 0.125}\nclaude-sonnet-5-5: {input: 1, output: 5}\n"
    )
    gpt = resolve_price("gpt-5.5", provider="openai", prices_file=path)
    assert gpt is not None and gpt.cache_read == 0.125 and gpt.input == 1.25
    assert gpt.source.kind == USER_FILE and gpt.source.detail == str(path) and gpt.source.date
    sonnet = resolve_price("claude-sonnet-5-5-20261001", provider="claude", prices_file=path)
    assert sonnet is not None and sonnet.input == 1.0 and sonnet.model == "claude-sonnet-5-5"
    other = resolve_price("gpt-4o-mini", provider="openai", prices_file=path)
    assert other is not None and other.source.kind == GENAI_PRICES  # not in the file: the database


def test_our_table_wins_over_the_database_where_we_know_better() -> None:
    ours = {"gpt-5.5": ModelPrice.openai_style(4.0, 20.0, cached=0.4)}
    price = resolve_price("gpt-5.5", provider="openai", built_in=ours)
    assert price is not None and price.source.kind == BUILT_IN and price.input == 4.0 and price.source.date


def test_an_endpoint_the_database_knows_picks_its_prices() -> None:
    # The openai preset pointed at Groq's endpoint: Groq's prices, not OpenAI's (which has no such model).
    price = resolve_price(
        "llama-3.3-70b-versatile", provider="openai", base_url="https://api.groq.com/openai/v1"
    )
    assert price is not None and "groq/" in price.source.detail


def test_a_custom_endpoint_preset_is_not_priced_by_guessing() -> None:
    assert resolve_price("claude-sonnet-5-5", provider="my-gateway") is None


@pytest.mark.parametrize("text", ["[1, 2]", "m: {input: 1}", "m: {input: x, output: 1}", "m: [unclosed"])
def test_bad_price_files_are_one_line_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(PricingError) as info:
        load_price_overrides(path)
    assert "\n" not in str(info.value)
    with pytest.raises(PricingError):
        resolve_price("m", provider="openai", prices_file=path)


def test_a_misspelled_rate_in_a_price_file_is_refused_not_replaced_by_the_default(tmp_path: Path) -> None:
    # `cache_read` is how --json spells the rate; the file's key is `cache-read`.
    path = tmp_path / "prices.yaml"
    path.write_text("m: {input: 3, output: 15, cache_read: 99}\n")
    with pytest.raises(PricingError) as info:
        load_price_overrides(path)
    assert str(info.value) == (
        f"price file {path}: model 'm': unknown key 'cache_read'; the keys are input, output, "
        "cache-write, cache-write-1h, cache-read"
    )
