"""Rate limits without `--rate-limits` lose no work: against a server with strict per-minute limits
that it does not announce in headers (only a `retry-after` on each 429), and that answers 30% of
requests 529 overloaded (with `retry-after` too), every incident still gets its reply. A request
that is refused for now is retryable; a run without a deadline never gives it up.

The server's minute runs ten times faster than the wall clock (its `retry-after` values are given
back in real seconds), so the run takes seconds, not minutes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from bench.workloads import synthetic
from tests.cli.helpers import run

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.faults import FaultPlan
from testing.fakeprovider.ratelimit import RateDecision, RateLimiter, RateLimits
from testing.fakeprovider.server import FakeProviderServer

SCALE = 10.0  # server minutes per real minute


class _Unannounced(RateDecision):
    """No rate-limit headers: the client learns the limits only from being refused."""

    def anthropic_headers(self) -> dict[str, str]:
        return {}

    def openai_headers(self) -> dict[str, str]:
        return {}


class _StrictLimiter(RateLimiter):
    """The fake's limiter on a fast clock, announcing nothing but `retry-after` (in real seconds)."""

    def acquire(self, input_tokens: int, output_reserve: int) -> RateDecision:
        d = super().acquire(input_tokens, output_reserve)
        return _Unannounced(d.allowed, d.retry_after_s / SCALE, d.exceeded, d.states)


@pytest.mark.slow  # about 20 s: the limiter waits every refusal out
def test_strict_limits_and_overload_without_rate_limits_lose_no_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workload = synthetic(tmp_path / "work", files=30)
    origin = time.monotonic()
    limits = RateLimits(
        requests_per_minute=10,  # 30 files: one request each, most of them must wait
        input_tokens_per_minute=60_000,
        output_tokens_per_minute=15_000,
        clock=lambda: (time.monotonic() - origin) * SCALE,
    )
    faults = FaultPlan(rate_529=0.3, retry_after_ms=500, seed=3)
    with FakeProviderServer(respond, faults=faults, rate_limits=limits) as server:
        server.limiter = _StrictLimiter(limits)
        capsys.readouterr()
        code = run(
            "remediate", "--analysis", workload.analysis, "--input", workload.app,
            "--base-url", server.anthropic_base_url, "--json", "--no-progress",
            "--pack-files", "1",  # a request per file: thirty requests against ten a minute
        )  # fmt: skip
        refused = server.rate_limited_count
        overloaded = server.faults_injected.get("overloaded", 0)
    summary = json.loads(capsys.readouterr().out)
    assert refused > 0 and overloaded > 0  # the case is real: the server did push back, often
    lost = [
        o for o in summary["outcomes"] if o["status"] == "skipped" or o["reason"].startswith("request failed")
    ]
    assert lost == []
    # What is left is what the scripted model honestly cannot fix (JNDI lookups): exit 1, no more.
    assert {o["rule"] for o in summary["outcomes"] if o["status"] != "fixed"} <= {"jndi-to-quarkus-00001"}
    assert code == 1
