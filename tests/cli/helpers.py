"""Helpers shared by the CLI tests."""

from __future__ import annotations

import contextlib
import filecmp
import io
import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kantra_ai.cli.app import main
from testing.fakeprovider.server import FakeProviderServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def copy_example(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(EXAMPLES / name / "app", target)
    return target


@contextlib.contextmanager
def read_only_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`folder` cannot be written (mode 555) while the block runs. Root may write anywhere the mode
    bits say not; as root, `os.access` is made to read the mode bits as any other user's process
    would (a read-only mount says the same to root too)."""
    real_access = os.access

    def access_as_a_user(path: Any, mode: int, **kwargs: Any) -> bool:
        if mode & os.W_OK and not os.stat(path).st_mode & stat.S_IWUSR:
            return False
        return real_access(path, mode, **kwargs)

    with monkeypatch.context() as patch:
        if os.geteuid() == 0:
            patch.setattr(os, "access", access_as_a_user)
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


def analysis_of(name: str) -> Path:
    return EXAMPLES / name / "output.yaml"


def expected_of(name: str) -> Path:
    return EXAMPLES / name / "expected"


def tree_differences(left: Path, right: Path, ignore: tuple[str, ...] = (".kantra-ai",)) -> list[str]:
    """Relative paths that differ (content or presence) between two trees, byte for byte; names in
    `ignore` are left out at any depth."""
    diffs: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        diffs.extend(prefix + n for n in cmp.left_only + cmp.right_only + cmp.funny_files)
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        diffs.extend(prefix + n for n in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(left, right, ignore=list(ignore)), "")
    return sorted(diffs)


def run(*args: str | Path) -> int:
    return main([str(a) for a in args])


def remediate_json(
    example: str, app: Path, server: FakeProviderServer, *extra: str | Path
) -> tuple[int, dict[str, Any]]:
    """`remediate --json` in this process against `server`: (exit code, summary or {} if none)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(
            "remediate", "--analysis", analysis_of(example), "--input", app,
            "--base-url", server.anthropic_base_url, "--json", "--no-progress", *extra,
        )  # fmt: skip
    text = out.getvalue()
    return code, (json.loads(text) if text.strip() else {})
