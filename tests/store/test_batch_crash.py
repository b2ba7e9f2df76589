"""SIGKILL a real `kantra-ai remediate --batch-api --wait` after submitting, before the provider's
answer is recorded, after some results are stored, and while results are applied; run it again:
the same tree as without the kill, every request submitted to the provider exactly once (checked on
the fake provider's log), none sent synchronously, every paid-for result stored and applied once.

The runs are separate processes (see crash_helpers.py) against a fake provider served from this test
process, so its batches and its log outlive the killed runs, as a real provider's would."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench.workloads import synthetic
from tests.cli.helpers import EXAMPLES, tree_differences
from tests.store.crash_helpers import exit_code, fork_context, remediate_argv, run_cli

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.batches import BatchPlan
from testing.fakeprovider.server import FakeProviderServer

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork are POSIX"),
    pytest.mark.slow,  # a dozen real runs killed and run again
]

TIMEOUT = 60.0
EXAMPLE = "javaee-inventory"  # 7 files, 7 requests
KEYS = {"ANTHROPIC_API_KEY": "sk-ant-test-secret-0000", "OPENAI_API_KEY": "sk-openai-test-secret-0000"}
# Three submissions (3, 3 and 1 requests), each answered on its first poll.
FLAGS = ("--batch-api", "--wait", "--poll-interval", "0.05", "--batch-max-requests", "3")


@dataclass(frozen=True)
class Case:
    provider: str
    kill_at: str
    packed: bool = False  # the generated tree of small files, packed several to a request

    @property
    def id(self) -> str:
        return f"{'packed-' if self.packed else ''}{self.provider}-{self.kill_at.replace(':', '-')}"

    @property
    def baseline(self) -> str:
        return f"baseline-{'packed-' if self.packed else ''}{self.provider}"


# Submitting and collecting differ by protocol: every point on both.
BATCH_POINTS = (
    "batchapi-intent:2",  # the second submission is recorded, not sent
    "batchapi-unsaved:1",  # the provider took the first, the store has not recorded its id
    "batchapi-unsaved:3",
    "batchapi-submitted:2",
    "batchapi-collected:1",  # the first batch's results are stored, none applied yet
    "batchapi-collected:2",  # two of three batches' results stored: partial results
)
# Applying results is the normal engine's work, the same for both protocols.
APPLY_POINTS = (
    "write-tmp:3",  # mid-write of the third file
    "file-written:5",
    "batch-saved:2",  # two files applied and recorded
)
# Small files packed several to a request (20 files: 7 requests, again in submissions of 3, 3 and 1):
# a kill must not make a pack's files be asked again another way, alone or packed anew.
PACKED_POINTS = (
    "batchapi-unsaved:1",
    "batchapi-collected:1",  # the other packs are still with the provider when the run resumes
    "batch-saved:2",  # the files of a pack are applied one by one: killed between two of them
)
PACKED_FILES = 20
CASES = [
    *(Case(provider, point) for provider in ("claude", "openai") for point in BATCH_POINTS),
    *(Case("claude", point) for point in APPLY_POINTS),
    *(Case("claude", point, packed=True) for point in PACKED_POINTS),
]


@dataclass
class Played:
    app: Path
    first_exit: int | None
    exit_code: int | None
    synchronous: int
    custom_ids: Counter[str]
    bodies: Counter[str]
    batches: int
    decisions: Counter[str]
    paid: list[tuple[str, int]]  # (fingerprint, successful request rows)
    statuses: Counter[str]
    log: str


def _run(argv: list[str], env: dict[str, str], log: Path) -> int | None:
    process = fork_context().Process(target=run_cli, args=(argv, env, str(log)))
    process.start()
    process.join(TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join()
        raise AssertionError(f"run timed out: {' '.join(argv)}\n{log.read_text()}")
    return exit_code(process, log)


def play(case: Case | None, provider: str, root: Path, source: Path = EXAMPLES / EXAMPLE) -> Played:
    """`source`: a folder with the analysis (output.yaml) and the tree (app/)."""
    app = root / "app"
    shutil.copytree(source / "app", app)
    with FakeProviderServer(respond, batch_plan=BatchPlan(polls_to_end=1)) as server:
        url = server.anthropic_base_url if provider == "claude" else server.openai_base_url
        argv = [*remediate_argv(source, app, url, *FLAGS), "--provider", provider]
        first_env = {**KEYS, "KANTRA_AI_TEST_KILL_AT": case.kill_at} if case else dict(KEYS)
        first = _run(argv, first_env, root / "first.log")
        again = _run(argv, dict(KEYS), root / "again.log") if case else first
        log = server.batches.log
        synchronous = server.request_count
        batches = len(server.batches.batch_ids)
    db = sqlite3.connect(f"file:{app / '.kantra-ai' / 'state.db'}?mode=ro", uri=True)
    try:
        decisions = Counter(
            dict(db.execute("SELECT incident_id, count(*) FROM outcomes GROUP BY incident_id"))
        )
        paid = list(
            db.execute("SELECT fingerprint, count(*) FROM requests WHERE status='ok' GROUP BY fingerprint")
        )
        statuses = Counter(dict(db.execute("SELECT status, count(*) FROM incidents GROUP BY status")))
    finally:
        db.close()
    return Played(
        app=app,
        first_exit=first,
        exit_code=again,
        synchronous=synchronous,
        custom_ids=Counter(i.custom_id for i in log),
        bodies=Counter(i.body_sha256 for i in log),
        batches=batches,
        decisions=decisions,
        paid=paid,
        statuses=statuses,
        log="".join(p.read_text() for p in sorted(root.glob("*.log"))),
    )


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Played]:
    root = tmp_path_factory.mktemp("batch-crash")
    packed = synthetic(root / "generated", files=PACKED_FILES, seed=3, small=True, name="small")
    assert packed.analysis == packed.app.parent / "output.yaml"

    def source(case: Case | None) -> Path:
        return packed.app.parent if case is not None and case.packed else EXAMPLES / EXAMPLE

    with ThreadPoolExecutor(max_workers=4) as pool:
        baselines = {
            f"baseline-{p}": pool.submit(play, None, p, root / f"baseline-{p}") for p in ("claude", "openai")
        }
        baselines["baseline-packed-claude"] = pool.submit(
            play, None, "claude", root / "baseline-packed-claude", packed.app.parent
        )
        kills = {c.id: pool.submit(play, c, c.provider, root / c.id, source(c)) for c in CASES}
        return {
            **{k: f.result() for k, f in baselines.items()},
            **{k: f.result() for k, f in kills.items()},
        }


@pytest.mark.parametrize("provider", ["claude", "openai"])
def test_an_uninterrupted_batch_run_produces_the_expected_tree(
    provider: str, played: dict[str, Played]
) -> None:
    baseline = played[f"baseline-{provider}"]
    assert baseline.exit_code == 0, baseline.log
    assert tree_differences(baseline.app, EXAMPLES / EXAMPLE / "expected") == []
    assert baseline.batches == 3 and sum(baseline.custom_ids.values()) == 7 and baseline.synchronous == 0


def test_an_uninterrupted_batch_run_packs_small_files_several_to_a_request(played: dict[str, Played]) -> None:
    baseline = played["baseline-packed-claude"]
    assert baseline.exit_code in (0, 1), baseline.log
    assert baseline.batches == 3 and sum(baseline.custom_ids.values()) < PACKED_FILES // 2
    assert baseline.synchronous == 0 and baseline.statuses["fixed"] > 0


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_killed_batch_run_finishes_as_if_never_interrupted_each_request_submitted_once(
    case: Case, played: dict[str, Played]
) -> None:
    baseline = played[case.baseline]
    result = played[case.id]
    assert result.first_exit == -9, f"the kill point was never reached\n{result.log}"
    assert result.exit_code == baseline.exit_code == (1 if case.packed else 0), result.log
    assert tree_differences(result.app, baseline.app) == [], result.log
    # Every request reached the provider exactly once, under one custom_id, and none synchronously.
    assert sum(result.bodies.values()) == 7 and set(result.bodies.values()) == {1}, result.log
    assert set(result.custom_ids.values()) == {1}
    assert result.synchronous == 0, result.log
    # Every paid-for result stored once, every incident decided once, as without the kill.
    assert len(result.paid) == 7 and {n for _, n in result.paid} == {1}
    assert result.statuses == baseline.statuses
    assert result.decisions == Counter(dict.fromkeys(baseline.decisions, 1))
