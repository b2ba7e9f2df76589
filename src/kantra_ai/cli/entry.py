"""The `kantra-ai` command's entry point: a word on the terminal within the first moments, then the CLI.

Loading the command line (typer, rich, pydantic settings, the engine) takes a second or more on a
busy machine; a person who just pressed Enter should not stare at nothing meanwhile. So before
importing anything heavy, a run-type command on a terminal gets one line that the run's own status
replaces. Nothing is written when stderr is not a terminal, nor for help and the other commands.
"""

from __future__ import annotations

import sys

_RUNS = frozenset({"remediate", "execute", "plan", "prompt", "report", "status", "undo"})


def main() -> int:
    early = sys.stderr.isatty() and len(sys.argv) > 1 and sys.argv[1] in _RUNS and "-h" not in sys.argv
    early = early and "--help" not in sys.argv
    if early:
        sys.stderr.write(f"kantra-ai {sys.argv[1]}: starting…\r")
        sys.stderr.flush()
    from kantra_ai.cli.app import main as run

    if early:
        sys.stderr.write("\x1b[2K\r")  # the run's own status line takes its place
        sys.stderr.flush()
    return run()
