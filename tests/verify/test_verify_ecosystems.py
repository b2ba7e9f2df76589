"""Verification beyond Java, with the real tools and the commands detected from the marker files: a
Python project whose tests (real pytest) catch what compiles, and a TypeScript project checked by the
real tsc through its package.json `build` script."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tests.verify.helpers import PROJECTS, TYPESCRIPT, copy_project, remediate, rows

from testing.fakeprovider.server import FakeProviderServer

# Real tools (pytest, npm and tsc): run once, by scripts/test.sh, not again in the lowest-versions run.
pytestmark = pytest.mark.slow


@pytest.fixture
def venv_python_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's `python` is this test run's (it has pytest), as an activated virtualenv makes it."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def test_pytest_catches_a_name_the_fix_forgot_to_import_and_the_repair_imports_it(
    tmp_path: Path, fake: FakeProviderServer, venv_python_first: None
) -> None:
    project = PROJECTS / "python-app"
    app = copy_project(project, tmp_path / "app")
    code, summary = remediate(project / "output.yaml", app, fake, "--verify", "test")
    assert summary["verification"]["command"] == "python -m pytest -q -p no:cacheprovider"
    assert summary["verification"]["detected_from"] == "pyproject.toml"
    row = rows(summary)["src/clockapp/stamps.py"]
    assert (row["status"], row["verification"]) == ("fixed", "repaired in 1 round")
    text = (app / "src/clockapp/stamps.py").read_text()
    assert "from datetime import datetime, timezone\n" in text
    assert "datetime.now(timezone.utc).strftime" in text
    assert code == 0
    assert not list(app.rglob("__pycache__"))  # the checks left no bytecode in the tree


def test_tsc_catches_a_function_the_fix_forgot_to_import_and_the_repair_imports_it(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    assert (TYPESCRIPT / ".bin" / "tsc").exists(), "TypeScript is missing: scripts/test.sh installs it"
    project = PROJECTS / "ts-app"
    app = copy_project(project, tmp_path / "app")
    (app / "node_modules").symlink_to(TYPESCRIPT, target_is_directory=True)
    code, summary = remediate(project / "output.yaml", app, fake, "--verify", "build")
    assert summary["verification"]["command"] == "npm run build"
    row = rows(summary)["src/totals.ts"]
    assert (row["status"], row["verification"]) == ("fixed", "repaired in 1 round")
    text = (app / "src/totals.ts").read_text()
    assert 'import { Observable, of, lastValueFrom } from "rxjs";' in text
    assert "await lastValueFrom(totals)" in text
    assert code == 0
