"""The three strategies the benchmark compares, each against its own fresh fake provider.

(a) naive: one request per incident, the whole file in, the whole fixed file out (the
    predecessor's direct mode).
(b) the predecessor's batch layout as designed: one request per (violation, file, at most 10
    incidents), the file sent with each request, the complete file returned for each incident.
(c) ours: the application layer's `run_job`, exactly as `kantra-ai remediate` runs it (selection,
    run store, batching, rule book and cache layout, the adaptive limiter with the benchmark's
    limits given as `--rate-limits`, calibration, the official SDK of the protocol), over the
    Anthropic or the OpenAI protocol. Its only extra is `time_scale`, a keyword of `run_job` that
    no user option reaches: the limiter's minute follows the fake's faster clock.

(a) and (b) are re-implemented faithfully with the same official SDK: 8 requests in flight (the
predecessor's default), the SDK's default 2 retries, no prompt caching. They get one favour the
predecessor did not have: `max_tokens` sized to the file (about 1.25x its tokens per returned copy)
instead of a fixed ceiling, so a long file is not cut off, and they stream (a non-streaming call
with such `max_tokens` is refused by the SDK).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import anthropic

from bench.fake import PER_INCIDENT_MARKER, WHOLE_FILE_MARKER, Realism, ServerProcess
from bench.workloads import Workload
from kantra_ai.analysis.loader import load_analysis
from kantra_ai.analysis.model import Incident
from kantra_ai.analysis.selection import select_incidents
from kantra_ai.app.options import LimitOptions, ModelOptions, OutputOptions, RunOptions, SelectionOptions
from kantra_ai.app.remediate import RemediateJob
from kantra_ai.app.run import dry_run_job, run_job
from kantra_ai.app.ui import SilentUi
from kantra_ai.batching.batches import Batch
from kantra_ai.edits.files import read_source
from kantra_ai.engine.outcomes import Status
from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.pricing import ModelPrice, PriceTable, Usage, resolve_price
from kantra_ai.store.calibration import load_calibration, save_calibration
from kantra_ai.store.session import open_store
from kantra_ai.tokens import estimate_tokens

MODEL = "claude-sonnet-5-5"
PREDECESSOR_PARALLELISM = 8
PREDECESSOR_BATCH = 10
SDK_DEFAULT_RETRIES = 2
MAX_TOKENS_CEILING = 32_000

_BASELINE_SYSTEM = (
    "You are an expert software engineer migrating a Java EE application. Fix the incidents listed "
    "for the file shown, changing only what the migration needs. {ask}"
)
_ASK_WHOLE = WHOLE_FILE_MARKER + " with every fix applied, in one fenced code block, and nothing else."
_ASK_EACH = PER_INCIDENT_MARKER + ": a '### <incident id>' heading, then the whole file in a fenced block."
_FENCED = re.compile(r"```[^\n]*\n(.*?)\n```", re.DOTALL)


@dataclass
class StrategyResult:
    key: str
    label: str
    incidents: int
    fixed: int = 0
    lost_to_pushback: int = 0  # incidents whose request still failed with 429/529 after retries
    failed_other: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    requests: int = 0  # requests that got an answer from the model
    http_requests: int = 0  # every HTTP attempt the server saw, 429/529 answers included
    rate_limited: int = 0  # 429s from the server's rate limiter
    overloaded: int = 0  # injected 529s
    max_tokens_asked: int = 0  # max_tokens of the requests that got an answer (ours only)
    seconds: float = 0.0  # real wall time
    provider_seconds: float | None = None  # of which the fake provider was busy (None: not measured)
    time_scale: float = 1.0  # how much faster than real the fake's world ran for this strategy
    file_sends: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)


def fresh_copy(workload: Workload, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(workload.app, target)
    return target


def selected_incidents(workload: Workload, app: Path) -> list[Incident]:
    return list(select_incidents(load_analysis(workload.analysis, app)).selected)


def _price() -> ModelPrice:
    price = resolve_price(MODEL, provider="claude")
    assert price is not None
    return price


def server_stats(result: StrategyResult, server: ServerProcess) -> None:
    """Called once the server has stopped (its counters come back from the child process)."""
    result.http_requests = server.stats.request_count
    result.rate_limited = server.stats.rate_limited_count
    result.overloaded = sum(server.stats.faults_injected.values())
    if server.stats.request_count:
        result.provider_seconds = min(server.stats.busy_seconds, result.seconds)


# -- (a) and (b): the predecessor's layouts ---------------------------------------------------------


async def _stream_text(
    client: anthropic.AsyncAnthropic, system: str, user: str, max_tokens: int
) -> tuple[str, str, Usage]:
    """One streamed request without caching: (text, stop reason, usage)."""
    usage = Usage()
    parts: list[str] = []
    stop = "other"
    stream = await client.messages.create(
        model=MODEL,
        max_tokens=max_tokens,
        system=system,
        messages=[{"role": "user", "content": user}],
        stream=True,
    )
    async for event in stream:
        if event.type == "message_start":
            u = event.message.usage
            usage = Usage(input_tokens=u.input_tokens, output_tokens=0)
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            parts.append(event.delta.text)
        elif event.type == "message_delta":
            stop = str(event.delta.stop_reason)
            usage = Usage(input_tokens=usage.input_tokens, output_tokens=event.usage.output_tokens)
    return "".join(parts), stop, usage


def _request_groups(incidents: Sequence[Incident], per_violation: bool) -> dict[str, list[list[Incident]]]:
    """Per file, the incident groups sent one request each: single incidents, or (violation, <=10)."""
    by_file: dict[str, list[Incident]] = {}
    for incident in sorted(incidents, key=lambda i: (str(i.path), i.line or 0, i.id)):
        by_file.setdefault(str(incident.path), []).append(incident)
    groups: dict[str, list[list[Incident]]] = {}
    for path, found in by_file.items():
        if not per_violation:
            groups[path] = [[i] for i in found]
            continue
        by_rule: dict[str, list[Incident]] = {}
        for incident in found:
            by_rule.setdefault(incident.violation.key, []).append(incident)
        groups[path] = [
            chunk[n : n + PREDECESSOR_BATCH]
            for _, chunk in sorted(by_rule.items())
            for n in range(0, len(chunk), PREDECESSOR_BATCH)
        ]
    return groups


async def run_predecessor(
    key: str, workload: Workload, server: ServerProcess, work_dir: Path, *, per_violation: bool
) -> StrategyResult:
    app = fresh_copy(workload, work_dir / key)
    incidents = selected_incidents(workload, app)
    label = "(b) predecessor batch layout" if per_violation else "(a) naive, one request per incident"
    result = StrategyResult(key, label, len(incidents))
    price = _price()
    client = anthropic.AsyncAnthropic(
        api_key="bench-key", base_url=server.anthropic_base_url, max_retries=SDK_DEFAULT_RETRIES, timeout=600
    )
    system = _BASELINE_SYSTEM.format(ask=_ASK_EACH if per_violation else _ASK_WHOLE)
    slots = asyncio.Semaphore(PREDECESSOR_PARALLELISM)

    async def run_file(path: str, groups: list[list[Incident]]) -> None:
        source = read_source(app / path)
        content = source.text
        lines = content.count("\n") + 1
        for group in groups:
            # The same file and incidents as ours (the rules of this request, numbered incidents).
            sent = PromptBuilder().request(
                Batch(PurePosixPath(path), tuple(group), None, 0, 0), content, total_lines=lines
            )
            user = sent.guidance + "\n" + sent.prompt
            per_copy = int(estimate_tokens(content) * 1.25) + 200
            max_tokens = min(MAX_TOKENS_CEILING, per_copy * len(group))
            async with slots:
                try:
                    text, stop, usage = await _stream_text(client, system, user, max_tokens)
                except anthropic.APIStatusError as exc:
                    if exc.status_code in (429, 529):
                        result.lost_to_pushback += len(group)
                    else:
                        result.failed_other += len(group)
                    result.file_sends[path] += 1
                    continue
            result.requests += 1
            result.file_sends[path] += 1
            result.usage = result.usage + usage
            copies = _FENCED.findall(text)
            if stop != "end_turn" or len(copies) != len(group):
                result.failed_other += len(group)
                continue
            previous = content
            for copy in copies:
                if copy != previous.rstrip("\n"):
                    result.fixed += 1
                previous = copy + "\n"
            content = previous  # last write wins, as the predecessor wrote each copy in turn
        (app / path).write_text(content, encoding="utf-8")

    started = time.monotonic()
    await asyncio.gather(*(run_file(p, g) for p, g in _request_groups(incidents, per_violation).items()))
    result.seconds = time.monotonic() - started
    result.time_scale = server.realism.time_scale
    await client.close()
    result.cost = PriceTable.cost(price, result.usage) or 0.0
    return result


# -- (c): ours, through the application layer ---------------------------------------------------------


@dataclass
class DryRunFigures:
    """What `remediate --dry-run` said before the run, and whether it had a calibration to use."""

    calibrated: bool
    input_tokens: int
    output_tokens: int
    cost: float | None


def run_ours(
    workload: Workload,
    server: ServerProcess,
    realism: Realism,
    work_dir: Path,
    *,
    protocol: str,
    calibration_from: Path | None = None,
) -> StrategyResult:
    """`kantra-ai remediate` on a fresh copy, after its dry run. `calibration_from`: a tree whose run
    store's calibration is copied in first (what a rerun on the same tree would start from)."""
    mode = "strict" if realism.strict else "lenient"
    key = f"c-{protocol}-{mode}"
    app = fresh_copy(workload, work_dir / key)
    incidents = selected_incidents(workload, app)
    label = f"(c) kantra-ai, {'Anthropic' if protocol == 'anthropic' else 'OpenAI'}, {mode} limits"
    result = StrategyResult(key, label, len(incidents))
    provider = "claude" if protocol == "anthropic" else "openai"
    base_url = server.anthropic_base_url if protocol == "anthropic" else server.openai_base_url
    os.environ.setdefault("ANTHROPIC_API_KEY", "bench-key")
    os.environ.setdefault("OPENAI_API_KEY", "bench-key")
    options = RunOptions(
        selection=SelectionOptions(analysis=workload.analysis, input_dir=app),
        # One price for both protocols (as `--prices`): the model's own, whoever serves it.
        model=ModelOptions(provider=provider, model=MODEL, base_url=base_url, prices=_prices_file(work_dir)),
        limits=LimitOptions(
            rate_limits=RateLimitConfig(
                realism.requests_per_minute, realism.input_tokens_per_minute, realism.output_tokens_per_minute
            )
        ),
        output=OutputOptions(progress=False),
    )
    if calibration_from is not None:
        _copy_calibration(calibration_from, app, provider)
    job = RemediateJob(workload.analysis)
    dry = dry_run_job(job, options, SilentUi())
    result.extra["dry_run"] = DryRunFigures(
        calibration_from is not None,
        dry.total.input_tokens,
        dry.total.expected_output_tokens,
        dry.total.expected_cost,
    )
    started = time.monotonic()
    run = run_job(job, options, SilentUi(), time_scale=realism.time_scale)
    result.seconds = time.monotonic() - started
    result.time_scale = realism.time_scale
    statuses = Counter(o.status for o in run.outcomes.values())
    result.fixed = statuses[Status.FIXED]
    pushback = [
        o
        for o in run.outcomes.values()
        if o.status is Status.FAILED and re.search(r"HTTP (429|529)", o.reason)
    ]
    result.lost_to_pushback = len(pushback)
    result.failed_other = statuses[Status.FAILED] + statuses[Status.SKIPPED] - len(pushback)
    result.usage = run.totals.usage
    result.cost = run.totals.cost or 0.0
    result.requests = sum(1 for r in run.records if not r.error)
    result.file_sends = Counter(path for r in run.records for path in r.paths)
    result.max_tokens_asked = sum(r.max_tokens for r in run.records if not r.error)
    result.extra.update(
        performance=run.performance,
        not_applicable=statuses[Status.NOT_APPLICABLE],
        protocol=protocol,
        mode=mode,
        tree=str(app),
    )
    return result


def _prices_file(work_dir: Path) -> Path:
    """The benchmark model's prices as a `--prices` file, so that the OpenAI protocol is priced alike."""
    price = _price()
    path = work_dir / "prices.yaml"
    work_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"{MODEL}: {{input: {price.input}, output: {price.output}, cache-write: {price.cache_write_5m}, "
        f"cache-write-1h: {price.cache_write_1h}, cache-read: {price.cache_read}}}\n",
        encoding="utf-8",
    )
    return path


def _copy_calibration(source_tree: Path, target_tree: Path, provider: str) -> None:
    """Seed the target tree's run store with the calibration the source tree's runs learned."""
    source = open_store(source_tree, None, create=False)
    target = open_store(target_tree, None, create=True)
    try:
        save_calibration(target, provider, MODEL, load_calibration(source, provider, MODEL))
    finally:
        source.close()
        target.close()
