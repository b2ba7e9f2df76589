"""Run one check (a build, the tests, a re-analysis) as the user would, and never leave it behind.

The command runs through the shell with the tree (or a scratch copy of it) as working directory, in
a process group of its own: a timeout, a stop (Ctrl-C) or the caller being cancelled kills the whole
group (SIGTERM, then SIGKILL), so a hanging build's compiler daemons and test forks go with it.
Standard input is closed; standard output and error are read together, keeping only the last
`MAX_OUTPUT_CHARS` characters (what the diagnostics are parsed from). The check's environment is
this process's without kantra-ai's own credentials (`redact.without_our_secrets`): a build runs the
repository's code, which has no use for the model provider's key or the Hub's git password.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kantra_ai.redact import without_our_secrets

MAX_OUTPUT_CHARS = 2_000_000
KILL_GRACE_SECONDS = 2.0
# After the command exits, how long to keep reading output a leftover child may still hold open.
DRAIN_SECONDS = 1.0
# Colour and terminal games make output unparseable; tools honour one of these.
QUIET_ENV = {"NO_COLOR": "1", "TERM": "dumb"}


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_code: int | None  # None: killed before it finished (timeout or stop)
    output: str  # standard output and error together (the tail when it was long)
    seconds: float
    timed_out: bool = False
    stopped: bool = False  # the run was stopped (Ctrl-C) while the command ran

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output.rstrip("\n").splitlines()[-lines:])


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def run_command(
    command: str,
    cwd: Path,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    stop: asyncio.Event | None = None,
) -> CommandResult:
    """Run `command` in `cwd`; see the module docstring."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_shell(
        command,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed as a whole
        # The provider's key and the Hub's git password are not the build's business.
        env={**without_our_secrets(os.environ), **QUIET_ENV, **(env or {})},
    )
    chunks: list[str] = []
    size = 0

    async def read() -> None:
        nonlocal size
        assert process.stdout is not None
        while True:
            data = await process.stdout.read(65536)
            if not data:
                return
            chunks.append(data.decode("utf-8", errors="replace"))
            size += len(chunks[-1])
            while size > MAX_OUTPUT_CHARS and len(chunks) > 1:
                size -= len(chunks.pop(0))

    reader = asyncio.create_task(read())
    waiter = asyncio.create_task(process.wait())
    stopper = asyncio.create_task(stop.wait()) if stop is not None else None
    timed_out = stopped = False
    try:
        pending = {waiter} | ({stopper} if stopper else set())
        done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            stopped = stopper is not None and stopper in done
            timed_out = not stopped
            await _terminate(process)
    except BaseException:  # cancelled: the check must not outlive its caller
        await _terminate(process)
        reader.cancel()
        raise
    finally:
        if stopper is not None:
            stopper.cancel()
    try:
        await asyncio.wait_for(asyncio.shield(reader), DRAIN_SECONDS)
    except TimeoutError:
        # A child that outlived the command holds the output open: it belongs to the group.
        _kill_group(process.pid, signal.SIGKILL)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    output = "".join(chunks)[-MAX_OUTPUT_CHARS:]
    exit_code = None if (timed_out or stopped) else process.returncode
    return CommandResult(command, exit_code, output, time.monotonic() - started, timed_out, stopped)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to the whole group, SIGKILL if it has not gone after a grace period."""
    _kill_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(process.wait()), KILL_GRACE_SECONDS)
    _kill_group(process.pid, signal.SIGKILL)  # stragglers of the group too
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
