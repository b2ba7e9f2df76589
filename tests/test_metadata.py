"""The package metadata tells the truth: the Python the README promises is the one pyproject states,
every third-party package the code imports is a declared dependency, and the packages of an optional
extra (`postgres`) are imported only where they are used, so kantra-ai runs without them."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_readme_promises_the_python_the_metadata_requires() -> None:
    floor = re.fullmatch(r">=\s*(\d+\.\d+)", PROJECT["requires-python"].strip())
    assert floor, PROJECT["requires-python"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert set(re.findall(r"Python (\d+\.\d+)\+", readme)) == {floor.group(1)}
    tools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    assert tools["ruff"]["target-version"] == "py" + floor.group(1).replace(".", "")
    assert tools["mypy"]["python_version"] == floor.group(1)


OPTIONAL = {
    _name(r) for extra, reqs in PROJECT["optional-dependencies"].items() if extra != "dev" for r in reqs
}


def _imports(nodes: list[ast.AST]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "kantra_ai"}


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    providers = packages_distributions()
    return {m: {_name(d) for d in providers.get(m, [m])} for m in sorted(modules)}


SOURCES = sorted((ROOT / "src" / "kantra_ai").rglob("*.py"))


def test_every_imported_third_party_package_is_declared() -> None:
    declared = {_name(r) for r in PROJECT["dependencies"]} | OPTIONAL
    imported: set[str] = set()
    for path in SOURCES:
        imported |= _imports(list(ast.walk(ast.parse(path.read_text(encoding="utf-8")))))
    undeclared = {m: d for m, d in _distributions(imported).items() if not d & declared}
    assert undeclared == {}


# Modules that exist only for an extra and are themselves imported only inside the function that
# needs them (`portfolio/run.py` imports the Ray engine for `--engine ray` alone).
EXTRA_ONLY_MODULES = {"kantra_ai.portfolio.ray_engine": "ray"}


def test_an_optional_extras_package_is_never_imported_at_module_level() -> None:
    required = {_name(r) for r in PROJECT["dependencies"]}
    eager = {}
    for path in SOURCES:
        name = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)
        top = _imports(list(ast.parse(path.read_text(encoding="utf-8")).body))
        for module, distributions in _distributions(top).items():
            if not distributions & required and EXTRA_ONLY_MODULES.get(name) != module:
                eager[str(path.relative_to(ROOT))] = module
    assert OPTIONAL and eager == {}


def test_a_module_made_for_an_extra_is_never_imported_at_module_level() -> None:
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module not in EXTRA_ONLY_MODULES, path
            if isinstance(node, ast.Import):
                assert not {a.name for a in node.names} & set(EXTRA_ONLY_MODULES), path
