"""The one way kantra-ai writes a file: atomically, and never outside the tree it was given.

`write_atomic(path, data, root=TREE)` puts the new content into a temporary file in the target's
folder (a rename is only atomic within one file system), fsyncs it, `os.replace`s it over the
target, then fsyncs the folder so the rename itself survives a power cut. A crash leaves the old
file or the new one, never half of one; a failure removes the temporary file.

Where it writes: the folder is opened relative to a handle of `root` one component at a time,
without following any symbolic link (`O_NOFOLLOW | O_DIRECTORY` on each, `openat`-style), and the
temporary file, the checks and the rename all happen relative to that folder's handle. So a link
swapped in for the file or for any folder below `root` (during the seconds a request is in
flight, say) is refused instead of written through, and the rename replaces the name inside the
folder that was checked, never a file elsewhere. `root` itself may be a link: the user named it.
Without `root`, the target's own folder is the root (a path the user gave, such as `--report`).

`resolve_inside` and `open_inside` give readers the same guarantee. Where the platform has no
`dir_fd` support (Windows), each component is checked with `lstat` instead (a smaller guarantee:
the check and the use are not one step). Bottom-level: imports nothing from kantra_ai.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO

TEMP_SUFFIX = ".kantra-tmp"
_DIR_FDS = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_WRITE_BUFFER = 1 << 20  # bytes handed to the kernel at a time by `atomic_writer`


class OutsideTreeError(OSError):
    """A write or read would leave the tree: a symbolic link where a folder or the file should
    be, or a target whose real path is outside it. One line; nothing was written."""


@dataclass
class Staged:
    """The complete, fsynced temporary file, just before it replaces the target.

    Everything here works on handles, not paths: `temp_fd` is the temporary file, `dir_fd` the
    target's folder (opened without following links), `name` the target's name in it.
    """

    dir_fd: int
    name: str
    temp_fd: int
    temp_path: Path  # for messages and tests; use the handles to act on it

    def open_target(self) -> int | None:
        """The current target, opened read-only without following a link; None if it is gone.

        Raises OutsideTreeError if the target is now a symbolic link."""
        try:
            return _open_at(self.name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, self.dir_fd, self.temp_path.parent)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise OutsideTreeError(
                    f"{self.temp_path.parent / self.name} is a symbolic link now; not written through"
                ) from None
            raise


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    encoding: str = "utf-8",
    make_parents: bool = True,
    before_replace: Callable[[Staged], None] | None = None,
    root: Path | None = None,
) -> None:
    """Replace `path` with `data` (text is encoded with `encoding`, newlines untouched).

    `root`: the tree `path` must stay in (see the module docstring); default: `path`'s folder.
    `before_replace(staged)` runs once the temporary file is complete and on disk, just before the
    rename: set its mode, check the target has not changed (raise to leave the target alone).
    """
    raw = data.encode(encoding) if isinstance(data, str) else data
    with atomic_writer(path, make_parents=make_parents, before_replace=before_replace, root=root) as out:
        out.write(raw)


@contextlib.contextmanager
def atomic_writer(
    path: Path,
    *,
    make_parents: bool = True,
    before_replace: Callable[[Staged], None] | None = None,
    root: Path | None = None,
) -> Iterator[BinaryIO]:
    """`write_atomic` for content written a piece at a time (a plan or a report of a large run,
    never whole in memory): the bytes written to the file this yields replace `path` when the
    block ends, and nothing does if it raises (the temporary file is removed)."""
    base, parts = _split(path, root)
    with _open_dir(base, parts[:-1], create=make_parents) as dir_fd:
        name = parts[-1]
        temp_name = f".{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        folder = base.joinpath(*parts[:-1])
        temp_fd = _open_at(
            temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, dir_fd, folder, 0o600
        )
        try:
            try:
                with open(temp_fd, "wb", closefd=False, buffering=_WRITE_BUFFER) as out:
                    yield out
                os.fsync(temp_fd)
                if before_replace is not None:
                    before_replace(Staged(dir_fd, name, temp_fd, folder / temp_name))
            finally:
                os.close(temp_fd)
            _replace_at(temp_name, name, dir_fd, folder)
        except BaseException:
            with contextlib.suppress(OSError):
                _unlink_at(temp_name, dir_fd, folder)
            raise
        _fsync_fd_or_path(dir_fd, folder)


def make_dirs(path: Path, *, root: Path | None = None) -> None:
    """Create `path` and the folders above it below `root`, refusing links (see write_atomic)."""
    base, parts = _split(path, root, allow_root=True)
    with _open_dir(base, parts, create=True):
        pass


def visible_file(path: Path) -> bool:
    """`path` is a regular file this process can see. One in a folder it may not enter is not
    there for it (`Path.is_file` raises PermissionError instead of saying False): a HOME of another
    user's kept by `sudo -u`, a `chmod 000` folder of the tree."""
    try:
        return path.is_file()
    except OSError:
        return False


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into `folder` (made when missing, as `write_atomic` makes it),
    or None: the first part of it that exists must be a folder this process may write into. For
    output paths the user names, checked before the work whose result they hold."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def resolve_inside(root: Path, path: Path) -> tuple[Path, PurePath]:
    """`path`'s real location as (real root, path relative to it), following the links the tree
    has now; OutsideTreeError if it is not inside `root`. Links inside the tree that point inside
    it are fine: editing through them edits the file they point to, which is in the tree."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    try:
        relative = real.relative_to(real_root)
    except ValueError:
        raise OutsideTreeError(f"{path} leads outside {root} (through a symbolic link)") from None
    if not relative.parts:
        raise OutsideTreeError(f"{path} is the tree {root} itself, not a file in it")
    return real_root, relative


def open_inside(root: Path, relative: PurePath, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """Open `root/relative` without following any link below `root` (a link swapped in since
    `resolve_inside` is refused with OutsideTreeError); returns the descriptor."""
    parts = _parts(relative)
    with _open_dir(root, parts[:-1], create=False) as dir_fd:
        try:
            return _open_at(parts[-1], flags | _NOFOLLOW | _CLOEXEC, dir_fd, root.joinpath(*parts[:-1]), mode)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise OutsideTreeError(f"{root.joinpath(*parts)} is a symbolic link; not followed") from None
            raise


def link_into_place(temp: Path, path: Path) -> bool:
    """Give the complete file `temp` the name `path` unless something has that name already
    (True: it was placed). A hard link does both in one step; without hard links, a rename."""
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links
        if os.path.lexists(path):
            return False
        os.replace(temp, path)
    fsync_directory(path.parent)
    return True


def is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def file_identity(path: Path) -> tuple[int, int] | None:
    """Which file `path` names now (device, inode; following links); None: there is none. A file
    deleted, or replaced by another of the same name, is told from the one seen before by this."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable. Not every platform can open a folder (Windows): best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- internals ---------------------------------------------------------------------------------


def _parts(relative: PurePath) -> list[str]:
    parts = [p for p in relative.parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or relative.is_absolute():
        raise OutsideTreeError(f"{relative}: not a path inside the tree")
    return parts


def _split(path: Path, root: Path | None, *, allow_root: bool = False) -> tuple[Path, list[str]]:
    """(the folder to start from, the components below it)."""
    if root is None:
        return path.parent, [path.name]
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        raise OutsideTreeError(f"{path} is not inside {root}; not written") from None
    if allow_root and not relative.parts:
        return root, []
    return root, _parts(relative)


@contextlib.contextmanager
def _open_dir(base: Path, parts: Sequence[str], *, create: bool) -> Iterator[int]:
    """A handle of `base/parts...`, each component opened without following links.

    Without dir_fd support the "handle" is -1 and each component is lstat-checked instead."""
    if not _DIR_FDS:
        _check_path_components(base, parts, create=create)
        yield -1
        return
    if create:
        base.mkdir(parents=True, exist_ok=True)  # the root and above: the user named them
    fd = os.open(base, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        where = base
        for name in parts:
            where = where / name
            try:
                next_fd = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
                next_fd = _open_subdir(name, fd, where)
            except OSError as exc:
                raise _not_a_folder(exc, where) from None
            os.close(fd)
            fd = next_fd
        yield fd
    finally:
        os.close(fd)


def _open_subdir(name: str, dir_fd: int, where: Path) -> int:
    try:
        return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        raise _not_a_folder(exc, where) from None


def _not_a_folder(exc: OSError, where: Path) -> OSError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        kind = "a symbolic link" if is_link(where) else "not a folder"
        return OutsideTreeError(f"{where} is {kind}; kantra-ai writes only into real folders of the tree")
    return exc


def _check_path_components(base: Path, parts: Sequence[str], *, create: bool) -> None:
    where = base
    if create:
        base.mkdir(parents=True, exist_ok=True)
    for name in parts:
        where = where / name
        if is_link(where):
            raise OutsideTreeError(f"{where} is a symbolic link; kantra-ai writes only into real folders")
        if create:
            where.mkdir(exist_ok=True)


def _open_at(name: str, flags: int, dir_fd: int, folder: Path, mode: int = 0o777) -> int:
    if dir_fd < 0:
        if is_link(folder / name):
            raise OSError(errno.ELOOP, "symbolic link", str(folder / name))
        return os.open(folder / name, flags & ~_NOFOLLOW, mode)
    return os.open(name, flags, mode, dir_fd=dir_fd)


def _replace_at(source: str, target: str, dir_fd: int, folder: Path) -> None:
    if dir_fd < 0:
        os.replace(folder / source, folder / target)
    else:
        os.replace(source, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _unlink_at(name: str, dir_fd: int, folder: Path) -> None:
    if dir_fd < 0:
        os.unlink(folder / name)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _fsync_fd_or_path(dir_fd: int, folder: Path) -> None:
    if dir_fd < 0:
        fsync_directory(folder)
        return
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)
