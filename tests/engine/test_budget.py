"""`--max-cost`: each request's worst case is reserved before it starts and settled with its real
cost after (`engine/budget.py`). The engine test `test_a_request_over_the_budget_is_not_sent` drives
the gate through a scripted model; these pin the arithmetic it rests on."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from kantra_ai.batching.batches import Batch
from kantra_ai.engine.budget import CostGuard, reserved_input_tokens
from kantra_ai.providers.pricing import ModelPrice

PRICE = ModelPrice(input=2.0, output=10.0, cache_write_5m=3.0, cache_write_1h=4.0, cache_read=0.2)


def _batch(input_tokens: int = 1000, max_output_tokens: int = 500) -> Batch:
    return Batch(PurePosixPath("A.java"), (), None, input_tokens, max_output_tokens)


def test_the_input_is_reserved_with_a_margin_for_tokenizer_differences() -> None:
    assert reserved_input_tokens(_batch(1000)) == 1450  # 1000 * 1.25 + 200


@pytest.mark.parametrize(
    "price, input_rate",
    [
        (PRICE, 4.0),  # a 1 h cache write is the dearest way to bill input
        (ModelPrice(2.0, 10.0, 5.0, 4.0, 0.2), 5.0),
        (ModelPrice(6.0, 10.0, 5.0, 4.0, 0.2), 6.0),
    ],
)
def test_the_worst_case_bills_every_input_token_at_the_dearest_rate_and_all_output(
    price: ModelPrice, input_rate: float
) -> None:
    guard = CostGuard(None, price)
    assert guard.worst_case(1_000_000, 100_000) == pytest.approx(input_rate + 1.0)


def test_the_worst_case_uses_the_long_context_tier_the_request_reaches() -> None:
    dear = ModelPrice(input=20.0, output=100.0, cache_write_5m=30.0, cache_write_1h=40.0, cache_read=2.0)
    guard = CostGuard(None, ModelPrice(2.0, 10.0, 3.0, 4.0, 0.2, tiers=((200_000, dear),)))
    assert guard.worst_case(100_000, 0) == pytest.approx(0.4)
    assert guard.worst_case(300_000, 0) == pytest.approx(12.0)


def test_without_a_price_nothing_is_counted() -> None:
    guard = CostGuard(0.0, None)
    assert guard.worst_case(1_000_000, 1_000_000) == 0.0
    assert guard.try_reserve(guard.worst_case_of(_batch()))


def test_a_requests_worst_case_takes_its_whole_max_tokens() -> None:
    guard = CostGuard(None, PRICE)
    assert guard.worst_case_of(_batch(1000, 500)) == pytest.approx(guard.worst_case(1450, 500))
    assert guard.worst_case_of(_batch(1000, 500), 2000) == pytest.approx(guard.worst_case(1450, 2000))


def test_requests_that_fit_alone_do_not_start_together_past_the_limit() -> None:
    guard = CostGuard(1.0, PRICE)
    assert guard.try_reserve(0.6)
    assert not guard.try_reserve(0.6)  # the first is still in flight
    assert guard.try_reserve(0.4)  # exactly up to the limit is allowed
    assert not guard.try_reserve(0.01)


def test_settling_frees_the_reservation_and_counts_the_real_cost() -> None:
    guard = CostGuard(1.0, PRICE)
    assert guard.try_reserve(0.8)
    guard.settle(0.8, 0.3)
    assert guard.spent == pytest.approx(0.3)
    assert guard.try_reserve(0.7)  # 0.3 spent + 0.7 reserved
    assert not guard.try_reserve(0.01)
    guard.settle(0.7, None)  # a request whose cost is unknown (no usage) counts nothing
    assert guard.spent == pytest.approx(0.3)
    assert guard.try_reserve(0.7) and not guard.try_reserve(0.01)


def test_a_new_guard_has_spent_and_reserved_nothing() -> None:
    guard = CostGuard(0.5, PRICE)
    assert guard.spent == 0.0
    assert guard.try_reserve(0.5)
