"""Every hosted preset is priced: dry runs show cost and its source, budgets hold, reported cost is
the fake server's usage times the listed price, unknown models are refused with the closest names."""

from __future__ import annotations

import contextlib
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest
from tests.cli.helpers import analysis_of, copy_example, run

from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"


def _json(*args: str | Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(*args)
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else {})


def _remediate(app: Path, *extra: str | Path) -> tuple[int, dict[str, Any]]:
    return _json(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--json", "--no-progress", *extra
    )


def _listed_cost(summary: dict[str, Any]) -> float:
    """The summary's tokens times the summary's listed rates (USD per million tokens)."""
    tokens, rates = summary["tokens"], summary["price"]["usd_per_million_tokens"]
    return (
        tokens["input"] * rates["input"]
        + tokens["output"] * rates["output"]
        + tokens["cache_read"] * rates["cache_read"]
        + tokens["cache_write"] * rates["cache_write_5m"]
    ) / 1_000_000


@pytest.mark.parametrize(("preset", "provider_id"), [("openai", "openai"), ("groq", "groq")])
def test_a_hosted_preset_dry_run_is_priced_with_its_source_and_takes_a_budget(
    preset: str, provider_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    app = copy_example(EXAMPLE, tmp_path)
    code, dry = _remediate(app, "--provider", preset, "--dry-run", "--max-cost", "1")
    assert code == 0
    totals = dry["totals"]
    assert totals["expected_cost_usd"] > 0 and totals["worst_case_cost_usd"] >= totals["expected_cost_usd"]
    price = totals["price"]
    assert price["source"] == "genai-prices" and f"{provider_id}/" in price["from"]
    assert genai_prices.__version__ in price["from"]


def test_the_dry_run_text_names_where_the_prices_come_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", "openai",
               "--dry-run") == 0  # fmt: skip
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())
    assert "prices for gpt-5.5" in out and f"genai-prices {genai_prices.__version__}" in out


def test_an_openai_run_costs_its_usage_times_the_listed_price_cached_input_included(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _remediate(
        app, "--provider", "openai", "--base-url", fake.openai_base_url, "--batch-size", "1"
    )
    assert code == 0
    assert summary["tokens"]["cache_read"] > 0, "requests with a shared prefix read the fake's cache"
    assert summary["cost_usd"] == pytest.approx(_listed_cost(summary))
    # The listed rates are genai-prices' own: price the same tokens with its calculator.
    tokens = summary["tokens"]
    theirs = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=tokens["input"] + tokens["cache_read"],
            cache_read_tokens=tokens["cache_read"],
            output_tokens=tokens["output"],
        ),
        "gpt-5.5",
        provider_id="openai",
    ).total_price
    assert isinstance(theirs, Decimal)
    assert summary["cost_usd"] == pytest.approx(float(theirs))
    record = json.loads((app / ".kantra-ai" / "run.json").read_text())
    assert record["price"] == summary["price"]  # the job's record carries its last run's price
    assert summary["price"]["from"] in (app / ".kantra-ai" / "report.html").read_text()


def test_an_openai_run_never_spends_past_its_budget(tmp_path: Path, fake: FakeProviderServer) -> None:
    _, full = _remediate(copy_example(EXAMPLE, tmp_path / "full"), "--provider", "openai",
                         "--base-url", fake.openai_base_url)  # fmt: skip
    # Enough for the worst case of a request or two (input as cache writes, all of max_tokens as
    # output), not for the whole run.
    limit = full["cost_usd"] * 0.8
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _remediate(app, "--provider", "openai", "--base-url", fake.openai_base_url,
                               "--max-cost", f"{limit:.6f}")  # fmt: skip
    assert code == 1
    assert 0 < summary["cost_usd"] <= limit
    assert any("--max-cost" in o["reason"] for o in summary["outcomes"] if o["status"] == "skipped")


def test_a_groq_run_is_priced_at_groqs_rates(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _remediate(app, "--provider", "groq", "--base-url", fake.openai_base_url)
    assert code == 0
    assert "groq/llama-3.3-70b-versatile" in summary["price"]["from"]
    assert summary["cost_usd"] > 0 and summary["cost_usd"] == pytest.approx(_listed_cost(summary))


def test_a_user_price_file_wins_and_is_shown_as_the_source(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-5.5: {input: 1, output: 2, cache-read: 0.1}\n")
    app = copy_example(EXAMPLE, tmp_path)
    code, dry = _remediate(app, "--provider", "openai", "--dry-run", "--prices", prices)
    assert code == 0
    price = dry["totals"]["price"]
    assert price["source"] == "prices-file" and price["from"] == str(prices)
    assert price["usd_per_million_tokens"]["input"] == 1.0


def test_an_unknown_model_with_a_budget_is_refused_naming_the_closest_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code = run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", "openai",
               "--model", "gpt-5.55", "--dry-run", "--max-cost", "1")  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "closest known: " in err and "gpt-5.5" in err.split("closest known: ")[1]
    assert "--prices FILE" in err


def test_a_prices_file_prices_a_local_model_first_match_wins(tmp_path: Path) -> None:
    """Your --prices FILE comes first, before "local servers cost 0" (a model served on a rented GPU
    has a price); it was never read for a local preset."""
    app = copy_example(EXAMPLE, tmp_path)
    prices = tmp_path / "prices.yaml"
    prices.write_text("simulated-model: {input: 1, output: 2}\n")
    code, dry = _remediate(app, "--provider", "simulated", "--dry-run", "--prices", prices)
    assert code == 0
    assert dry["totals"]["price"]["source"] != "local" and "prices.yaml" in dry["totals"]["price"]["from"]
    assert dry["totals"]["expected_cost_usd"] > 0
