"""The one atomic writer: whole file or old file, never half; temp files cleaned up; rename made durable."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from kantra_ai._fs import TEMP_SUFFIX, Staged, write_atomic

SRC = Path(__file__).resolve().parents[1] / "src" / "kantra_ai"


def test_text_and_bytes_replace_the_file_and_leave_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "report.html"
    write_atomic(path, "first\n")
    write_atomic(path, "zweite Fassung ü\r\n".encode("utf-16"))
    assert path.read_bytes() == "zweite Fassung ü\r\n".encode("utf-16")
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_a_failure_before_the_rename_keeps_the_old_file_and_removes_the_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("old\n")

    def refuse(staged: Staged) -> None:
        temp = staged.temp_path
        assert temp.parent == path.parent and temp.name.endswith(TEMP_SUFFIX)
        assert temp.read_text() == "new\n"  # complete before the check runs
        raise RuntimeError("target changed")

    with pytest.raises(RuntimeError):
        write_atomic(path, "new\n", before_replace=refuse)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.yaml"]


def test_the_file_and_its_folder_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_atomic(tmp_path / "run.json", "{}\n")
    assert synced == ["file", "folder"]


def test_no_module_writes_a_file_in_place_or_renames_on_its_own() -> None:
    # Every writer goes through kantra_ai._fs.write_atomic; a second copy of the dance would drift.
    pattern = re.compile(r"os\.replace\(|os\.rename\(|mkstemp\(|\.write_text\(|\.write_bytes\(")
    # Scratch files in a TemporaryDirectory, never seen by the user: the planner's document, the
    # three inputs of the three-way merge that undoes a write under later ones, and the scratch copy
    # of the tree that verification's bisection builds. And a portfolio application's cloned or
    # copied tree, a folder moved into place whole.
    allowed = {"_fs.py", "plan/incidents.py", "store/revert.py", "verify/bisect.py", "portfolio/unit.py"}
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for path in SRC.rglob("*.py")
        if str(path.relative_to(SRC)) not in allowed
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line.split("#")[0])
    ]
    assert offenders == []
