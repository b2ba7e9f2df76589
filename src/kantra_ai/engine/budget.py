"""`--max-cost`: no request starts whose worst case could take the run past the limit."""

from __future__ import annotations

import threading

from kantra_ai.batching.batches import Batch
from kantra_ai.providers.pricing import ModelPrice

# The estimate is ours, the bill is the provider's: leave room for tokenizer differences.
ESTIMATE_SAFETY = 1.25
ESTIMATE_SLACK_TOKENS = 200


def reserved_input_tokens(batch: Batch) -> int:
    """The input tokens a request for `batch` is budgeted at: the estimate plus a safety margin."""
    return int(batch.estimated_input_tokens * ESTIMATE_SAFETY) + ESTIMATE_SLACK_TOKENS


class CostGuard:
    """Reserves each request's worst-case cost before it starts and settles it with the real one.

    Reserving (not just checking the amount spent so far) is what keeps concurrent requests from
    overshooting together: eight requests that each fit alone may not fit at once.
    """

    def __init__(self, max_cost: float | None, price: ModelPrice | None) -> None:
        self.max_cost = max_cost
        self.price = price
        self.spent = 0.0
        self._reserved = 0.0
        self._lock = threading.Lock()

    def worst_case(
        self, input_tokens: int, max_output_tokens: int, *, price: ModelPrice | None = None
    ) -> float:
        """`price`: other rates than the run's (a batch API's); the run's price when None."""
        rates = price if price is not None else self.price
        if rates is None:
            return 0.0
        price = rates.for_request(input_tokens)  # a long-context surcharge, if it reaches one
        # Any input token may be billed as a (1 h) cache write, the dearest way to bill input.
        input_rate = max(price.input, price.cache_write_5m, price.cache_write_1h)
        return (input_tokens * input_rate + max_output_tokens * price.output) / 1_000_000

    def worst_case_of(
        self, batch: Batch, max_output_tokens: int | None = None, *, price: ModelPrice | None = None
    ) -> float:
        """The most a request for `batch` can cost (output: its whole `max_tokens`)."""
        output = batch.max_output_tokens if max_output_tokens is None else max_output_tokens
        return self.worst_case(reserved_input_tokens(batch), output, price=price)

    def try_reserve(self, amount: float) -> bool:
        with self._lock:
            if self.max_cost is not None and self.spent + self._reserved + amount > self.max_cost:
                return False
            self._reserved += amount
            return True

    def settle(self, reserved: float, actual: float | None) -> None:
        with self._lock:
            self._reserved -= reserved
            self.spent += actual or 0.0
