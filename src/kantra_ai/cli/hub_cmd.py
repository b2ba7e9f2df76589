"""`kantra-ai hub-addon`: the entrypoint of the container image that runs as a Konveyor Hub addon.

Everything comes from the pod's environment (the Hub's TASK, HUB_BASE_URL, TOKEN, SHARED_PATH; the
Addon resource's KANTRA_AI_STORE, KANTRA_AI_POD_QUOTA and provider keys): the command has no
options of its own. The work itself is `hub/addon.py`.
"""

from __future__ import annotations

import os
import sys

from kantra_ai.cli.help import epilog

EPILOG = epilog(
    "TASK=12 HUB_BASE_URL=http://tackle-hub:8080 TOKEN=... kantra-ai hub-addon",
    "podman build -f deploy/Containerfile -t kantra-ai-addon .",
)


def hub_addon() -> None:
    """Run one Konveyor Hub task (one application) as the Hub's addon.

    Reads the task, the application and its latest analysis from the Hub, fixes, reports progress
    and attaches the report."""
    import typer

    from kantra_ai.hub.addon import run_addon

    def log(text: str) -> None:
        sys.stderr.write(f"kantra-ai: {text}\n")
        sys.stderr.flush()

    raise typer.Exit(run_addon(os.environ, log))
