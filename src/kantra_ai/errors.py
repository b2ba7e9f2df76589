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


class UserError(Exception):
    """Something the user must fix; shown as one line, exit code 2, nothing changed."""
