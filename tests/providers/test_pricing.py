"""One price table: known models priced, unknown ones unknown, local ones free, overridable."""

from __future__ import annotations

from pathlib import Path

import pytest

from kantra_ai.providers.pricing import PriceTable, PricingError, Usage, load_price_overrides


def test_dated_snapshots_share_their_family_price() -> None:
    table = PriceTable()
    price = table.lookup("claude-haiku-4-5-20251001")
    assert price is not None and price.input == 1.0 and price.output == 5.0


def test_an_unknown_model_has_unknown_cost_not_a_guess() -> None:
    table = PriceTable()
    assert table.lookup("gpt-9-ultra") is None
    assert PriceTable.cost(None, Usage(1000, 1000)) is None


def test_local_models_cost_nothing() -> None:
    price = PriceTable().lookup("qwen2.5-coder:14b", local=True)
    assert PriceTable.cost(price, Usage(1_000_000, 1_000_000)) == 0.0


def test_cache_tokens_are_priced_by_kind_and_ttl() -> None:
    price = PriceTable().lookup("claude-sonnet-5-5")  # $2 in, $10 out
    usage = Usage(
        input_tokens=1_000_000, output_tokens=0, cache_write_tokens=1_000_000, cache_read_tokens=1_000_000
    )
    assert PriceTable.cost(price, usage, cache_ttl="5m") == pytest.approx(2.0 + 2.5 + 0.2)
    assert PriceTable.cost(price, usage, cache_ttl="1h") == pytest.approx(2.0 + 4.0 + 0.2)


def test_user_overrides_replace_and_add_models(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "gpt-5.5: {input: 1.25, output: 10, cache-read: 0.125}\nclaude-sonnet-5-5: {input: 1, output: 5}\n"
    )
    table = PriceTable()
    table.override(load_price_overrides(path))
    gpt = table.lookup("gpt-5.5")
    assert gpt is not None and gpt.cache_read == 0.125
    sonnet = table.lookup("claude-sonnet-5-5")
    assert sonnet is not None and sonnet.input == 1.0


@pytest.mark.parametrize("text", ["[1, 2]", "m: {input: 1}", "m: {input: x, output: 1}", "m: [unclosed"])
def test_bad_price_files_are_one_line_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(PricingError) as info:
        load_price_overrides(path)
    assert "\n" not in str(info.value)
