"""The package metadata tells the truth: the Python the README promises is the one pyproject states,
and every third-party package the code imports is a declared dependency."""

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


def test_every_imported_third_party_package_is_declared() -> None:
    declared = {_name(r) for r in PROJECT["dependencies"]}
    # An optional extra's package (`ray`) counts too: the code imports it only when it is asked for.
    extras = PROJECT.get("optional-dependencies", {})
    declared |= {_name(r) for name, reqs in extras.items() if name != "dev" for r in reqs}
    providers = packages_distributions()
    imported: set[str] = set()
    for path in (ROOT / "src" / "kantra_ai").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "kantra_ai"}
    undeclared = {
        module: providers.get(module, [module])
        for module in sorted(third_party)
        if not {_name(d) for d in providers.get(module, [module])} & declared
    }
    assert undeclared == {}
