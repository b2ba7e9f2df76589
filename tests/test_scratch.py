"""Scratch folders outside the tree: made private, gone when their work ends, and the folders of a
killed process removed by the next one, without ever touching what is not ours."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kantra_ai import scratch
from kantra_ai.scratch import make_folder, remove_abandoned, scratch_folder

HERE = scratch._namespace()  # this pid namespace, as scratch folders name it


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder, for this test alone."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _gone_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    done = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.fixture
def live_pid() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def _folder(where: Path, name: str) -> Path:
    folder = where / name
    folder.mkdir()
    (folder / "pycache").mkdir()
    (folder / "pycache" / "module.pyc").write_bytes(b"\0" * 64)
    return folder


def test_a_folder_is_private_named_after_its_process_and_gone_after_its_block(temp: Path) -> None:
    with scratch_folder("bisect") as folder:
        assert folder.parent == temp and folder.name.startswith(f"kantra-ai-bisect-{os.getpid()}.{HERE}-")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        (folder / "copy").write_text("x")
    assert list(temp.iterdir()) == []


def test_a_folder_is_gone_when_its_block_raises(temp: Path) -> None:
    with pytest.raises(RuntimeError), scratch_folder("merge") as folder:
        (folder / "current").write_text("x")
        raise RuntimeError("the work failed")
    assert list(temp.iterdir()) == []


def test_the_folders_a_killed_process_left_are_removed_when_the_next_folder_is_made(temp: Path) -> None:
    dead = _gone_pid()
    left = [
        _folder(temp, f"kantra-ai-verify-{dead}.{HERE}-abc123"),
        _folder(temp, f"kantra-ai-bisect-{dead}.{HERE}-x"),
    ]
    made = make_folder("verify")
    assert not any(folder.exists() for folder in left)
    assert list(temp.iterdir()) == [made]


def test_folders_of_live_processes_stay(temp: Path, live_pid: int) -> None:
    theirs = _folder(temp, f"kantra-ai-verify-{live_pid}.{HERE}-abc123")
    ours = _folder(temp, f"kantra-ai-verify-{os.getpid()}.{HERE}-def456")
    assert remove_abandoned() == []
    assert (theirs / "pycache" / "module.pyc").is_file() and (ours / "pycache" / "module.pyc").is_file()


def test_what_only_looks_like_a_scratch_folder_is_never_removed(temp: Path) -> None:
    dead = _gone_pid()
    kept = [
        _folder(temp, "kantra-ai-verify-abc123"),  # no process id: an older version's, or not ours
        _folder(temp, f"kantra-ai-verify-{dead}-abc123"),  # no namespace
        _folder(temp, f"kantra-ai-{dead}.{HERE}"),
        _folder(temp, f"other-tool-verify-{dead}.{HERE}-abc"),
    ]
    (temp / f"kantra-ai-plan-{dead}.{HERE}-file").write_text("a file, not a folder")
    assert remove_abandoned() == []
    assert all(folder.is_dir() for folder in kept) and (temp / f"kantra-ai-plan-{dead}.{HERE}-file").is_file()


def test_a_link_under_a_scratch_name_is_never_followed(temp: Path, tmp_path: Path) -> None:
    """/tmp is shared: anyone can put a link there under our name, pointing at the user's files."""
    precious = _folder(tmp_path, "home")
    link = temp / f"kantra-ai-verify-{_gone_pid()}.{HERE}-abc123"
    link.symlink_to(precious, target_is_directory=True)
    assert remove_abandoned() == []
    assert (precious / "pycache" / "module.pyc").is_file() and link.is_symlink()


def test_another_users_folder_is_left_to_them(temp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(temp, f"kantra-ai-verify-{_gone_pid()}.{HERE}-abc123")
    monkeypatch.setattr(scratch.os, "getuid", lambda: folder.stat().st_uid + 1)
    assert remove_abandoned() == []
    assert (folder / "pycache" / "module.pyc").is_file()


def test_a_folder_made_in_another_pid_namespace_is_left_to_it(temp: Path) -> None:
    """A container sharing the host's /tmp: its process ids mean other processes than ours."""
    folder = _folder(temp, f"kantra-ai-bisect-{_gone_pid()}.{HERE + 1}-abc123")
    assert remove_abandoned() == []
    assert (folder / "pycache" / "module.pyc").is_file()


def test_a_kind_is_lowercase_letters_so_names_stay_parseable() -> None:
    with pytest.raises(ValueError, match="lowercase letters"):
        make_folder("bi-sect")
