"""Response timing: time to first token, then output at a steady token rate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LatencyModel:
    """`LatencyModel(ttft=1.0, tps=80)`: 1 s to the first token, then 80 output tokens per second.

    Zero means instant, the default, so tests stay fast.
    """

    ttft: float = 0.0
    tps: float = 0.0

    def generation_seconds(self, output_tokens: int) -> float:
        return output_tokens / self.tps if self.tps > 0 else 0.0
