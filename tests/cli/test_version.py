"""`kantra-ai --version`: the installed version and the Python it runs on."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import version

import pytest
from tests.cli.helpers import run


def test_version_names_the_installed_version_and_the_python(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--version") == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"kantra-ai {version('kantra-ai')} ")
    assert platform.python_version() in out and sys.executable in out
