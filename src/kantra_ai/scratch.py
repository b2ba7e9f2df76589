"""Scratch folders in the system's temporary folder, gone however the process that made them ends.

Every folder kantra-ai makes outside the user's tree (a check's bytecode, a copy to bisect on, a
temporary git index, a re-analysis's output, the page that hands the web app's token to the
browser) comes from here. A folder is removed when its work ends, exceptions included; a process
killed outright (SIGKILL, the OOM killer, a power cut) cannot do that, so each folder's name carries
the id of the process that made it and of that process's pid namespace
(`kantra-ai-<kind>-<pid>.<namespace>-<random>`), and making a new one first removes the folders
whose process is gone. A crashed run leaves nothing behind for longer than until the next one.

What is removed is deliberately narrow: our own name pattern, a real folder (never a symbolic link
put there under that name: /tmp is shared), owned by this user, made in this pid namespace (a
container sharing the host's /tmp sees other process ids: a live run's folder there must not look
abandoned), whose process no longer exists.
Bottom-level: imports nothing from kantra_ai.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

_KIND = re.compile(r"[a-z]+")
_NAME = re.compile(r"kantra-ai-[a-z]+-(\d+)\.(\d+)-.+")


def _namespace() -> int:
    """This process's pid namespace (the inode of /proc/self/ns/pid on Linux; 0 elsewhere)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _abandoned(folder: Path) -> bool:
    match = _NAME.fullmatch(folder.name)
    if match is None:
        return False
    pid, namespace = int(match.group(1)), int(match.group(2))
    if namespace != _namespace():
        return False
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return False
    return pid != os.getpid() and not _alive(pid)


def remove_abandoned(where: Path | None = None) -> list[Path]:
    """Remove the scratch folders under `where` (the temporary folder) whose process is gone;
    returns what was removed. A folder that cannot be removed is left, silently: it is litter,
    never a reason to fail a run."""
    where = Path(tempfile.gettempdir()) if where is None else where
    removed: list[Path] = []
    try:
        candidates = list(where.glob("kantra-ai-*"))
    except OSError:
        return removed
    for folder in candidates:
        if not _abandoned(folder):
            continue
        try:
            shutil.rmtree(folder)
        except OSError:
            continue
        removed.append(folder)
    return removed


def make_folder(kind: str) -> Path:
    """A new private folder `kantra-ai-<kind>-<pid>.<namespace>-<random>`; the caller removes it
    (`remove`)."""
    if _KIND.fullmatch(kind) is None:
        raise ValueError(f"a scratch folder's kind is lowercase letters: {kind!r}")
    remove_abandoned()
    return Path(tempfile.mkdtemp(prefix=f"kantra-ai-{kind}-{os.getpid()}.{_namespace()}-"))


def remove(folder: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(folder)


@contextlib.contextmanager
def scratch_folder(kind: str) -> Iterator[Path]:
    """A folder for the `with` block's work, removed when it ends (exceptions included)."""
    folder = make_folder(kind)
    try:
        yield folder
    finally:
        remove(folder)
