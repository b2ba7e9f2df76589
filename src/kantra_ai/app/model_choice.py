"""Which provider, model, price and edit format a run uses: resolved once, the same for every command."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kantra_ai.app.options import ModelOptions
from kantra_ai.bounds import http_url_problem
from kantra_ai.errors import UserError
from kantra_ai.formats import EditFormat, choose_format
from kantra_ai.providers.base import Provider
from kantra_ai.providers.batch_api import BatchClient, check_supported, open_batch_client
from kantra_ai.providers.pricing import ModelPrice, PricingError, no_price_message, resolve_price
from kantra_ai.providers.registry import (
    BASE_URL_ENV,
    Preset,
    ProviderConfigError,
    create_provider,
    missing_key,
    resolve_preset,
)


@dataclass(frozen=True)
class ModelChoice:
    preset: Preset
    model: str
    price: ModelPrice | None  # None: no price known (cost reported as unknown, never guessed)
    format: EditFormat
    base_url: str | None
    warning: str = ""  # said before the run: a model without a price (a typo?) has its cost unknown

    @property
    def provider_name(self) -> str:
        return self.preset.name

    @property
    def simulated(self) -> bool:
        return self.preset.name == "simulated"

    @property
    def batch_price(self) -> ModelPrice | None:
        """The price through the provider's batch API (half of every rate)."""
        return self.price.batch() if self.price is not None else None

    def check_batch_api(self) -> None:
        """Refuse `--batch-api` for a provider without one (no network: before anything else)."""
        try:
            check_supported(self.preset)
        except ProviderConfigError as exc:
            raise UserError(str(exc)) from exc

    def open_batch_client(self) -> BatchClient:
        """The batch API client (no request yet); a missing key is a one-line UserError."""
        tool = self.format.tool
        try:
            return open_batch_client(
                self.preset, self.model, base_url=self.base_url, tool_name=tool.name if tool else None
            )
        except ProviderConfigError as exc:
            raise UserError(str(exc)) from exc

    def missing_key(self) -> str | None:
        """Why no request can be made (the provider's key variable is not set); None: nothing is."""
        return missing_key(self.preset)

    def open_provider(self, *, hint: str = "") -> Provider:
        """The provider client (no request yet); a missing key is a one-line UserError, whose
        advice `hint` replaces when given."""
        try:
            return create_provider(
                self.preset, self.model, base_url=self.base_url, tools=self.format.tool is not None
            )
        except ProviderConfigError as exc:
            if hint:
                reason = str(exc).split(":")[0] if self.preset.key_env else str(exc)
                raise UserError(f"{reason}: {hint}") from exc
            raise UserError(str(exc)) from exc


def check_endpoint(preset: Preset, base_url: str | None) -> None:
    """Refuse a malformed endpoint (`--base-url`, the config's, or the SDK's *_BASE_URL variable
    where neither is given) in one line, before anything is read: the SDKs would raise it as a
    traceback when the provider is opened."""
    where, url = "--base-url", base_url
    if url is None and preset.base_url is None:
        where = BASE_URL_ENV.get(preset.protocol, "")
        url = os.environ.get(where) if where else None
    problem = http_url_problem(url) if url else None
    if problem:
        raise UserError(f"{where} {url}: {problem}")


def choose_model(options: ModelOptions, *, max_cost: float | None = None) -> ModelChoice:
    """Resolve provider, model, price and format; refuse `--max-cost` for a model without a price."""
    try:
        preset = resolve_preset(options.provider)
    except ProviderConfigError as exc:
        raise UserError(str(exc)) from exc
    check_endpoint(preset, options.base_url)
    model = options.model or preset.default_model
    try:  # the user's file, our table, then genai-prices; each price carries its source
        price = resolve_price(
            model,
            provider=preset.name,
            local=preset.local,
            prices_file=options.prices,
            base_url=options.base_url,
        )
    except PricingError as exc:
        raise UserError(str(exc)) from exc
    if max_cost is not None and price is None:
        message = no_price_message(model, provider=preset.name, prices_file=options.prices)
        raise UserError(f"--max-cost cannot be enforced: {message}")
    warning = ""
    if price is None:
        message = no_price_message(model, provider=preset.name, prices_file=options.prices)
        warning = f"{message}; until then its cost shows as unknown"
    edit_format = choose_format(supports_tools=preset.supports_tools, text_edits=options.text_edits)
    return ModelChoice(preset, model, price, edit_format, options.base_url, warning)
