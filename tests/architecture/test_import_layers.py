"""The package structure: imports point down the pipeline, never up, and the application layer has
no command-line framework in it. Read from the source, so a new upward import fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kantra_ai"

# Lowest first. A module may import its own package and anything in a lower layer.
LAYERS: list[set[str]] = [
    {
        *("errors", "tokens", "killpoints", "_fs", "redact", "bounds", "scratch", "collector"),
        *("__init__", "simulated"),
    },
    {"analysis", "edits", "providers"},
    {"batching", "formats"},
    {"prompts"},
    {"engine"},
    {"store", "plan"},
    {"verify"},
    {"report", "config", "delivery"},
    {"app"},
    {"portfolio"},  # many applications: the per-application unit over app/, engines (embedded, Ray)
    {"web", "hub"},  # the web app; the Konveyor Hub addon: both over the application layer
    {"cli"},
]
LAYER_OF = {package: n for n, layer in enumerate(LAYERS) for package in layer}


def _package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported top-level module, line) for every import in the file, lazy ones included."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
    return found


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_package_has_a_layer() -> None:
    packages = {_package(p) for p in SOURCES}
    assert packages <= set(LAYER_OF), f"give these a layer: {sorted(packages - set(LAYER_OF))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    package = _package(path)
    upward = []
    for module, line in _imports(path):
        parts = module.split(".")
        if parts[0] != "kantra_ai" or len(parts) < 2:
            continue
        target = parts[1]
        if target != package and LAYER_OF[target] >= LAYER_OF[package]:
            upward.append(f"line {line}: {module}")
    assert not upward, f"{path.relative_to(SRC)} imports upward or sideways: {upward}"


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if _package(p) == "app"], ids=lambda p: str(p.relative_to(SRC))
)
def test_the_application_layer_has_no_command_line_framework(path: Path) -> None:
    frameworks = {"typer", "click"}
    used = [m for m, _ in _imports(path) if m.split(".")[0] in frameworks]
    assert not used, f"{path.relative_to(SRC)} imports {used}"


def test_the_shipped_package_never_imports_test_support() -> None:
    support = ("testing", "bench")
    offenders = [
        str(path.relative_to(SRC))
        for path in SOURCES
        for module, _ in _imports(path)
        if module.split(".")[0] in support
    ]
    assert not offenders
