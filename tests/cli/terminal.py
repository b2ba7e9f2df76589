"""Running the real `kantra-ai` in a child process: in a pseudo-terminal (what a person sees) or with
its output piped (CI, `| tee`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect

ANSI = r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_BASE", "OPENAI_BASE"))}
    env.update({"ANTHROPIC_API_KEY": "sk-ant-test-secret-0000", "COLUMNS": "120", "LINES": "40"})
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "kantra_ai.cli.app", *(str(a) for a in args)]


def in_terminal(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> pexpect.spawn:
    """The CLI in a real pseudo-terminal, 120 columns wide; read it with `expect`."""
    cmd = command(*args)
    return pexpect.spawn(
        cmd[0], cmd[1:], cwd=str(cwd), env=env or cli_env(), encoding="utf-8", timeout=60,
        dimensions=(40, 120),
    )  # fmt: skip


def piped(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The CLI with stdout and stderr piped: no terminal anywhere."""
    return subprocess.run(
        command(*args), cwd=cwd, env=env or cli_env(), capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
