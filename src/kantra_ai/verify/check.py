"""One check of a tree: the command run, its diagnostics parsed, what fails compared with the baseline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kantra_ai.verify.command import CommandResult, run_command
from kantra_ai.verify.detect import CheckCommand, CheckKind
from kantra_ai.verify.diagnostics import Diagnostic, new_diagnostics, parse_diagnostics

Strategy = Literal["per-file", "per-violation", "per-phase", "at-end"]
STRATEGIES: tuple[Strategy, ...] = ("per-file", "per-violation", "per-phase", "at-end")
DEFAULT_TIMEOUT = 600.0
DEFAULT_REPAIR_ROUNDS = 2


@dataclass(frozen=True)
class VerifySettings:
    kind: CheckKind
    check: CheckCommand
    strategy: Strategy
    timeout: float = DEFAULT_TIMEOUT  # seconds per check; the process tree is killed after it
    fail_fast: bool = False  # stop the run at the first group that still fails
    max_rounds: int = DEFAULT_REPAIR_ROUNDS  # repair rounds before a group is reverted


# What a failure is called when the check's output names no problem of its own (see `failures`).
_STAND_INS = ("failed with exit code ", "did not finish in time")
# A shell's exit codes for a command it could not run at all: not found, found but not executable.
CANNOT_RUN = {126: "not executable", 127: "command not found"}


def stands_for_output(diagnostic: Diagnostic) -> bool:
    """Whether this failure only stands for a check's output that named no problem (any later
    failure of the kind reads the same, so it can never tell a new problem from an old one)."""
    return diagnostic.path is None and not diagnostic.file and diagnostic.message.startswith(_STAND_INS)


@dataclass(frozen=True)
class Check:
    result: CommandResult
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.result.passed

    @property
    def failures(self) -> list[Diagnostic]:
        """What makes it fail: its diagnostics, or one standing for output that names nothing."""
        if self.passed:
            return []
        if self.result.timed_out:
            return [
                Diagnostic(None, None, "did not finish in time (--verify-timeout); its processes were killed")
            ]
        if self.diagnostics:
            return list(self.diagnostics)
        return [Diagnostic(None, None, f"failed with exit code {self.result.exit_code}; see its output")]

    def new_against(self, baseline: Check | list[Diagnostic] | None) -> list[Diagnostic]:
        """The failures the baseline did not have (all of them without a baseline)."""
        before = baseline.failures if isinstance(baseline, Check) else baseline or []
        return new_diagnostics(self.failures, before)


async def run_check(
    check: CheckCommand,
    cwd: Path,
    *,
    timeout: float,
    stop: asyncio.Event | None = None,
    env: dict[str, str] | None = None,
) -> Check:
    """Run the check in `cwd` (the tree or a scratch copy of it) and parse what it says."""
    result = await run_command(check.command, cwd, timeout=timeout, stop=stop, env=env)
    return Check(result, parse_diagnostics(result.output, [cwd]))
