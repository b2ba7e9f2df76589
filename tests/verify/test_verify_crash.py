"""SIGKILL a real `remediate --verify build` in the middle of its repair rounds (and its checks and
reverts), run it again: the same final tree as a run that was never killed, every repair reply paid
for once, the same verification results.

The runs are separate processes forked from the fork server of the store's crash tests, killed at
named moments (`KANTRA_AI_TEST_KILL_AT`, src/kantra_ai/killpoints.py); the checks are real javac
runs. On the bundled utf8-reports example with one request at a time the run goes: CsvExport fixed,
checked, repaired once, checked (passes); CsvImport fixed, checked (passes); Summary fixed, checked,
repaired twice, checked each time, reverted.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.cli.helpers import tree_differences
from tests.store.crash_helpers import exit_code, fork_context, remediate_argv, run_cli
from tests.verify.helpers import example, javac

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork are POSIX"),
    pytest.mark.slow,  # a verified run, killed at several moments, with real compiler runs
]

EXAMPLE = example("utf8-reports")
TIMEOUT = 300.0
KEY = {"ANTHROPIC_API_KEY": "sk-ant-test-secret-0000"}
KILLS = (
    "repair-request-started:1",  # CsvExport's repair about to be sent
    "reply-arrived:2",  # its reply arriving, not yet in the store (so it is asked again)
    "response-unsaved:2",  # its reply complete and kept, not yet used (so it is not asked again)
    "repair-response-saved:1",  # its reply paid for and stored, not applied
    "repair-written:2",  # Summary's first repair written, the store not told
    "check-recorded:4",  # Summary's check after its first repair recorded, not acted on
    "repair-saved:3",  # Summary's second round committed
    "reverted:1",  # Summary reverted, its results not yet recorded
)


@dataclass
class Played:
    app: Path
    first_exit: int | None
    exit_code: int | None
    requests: int  # received by the fake provider over both runs
    paid_twice: list[str]
    tokens: tuple[int, int]
    repairs: int  # repair requests billed
    verification: dict[str, str]  # path -> verification result
    statuses: Counter[str]
    log: str


def _run(argv: list[str], env: dict[str, str], log: Path) -> int | None:
    process = fork_context().Process(target=run_cli, args=(argv, env, str(log)))
    process.start()
    process.join(TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join()
        raise AssertionError(f"run timed out: {' '.join(argv)}")
    return exit_code(process, log)


def play(root: Path, kill_at: str = "") -> Played:
    app = root / "app"
    shutil.copytree(EXAMPLE / "app", app)
    # The same command in every case (the classes go next to the tree): the same requests.
    flags = ("--batch-parallelism", "1", "--verify", "build", "--verify-command", javac(Path("../classes")))
    with FakeProviderServer(respond) as server:
        argv = remediate_argv(EXAMPLE, app, server.anthropic_base_url, *flags)
        env = {**KEY, "KANTRA_AI_TEST_KILL_AT": kill_at} if kill_at else dict(KEY)
        first = _run(argv, env, root / "first.log")
        final = _run(argv, dict(KEY), root / "again.log") if kill_at else first
        requests = server.request_count
    db = sqlite3.connect(f"file:{app / '.kantra-ai' / 'state.db'}?mode=ro", uri=True)
    try:
        tokens = db.execute(
            "SELECT sum(input_tokens + cache_write_tokens + cache_read_tokens), sum(output_tokens)"
            " FROM requests WHERE status='ok'"
        ).fetchone()
        played = Played(
            app=app,
            first_exit=first,
            exit_code=final,
            requests=requests,
            paid_twice=[
                r[0]
                for r in db.execute(
                    "SELECT fingerprint FROM requests WHERE status='ok'"
                    " GROUP BY fingerprint HAVING count(*) > 1"
                )
            ],
            tokens=(int(tokens[0] or 0), int(tokens[1] or 0)),
            repairs=db.execute(
                "SELECT count(*) FROM requests WHERE status='ok' AND purpose='repair'"
            ).fetchone()[0],
            verification=dict(db.execute("SELECT path, verification FROM incidents")),
            statuses=Counter(dict(db.execute("SELECT status, count(*) FROM incidents GROUP BY status"))),
            log="".join(p.read_text() for p in sorted(root.glob("*.log"))),
        )
    finally:
        db.close()
    return played


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Played]:
    root = tmp_path_factory.mktemp("verify-crash")
    with ThreadPoolExecutor(max_workers=3) as pool:
        names = ["uninterrupted", *KILLS]
        results = pool.map(
            lambda k: play(root / k.replace(":", "-"), "" if k == "uninterrupted" else k), names
        )
        found = dict(zip(names, results, strict=True))
    return found


def test_an_uninterrupted_verified_run_ends_as_the_example_expects(played: dict[str, Played]) -> None:
    base = played["uninterrupted"]
    assert tree_differences(base.app, EXAMPLE / "expected") == [], base.log
    assert base.repairs == 3 and base.exit_code == 1


@pytest.mark.parametrize("kill_at", KILLS)
def test_a_run_killed_during_verification_finishes_as_if_never_interrupted(
    kill_at: str, played: dict[str, Played]
) -> None:
    base, result = played["uninterrupted"], played[kill_at]
    assert result.first_exit == -9, f"the kill point was never reached\n{result.log}"
    assert tree_differences(result.app, base.app) == [], result.log
    assert result.exit_code == base.exit_code, result.log
    assert result.verification == base.verification
    assert result.statuses == base.statuses
    # Nothing paid twice: every billed reply once, the same tokens, no repeated request but one
    # that was in flight when the process died.
    assert result.paid_twice == []
    assert result.tokens == base.tokens
    lost = 1 if kill_at.startswith("reply-arrived") else 0
    assert result.requests == base.requests + lost
