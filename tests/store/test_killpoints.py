"""The crash tests' kill hook: SIGKILL at the Nth time a named point is reached, inert when unset."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

SCRIPT = (
    "from kantra_ai.killpoints import killpoint\n"
    "for n in range(1, 4):\n"
    "    killpoint('write-tmp'); killpoint('other')\n"
    "    print('passed', n, flush=True)\n"
)


def _run(spec: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KANTRA_AI_TEST_KILL_AT"}
    if spec is not None:
        env["KANTRA_AI_TEST_KILL_AT"] = spec
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=30)


def test_the_process_is_killed_at_the_nth_occurrence_of_the_point() -> None:
    result = _run("write-tmp:2")
    assert result.returncode == -9
    assert result.stdout.split("\n")[:-1] == ["passed 1"]


def test_unset_or_for_other_points_it_does_nothing() -> None:
    for spec in (None, "", "write-tmp:9", "batch-saved:1"):
        result = _run(spec)
        assert result.returncode == 0 and result.stdout.count("passed") == 3, spec
