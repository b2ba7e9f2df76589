"""The shipped package stands alone: nothing in `src/kantra_ai` imports the test support package."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "kantra_ai"


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_module_of_the_shipped_package_imports_testing() -> None:
    sources = sorted(SOURCE.rglob("*.py"))
    assert len(sources) > 50  # the package is really there
    offenders = [
        f"{path.relative_to(SOURCE)}: {module}"
        for path in sources
        for module in sorted(_imported_modules(path))
        if module == "testing" or module.startswith("testing.")
    ]
    assert offenders == []
