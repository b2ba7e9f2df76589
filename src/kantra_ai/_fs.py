"""One way to replace a file atomically: every writer of kantra-ai goes through `write_atomic`.

The new content goes to a temporary file in the same folder (a rename is only atomic within one
file system), which is fsynced, then `os.replace`d over the target, then the folder is fsynced so
the rename itself survives a power cut. A crash leaves the old file or the new one, never half of
one; a failure removes the temporary file. Bottom-level: imports nothing from kantra_ai.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMP_SUFFIX = ".kantra-tmp"


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    encoding: str = "utf-8",
    make_parents: bool = True,
    before_replace: Callable[[Path], None] | None = None,
) -> None:
    """Replace `path` with `data` (text is encoded with `encoding`, newlines untouched).

    `before_replace(temp)` runs once the temporary file is complete and on disk, just before the
    rename: set its mode, check the target has not changed (raise to leave the target alone).
    """
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode(encoding) if isinstance(data, str) else data
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace(temp)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_directory(path.parent)


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
