"""Faults the fake provider injects: HTTP errors, bad content, broken streams, stalls.

A `FaultPlan` answers "what goes wrong with request number N" (1-based, counted over generation
requests of both protocols). Scripted faults make a test deterministic; probabilistic faults are
drawn from a generator seeded with (seed, N), so the same plan injects the same faults on the same
request numbers no matter how threads interleave.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["status", "overloaded", "truncate", "garbage", "drop", "stream_error", "stall"]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    code: int = 0  # HTTP status of a "status" fault
    retry_after_ms: int | None = None
    retry_after_s: float | None = None
    message: str | None = None
    fraction: float = 0.5  # truncate: share of the output kept; drop: share of the stream sent
    seconds: float = 0.0  # stall: extra wait before the response starts
    echo_key: Literal["whole", "partial"] | None = None  # a status fault's message repeats the key

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after_ms: int | None = None,
        retry_after_s: float | None = None,
        message: str | None = None,
    ) -> Fault:
        """An HTTP error with exactly this status code, in the protocol's error JSON shape."""
        return cls(
            "status", code=code, retry_after_ms=retry_after_ms, retry_after_s=retry_after_s, message=message
        )

    @classmethod
    def bad_key(cls, *, echo: Literal["whole", "partial"] = "whole") -> Fault:
        """401 naming the key the request carried, as servers do: OpenAI repeats part of it
        ("sk-abc*****wxyz"), some proxies the whole key. For tests that no output carries it."""
        return cls("status", code=401, echo_key=echo)

    def key_message(self, key: str) -> str:
        """The 401 message of a `bad_key` fault for a request that carried `key`."""
        shown = key if self.echo_key == "whole" else f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}"
        return f"Incorrect API key provided: {shown}. You can find your API key in your account settings."

    @classmethod
    def overloaded(cls, *, retry_after_ms: int | None = None) -> Fault:
        """Provider overload: 529 overloaded_error on Anthropic, 503 on OpenAI (which has no 529)."""
        return cls("overloaded", code=529, retry_after_ms=retry_after_ms)

    @classmethod
    def truncate(cls, fraction: float = 0.5) -> Fault:
        """Cut the reply to `fraction` of its tokens and report stop_reason max_tokens."""
        return cls("truncate", fraction=fraction)

    @classmethod
    def garbage(cls) -> Fault:
        """Replace the text with junk and tool inputs with invalid JSON (or a junk object where the
        protocol can only carry an object: non-streaming Anthropic tool_use)."""
        return cls("garbage")

    @classmethod
    def drop(cls, after_fraction: float = 0.5) -> Fault:
        """Close the connection after `after_fraction` of the response was sent (never the whole)."""
        return cls("drop", fraction=after_fraction)

    @classmethod
    def stream_error(cls, after_fraction: float = 0.5) -> Fault:
        """An overload error event in the middle of a stream, which then ends cleanly (as the real APIs
        do when they shed load mid-generation). A non-streaming request gets the overload status."""
        return cls("stream_error", code=529, fraction=after_fraction)

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Wait `seconds` before the response starts (for client timeout tests)."""
        return cls("stall", seconds=seconds)

    @property
    def label(self) -> str:
        """The key this fault is counted under in `FakeProviderServer.faults_injected`."""
        if self.kind == "status":
            return f"http_{self.code}"
        return self.kind

    def status_for(self, protocol: str) -> int:
        if self.kind in ("overloaded", "stream_error"):
            return 529 if protocol == "anthropic" else 503
        return self.code


@dataclass
class FaultPlan:
    """Which requests fail and how.

    `FaultPlan({1: Fault.status(529), 2: Fault.status(429, retry_after_ms=10)})` scripts faults by
    request number; `FaultPlan(rate_529=0.03, seed=7)` injects them at random, reproducibly. A
    scripted entry wins over the random draw for its request.
    """

    scripted: Mapping[int, Fault] = field(default_factory=dict)
    rate_429: float = 0.0
    rate_529: float = 0.0
    rate_500: float = 0.0
    seed: int = 0
    retry_after_ms: int | None = None  # sent with random 429/529 faults

    @classmethod
    def sequence(cls, *faults: Fault) -> FaultPlan:
        """Faults for requests 1, 2, ... in order; later requests succeed."""
        return cls(scripted={i + 1: f for i, f in enumerate(faults)})

    @classmethod
    def every_request(cls, fault: Fault, count: int) -> FaultPlan:
        """The same fault for requests 1..count."""
        return cls(scripted=dict.fromkeys(range(1, count + 1), fault))

    def fault_for(self, request_number: int) -> Fault | None:
        scripted = self.scripted.get(request_number)
        if scripted is not None:
            return scripted
        total = self.rate_429 + self.rate_529 + self.rate_500
        if total <= 0:
            return None
        draw = random.Random(f"{self.seed}:{request_number}").random()
        if draw < self.rate_529:
            return Fault.overloaded(retry_after_ms=self.retry_after_ms)
        if draw < self.rate_529 + self.rate_429:
            return Fault.status(429, retry_after_ms=self.retry_after_ms)
        if draw < total:
            return Fault.status(500)
        return None
