"""Portfolio benchmark: a generated portfolio run by the embedded engine against the fake provider.

    .venv/bin/python -m bench.portfolio_bench            # writes its section of docs/performance.md
    .venv/bin/python -m bench.portfolio_bench --apps 3 --files 4 --no-write

Two runs of the same generated portfolio (`--apps` synthetic applications of `--files` Java files
each, `bench/workloads.py`), each application a fresh copy:

1. **Parallel, latency-bound**: no rate limit binds; the portfolio's wall time against the sum of
   the applications' own times (how much running `--max-apps` at once gains).
2. **Rate-limited**: the fake provider allows `--rpm` requests per minute (its minute shortened
   `--time-scale` times, as the limiter's); the portfolio shares one limit of `--headroom` of it.
   Measured: the requests the provider accepted per minute while the limit binds (after the full
   bucket a run starts with is spent) against the limit, and the 429s it answered (its own count).

The provider's accounting is the fake server's own (it counts and refuses); the benchmark never
uses the limiter's figures to judge the limiter.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.batch_bench import keep_section, write_section
from bench.workloads import synthetic
from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.portfolio.manifest import load_manifest
from kantra_ai.portfolio.run import PortfolioOptions, run_portfolio
from kantra_ai.portfolio.unit import AppResult, AppState
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.ratelimit import RateLimits
from testing.fakeprovider.server import FakeProviderServer

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
START = "<!-- portfolio-bench:start -->"
END = "<!-- portfolio-bench:end -->"


def _portfolio(root: Path, apps: int, files: int, base_url: str, max_apps: int) -> Path:
    entries = []
    for number in range(apps):
        workload = synthetic(root / f"gen-{number}", files=files, seed=100 + number)
        entry = {"name": f"app-{number}", "source": str(workload.app), "analysis": str(workload.analysis)}
        entries.append(entry)
    manifest = {
        "workspace": "work",
        "max-apps": max_apps,
        "settings": {"provider": {"name": "claude", "base-url": base_url}},
        "apps": entries,
    }
    path = root / "portfolio.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-bench"  # only the local fake server is ever asked
    latency = LatencyModel(ttft=args.ttft, tps=args.tps)
    figures: dict[str, Any] = {"apps": args.apps, "files_per_app": args.files, "max_apps": args.max_apps}

    # 1. Latency-bound.
    with FakeProviderServer(respond, latency=latency) as server:
        url = server.anthropic_base_url
        manifest = _portfolio(root / "parallel", args.apps, args.files, url, args.max_apps)
        result = run_portfolio(load_manifest(manifest), PortfolioOptions(max_apps=args.max_apps), _quiet)
        _check(result.apps)
        per_app = sum(a.seconds for a in result.apps)
        figures["parallel"] = {
            "wall_seconds": round(result.seconds, 2),
            "sum_of_app_seconds": round(per_app, 2),
            "speedup": round(per_app / result.seconds, 2),
            "requests": server.request_count,
            "incidents_fixed": sum(a.fixed for a in result.apps),
            "states": sorted({a.state for a in result.apps}),
        }

    # 2. Rate-limited: the provider's minute is `time_scale` times shorter, and so is the limiter's.
    start = time.monotonic()
    minute = 60.0 / args.time_scale
    scale = args.time_scale

    def clock() -> float:
        return start + (time.monotonic() - start) * scale

    limits = RateLimits(requests_per_minute=args.rpm, clock=clock)
    shared = RateLimitConfig(requests_per_minute=max(1, int(args.rpm * args.headroom)))
    with FakeProviderServer(respond, latency=latency, rate_limits=limits) as server:
        url = server.anthropic_base_url
        manifest = _portfolio(root / "limited", args.apps, args.files, url, args.max_apps)
        options = PortfolioOptions(max_apps=args.max_apps, rate_limits=shared, minute_seconds=minute)
        result = run_portfolio(load_manifest(manifest), options, _quiet)
        _check(result.apps)
        arrivals = sorted(server.arrival_times)
        accepted = server.request_count - server.rate_limited_count
        figures["rate_limited"] = _utilisation(arrivals, accepted, args.rpm, minute)
        figures["rate_limited"].update(
            wall_seconds=round(result.seconds, 2),
            rate_limited_429=server.rate_limited_count,
            requests=server.request_count,
            shared_limit_rpm=shared.requests_per_minute,
            provider_limit_rpm=args.rpm,
            incidents_fixed=sum(a.fixed for a in result.apps),
            states=sorted({a.state for a in result.apps}),
        )
    figures["settings"] = {
        "ttft": args.ttft,
        "tps": args.tps,
        "time_scale": args.time_scale,
        "headroom": args.headroom,
    }
    return figures


def _utilisation(arrivals: list[float], accepted: int, rpm: int, minute: float) -> dict[str, Any]:
    """Accepted requests per minute once the starting bucket is spent, against the limit. A bucket
    that starts full allows `rpm` at once; everything after that is paced by the limit alone."""
    if accepted <= rpm or len(arrivals) <= rpm:
        return {"binds": False, "use_of_limit": None}
    paced = arrivals[rpm:]  # the requests beyond the starting bucket
    span = arrivals[-1] - arrivals[rpm - 1]
    bound = len(paced) / (rpm / minute)  # seconds the limit needs for them at best
    return {"binds": True, "use_of_limit": round(bound / span, 3) if span > 0 else None}


def _check(apps: list[AppResult]) -> None:
    failed = [f"{a.name}: {a.reason}" for a in apps if a.state == AppState.FAILED]
    if failed:
        raise SystemExit(f"portfolio bench: applications failed: {'; '.join(failed)}")


def _quiet(line: str) -> None:
    pass


def render(figures: dict[str, Any], seconds: float) -> str:
    p, r, s = figures["parallel"], figures["rate_limited"], figures["settings"]
    use = f"{r['use_of_limit']:.0%}" if r.get("use_of_limit") is not None else "n/a (the limit did not bind)"
    return "\n".join(
        [
            START,
            "## Portfolio runs",
            "",
            "Generated by `bench/portfolio_bench.py` (rerun to reproduce):",
            "",
            "```bash",
            ".venv/bin/python -m bench.portfolio_bench",
            "```",
            "",
            f"A generated portfolio of {figures['apps']} applications ({figures['files_per_app']} synthetic "
            f"Java EE files each), the embedded engine with {figures['max_apps']} at a time, the fake "
            f"provider at {s['ttft']} s to first token and {s['tps']:g} output tokens/s. The whole "
            f"benchmark took {seconds:.0f} s.",
            "",
            "| metric | latency-bound | rate-limited |",
            "|---|---:|---:|",
            f"| wall time | {p['wall_seconds']} s | {r['wall_seconds']} s |",
            f"| sum of the applications' own times | {p['sum_of_app_seconds']} s | |",
            f"| sum / wall time | {p['speedup']}x | |",
            f"| requests (HTTP, 429s included) | {p['requests']} | {r['requests']} |",
            f"| incidents fixed | {p['incidents_fixed']} | {r['incidents_fixed']} |",
            f"| provider's limit / the portfolio's shared limit | | {r['provider_limit_rpm']} / "
            f"{r['shared_limit_rpm']} RPM (minute {s['time_scale']:g}x shorter) |",
            f"| accepted requests per minute while the limit binds / the provider's limit | | {use} |",
            f"| 429 answers | | {r['rate_limited_429']} |",
            "",
            "The shared limit is "
            f"{s['headroom']:.0%} of the provider's: the provider counts a request when it arrives, a "
            "little after the limiter let it go, and a connection's first request arrives later than the "
            "next ones. Every application's limiter reserves from the one set of buckets before a request "
            "and settles with the real usage after (on Ray the buckets live in a named actor).",
            END,
        ]
    )


def keeping_section(doc: Path, text: str) -> str:
    """`text` (a whole new docs/performance.md from `bench.run_bench`) with the portfolio section
    the file already holds kept at its end."""
    return keep_section(doc, text, START, END)


def main(argv: list[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.portfolio_bench", description=summary)
    parser.add_argument("--apps", type=int, default=6)
    parser.add_argument("--files", type=int, default=10, help="generated Java files per application")
    parser.add_argument("--max-apps", type=int, default=3)
    parser.add_argument("--ttft", type=float, default=0.3)
    parser.add_argument("--tps", type=float, default=2000.0)
    parser.add_argument("--rpm", type=int, default=20, help="the provider's requests per (shortened) minute")
    parser.add_argument("--time-scale", type=float, default=10.0, help="minutes run this many times faster")
    parser.add_argument("--headroom", type=float, default=0.95, help="the shared limit / the provider's")
    parser.add_argument("--out", type=Path, default=DOC)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kantra-portfolio-bench-") as tmp:
        figures = run(args, Path(tmp))
    seconds = time.monotonic() - began
    if args.json:
        sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    if not args.no_write:
        write_section(args.out, render(figures, seconds), START, END)
        print(f"wrote the portfolio section of {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
