"""Which command builds (or tests) a tree, found by its marker files.

The first ecosystem whose marker is at the top of the tree wins, in this order: Maven (`./mvnw` when
the wrapper is there), Gradle (`./gradlew` likewise), Go, .NET, npm / yarn / pnpm (the lock file
says which; the `build` or `test` script of package.json), Python. Commands are offline where the
tool has such a mode: a check must not depend on the network or change what is installed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CheckKind = Literal["build", "test"]
# Bytecode, caches and virtual environments are not the user's sources: compileall skips them.
_PYTHON_SKIP = r"'(^|/)(\.[^/]*|node_modules|venv|build|dist)(/|$)'"


class DetectionError(ValueError):
    """No marker file says how to build or test the tree; one line."""


@dataclass(frozen=True)
class CheckCommand:
    command: str
    tool: str  # "Maven", "npm", ... or "your command"
    marker: str  # the file that chose it; "" for a command given by the user

    def describe(self) -> str:
        where = f" ({self.tool}: {self.marker})" if self.marker else ""
        return f"`{self.command}`{where}"


def _python() -> str:
    """The user's interpreter as their shell finds it: `python`, else `python3`."""
    return "python" if shutil.which("python") else "python3"


def _package_script(tree: Path, kind: CheckKind) -> CheckCommand | None:
    try:
        package = json.loads((tree / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    scripts = package.get("scripts") if isinstance(package, dict) else None
    runner = (
        "pnpm" if (tree / "pnpm-lock.yaml").exists() else "yarn" if (tree / "yarn.lock").exists() else "npm"
    )
    if isinstance(scripts, dict) and isinstance(scripts.get(kind), str):
        return CheckCommand(f"{runner} run {kind}", runner, "package.json")
    if kind == "build" and (tree / "tsconfig.json").exists():
        return CheckCommand("npx --no-install tsc --noEmit", "TypeScript", "tsconfig.json")
    return None


def detect_command(tree: Path, kind: CheckKind) -> CheckCommand:
    """The check for `tree`; DetectionError when no marker file is found."""
    maven = "test" if kind == "test" else "compile"
    if (tree / "pom.xml").is_file():
        wrapper = (tree / "mvnw").is_file()
        return CheckCommand(
            f"{'./mvnw' if wrapper else 'mvn'} -q -o {maven}", "Maven", "mvnw" if wrapper else "pom.xml"
        )
    gradle_files = ("build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts")
    marker = next((name for name in gradle_files if (tree / name).is_file()), None)
    if marker is not None:
        wrapper = (tree / "gradlew").is_file()
        task = "test" if kind == "test" else "assemble"
        return CheckCommand(
            f"{'./gradlew' if wrapper else 'gradle'} --offline -q {task}",
            "Gradle",
            "gradlew" if wrapper else marker,
        )
    if (tree / "go.mod").is_file():
        return CheckCommand("go test ./..." if kind == "test" else "go build ./...", "Go", "go.mod")
    dotnet = sorted(p.name for p in tree.glob("*.sln")) or sorted(p.name for p in tree.glob("*.csproj"))
    if dotnet:
        return CheckCommand(f"dotnet {kind}", ".NET", dotnet[0])
    if (tree / "package.json").is_file():
        found = _package_script(tree, kind)
        if found is not None:
            return found
        raise DetectionError(
            f"--verify {kind}: package.json has no `{kind}` script; add one or pass --verify-command"
        )
    python_files = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini", "requirements.txt")
    marker = next((name for name in python_files if (tree / name).is_file()), None)
    if marker is not None:
        python = _python()
        if kind == "test":
            return CheckCommand(f"{python} -m pytest -q -p no:cacheprovider", "pytest", marker)
        return CheckCommand(f"{python} -m compileall -q -x {_PYTHON_SKIP} .", "Python", marker)
    raise DetectionError(
        f"--verify {kind}: no pom.xml, build.gradle, go.mod, *.sln/*.csproj, package.json or "
        f"pyproject.toml/setup.py in {tree}; pass the command with --verify-command"
    )
