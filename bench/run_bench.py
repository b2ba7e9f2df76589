"""Run the benchmark: every strategy on the same workloads against identical fake providers.

    .venv/bin/python -m bench.run_bench                       # every workload, writes docs/performance.md
    .venv/bin/python -m bench.run_bench --workloads synthetic --files 40 --no-write --json

Each strategy gets a fresh `FakeProviderServer` in realistic mode (same latency, caching, rate limits
and 529 rate, same fault seed) so no strategy inherits another's cache or rate-limit state. Ours
runs over both protocols, first against lenient rate limits (its dry run has no calibration yet),
then against strict ones on a fresh copy whose run store holds the calibration the first run
learned (its dry run is calibrated), as a rerun on the same tree would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.fake import Realism, ServerProcess
from bench.markdown import keep_marked_sections, render
from bench.portfolio_bench import keeping_section
from bench.report import LowerBound, lower_bound, metrics, summarize, targets
from bench.scale_bench import run as scale_run
from bench.strategies import StrategyResult, run_ours, run_predecessor, server_stats
from bench.strategies import _price as bench_price
from bench.workloads import DEFAULT_REAL, Workload, real, synthetic
from testing.fakeprovider.tokens import ANTHROPIC_VOCABULARY, OPENAI_VOCABULARY

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("a", "b", "c")
PROTOCOLS = ("anthropic", "openai")
VOCABULARIES = {"anthropic": ANTHROPIC_VOCABULARY, "openai": OPENAI_VOCABULARY}
DAYTRADER = "koncur-daytrader-output.yaml"


def run_baseline(key: str, workload: Workload, realism: Realism, work_dir: Path) -> StrategyResult:
    with ServerProcess(realism) as server:
        result = asyncio.run(run_predecessor(key, workload, server, work_dir, per_violation=key == "b"))
    server_stats(result, server)
    return result


def run_c(
    workload: Workload,
    realism: Realism,
    work_dir: Path,
    protocol: str,
    calibration_from: Path | None = None,
) -> StrategyResult:
    with ServerProcess(realism) as server:
        result = run_ours(
            workload, server, realism, work_dir, protocol=protocol, calibration_from=calibration_from
        )
    server_stats(result, server)
    return result


def run_both_modes(
    workload: Workload, realism: Realism, work_dir: Path, protocol: str = "anthropic"
) -> tuple[StrategyResult, StrategyResult]:
    """Ours against lenient limits, then against strict ones on a fresh copy that starts from the
    lenient run's calibration, as a rerun on the same tree would."""
    lenient = run_c(workload, replace(realism, strict=False), work_dir, protocol)
    strict = run_c(
        workload,
        replace(realism, strict=True),
        work_dir,
        protocol,
        calibration_from=Path(lenient.extra["tree"]),
    )
    return lenient, strict


def _log(log: bool, workload: Workload, result: StrategyResult, started: float) -> None:
    if log:
        print(
            f"  {workload.name} {result.label}: {result.fixed}/{result.incidents} fixed, "
            f"${result.cost:.4f}, {time.monotonic() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )


def run_workload(
    workload: Workload,
    realism: Realism,
    work_dir: Path,
    strategies: Sequence[str],
    log: bool,
    baseline_scale: float,
    protocols: Sequence[str] = PROTOCOLS,
) -> dict[str, Any]:
    results = []
    here = work_dir / workload.name
    for key in (k for k in strategies if k != "c"):
        started = time.monotonic()
        result = run_baseline(key, workload, replace(realism, time_scale=baseline_scale), here)
        results.append(result)
        _log(log, workload, result, started)
    bounds: dict[str, LowerBound] = {}
    if "c" in strategies:
        for protocol in protocols:
            started = time.monotonic()
            lenient = run_c(workload, replace(realism, strict=False), here, protocol)
            results.append(lenient)
            _log(log, workload, lenient, started)
            tree = Path(lenient.extra["tree"])
            bounds[protocol] = lower_bound(workload, tree, lenient.fixed, VOCABULARIES[protocol])
            started = time.monotonic()
            strict = run_c(workload, replace(realism, strict=True), here, protocol, calibration_from=tree)
            results.append(strict)
            _log(log, workload, strict, started)
    return summarize(workload, results, realism, bounds)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run_bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workloads",
        default="small,synthetic,coolstore,daytrader",
        help="comma list of: small (many small generated files), synthetic (generated files of real "
        "size), coolstore (a real analysis, files rebuilt at their real size), daytrader (a real "
        "analysis with large files, sent as windows), real (--real-source)",
    )
    parser.add_argument("--strategies", default="a,b,c", help="which of a, b, c to run (default all)")
    parser.add_argument("--protocols", default="anthropic,openai", help="protocols ours runs over")
    parser.add_argument("--files", type=int, default=220, help="files in the synthetic workload")
    parser.add_argument("--small-files", type=int, default=400, help="files in the small workload")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic workload")
    parser.add_argument(
        "--long-run-files", type=int, default=880, help="files of the (c)-only long run (0: skip it)"
    )
    parser.add_argument("--real-source", default=DEFAULT_REAL, help="file in tests/data/konveyor/")
    parser.add_argument(
        "--scale-incidents",
        type=int,
        default=100_000,
        help="incidents of the dry-run / plan scale measurement (bench/scale_bench.py; 0: skip it)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="run the fake world this many times faster for (c): latency, rate-limit windows, TTLs",
    )
    parser.add_argument(
        "--baseline-time-scale",
        type=float,
        default=30.0,
        help="the same for (a) and (b), which take ~30x longer (scale-free figures are unaffected)",
    )
    parser.add_argument("--rate-529", type=float, default=0.03, help="share of requests answered 529")
    parser.add_argument("--ttft", type=float, default=1.0, help="seconds to first token (unscaled)")
    parser.add_argument("--tps", type=float, default=80.0, help="output tokens per second (unscaled)")
    parser.add_argument("--rpm", type=int, default=1_000)
    parser.add_argument("--itpm", type=int, default=450_000)
    parser.add_argument("--otpm", type=int, default=90_000)
    parser.add_argument("--work-dir", type=Path, help="keep workloads and results here (default: temp)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-write", action="store_true", help="do not write --out")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument(
        "--from-json", type=Path, help="do not run: re-render --out from figures saved with --json"
    )
    parser.add_argument("--quiet", action="store_true")
    return parser


def run(args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    realism = Realism(
        ttft=args.ttft,
        tokens_per_second=args.tps,
        requests_per_minute=args.rpm,
        input_tokens_per_minute=args.itpm,
        output_tokens_per_minute=args.otpm,
        rate_529=args.rate_529,
        time_scale=args.time_scale,
    )
    strategies = [s for s in STRATEGIES if s in args.strategies.split(",")]
    price = bench_price()
    figures: dict[str, Any] = {
        "price": {
            "input": price.input,
            "output": price.output,
            "cache_write_5m": price.cache_write_5m,
            "cache_read": price.cache_read,
        },
        "realism": realism.describe(),
        "time_scale": realism.time_scale,
        "baseline_time_scale": args.baseline_time_scale,
        "workloads": {},
    }
    for name in [w.strip() for w in args.workloads.split(",") if w.strip()]:
        target = work_dir / f"{name}-input"
        target.mkdir(parents=True, exist_ok=True)
        if name == "synthetic":
            workload = synthetic(target, files=args.files, seed=args.seed)
        elif name == "small":
            workload = synthetic(target, files=args.small_files, seed=args.seed, small=True, name="small")
        elif name == "coolstore":
            workload = real(target, source=DEFAULT_REAL, name="coolstore")
        elif name == "daytrader":
            workload = real(target, source=DAYTRADER, name="daytrader")
        elif name == "real":
            workload = real(target, source=args.real_source)
        else:
            raise SystemExit(f"unknown workload {name!r}; use small, synthetic, coolstore, daytrader or real")
        if not args.quiet:
            print(f"{workload.name}: {workload.description}", file=sys.stderr, flush=True)
        protocols = [p for p in PROTOCOLS if p in args.protocols.split(",")]
        figures["workloads"][name] = run_workload(
            workload, realism, work_dir, strategies, not args.quiet, args.baseline_time_scale, protocols
        )
    if "c" in strategies and args.long_run_files > 0:
        # Throughput in steady state: a run long enough that the full buckets at its start matter little.
        target = work_dir / "long-input"
        target.mkdir(parents=True, exist_ok=True)
        workload = synthetic(target, files=args.long_run_files, seed=args.seed + 1)
        if not args.quiet:
            print(f"long run: {workload.description}", file=sys.stderr, flush=True)
        lenient, strict = run_both_modes(workload, realism, work_dir / "long")
        figures["long_run"] = {
            "workload": workload.description,
            "runs": {r.key: metrics(r, realism) for r in (lenient, strict)},
        }
    if args.scale_incidents > 0:
        if not args.quiet:
            print(f"scale: {args.scale_incidents:,} incidents", file=sys.stderr, flush=True)
        figures["scale"] = scale_run(args.scale_incidents, work_dir / "scale")
    return figures


def rerender(path: Path) -> dict[str, Any]:
    """Figures saved with --json, with the targets re-evaluated (for --from-json)."""
    figures: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for workload in figures["workloads"].values():
        bounds = {p: b["cost_per_fixed_incident_usd"] for p, b in workload["lower_bound"].items()}
        workload["targets"] = targets(workload["strategies"], bounds)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a not in ("--json", "--quiet")]
    command = "python -m bench.run_bench " + " ".join(shown)
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    if args.from_json is not None:
        figures = rerender(args.from_json)
        existing = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        kept = keeping_section(args.out, keep_marked_sections(existing, render(figures)))
        args.out.write_text(kept, encoding="utf-8")
        return 0
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        figures = run(args, args.work_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="kantra-bench-") as tmp:
            figures = run(args, Path(tmp))
    figures["bench_seconds"] = round(time.monotonic() - started, 1)
    figures["load"] = {"cpus": os.cpu_count(), "start": load_at_start, "end": os.getloadavg()[0]}
    figures["command"] = command.strip()
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        # The batch API's and the portfolio's sections (bench/batch_bench.py, bench/portfolio_bench.py)
        # are measured on their own: kept as they are.
        existing = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        kept = keeping_section(args.out, keep_marked_sections(existing, render(figures)))
        args.out.write_text(kept, encoding="utf-8")
        if not args.quiet:
            print(f"wrote {args.out}", file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps(figures, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
