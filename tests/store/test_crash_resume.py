"""SIGKILL a real `kantra-ai remediate` at 38 different moments, run it again, compare with a run
that was never interrupted: the same final tree, every incident decided exactly once, no reply paid
for twice, the same tokens billed.

Kills land deterministically through `KANTRA_AI_TEST_KILL_AT` (src/kantra_ai/killpoints.py): before
and after requests, replies, write intents, the temporary file of an atomic write, the rename, and
the store's commits; a few more land at arbitrary times during a run with latency and parallel
requests. All runs are separate processes (see crash_helpers.py) against a fake provider served from
this test process, which counts every request it receives.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bench.workloads import synthetic
from tests.cli.helpers import EXAMPLES, tree_differences
from tests.store.crash_helpers import exit_code, fork_context, remediate_argv, run_cli

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.server import FakeProviderServer

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork are POSIX"),
    pytest.mark.slow,  # a real run killed at 38 moments: minutes on 2 cores
]

TIMEOUT = 60.0
KEY = {"ANTHROPIC_API_KEY": "sk-ant-test-secret-0000"}


@dataclass(frozen=True)
class Config:
    name: str
    example: str
    flags: tuple[str, ...]
    parallelism: int
    ttft: float  # the fake model's time to first token
    generated: int = 0  # files of a generated tree of small files (packed several to a request)


SERIAL = Config("serial", "javaee-inventory", (), 1, 0.005)  # 19 incidents, 7 files, 7 requests
BATCHED = Config("batched", "multi-violation", ("--batch-size", "3"), 1, 0.005)  # 12 requests, 5 files
PARALLEL = Config("parallel", "javaee-inventory", (), 4, 0.05)
TIMED = Config("timed", "multi-violation", ("--batch-size", "3"), 2, 0.08)
# 20 small files, 142 incidents: 7 packed requests. A pack's files are written one by one: a kill
# between them must not make the others be asked again (their shares of the reply are kept).
PACKED = Config("packed", "generated", (), 1, 0.005, generated=20)
CONFIGS = (SERIAL, BATCHED, PARALLEL, TIMED, PACKED)


@dataclass(frozen=True)
class Case:
    config: Config
    kill_at: str = ""  # KANTRA_AI_TEST_KILL_AT, e.g. "write-tmp:3"
    kill_at_fraction: float = 0.0  # or SIGKILL from outside at this share of an uninterrupted run

    @property
    def id(self) -> str:
        moment = self.kill_at or f"{self.kill_at_fraction:.0%}-of-the-run"
        return f"{self.config.name}-{moment.replace(':', '-')}"


CASES = [
    *(
        Case(SERIAL, point)
        for point in (
            "run-started:1",
            "request-started:1",
            "request-started:4",
            "request-started:7",
            "reply-arrived:2",
            "reply-kept:1",
            "reply-kept:5",
            "response-unsaved:1",
            "response-unsaved:5",
            "response-saved:1",
            "response-saved:3",
            "response-saved:7",
            "write-intent:1",
            "write-intent:4",
            "write-intent:7",
            "write-tmp:1",
            "write-tmp:6",
            "file-written:1",
            "file-written:3",
            "file-written:7",
            "batch-saved:2",
            "batch-saved:7",
            "run-finishing:1",
        )
    ),
    *(
        Case(BATCHED, point)
        for point in ("response-saved:4", "write-tmp:3", "file-written:5", "batch-saved:6", "run-finishing:1")
    ),
    *(
        Case(PACKED, point)
        for point in ("pack-split:1", "write-intent:2", "file-written:2", "batch-saved:2", "batch-saved:5")
    ),
    Case(PARALLEL, "response-saved:3"),
    Case(PARALLEL, "file-written:2"),
    *(Case(TIMED, kill_at_fraction=f) for f in (0.35, 0.55, 0.75)),
]


@dataclass
class Played:
    app: Path  # the tree after the job was finished
    first_exit: int | None  # -9: killed
    exit_code: int  # of the run that finished the job
    requests: int  # received by the fake provider, over both runs
    seconds: float  # of the first run
    statuses: Counter[str]
    decisions_per_incident: Counter[str]  # outcome rows per incident id, over all runs
    incidents: set[str]
    paid_twice: list[str]  # request fingerprints with two usable (billed, complete) replies
    asked: Counter[str]  # per incident: the billed, complete replies of requests asking about it
    tokens: tuple[int, int]  # input (all kinds) and output tokens of the billed, complete replies
    run_states: list[str]
    log: str = field(repr=False, default="")


def _start(argv: list[str], env: dict[str, str], log: Path, kill_after: float) -> tuple[int | None, float]:
    process = fork_context().Process(target=run_cli, args=(argv, env, str(log)))
    started = time.monotonic()
    process.start()
    process.join(kill_after or TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join()
        if not kill_after:
            raise AssertionError(f"run timed out: {' '.join(argv)}")
    return exit_code(process, log), time.monotonic() - started


def _measure(app: Path) -> dict[str, object]:
    db = sqlite3.connect(f"file:{app / '.kantra-ai' / 'state.db'}?mode=ro", uri=True)
    try:
        # Replies cut off at max_tokens are left out: one is never used (its question is asked
        # again with more room), and its size is the max_tokens of the moment, which follows what
        # the run had learned of output sizes by then (a resumed run has learned it differently).
        tokens = db.execute(
            "SELECT sum(input_tokens + cache_write_tokens + cache_read_tokens), sum(output_tokens)"
            " FROM requests WHERE status='ok' AND stop_reason != 'max_tokens'"
        ).fetchone()
        return {
            "statuses": Counter(dict(db.execute("SELECT status, count(*) FROM incidents GROUP BY status"))),
            "decisions_per_incident": Counter(
                dict(db.execute("SELECT incident_id, count(*) FROM outcomes GROUP BY incident_id"))
            ),
            "incidents": {r[0] for r in db.execute("SELECT id FROM incidents")},
            "paid_twice": [
                r[0]
                for r in db.execute(
                    # (the same question asked again with more room has the same fingerprint)
                    "SELECT fingerprint FROM requests WHERE status='ok' AND stop_reason != 'max_tokens'"
                    " GROUP BY fingerprint HAVING count(*) > 1"
                )
            ],
            "asked": Counter(
                incident
                for (ids,) in db.execute(
                    "SELECT incident_ids FROM requests WHERE status='ok' AND stop_reason != 'max_tokens'"
                )
                for incident in json.loads(ids)
            ),
            "tokens": (int(tokens[0] or 0), int(tokens[1] or 0)),
            "run_states": [r[0] for r in db.execute("SELECT state FROM runs ORDER BY id")],
        }
    finally:
        db.close()


def play(config: Config, root: Path, kill_at: str = "", kill_after: float = 0.0) -> Played:
    source = root.parent / config.example if config.generated else EXAMPLES / config.example
    app = root / "app"
    shutil.copytree(source / "app", app)
    flags = ("--batch-parallelism", str(config.parallelism), *config.flags)
    with FakeProviderServer(respond, latency=LatencyModel(ttft=config.ttft, tps=20_000)) as server:
        argv = remediate_argv(source, app, server.anthropic_base_url, *flags)
        env = {**KEY, "KANTRA_AI_TEST_KILL_AT": kill_at} if kill_at else dict(KEY)
        first, seconds = _start(argv, env, root / "first.log", kill_after)
        exit_code = first
        if kill_at or kill_after:
            exit_code, _ = _start(argv, dict(KEY), root / "again.log", 0.0)
        requests = server.request_count
    logs = "".join(p.read_text() for p in sorted(root.glob("*.log")))
    assert exit_code is not None
    return Played(
        app=app,
        first_exit=first,
        exit_code=exit_code,
        requests=requests,
        seconds=seconds,
        log=logs,
        **_measure(app),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Played]:
    """Every case, four at a time: first the uninterrupted baselines, then the kills."""
    root = tmp_path_factory.mktemp("crash")
    for config in CONFIGS:
        if config.generated:
            made = synthetic(root / config.example, files=config.generated, seed=3, small=True, name="small")
            assert made.analysis == root / config.example / "output.yaml"
    with ThreadPoolExecutor(max_workers=4) as pool:
        baselines = dict(
            zip(CONFIGS, pool.map(lambda c: play(c, root / f"baseline-{c.name}"), CONFIGS), strict=True)
        )

        def kill(case: Case) -> Played:
            after = case.kill_at_fraction * baselines[case.config].seconds
            return play(case.config, root / case.id, kill_at=case.kill_at, kill_after=after)

        results = dict(zip((c.id for c in CASES), pool.map(kill, CASES), strict=True))
    return {**{f"baseline-{c.name}": p for c, p in baselines.items()}, **results}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_an_uninterrupted_run_produces_the_expected_tree(config: Config, played: dict[str, Played]) -> None:
    baseline = played[f"baseline-{config.name}"]
    if config.generated:  # no expected tree: fixed and packed, several files to a request
        assert baseline.statuses["fixed"] > 0 and baseline.requests < config.generated // 2
    else:
        assert tree_differences(baseline.app, EXAMPLES / config.example / "expected") == [], baseline.log
    assert set(baseline.decisions_per_incident.values()) == {1}
    assert baseline.run_states == ["finished"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_killed_run_finishes_as_if_never_interrupted(case: Case, played: dict[str, Played]) -> None:
    baseline = played[f"baseline-{case.config.name}"]
    result = played[case.id]
    if case.kill_at:
        assert result.first_exit == -9, f"the kill point was never reached\n{result.log}"
    # The same final tree: no edit lost, none applied twice, no half-written or temporary file.
    assert tree_differences(result.app, baseline.app) == [], result.log
    assert result.exit_code == baseline.exit_code, result.log
    # The store accounts for every incident exactly once, with the same final statuses.
    assert result.incidents == baseline.incidents
    assert result.statuses == baseline.statuses
    assert result.decisions_per_incident == Counter(dict.fromkeys(baseline.incidents, 1))
    # No reply was paid for twice, no incident asked more often than without the kill; the billed
    # tokens are exactly those of the uninterrupted run (except where small files are packed: the
    # files not asked before the kill are packed again among themselves, in other packs).
    assert result.paid_twice == []
    assert result.asked == baseline.asked
    if not case.config.generated:
        assert result.tokens == baseline.tokens
    if result.first_exit == -9 and case.kill_at:  # every named kill point lies inside the run
        assert result.run_states == ["crashed", "finished"]
    elif result.first_exit == -9:
        # A timed kill may land before the run began (loading, planning, SDK import): a run that
        # never started leaves no run behind; or after it was recorded finished (while the report
        # is written): the rerun then has nothing to do.
        assert result.run_states in (["crashed", "finished"], ["finished"], ["finished", "finished"])


@pytest.mark.parametrize("case", [c for c in CASES if c.config.parallelism == 1], ids=lambda c: c.id)
def test_a_reply_that_arrived_before_the_kill_is_never_requested_again(
    case: Case, played: dict[str, Played]
) -> None:
    baseline = played[f"baseline-{case.config.name}"]
    # A reply is kept the moment its last event is in, from inside the provider call: only a kill
    # in that very instant (between the event and the commit, no await in between) loses it. A
    # request is recorded once its body is on the wire: a kill there loses the request it just sent.
    lost = 1 if case.kill_at.startswith(("reply-arrived", "request-started")) else 0
    assert played[case.id].requests == baseline.requests + lost


@pytest.mark.parametrize("case", [c for c in CASES if c.config.parallelism > 1], ids=lambda c: c.id)
def test_parallel_kills_repeat_at_most_the_requests_in_flight(case: Case, played: dict[str, Played]) -> None:
    baseline = played[f"baseline-{case.config.name}"]
    assert baseline.requests <= played[case.id].requests <= baseline.requests + case.config.parallelism


def test_the_console_script_killed_mid_write_finishes_when_run_again(tmp_path: Path) -> None:
    """The same, without the fork server: a fresh interpreter running the real entry point."""
    app = tmp_path / "app"
    shutil.copytree(EXAMPLES / "javaee-inventory" / "app", app)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "KANTRA_AI_"))}
    with FakeProviderServer(respond) as server:
        argv = [
            sys.executable,
            "-m",
            "kantra_ai.cli.app",
            *remediate_argv(EXAMPLES / "javaee-inventory", app, server.anthropic_base_url),
            *("--batch-parallelism", "1"),
        ]
        killed = subprocess.run(
            argv,
            env={**env, **KEY, "KANTRA_AI_TEST_KILL_AT": "write-tmp:3"},
            capture_output=True,
            timeout=120,
        )
        assert killed.returncode == -9, killed.stderr
        assert any(p.name.endswith(".kantra-tmp") for p in app.rglob("*")), "the kill left no temp file"
        again = subprocess.run(argv, env={**env, **KEY}, capture_output=True, text=True, timeout=120)
        requests = server.request_count
    assert again.returncode == 0, again.stderr
    assert "recovered what an interrupted run left" in again.stderr
    assert tree_differences(app, EXAMPLES / "javaee-inventory" / "expected") == []
    assert requests == 7  # one per file, the interrupted write's reply reused
