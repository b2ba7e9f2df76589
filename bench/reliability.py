"""Kill-and-resume figures for docs/reliability.md: what a SIGKILL at a random moment costs.

    .venv/bin/python -m bench.reliability                       # 12 kills, about 2 minutes
    .venv/bin/python -m bench.reliability --code /tmp/old/src   # the same against another checkout

A synthetic Java EE tree (bench/workloads.py) is fixed by the real `kantra-ai remediate`, a fresh
interpreter per run, against the fake provider served from this process (fast: 50 ms to the first
token, 2,000 tokens/s, 16 requests in flight). One uninterrupted run is the baseline: how long its
requests take, from the first one's arrival to the last reply. Then, per kill: a run SIGKILLed at a
random moment of that stretch (10-90% of it, counted from its own first request: start-up and the
report at the end are not where replies are lost), and the same command again until the job is
done. Counted from the fake provider's own records:

- replies the server had completely sent before the kill, and how many of them the second run
  asked for again (paid twice; the issue saw up to 9 per kill);
- requests the server had received and not answered at the kill (their work is lost with the
  process); with the replies of the line above they are the requests the server had and the
  client had not kept, which is what the recovery message should say were lost;
- requests over both runs against the baseline's.

Requests are matched by what they ask (system prompt, user turn, output budget), not by their
bytes: the cache TTL a run chooses depends on how much it has left to do.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.workloads import synthetic
from kantra_ai.simulated.contract import FakeRequest
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.server import FakeProviderServer

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-ant-bench-reliability-0000"
_LOST = re.compile(r"(\d+) requests (?:had been sent and not answered yet|were in flight)")


@dataclass
class Kill:
    at: float  # seconds after the server received the run's first request
    completed_before: int  # replies the server had completely sent before the kill
    asked_again: int  # of those, asked for again by the second run
    unanswered: int  # received by the server, not answered when the process died
    reported_lost: int | None  # what the recovery message said
    requests: int  # over both runs


def _key(request: FakeRequest) -> tuple[str, str, int]:
    return (request.system, request.last_user_text(), request.max_tokens)


def _command(analysis: Path, app: Path, url: str) -> list[str]:
    return [
        sys.executable, "-m", "kantra_ai.cli.app", "remediate", "--analysis", str(analysis),
        "--input", str(app), "--base-url", url, "--no-progress", "--batch-parallelism", "16",
    ]  # fmt: skip


def _env(code: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "KANTRA_AI_"))}
    env["ANTHROPIC_API_KEY"] = KEY
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), str(ROOT)])
    return env


def _server() -> FakeProviderServer:
    return FakeProviderServer(respond, latency=LatencyModel(ttft=0.05, tps=2_000))


def baseline(analysis: Path, template: Path, work: Path, code: Path | None) -> tuple[float, int]:
    """(seconds from the first request's arrival to the last reply, requests) of a whole run."""
    app = work / "baseline"
    shutil.copytree(template, app)
    with _server() as server:
        subprocess.run(_command(analysis, app, server.anthropic_base_url), env=_env(code), check=False,
                       capture_output=True, timeout=600)  # fmt: skip
        done = [t for t in server.completion_times if t is not None]
        return max(done) - server.arrival_times[0], server.request_count


def one_kill(analysis: Path, template: Path, work: Path, code: Path | None, after: float) -> Kill:
    app = work / f"kill-{after:.3f}"
    shutil.copytree(template, app)
    with _server() as server:
        command = _command(analysis, app, server.anthropic_base_url)
        process = subprocess.Popen(
            command, env=_env(code), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while not server.request_count and process.poll() is None:
            time.sleep(0.005)
        time.sleep(max(0.0, server.arrival_times[0] + after - time.monotonic()))
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed = time.monotonic()
        time.sleep(0.2)  # responses the server was still writing end now (the peer is gone)
        first = server.requests
        completions = server.completion_times
        again = subprocess.run(command, env=_env(code), capture_output=True, text=True, timeout=600)
        second = server.requests[len(first) :]
    completed = {
        _key(r) for r, done in zip(first, completions, strict=True) if done is not None and done <= killed
    }
    unanswered = sum(1 for done in completions if done is None or done > killed)
    asked = {_key(r) for r in second}
    match = _LOST.search(again.stderr)
    return Kill(
        at=after,
        completed_before=len(completed),
        asked_again=len(completed & asked),
        unanswered=unanswered,
        reported_lost=int(match.group(1)) if match else (0 if "recovered" in again.stderr else None),
        requests=len(first) + len(second),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--code", type=Path, default=None, help="a src/ folder to run instead of this one")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kantra-reliability-") as tmp:
        work = Path(tmp)
        workload = synthetic(work / "workload", files=args.files)
        seconds, requests = baseline(workload.analysis, workload.app, work, args.code)
        kills = [
            one_kill(workload.analysis, workload.app, work, args.code, rng.uniform(0.1, 0.9) * seconds)
            for _ in range(args.kills)
        ]
    extra = [100.0 * (k.requests - requests) / requests for k in kills]
    print(f"workload: {workload.description}; baseline {requests} requests, answered within {seconds:.1f} s")
    print("| kill at | replies complete before the kill | asked again | received, unanswered | "
          "not kept by the client | recovery says lost | requests over both runs |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for k in kills:
        print(f"| {k.at:.2f} s | {k.completed_before} | {k.asked_again} | {k.unanswered} | "
              f"{k.unanswered + k.asked_again} | {k.reported_lost} "
              f"| {k.requests} (+{100.0 * (k.requests - requests) / requests:.0f}%) |")  # fmt: skip
    most = max(k.asked_again for k in kills)
    print(
        f"asked again: {sum(k.asked_again for k in kills)} in total, at most {most} per kill;"
        f" extra requests: mean {statistics.mean(extra):.1f}%, max {max(extra):.1f}%; "
        f"recovery count right in {sum(k.reported_lost == k.unanswered + k.asked_again for k in kills)} "
        f"of {len(kills)} kills"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
