"""Run the fake provider from a shell, for the demo and for manual runs against the real CLI.

    python -m testing.fakeprovider --port 8089 --responder kantra_ai.simulated.recipes:respond \
        --ttft 1.0 --tps 80 --fault-rate-529 0.03 --drift-rate 0.3
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import threading
from collections.abc import Sequence

from kantra_ai.simulated.contract import Responder
from testing.drift import KINDS
from testing.fakeprovider.caching import CachingModel
from testing.fakeprovider.drift import DriftSettings
from testing.fakeprovider.faults import FaultPlan
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.ratelimit import RateLimits
from testing.fakeprovider.server import FakeProviderServer, ok_responder


def load_responder(spec: str) -> Responder:
    """Import "package.module:function" and check that it is callable."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"--responder must look like 'module:function', got {spec!r}")
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{spec} is not callable")
    responder: Responder = target
    return responder


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testing.fakeprovider",
        description="Fake Anthropic/OpenAI-compatible LLM server on loopback (tests, demos, benchmarks).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port (0 picks a free one; default 8089)")
    parser.add_argument("--responder", help="module:function answering each request (default: replies 'ok')")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds to the first token")
    parser.add_argument("--tps", type=float, default=0.0, help="output tokens per second (0: instant)")
    parser.add_argument("--fault-rate-529", type=float, default=0.0, help="share answered overloaded")
    parser.add_argument("--fault-rate-429", type=float, default=0.0, help="share answered 429")
    parser.add_argument("--fault-rate-500", type=float, default=0.0, help="share answered 500")
    parser.add_argument("--fault-seed", type=int, default=0, help="seed for the random faults")
    parser.add_argument("--retry-after-ms", type=int, default=None, help="retry-after-ms of random faults")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute limit")
    parser.add_argument("--itpm", type=int, default=None, help="input tokens per minute limit")
    parser.add_argument("--otpm", type=int, default=None, help="output tokens per minute limit")
    parser.add_argument(
        "--drift-rate", type=float, default=None, help="drift mode: share of edits (and replies) drifted"
    )
    parser.add_argument(
        "--drift-kinds",
        default=",".join(KINDS),
        help=f"drift mode: kinds to mix, comma-separated (default: all of {', '.join(KINDS)})",
    )
    parser.add_argument("--drift-seed", type=int, default=0, help="drift mode: seed")
    parser.add_argument("--no-cache", action="store_true", help="disable prompt caching")
    parser.add_argument("--cache-min-tokens", type=int, default=1024, help="Anthropic min. cacheable prefix")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    return parser


def server_from_args(args: argparse.Namespace) -> FakeProviderServer:
    responder = load_responder(args.responder) if args.responder else ok_responder
    faults = FaultPlan(
        rate_429=args.fault_rate_429,
        rate_529=args.fault_rate_529,
        rate_500=args.fault_rate_500,
        seed=args.fault_seed,
        retry_after_ms=args.retry_after_ms,
    )
    drift = None
    if args.drift_rate is not None:
        kinds = tuple(k.strip() for k in args.drift_kinds.split(",") if k.strip())
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"--drift-kinds: unknown kind {unknown[0]!r}; known: {', '.join(KINDS)}")
        drift = DriftSettings(args.drift_rate, kinds, args.drift_seed)
    limits = None
    if args.rpm is not None or args.itpm is not None or args.otpm is not None:
        limits = RateLimits(args.rpm, args.itpm, args.otpm)
    return FakeProviderServer(
        responder,
        faults=faults,
        latency=LatencyModel(ttft=args.ttft, tps=args.tps),
        caching=CachingModel(enabled=not args.no_cache, anthropic_default_min_tokens=args.cache_min_tokens),
        rate_limits=limits,
        drift=drift,
        host=args.host,
        port=args.port,
        log_requests=args.verbose,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        server = server_from_args(args)
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        server.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    with server:
        print(f"fake provider listening on {server.anthropic_base_url}")
        print(f"  ANTHROPIC_BASE_URL={server.anthropic_base_url}")
        print(f"  OPENAI_BASE_URL={server.openai_base_url}")
        print("  (any API key is accepted; Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    faults = ", ".join(f"{k}={v}" for k, v in sorted(server.faults_injected.items())) or "none"
    print(
        f"\nserved {server.request_count} requests over {server.connection_count} connections; "
        f"faults: {faults}; rate-limited: {server.rate_limited_count}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
