"""Exit codes and the one error type the CLI turns into a one-line message."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every selected incident fixed (or the model says it does not apply)
    SOME_FAILED = 1  # the run finished, but some incidents failed or were skipped
    USAGE = 2  # bad flag, bad input file, missing key: nothing was changed
    ABORTED = 3  # the provider refused the run (bad key, unknown model): stopped early
    PENDING = 75  # --batch-api: requests are still with the provider; run the same command again
    INTERRUPTED = 130  # Ctrl-C


TOLD = "kantra_ai_told"  # set on a KeyboardInterrupt once the user was told how to continue


class Interrupted(Exception):
    """Ctrl-C or SIGTERM reached the command (typer would turn a KeyboardInterrupt into a silent
    exit 130). `told`: the run already said how to continue, so it is not said again."""

    def __init__(self, *, told: bool) -> None:
        super().__init__("interrupted")
        self.told = told


class UserError(Exception):
    """Something the user must fix; shown as one line, exit code 2, nothing changed."""
