"""Helpers shared by the CLI tests."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from kantra_ai.cli.app import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def copy_example(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(EXAMPLES / name / "app", target)
    return target


def analysis_of(name: str) -> Path:
    return EXAMPLES / name / "output.yaml"


def expected_of(name: str) -> Path:
    return EXAMPLES / name / "expected"


def tree_differences(left: Path, right: Path) -> list[str]:
    """Relative paths that differ (content or presence) between two trees, byte for byte."""
    diffs: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        diffs.extend(prefix + n for n in cmp.left_only + cmp.right_only + cmp.funny_files)
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        diffs.extend(prefix + n for n in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(left, right, ignore=[".kantra-ai"]), "")
    return sorted(diffs)


def run(*args: str | Path) -> int:
    return main([str(a) for a in args])
