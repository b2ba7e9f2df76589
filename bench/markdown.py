"""Renders the benchmark figures as `docs/performance.md`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

NOTES = Path(__file__).with_name("notes.md")  # the hand-written reading of the figures

_ROWS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("input tokens (uncached)", lambda r: f"{r['tokens']['input']:,}"),
    ("cache write", lambda r: f"{r['tokens']['cache_write']:,}"),
    ("cache read", lambda r: f"{r['tokens']['cache_read']:,}"),
    ("output tokens", lambda r: f"{r['tokens']['output']:,}"),
    ("cost", lambda r: f"${r['cost_usd']:.3f}"),
    ("cost / fixed incident", lambda r: _money(r["cost_per_fixed_incident_usd"])),
    ("fixed / incidents", lambda r: f"{r['fixed']} / {r['incidents']}"),
    ("lost to 429/529", lambda r: str(r["lost_to_429_529"])),
    (
        "wall time: scaled (real s, scale)",
        lambda r: (
            f"{r['wall_minutes_scaled']:.2f} min ({r['wall_seconds_real']:.0f} s, {r['time_scale']:g}x)"
        ),
    ),
    ("incidents / min", lambda r: _num(r["incidents_per_minute"])),
    ("shared prefix read from cache", lambda r: _pct(r.get("cache_read_ratio_of_shared_prefix"))),
    ("requests (answered / HTTP)", lambda r: f"{r['requests']:,} / {r['http_requests']:,}"),
    ("429 / 529 answers", lambda r: f"{r['answered_429']} / {r['answered_529']}"),
    ("incidents / request", lambda r: _num(r["incidents_per_request"])),
    ("times each file sent", lambda r: _num(r["times_each_file_sent"])),
    ("max_tokens asked / output used", lambda r: _times(r.get("max_tokens_per_output_token"))),
    (
        "rate-limit bound (binding limit)",
        lambda r: f"{r['rate_limit_bound_minutes']:.2f} min ({r['binding_limit']})",
    ),
    (
        "throughput / bound with full buckets",
        lambda r: (
            _pct(r["throughput_vs_bound_with_full_buckets"])
            if r["rate_limit_bound_minutes_with_full_buckets"]
            else "n/a (no limit binds)"
        ),
    ),
    ("dry run: input / output / cost off by", lambda r: _dry(r.get("dry_run"))),
)

_TARGETS = (
    ("cost_per_fixed_vs_lower_bound", "cost / fixed incident vs lower bound"),
    ("cost_per_fixed_vs_naive", "cost / fixed incident vs (a) naive"),
    ("shared_prefix_read_from_cache", "shared prefix read from cache"),
    ("throughput_vs_rate_limit_bound_with_full_buckets", "throughput vs rate-limit bound"),
    ("incidents_lost_to_429_529", "incidents lost to 429/529"),
    ("max_tokens_per_output_token", "max_tokens asked / output used"),
    ("dry_run_cost_error", "dry-run cost estimate off by"),
)


def _prices(price: dict[str, float] | None) -> str:
    if not price:
        return ""
    return (
        f"Prices: claude-sonnet-5-5 at ${price['input']:g} / ${price['output']:g} per million input / "
        f"output tokens, cache writes ${price['cache_write_5m']:g}, reads ${price['cache_read']:g}, for "
        "both protocols (as a `--prices` file for the OpenAI one)."
    )


def _load(load: dict[str, Any] | None) -> str:
    """The machine's load while the benchmark ran, as measured (it moves wall times, not tokens)."""
    if not load:
        return ""
    return (
        f"Machine: {load['cpus']} CPUs, load average (1 min) {load['start']:.1f} at the start and "
        f"{load['end']:.1f} at the end of the benchmark (other work shared the machine: wall times and "
        "throughput are pessimistic when it exceeds the CPUs; tokens and cost are not affected)."
    )


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.5f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _dry(dry: dict[str, Any] | None) -> str:
    if not dry:
        return "n/a"
    label = "calibrated" if dry["calibrated"] else "no history"
    parts = [_pct(dry.get(k)) for k in ("input_error", "output_error", "cost_error")]
    return f"{' / '.join(parts)} ({label})"


def _short(row: dict[str, Any]) -> str:
    return str(row["strategy"]).replace("(c) kantra-ai, ", "(c) ").replace(" limits", "")


def _table(rows: dict[str, dict[str, Any]]) -> list[str]:
    keys = list(rows)
    lines = ["| metric | " + " | ".join(_short(rows[k]) for k in keys) + " |"]
    lines.append("|---|" + "---:|" * len(keys))
    for label, cell in _ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(rows[k]) for k in keys) + " |")
    return lines


def _targets(workload: dict[str, Any]) -> list[str]:
    found = workload["targets"]
    if not found:
        return []
    keys = list(found)
    rows = workload["strategies"]
    lines = ["| target for (c) | goal | " + " | ".join(_short(rows[k]) for k in keys) + " |"]
    lines.append("|---|---|" + ":---:|" * len(keys))
    for name, label in _TARGETS:
        goal = found[keys[0]][name]["goal"]
        cells = []
        for key in keys:
            t = found[key][name]
            value = t["value"]
            shown = "n/a" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))
            mark = "" if t["met"] is None else " ✓" if t["met"] else " **✗**"
            cells.append(shown + mark)
        lines.append(f"| {label} | {goal} | " + " | ".join(cells) + " |")
    return lines


def missed(workload: dict[str, Any]) -> list[str]:
    """Which targets each run of ours missed, one line each."""
    notes = []
    rows = workload["strategies"]
    for key, found in workload["targets"].items():
        for name, label in _TARGETS:
            t = found[name]
            if t["met"] is False:
                notes.append(f"- {_short(rows[key])}: {label} {t['value']} (goal {t['goal']})")
    return notes


_METHOD = """\
How the strategies are run (details in `bench/strategies.py`):

- **(a) naive**, the predecessor's direct mode: one request per incident, the whole file in, the whole
  fixed file out. **(b) the predecessor's batch layout as designed**: one request per (violation, file,
  at most 10 incidents), the file sent with each request and the complete file returned once per
  incident. Both use the official Anthropic SDK with its default 2 retries, 8 requests in flight (the
  predecessor's default) and no prompt caching; both are given `max_tokens` sized to the file and
  streaming, so that long files are not cut off. They run against lenient limits only.
- **(c) kantra-ai** is `kantra-ai remediate` through the application layer (`run_job`: selection, run
  store, batching, rule book, cache layout, adaptive limiter with the benchmark's limits given as
  `--rate-limits`, calibration), with its defaults, over the Anthropic and the OpenAI protocol, each
  first against **lenient** limits (the fake gives back unused output and says what is left in
  rate-limit headers) and then against **strict** ones (unused `max_tokens` stays spent; no
  rate-limit headers, no `retry-after`). The strict run starts on a fresh copy whose run store holds
  the calibration the lenient run learned, as a rerun on the same tree would: its dry run is
  calibrated, the lenient run's is not.
- The same scripted model (`kantra_ai.simulated.recipes`) answers all of them, so they fix the same
  incidents; for (a) and (b) it returns whole files computed from the same edits. Each run gets its
  own fresh fake server (in a separate process) with identical settings and fault seed.
- **Tokens** are counted by the fake provider with a real BPE (`bpe-openai`: cl100k for the Anthropic
  protocol, o200k for OpenAI), never with the product's estimator; prompt caching applies each
  model's own minimum (1,024 tokens for Sonnet).
- **Lower bound**: each file with incidents sent once (its tokens only, no instructions), and only the
  changed lines of (c)'s result returned, priced as plain input and output, counted with the same
  tokenizer as the run it is compared with.
- Cost per fixed incident is the whole cost divided by the incidents fixed. Throughput is compared
  with the binding per-minute limit (requests, input tokens counting cache writes but not reads,
  output tokens actually produced), counting the full buckets a run starts with (one minute's
  allowance that a short run can spend at once). The dry run is `remediate --dry-run` on the same
  tree just before the run; its figures are compared with what the provider reported."""


def render(figures: dict[str, Any], analysis: str | None = None) -> str:
    lines = [
        "# Performance",
        "",
        "Generated by the benchmark in `bench/`; rerun it to reproduce every number here:",
        "",
        "```bash",
        f".venv/bin/{figures['command']}",
        "```",
        "",
        f"Fake provider in realistic mode: {figures['realism']}. Time scale {figures['time_scale']:g}x "
        f"for (c) and {figures['baseline_time_scale']:g}x for (a) and (b): latency, rate-limit windows, "
        "cache TTLs and retry waits all run that many times faster, so tokens, cost and throughput "
        "relative to the limits do not depend on it; wall times are shown scaled back to real minutes "
        "(the span the fake provider was busy scaled, local work before and after counted as it took) "
        "and as measured. "
        + _prices(figures.get("price"))
        + " "
        + _load(figures.get("load"))
        + f" The whole benchmark took {figures['bench_seconds']:.0f} s.",
        "",
        _METHOD,
        "",
    ]
    for name, workload in figures["workloads"].items():
        lines += [f"## Workload: {name}", "", workload["workload"], ""]
        lines += _table(workload["strategies"])
        lines.append("")
        for protocol, bound in workload["lower_bound"].items():
            lines.append(
                f"Lower bound ({protocol} tokens): {bound['input_tokens']:,} input and "
                f"{bound['output_tokens']:,} output tokens, ${bound['cost_usd']:.3f}, "
                f"{_money(bound['cost_per_fixed_incident_usd'])} per fixed incident.  "
            )
        lines.append("")
        lines += _targets(workload)
        lines.append("")
    long_run = figures.get("long_run")
    if long_run:
        lines += [
            "## Throughput on a long run",
            "",
            f"(c) alone on a larger synthetic workload ({long_run['workload']}), so that the full "
            "rate-limit buckets at the start weigh little:",
            "",
            *_table(long_run["runs"]),
            "",
        ]
    scale = figures.get("scale")
    if scale:
        lines += _scale(scale)
    if analysis is None:
        analysis = NOTES.read_text(encoding="utf-8") if NOTES.is_file() else ""
    if analysis.strip():
        lines += [analysis.strip(), ""]
    return "\n".join(lines)


def _scale(scale: dict[str, Any]) -> list[str]:
    lines = [
        "## Scale: 100,000 incidents",
        "",
        f"{scale['workload']}. Each command in a fresh process (`bench/scale_bench.py`); CPU time is user "
        "plus system time (compared: a shared machine stretches wall time, not CPU time); peak memory "
        "is the process's maximum resident set size. Goal: dry run and plan <= 2x the raw load.",
        "",
        "| step | CPU seconds | vs raw libyaml load | wall seconds | peak memory |",
        "|---|---:|---:|---:|---:|",
    ]
    key = "cpu_seconds" if "cpu_seconds" in scale["steps"]["raw libyaml load"] else "seconds"
    raw = scale["steps"]["raw libyaml load"][key]
    for step, figure in scale["steps"].items():
        ratio = figure[key] / raw
        lines.append(
            f"| {step} | {figure.get('cpu_seconds', float('nan')):.2f} | {ratio:.2f}x | "
            f"{figure['seconds']:.2f} | {figure['peak_mb']:.0f} MB |"
        )
    lines.append("")
    return lines


# A section another benchmark writes into the same file sits between `<!-- name: ... -->` and
# `<!-- /name -->` (bench/batch_bench.py's batch API section); regenerating keeps it as it is.
_MARKED = re.compile(r"<!-- ([\w-]+):[^>]*-->.*?<!-- /\1 -->\n?", re.DOTALL)


def keep_marked_sections(existing: str, rendered: str) -> str:
    """`rendered` with every marked section of `existing` that it lacks appended at its end."""
    present = {m.group(1) for m in _MARKED.finditer(rendered)}
    kept = [m.group(0).rstrip("\n") for m in _MARKED.finditer(existing) if m.group(1) not in present]
    if not kept:
        return rendered
    return rendered.rstrip("\n") + "\n\n" + "\n\n".join(kept) + "\n"
