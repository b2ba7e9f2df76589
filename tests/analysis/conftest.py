"""Shared fixtures for the analysis tests: the real Konveyor outputs and tiny checkouts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from tests.datasets import KONVEYOR_DATA


@pytest.fixture
def konveyor_data() -> Path:
    if not KONVEYOR_DATA.is_dir():
        pytest.fail(f"real Konveyor outputs missing: expected them at {KONVEYOR_DATA}")
    return KONVEYOR_DATA


@pytest.fixture
def make_checkout(tmp_path: Path) -> Callable[..., Path]:
    """Create a checkout under tmp_path/checkout holding the given relative files."""

    def make(files: Iterable[str], name: str = "checkout") -> Path:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        for rel in files:
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"// {rel}\n", encoding="utf-8")
        return root

    return make


@pytest.fixture
def write_analysis(tmp_path: Path) -> Callable[..., Path]:
    """Write analysis text to tmp_path/<name> and return its path."""

    def write(text: str, name: str = "output.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
