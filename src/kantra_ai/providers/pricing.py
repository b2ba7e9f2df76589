"""Prices per model, with where each came from; cost from real usage.

Prices are USD per million tokens. A model is priced, first match wins, from:

1. the user's `--prices FILE` (their contract, their negotiated rates),
2. our own table, `BUILT_IN_PRICES`, for the models where we know better than the database,
3. `genai-prices`, a maintained price database that ships with its data and reads it offline
   (Anthropic, OpenAI, Google, Groq, OpenRouter, Together and more, with cache-read and cache-write
   rates per model).

Local servers cost nothing. A model none of them knows has cost *unknown*: we never guess (the
predecessor charged $30/$60 for every unknown model, local ones included).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kantra_ai import bounds

if TYPE_CHECKING:  # genai-prices loads its whole database on import: only when a price is looked up
    from genai_prices import types as genai_types


@dataclass(frozen=True)
class ModelPrice:
    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    # Long-context surcharges, ascending: (threshold, prices). A request whose input is above a
    # threshold pays that tier's rates on all of its tokens (how Anthropic, OpenAI, Google bill).
    tiers: tuple[tuple[int, ModelPrice], ...] = ()

    def for_request(self, input_tokens: int) -> ModelPrice:
        """The rates that apply to one request with `input_tokens` of input (cached or not)."""
        chosen = self
        for threshold, price in self.tiers:
            if input_tokens > threshold:
                chosen = price
        return chosen

    @classmethod
    def anthropic_style(cls, input_price: float, output_price: float) -> ModelPrice:
        # Anthropic: cache write 1.25x (5 m TTL) or 2x (1 h TTL) of input, read 0.1x.
        return cls(input_price, output_price, input_price * 1.25, input_price * 2.0, input_price * 0.1)

    @classmethod
    def openai_style(cls, input_price: float, output_price: float, cached: float | None = None) -> ModelPrice:
        # OpenAI: caching is automatic, writes cost the normal input price.
        read = input_price * 0.1 if cached is None else cached
        return cls(input_price, output_price, input_price, input_price, read)

    def batch(self) -> ModelPrice:
        """The same price through a provider's batch API: half of every rate (Anthropic's Message
        Batches and OpenAI's Batch API both bill 50%, cache reads and writes included)."""
        return dataclasses.replace(
            self,
            input=self.input / 2,
            output=self.output / 2,
            cache_write_5m=self.cache_write_5m / 2,
            cache_write_1h=self.cache_write_1h / 2,
            cache_read=self.cache_read / 2,
            tiers=tuple((threshold, price.batch()) for threshold, price in self.tiers),
        )

    def rates(self) -> dict[str, float]:
        """USD per million tokens by kind, for summaries."""
        return {
            "input": self.input,
            "output": self.output,
            "cache_write_5m": self.cache_write_5m,
            "cache_write_1h": self.cache_write_1h,
            "cache_read": self.cache_read,
        }


FREE = ModelPrice(0.0, 0.0, 0.0, 0.0, 0.0)

USER_FILE = "prices-file"
BUILT_IN = "built-in"
GENAI_PRICES = "genai-prices"
LOCAL = "local"


@dataclass(frozen=True)
class PriceSource:
    """Where a price came from, and the date that says how fresh it is."""

    kind: str  # USER_FILE, BUILT_IN, GENAI_PRICES or LOCAL
    detail: str  # the file, the table, or the database's version and the entry used
    date: str | None = None  # ISO date: the file's last change, the table's last check, or when
    # the price took effect according to the database (None when it does not say)

    def label(self) -> str:
        return f"{self.detail} ({self.date})" if self.date else self.detail


@dataclass(frozen=True)
class ResolvedPrice(ModelPrice):
    """A model's price together with its source. Usable wherever a `ModelPrice` is."""

    model: str = ""  # the entry that matched (a prefix, a database id)
    source: PriceSource = PriceSource(LOCAL, "local server: free")

    def describe(self) -> dict[str, Any]:
        """The price and its source as they appear in the dry run, `--json` and the report."""
        return {
            "model": self.model,
            "source": self.source.kind,
            "from": self.source.detail,
            "date": self.source.date,
            "usd_per_million_tokens": self.rates(),
            "long_context": [
                {"above_input_tokens": threshold, "usd_per_million_tokens": price.rates()}
                for threshold, price in self.tiers
            ],
        }


def describe_price(price: ModelPrice | None) -> dict[str, Any] | None:
    """`ResolvedPrice.describe()`, or None when the price (so the cost) is unknown."""
    if price is None:
        return None
    if isinstance(price, ResolvedPrice):
        return price.describe()
    return {"model": "", "source": "", "from": "", "date": None, "usd_per_million_tokens": price.rates()}


# Where we know better than genai-prices: entries are model ids or prefixes (longest prefix wins),
# each with the reason it is here. Empty for now: genai-prices matches every hand-kept Anthropic
# entry we had, and is more precise on cache reads (per model, where we had a flat 0.1x).
BUILT_IN_PRICES: dict[str, ModelPrice] = {}
BUILT_IN_CHECKED = "2026-12-06"  # when the table above was last compared with genai-prices

# Our provider presets and the genai-prices provider ids that price them.
GENAI_PROVIDER_IDS = {
    "claude": "anthropic",
    "openai": "openai",
    "groq": "groq",
    "together": "together",
    "openrouter": "openrouter",
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


def _by_prefix(prices: Mapping[str, ModelPrice], model: str) -> str | None:
    """The entry for `model`: its own, else the longest entry it starts with (dated snapshots)."""
    if model in prices:
        return model
    return max((k for k in prices if model.startswith(k)), key=len, default=None)


class PriceTable:
    """Prices from a fixed mapping (ids or prefixes); `cost` prices a usage."""

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = dict(BUILT_IN_PRICES if prices is None else prices)

    def override(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices.update(prices)

    def lookup(self, model: str, *, local: bool = False) -> ModelPrice | None:
        if local:
            return FREE
        key = _by_prefix(self._prices, model)
        return self._prices[key] if key is not None else None

    @staticmethod
    def cost(price: ModelPrice | None, usage: Usage, *, cache_ttl: str = "5m") -> float | None:
        """USD for `usage`, the usage of ONE request (a long-context surcharge depends on it; sum
        several with `cost_of_requests`). Cache writes the provider reported by TTL are priced at
        their own rate; the rest at the rate of `cache_ttl`, the TTL the request asked for."""
        if price is None:
            return None
        price = price.for_request(usage.total_input)
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

    @staticmethod
    def cost_of_requests(price: ModelPrice | None, usages: Iterable[Usage]) -> float | None:
        """USD for several requests, each priced on its own."""
        if price is None:
            return None
        return sum(PriceTable.cost(price, usage) or 0.0 for usage in usages)


class PricingError(ValueError):
    pass


PRICE_FILE_KEYS = ("input", "output", "cache-write", "cache-write-1h", "cache-read")  # USD per million


def load_price_overrides(path: Path) -> dict[str, ModelPrice]:
    """Read `model: {input: X, output: Y, cache-write?, cache-write-1h?, cache-read?}` per model."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PricingError(f"cannot read price file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PricingError(
            f"price file {path}: not UTF-8 text (byte {exc.start}): not a YAML price file"
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PricingError(f"price file {path}: YAML syntax error{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise PricingError(f"price file {path}: expected a mapping of model -> prices")
    result: dict[str, ModelPrice] = {}
    for model, entry in data.items():
        if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
            raise PricingError(f"price file {path}: model {model!r} needs numeric 'input' and 'output'")
        unknown = [str(key) for key in entry if key not in PRICE_FILE_KEYS]
        if unknown:  # `cache_read` for `cache-read`: the rate would silently be the default
            raise PricingError(
                f"price file {path}: model {model!r}: unknown key {unknown[0]!r}; the keys are "
                f"{', '.join(PRICE_FILE_KEYS)}"
            )
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
        for key in PRICE_FILE_KEYS:
            # NaN or a negative rate would make every cost (and so --max-cost) meaningless.
            problem = bounds.PRICE_PER_MTOK.problem(float(entry[key])) if key in entry else None
            if problem:
                raise PricingError(f"price file {path}: model {model!r}: {key}: {problem}")
    return result


def resolve_price(
    model: str,
    *,
    provider: str | None = None,
    local: bool = False,
    prices_file: Path | None = None,
    base_url: str | None = None,
    built_in: Mapping[str, ModelPrice] | None = None,
) -> ResolvedPrice | None:
    """The price of `model` on `provider` (a preset name) and where it came from; None if unknown.

    `prices_file` is the user's `--prices` (a bad file raises PricingError); `base_url` lets an
    endpoint the database knows (e.g. Groq's, given to the `openai` preset) pick that provider's
    prices; `built_in` replaces `BUILT_IN_PRICES` (tests).
    """
    if prices_file is not None:  # read (and refused when bad) whatever the provider: the user gave it
        overrides = load_price_overrides(prices_file)
        key = _by_prefix(overrides, model)
        if key is not None:
            source = PriceSource(USER_FILE, str(prices_file), _mtime(prices_file))
            return _resolved(overrides[key], key, source)
    if local:  # the simulated model runs in this process: no server of any kind
        from kantra_ai.providers.registry import SIMULATED  # registry -> base -> this module

        where = "simulated model, in process: free" if provider == SIMULATED else "local server: free"
        return _resolved(FREE, model, PriceSource(LOCAL, where))
    table = BUILT_IN_PRICES if built_in is None else built_in
    key = _by_prefix(table, model)
    if key is not None:
        return _resolved(table[key], key, PriceSource(BUILT_IN, "kantra-ai's price table", BUILT_IN_CHECKED))
    return _from_genai_prices(model, provider, base_url)


def no_price_message(model: str, *, provider: str | None = None, prices_file: Path | None = None) -> str:
    """Why a budget cannot be enforced for `model`, the closest names we do know, how to give a price."""
    names = {name.lower(): name for name in sorted(_known_names(provider, prices_file))}
    close = [names[n] for n in difflib.get_close_matches(model.lower(), list(names), n=3, cutoff=0.5)]
    hint = f" (closest known: {', '.join(close)})" if close else " (no known model name is close)"
    return (
        f"no price is known for model {model!r}{hint}; give one with --prices FILE "
        f"(YAML: `{model}: {{input: X, output: Y}}`, USD per million tokens)"
    )


def _resolved(price: ModelPrice, model: str, source: PriceSource) -> ResolvedPrice:
    fields = {f.name: getattr(price, f.name) for f in dataclasses.fields(ModelPrice)}
    return ResolvedPrice(**fields, model=model, source=source)


def _mtime(path: Path) -> str | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
    except OSError:
        return None


def _genai_provider_id(provider: str | None, base_url: str | None) -> str | None:
    """The database's provider: the one whose API the endpoint is, else the preset's."""
    from genai_prices import data_snapshot

    if base_url:
        try:
            return data_snapshot.get_snapshot().find_provider(None, None, base_url).id
        except LookupError:
            pass  # a local or private endpoint: priced as the preset's provider
    return GENAI_PROVIDER_IDS.get(provider or "")


def _from_genai_prices(model: str, provider: str | None, base_url: str | None) -> ResolvedPrice | None:
    import genai_prices
    from genai_prices import data_snapshot
    from genai_prices.types import TieredPrices

    provider_id = _genai_provider_id(provider, base_url)
    if provider_id is None and provider is not None:
        return None  # a preset the database does not price (a custom endpoint): unknown, not a guess
    try:
        found, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    now = datetime.now(UTC)
    rates = info.get_prices(now)
    price = _price_at(rates, 0)
    if price is None:
        return None  # not priced per input and output token (e.g. an audio or image model)
    tiered = [getattr(rates, key) for key in _RATE_KEYS]
    thresholds = sorted({tier.start for t in tiered if isinstance(t, TieredPrices) for tier in t.tiers})
    tiers = tuple((start, tier) for start in thresholds if (tier := _price_at(rates, start + 1)) is not None)
    price = dataclasses.replace(price, tiers=tiers)
    detail = f"genai-prices {genai_prices.__version__}: {found.id}/{info.id}"
    return _resolved(price, info.id, PriceSource(GENAI_PRICES, detail, _effective_since(info, now)))


_RATE_KEYS = ("input_mtok", "output_mtok", "cache_write_mtok", "cache_write_1h_mtok", "cache_read_mtok")


def _price_at(rates: genai_types.ModelPrice, input_tokens: int) -> ModelPrice | None:
    """Our price for a request of `input_tokens` input tokens, from the database's rates."""
    input_rate = _rate(rates.input_mtok, input_tokens)
    output_rate = _rate(rates.output_mtok, input_tokens)
    if input_rate is None or output_rate is None:
        return None
    write_5m = _rate(rates.cache_write_mtok, input_tokens)
    write_1h = _rate(rates.cache_write_1h_mtok, input_tokens)
    read = _rate(rates.cache_read_mtok, input_tokens)
    # No cache-write rate: the provider bills writes as plain input (OpenAI, Groq, ...).
    write = input_rate if write_5m is None else write_5m
    return ModelPrice(
        input=input_rate,
        output=output_rate,
        cache_write_5m=write,
        cache_write_1h=write if write_1h is None else write_1h,  # one TTL only: a write is a write
        cache_read=input_rate if read is None else read,  # no cache-read rate: no discount
    )


def _rate(value: object, input_tokens: int) -> float | None:
    """A rate per million tokens for a request of `input_tokens` (the highest tier it passes)."""
    from genai_prices.types import TieredPrices

    if isinstance(value, TieredPrices):
        rate = value.base
        for tier in value.tiers:
            if input_tokens > tier.start:
                rate = tier.price
        return float(rate)
    return float(value) if isinstance(value, Decimal) else None


def _effective_since(info: genai_types.ModelInfo, now: datetime) -> str | None:
    """The date the database says the price in force took effect, when it says."""
    from genai_prices.types import StartDateConstraint

    if not isinstance(info.prices, list):
        return None
    for conditional in reversed(info.prices):
        constraint = conditional.constraint
        if constraint is None or constraint.active(now):
            return constraint.start_date.isoformat() if isinstance(constraint, StartDateConstraint) else None
    return None


def _known_names(provider: str | None, prices_file: Path | None) -> set[str]:
    names = set(BUILT_IN_PRICES)
    if prices_file is not None:
        names |= set(load_price_overrides(prices_file))  # already read without error by then
    names |= _genai_model_ids(GENAI_PROVIDER_IDS.get(provider or ""))
    return names


@lru_cache(maxsize=8)
def _genai_model_ids(provider_id: str | None) -> frozenset[str]:
    from genai_prices import data_snapshot

    providers = data_snapshot.get_snapshot().providers
    return frozenset(m.id for p in providers if provider_id is None or p.id == provider_id for m in p.models)
