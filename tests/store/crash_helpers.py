"""Run the real `kantra-ai` command line in processes that a test can SIGKILL.

Importing the CLI costs seconds of CPU (the provider SDKs), and the crash tests start dozens of
runs. So the runs are processes forked from a multiprocessing fork server that imported kantra-ai
once: each is a real, separate OS process executing `kantra_ai.cli.app.main(argv)` from the start,
with its own environment and output, killed by a real SIGKILL. One test also runs the console
script itself (a fresh interpreter) to show the same holds without the fork server.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

import kantra_ai.cli.app
import kantra_ai.cli.remediate  # preloaded into the fork server with everything it imports

CLEARED = ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "KANTRA_AI_TEST_KILL_AT")


def run_cli(argv: list[str], env: dict[str, str], log: str) -> None:
    """Process target: the CLI with this environment, stdout and stderr into `log`."""
    for name in CLEARED:
        os.environ.pop(name, None)
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    Path(f"{log}.exit").unlink(missing_ok=True)  # a log used again: only this run's code counts
    code = 1  # what an exception escaping the command line would end with
    try:
        code = kantra_ai.cli.app.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        Path(f"{log}.exit").write_text(str(code), encoding="utf-8")
    os._exit(code)


def exit_code(process: BaseProcess, log: str | Path) -> int | None:
    """The run's exit code. The fork server reports it, but now and then it cannot (its status pipe
    fails under load; multiprocessing then says 255: seen in CI on a run that had finished and on
    one that was killed). Every run that gets to leave the command line writes its code first, even
    after an exception; so the code written is the run's, and a run that wrote none was killed
    (SIGKILL gives it no chance to write)."""
    recorded = Path(f"{log}.exit")
    if recorded.exists():
        return int(recorded.read_text(encoding="utf-8"))
    if process.exitcode == 255:
        return -signal.SIGKILL
    return process.exitcode


def fork_context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "tests.store.forkserver_warmup"])
    return context


def remediate_argv(example_dir: Path, app: Path, base_url: str, *extra: str) -> list[str]:
    return [
        "remediate",
        "--analysis",
        str(example_dir / "output.yaml"),
        "--input",
        str(app),
        "--base-url",
        base_url,
        "--no-progress",
        *extra,
    ]
