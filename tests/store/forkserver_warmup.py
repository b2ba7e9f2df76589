"""Imported only by the crash tests' fork server: the provider SDKs are imported and one dry run
compiles the prompt templates and warms the loaders, so the forked runs do not each pay for it. No
network, no threads left over."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

# The provider SDKs (seconds of imports): every forked run would otherwise import them again.
import kantra_ai.providers.anthropic_batches
import kantra_ai.providers.anthropic_provider
import kantra_ai.providers.openai_batches
import kantra_ai.providers.openai_provider  # noqa: F401
from kantra_ai.cli.app import main

_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "javaee-inventory"

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    main(
        [
            "remediate",
            "--analysis",
            str(_EXAMPLE / "output.yaml"),
            "--input",
            str(_EXAMPLE / "app"),
            "--dry-run",
            "--no-progress",
        ]
    )
