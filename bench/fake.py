"""The fake provider in realistic mode, with time scaling, and the scripted model for every layout.

Realistic mode: about 1 s to the first token, 80 output tokens/s, Anthropic and OpenAI caching
semantics (each model's minimum length, breakpoints, TTL), tokens counted with a real BPE of the
fake's own (never the product's estimator), rate limits (1,000 requests, 450,000 input tokens and
90,000 output tokens per minute by default) and a few percent of 529s. `strict=True`: the limits
of a harsher provider, which keeps unused output reserved and says nothing in its 429s.

`time_scale` s runs the whole world s times faster and consistently: latency divided by s, output
speed times s, and the rate-limit windows, cache TTLs and `retry-after` values shrink by s (the
server's clock runs s times faster). Limits stay "per (scaled) minute", so token counts, costs and
throughput as a fraction of the limits do not depend on s; only wall time does.

The scripted model (`kantra_ai.simulated.recipes`) answers our edit protocol. For the
predecessor's layouts it answers with whole files instead: the whole fixed file (naive), or one
complete file per incident (the predecessor's batch layout), computed from the same recipes.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.process
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from kantra_ai.edits.apply import apply_edits
from kantra_ai.edits.parse import parse_tool_input
from kantra_ai.formats.base import FULL_VERDICTS_MARKER
from kantra_ai.simulated.contract import FakeReply, FakeRequest
from kantra_ai.simulated.recipes import ParsedPrompt, parse_prompt, request_text, respond
from testing.fakeprovider.caching import CachingModel
from testing.fakeprovider.faults import FaultPlan
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.ratelimit import RateDecision, RateLimiter, RateLimits
from testing.fakeprovider.server import FakeProviderServer

WHOLE_FILE_MARKER = "Return the complete file"
PER_INCIDENT_MARKER = "Return the complete file once for every incident"


@dataclass(frozen=True)
class Realism:
    ttft: float = 1.0
    tokens_per_second: float = 80.0
    requests_per_minute: int = 1_000
    input_tokens_per_minute: int = 450_000
    output_tokens_per_minute: int = 90_000
    rate_529: float = 0.03
    seed: int = 1
    time_scale: float = 10.0
    strict: bool = False  # no refund of unused output, no rate-limit headers, no retry-after

    def describe(self) -> str:
        return (
            f"{self.ttft:g} s to first token, {self.tokens_per_second:g} output tokens/s, "
            f"{self.requests_per_minute:,} RPM / {self.input_tokens_per_minute:,} ITPM / "
            f"{self.output_tokens_per_minute:,} OTPM, {self.rate_529:.0%} of requests answered 529"
        )


class _ScaledLimiter(RateLimiter):
    """The fake's rate limiter on the scaled clock, its `retry-after` given back in real seconds."""

    def __init__(self, limits: RateLimits, scale: float) -> None:
        super().__init__(limits)
        self.scale = scale

    def acquire(self, input_tokens: int, output_reserve: int) -> RateDecision:
        decision = super().acquire(input_tokens, output_reserve)
        decision.retry_after_s /= self.scale
        return decision


def realistic_server(realism: Realism) -> FakeProviderServer:
    """One fresh fake provider (its own cache and rate-limit state) for one strategy."""
    scale = realism.time_scale
    origin = time.monotonic()

    def clock() -> float:
        return (time.monotonic() - origin) * scale

    limits = RateLimits(
        realism.requests_per_minute,
        realism.input_tokens_per_minute,
        realism.output_tokens_per_minute,
        clock=clock,
        strict=realism.strict,
    )
    server = FakeProviderServer(
        bench_responder,
        faults=FaultPlan(rate_529=realism.rate_529, seed=realism.seed),
        latency=LatencyModel(ttft=realism.ttft / scale, tps=realism.tokens_per_second * scale),
        caching=CachingModel(clock=clock),
        rate_limits=limits,
    )
    server.limiter = _ScaledLimiter(limits, scale)
    return server


def _fixed_content(prompt: ParsedPrompt, request: FakeRequest, upto: int) -> str:
    """The file as the recipes fix it, considering only the first `upto` incidents."""
    text = request.last_user_text()
    if upto < len(prompt.incidents):
        cut = text.find(f"\n#{prompt.incidents[upto].id} line ")
        text = text[: cut + 1] if cut > 0 else text
    scripted = FakeRequest(
        protocol="anthropic",
        model=request.model,
        system=FULL_VERDICTS_MARKER,  # every incident gets a verdict: the edits are all we need
        messages=[{"role": "user", "content": text}],
        tools=[{"name": "apply_fixes"}],
        max_tokens=request.max_tokens,
        stream=False,
        raw={},
    )
    reply = respond(scripted)
    if not reply.tool_calls:
        return prompt.content
    proposed = parse_tool_input(reply.tool_calls[0].input, [i.id for i in prompt.incidents[:upto]])
    return apply_edits(prompt.content, proposed.edits).content


def bench_responder(request: FakeRequest) -> FakeReply:
    """Our protocol gets the recipes' edits; the predecessor's layouts get whole files."""
    if WHOLE_FILE_MARKER not in request.system:
        return respond(request)
    prompt = parse_prompt(request_text(request))
    if prompt is None:
        return FakeReply(text="")
    fence = prompt.language
    if PER_INCIDENT_MARKER not in request.system:
        content = _fixed_content(prompt, request, len(prompt.incidents))
        return FakeReply(text=f"```{fence}\n{content}\n```\n")
    parts = []
    for number, incident in enumerate(prompt.incidents, 1):
        content = _fixed_content(prompt, request, number)
        parts.append(f"### {incident.id}\n```{fence}\n{content}\n```\n")
    return FakeReply(text="\n".join(parts))


@dataclass(frozen=True)
class ServerStats:
    request_count: int
    rate_limited_count: int
    faults_injected: dict[str, int]
    # From the first request's arrival to the last response written (or request refused), in real
    # seconds: the part of a run that the time scale shrinks (local work before and after does not).
    busy_seconds: float = 0.0


class ServerProcess:
    """`realistic_server` in a child process, so the fake and the client under test do not share
    one interpreter lock (on a 2-core machine each gets a core, and the client's timings are its own).

        with ServerProcess(realism) as server:
            ... server.anthropic_base_url ...
        server.stats  # request count, 429s, injected faults
    """

    def __init__(self, realism: Realism) -> None:
        self.realism = realism
        self.anthropic_base_url = ""
        self.openai_base_url = ""
        self.stats = ServerStats(0, 0, {})
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def __enter__(self) -> ServerProcess:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(self.realism, child), daemon=True)
        self._process.start()
        self._conn = parent
        self.anthropic_base_url, self.openai_base_url = parent.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is None or self._process is None:
            return
        self._conn.send("stop")
        self.stats = ServerStats(**self._conn.recv())
        self._process.join(timeout=10)
        self._conn.close()


def _serve(realism: Realism, conn: Connection) -> None:
    with realistic_server(realism) as server:
        conn.send((server.anthropic_base_url, server.openai_base_url))
        conn.recv()  # "stop"
        arrivals = server.arrival_times
        ends = [*arrivals, *(t for t in server.completion_times if t is not None)]
        conn.send(
            {
                "request_count": server.request_count,
                "rate_limited_count": server.rate_limited_count,
                "faults_injected": server.faults_injected,
                "busy_seconds": max(ends) - min(arrivals) if arrivals else 0.0,
            }
        )
