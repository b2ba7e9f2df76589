"""One run per source tree at a time: an exclusive lock on `TREE/.kantra-ai/lock`.

`fcntl.flock` (`msvcrt.locking` on Windows): the operating system drops the lock when the holder
dies, however it dies, so a killed run never leaves a stale lock behind. The holder writes its pid
and start time into the file so that the run that is refused can say who holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from kantra_ai._fs import make_dirs, open_inside
from kantra_ai.store.schema import StoreError

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


POLL_SECONDS = 0.1


class LockBusy(StoreError):
    """Another run holds the tree's lock; one line naming it."""


class LockError(StoreError):
    """The lock file cannot be created (read-only tree, ...); one line."""


def held_by_another(path: Path) -> str | None:
    """Who holds the lock at `path` ("pid N, started ...") while another open of it does; None when
    it is free or there is no lock file. Only looks: never creates the file or its folder, and
    takes the lock for no longer than the look. (Within one process a second open conflicts with
    the first too: callers ask about their own runs first.)"""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
        return TreeLock(path).holder()
    finally:
        os.close(fd)


class TreeLock:
    def __init__(self, path: Path, *, root: Path | None = None) -> None:
        self.path = path
        self.root = root  # the tree the lock file lives in: opened without following links
        self._fd: int | None = None

    def _open(self) -> int:
        if self.root is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        make_dirs(self.path.parent, root=self.root)
        relative = self.path.relative_to(self.root)
        return open_inside(Path(os.path.realpath(self.root)), relative, os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self, *, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock, or raise LockBusy; with `wait`, poll until it is free (Ctrl-C stops)."""
        try:
            fd = self._open()
        except OSError as exc:
            raise LockError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
        told = False
        try:
            while not _try_lock(fd):
                holder = self.holder()
                if not wait:
                    raise LockBusy(
                        f"another kantra-ai run ({holder}) is working on this tree; "
                        "wait for it to finish, or pass --wait-lock to wait"
                    )
                if on_wait is not None and not told:
                    on_wait(f"waiting for another kantra-ai run ({holder}) to finish…")
                    told = True
                time.sleep(POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        info = json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, info)

    def holder(self) -> str:
        """Who holds the lock, as far as its file says."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return f"pid {int(info['pid'])}, started {info['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "pid unknown"

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            _unlock(fd)
        os.close(fd)

    def __enter__(self) -> TreeLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
