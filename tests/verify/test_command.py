"""A check runs as the user would run it, and a hanging one is killed with everything it started."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from kantra_ai.redact import add_secret, watch_env
from kantra_ai.verify.command import run_command


def _running(marker: str) -> list[str]:
    found = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in found.splitlines() if marker in line and "ps -eo" not in line]


def test_output_and_exit_code_of_a_command_run_through_the_shell_in_the_tree(tmp_path: Path) -> None:
    (tmp_path / "marker.txt").write_text("here")
    result = asyncio.run(run_command("cat marker.txt; echo oops >&2; exit 3", tmp_path, timeout=30))
    assert (result.exit_code, result.passed, result.timed_out) == (3, False, False)
    assert "here" in result.output and "oops" in result.output


def test_a_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    # A build that starts a child of its own in the background and waits: both must go.
    marker = f"{os.getpid()}{time.monotonic_ns() % 1000:03d}"  # a duration no other process sleeps
    command = f"sh -c 'sleep 1{marker} & sleep 2{marker}; wait'"
    started = time.monotonic()
    result = asyncio.run(run_command(command, tmp_path, timeout=1))
    assert result.timed_out and result.exit_code is None and not result.passed
    assert time.monotonic() - started < 20
    deadline = time.monotonic() + 5
    while _running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(marker) == []


def test_a_stop_kills_the_check_without_calling_it_a_timeout(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        result = await run_command("sleep 30", tmp_path, timeout=60, stop=stop)
        return result.stopped, result.timed_out

    assert asyncio.run(scenario()) == (True, False)


def test_a_check_runs_without_kantra_ais_credentials_but_with_the_builds_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check runs the repository's build (anyone's code, in a portfolio or a Hub task): it never
    sees the provider's key nor a password the run registered as secret; a token the build itself
    may need (a private Maven repository's, GITHUB_TOKEN for GitHub Packages) is still there."""
    watch_env(["ANTHROPIC_API_KEY"])  # as providers/registry does for every provider's key
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-check-must-not-see-0000")
    add_secret("hub-password-check-must-not-see-1")  # as the Hub addon does for the repository's
    monkeypatch.setenv("KANTRA_AI_GIT_PASSWORD", "hub-password-check-must-not-see-1")
    monkeypatch.setenv("MAVEN_REPO_TOKEN", "maven-token-the-build-needs-2")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_thebuildneedsthis000000000000000000")
    shown = "key=${ANTHROPIC_API_KEY:-none} git=${KANTRA_AI_GIT_PASSWORD:-none}"
    shown += " maven=${MAVEN_REPO_TOKEN:-none} gh=${GITHUB_TOKEN:-none}"
    result = asyncio.run(run_command(f'echo "{shown}"', tmp_path, timeout=30))
    assert result.output.split() == [
        "key=none",
        "git=none",
        "maven=maven-token-the-build-needs-2",
        "gh=ghp_thebuildneedsthis000000000000000000",
    ]
