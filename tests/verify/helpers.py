"""What the verification tests share: the projects, the real build tools, the CLI in this process."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.cli.helpers import EXAMPLES, run

from testing.fakeprovider.server import FakeProviderServer

PROJECTS = Path(__file__).resolve().parents[1] / "data" / "verify"
REPO = Path(__file__).resolve().parents[2]
# The TypeScript compiler the test setup (scripts/test.sh) installs from the npm registry.
TYPESCRIPT = REPO / ".cache" / "typescript" / "node_modules"
SUMMARY = "src/main/java/com/example/reports/Summary.java"
CSV_EXPORT = "src/main/java/com/example/reports/CsvExport.java"
CSV_IMPORT = "src/main/java/com/example/reports/CsvImport.java"


def javac(classes: Path) -> str:
    """The bundled Java example's check with the real JDK: one compiler start, classes outside the tree."""
    return (
        f"javac -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC -d {shlex.quote(str(classes))} "
        "$(find src/main/java -name '*.java')"
    )


def compiles(tree: Path, classes: Path) -> bool:
    return subprocess.run(javac(classes), shell=True, cwd=tree, capture_output=True).returncode == 0


def copy_project(source: Path, target: Path) -> Path:
    shutil.copytree(source / "app", target)
    return target


def example(name: str) -> Path:
    return EXAMPLES / name


def remediate(
    analysis: Path, app: Path, server: FakeProviderServer, *extra: str | Path
) -> tuple[int, dict[str, Any]]:
    """`remediate --json` in this process against the fake provider: (exit code, summary)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(
            "remediate", "--analysis", analysis, "--input", app,
            "--base-url", server.anthropic_base_url, "--json", "--no-progress", *extra,
        )  # fmt: skip
    text = out.getvalue()
    return code, (json.loads(text) if text.strip() else {})


def rows(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The summary's incident rows by file."""
    return {row["file"]: row for row in summary["outcomes"]}


def git(tree: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
