"""One price table for every model we know, overridable by the user.

Prices are USD per million tokens. A model we have no price for has cost *unknown*: we never
guess (the predecessor charged $30/$60 for every unknown model, local ones included).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ModelPrice:
    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float

    @classmethod
    def anthropic_style(cls, input_price: float, output_price: float) -> ModelPrice:
        # Anthropic: cache write 1.25x (5 m TTL) or 2x (1 h TTL) of input, read 0.1x.
        return cls(input_price, output_price, input_price * 1.25, input_price * 2.0, input_price * 0.1)

    @classmethod
    def openai_style(cls, input_price: float, output_price: float, cached: float | None = None) -> ModelPrice:
        # OpenAI: caching is automatic, writes cost the normal input price.
        read = input_price * 0.1 if cached is None else cached
        return cls(input_price, output_price, input_price, input_price, read)


FREE = ModelPrice(0.0, 0.0, 0.0, 0.0, 0.0)

# Keys are model ids or prefixes (longest prefix wins), so dated snapshots share a price.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-sonnet-5-5": ModelPrice.anthropic_style(2.0, 10.0),
    "claude-sonnet-5": ModelPrice.anthropic_style(2.0, 10.0),
    "claude-sonnet-4": ModelPrice.anthropic_style(3.0, 15.0),
    "claude-opus-5-5": ModelPrice.anthropic_style(4.0, 20.0),
    "claude-opus-4-5": ModelPrice.anthropic_style(5.0, 25.0),
    "claude-opus-4-6": ModelPrice.anthropic_style(5.0, 25.0),
    "claude-opus-4-7": ModelPrice.anthropic_style(5.0, 25.0),
    "claude-opus-4-8": ModelPrice.anthropic_style(5.0, 25.0),
    "claude-haiku-4-5": ModelPrice.anthropic_style(1.0, 5.0),
    "claude-haiku-5-5": ModelPrice.anthropic_style(0.10, 0.50),
}


@dataclass(frozen=True)
class Usage:
    """Tokens of one response, split by how they are billed."""

    input_tokens: int = 0  # uncached input
    output_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes, whatever their TTL
    cache_read_tokens: int = 0
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens written with the 1 h TTL, when known

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
        )

    @property
    def total_input(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens


class PriceTable:
    def __init__(self, prices: dict[str, ModelPrice] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES if prices is None else prices)

    def override(self, prices: dict[str, ModelPrice]) -> None:
        self._prices.update(prices)

    def lookup(self, model: str, *, local: bool = False) -> ModelPrice | None:
        if local:
            return FREE
        if model in self._prices:
            return self._prices[model]
        best = max((k for k in self._prices if model.startswith(k)), key=len, default=None)
        return self._prices[best] if best else None

    @staticmethod
    def cost(price: ModelPrice | None, usage: Usage, *, cache_ttl: str = "5m") -> float | None:
        """USD for `usage`. Cache writes the provider reported by TTL are priced at their own rate;
        the rest at the rate of `cache_ttl`, the TTL the request asked for."""
        if price is None:
            return None
        one_hour = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
        other_writes = usage.cache_write_tokens - one_hour
        write = price.cache_write_1h if cache_ttl == "1h" else price.cache_write_5m
        return (
            usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + other_writes * write
            + one_hour * price.cache_write_1h
            + usage.cache_read_tokens * price.cache_read
        ) / 1_000_000


class PricingError(ValueError):
    pass


def load_price_overrides(path: Path) -> dict[str, ModelPrice]:
    """Read `model: {input: X, output: Y, cache-write?, cache-write-1h?, cache-read?}` per model."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PricingError(f"cannot read price file {path}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise PricingError(f"price file {path}: expected a mapping of model -> prices")
    result: dict[str, ModelPrice] = {}
    for model, entry in data.items():
        if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
            raise PricingError(f"price file {path}: model {model!r} needs numeric 'input' and 'output'")
        try:
            base = ModelPrice.anthropic_style(float(entry["input"]), float(entry["output"]))
            result[str(model)] = ModelPrice(
                base.input,
                base.output,
                float(entry.get("cache-write", base.cache_write_5m)),
                float(entry.get("cache-write-1h", base.cache_write_1h)),
                float(entry.get("cache-read", base.cache_read)),
            )
        except (TypeError, ValueError) as exc:
            raise PricingError(f"price file {path}: model {model!r}: prices must be numbers") from exc
    return result
