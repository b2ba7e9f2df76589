"""Read source files without losing anything, and write them back atomically and only if unchanged.

A file is read into text with "\\n" newlines plus what it takes to write it back byte-for-byte in
the same form: encoding, BOM, newline style, permission bits. Writing goes through a temporary file
in the same directory and `os.replace`, so a crash leaves either the old or the new file, never half
of one; and it refuses to replace a file that changed on disk since it was read (the user's editor,
another worker), because overwriting it would silently lose their change.

Decisions: utf-8 first (BOM remembered), then cp1252 (the usual legacy encoding of Java sources on
Windows; its typographic characters read better to a model than latin-1's control characters), then
latin-1, which decodes any byte, so reading never loses data. A file with mixed newlines keeps
each line's own: a line the new text keeps (equal to one of the old text, lines matched as a diff
matches them) ends as it did, a new or changed line as the line it replaces (or follows) did; the
rest of the file is never rewritten in the dominant style. A file without any write
permission bit is not overwritten (os.replace would not notice), and owner, group and extended
attributes (ACLs, labels, `user.*`) are kept where the OS lets us.

Symbolic links: a link inside the tree that points inside the tree is followed (the file it points
to is rewritten, the link stays a link). Anything that leads outside the tree is refused: the write
goes to the real path the file had when it was read, opened relative to the tree without following
any link (`_fs.write_atomic` with `root`), so a file or folder swapped for a link while its request
was in flight is never written through, even when the outside copy has the same bytes.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from kantra_ai._fs import OutsideTreeError, Staged, folder_problem, resolve_inside, write_atomic
from kantra_ai.edits.linediff import LineMatcher
from kantra_ai.killpoints import killpoint

_CHUNK = 1 << 16


class SourceFileError(Exception):
    """A file cannot be read as text or written back faithfully (one-line message)."""


class StaleFileError(SourceFileError):
    """The file changed on disk after it was read; it was not overwritten."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    text: str  # "\n" newlines, no BOM; a trailing newline is simply the text's last character
    encoding: str  # a Python codec name: "utf-8", "cp1252" or "latin-1"
    newline: str  # "\n", "\r\n" or "\r": what "\n" becomes on write
    has_bom: bool
    mode: int  # permission bits (stat.S_IMODE)
    sha256: str  # of the raw bytes as read
    mixed_newlines: bool = False  # the file mixed styles; writing keeps each line's (`line_ends`)
    line_ends: tuple[str, ...] = field(default=(), repr=False, compare=False)  # mixed: the newline
    # ending each line of `text`, in order (empty for a file of one style: `newline` is every one)
    raw: bytes = field(default=b"", repr=False, compare=False)  # the bytes as read (to undo a write)
    real_path: Path | None = None  # where the bytes came from (links resolved); writes go there


def content_sha256(data: bytes) -> str:
    """A file's identity as the run store records it (before and after each write): the SHA-256
    of its bytes, as hex. Every hash of a source file's content is made here, so that the store,
    the engine, repair, undo and the witness can compare them."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """`content_sha256` of a file, read in chunks."""
    with open(path, "rb") as handle:
        return _sha256_of(handle)


def read_source(path: Path) -> SourceFile:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
            status = os.fstat(handle.fileno())
        real_path = Path(os.path.realpath(path))
        now = os.stat(real_path)
    except OSError as exc:
        raise SourceFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if (now.st_dev, now.st_ino) != (status.st_dev, status.st_ino):
        # A link or the file was swapped while we read it: `real_path` would not be what we read.
        raise SourceFileError(f"{path} was replaced while it was being read")
    mode = stat.S_IMODE(status.st_mode)
    _check_not_binary(raw, path)
    text, encoding, has_bom = _decode(raw)
    newline, mixed = _newline_style(text)
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    return SourceFile(
        path=path,
        text=normalised,
        encoding=encoding,
        newline=newline,
        has_bom=has_bom,
        mode=mode,
        sha256=content_sha256(raw),
        mixed_newlines=mixed,
        line_ends=_line_ends(text) if mixed else (),
        raw=raw,
        real_path=real_path,
    )


def check_inside(source: SourceFile, tree: Path) -> None:
    """SourceFileError if the file was read from outside `tree` (through a link swapped in after
    the analysis was loaded): its content must not be sent anywhere, nor edits written back."""
    try:
        resolve_inside(tree, source.real_path or source.path)
    except OutsideTreeError as exc:
        raise SourceFileError(str(exc)) from None


def write_problem(source: SourceFile) -> str | None:
    """Why no fix of the file `source` was read from could be written (None: it can be): the file
    has no write permission bit (`write_source_bytes` refuses it), or its folder cannot be written
    (a read-only mount, another user's folder: the new content goes into a file there). Asked before
    the file is sent, so no model is paid for a fix that cannot land; the write checks again."""
    if _read_only(source.mode):
        return f"{source.path} is read-only"
    return folder_problem((source.real_path or source.path).parent)


def not_sent_reason(problem: str) -> str:
    """The reason of an incident failed because its file cannot be written. Nothing was asked, so
    the next run plans it again (store/history.py), without --retry-failed."""
    return f"not sent: {problem}, so no fix could be written to it"


def _read_only(mode: int) -> bool:
    return not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def read_text(path: Path) -> str:
    """The file's text as `read_source` reads it, without what writing it back takes (hash, real
    path, permissions): for sizing requests, which reads every file of the run once."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    _check_not_binary(raw, path)
    return decode_text(raw)


_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16's: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _check_not_binary(raw: bytes, path: Path) -> None:
    if b"\x00" in raw:
        wide = next((name for bom, name in _WIDE_BOMS if raw.startswith(bom)), None)
        if wide is not None:
            raise SourceFileError(f"{path} is {wide} text; only UTF-8 and single-byte encodings are edited")
        raise SourceFileError(f"{path} looks binary (contains NUL bytes)")


def decode_text(raw: bytes) -> str:
    """The text of a file's bytes as `read_source` reads it ("\n" newlines, no BOM)."""
    return _decode(raw)[0].replace("\r\n", "\n").replace("\r", "\n")


def _decode(raw: bytes) -> tuple[str, str, bool]:
    has_bom = raw.startswith(codecs.BOM_UTF8)
    try:
        return raw[len(codecs.BOM_UTF8) if has_bom else 0 :].decode("utf-8"), "utf-8", has_bom
    except UnicodeDecodeError:
        pass
    # Not utf-8: a BOM-like prefix is then just three cp1252 characters, kept as text so that writing
    # back reproduces the bytes.
    try:
        return raw.decode("cp1252"), "cp1252", False
    except UnicodeDecodeError:  # cp1252 leaves 5 bytes undefined; latin-1 maps every byte
        return raw.decode("latin-1"), "latin-1", False


def _newline_style(text: str) -> tuple[str, bool]:
    crlf = text.count("\r\n")
    lone_cr = text.count("\r") - crlf
    lone_lf = text.count("\n") - crlf
    counts = {"\n": lone_lf, "\r\n": crlf, "\r": lone_cr}
    # On a tie "\n" wins (dict order), then "\r\n"; a file without newlines gets "\n".
    dominant = max(counts, key=lambda style: counts[style])
    mixed = sum(1 for count in counts.values() if count) > 1
    return dominant, mixed


_NEWLINE = re.compile(r"\r\n|\r|\n")  # "\r\n" first: one newline, not two


def _line_ends(text: str) -> tuple[str, ...]:
    """The newline ending each line of `text` (as read, newlines not yet normalised), in order."""
    return tuple(_NEWLINE.findall(text))


def _with_own_line_ends(original: SourceFile, text: str) -> str:
    """`text` ("\n" newlines) with the newlines of a mixed-style `original` (see the module
    docstring): what it keeps of the file is byte-for-byte what was there."""
    ends = original.line_ends
    old, new = original.text.split("\n"), text.split("\n")
    stands_for: list[int] = []  # the old line whose newline each new line (but the last) takes
    for tag, i1, i2, j1, j2 in LineMatcher(old, new).get_opcodes():
        for j in range(j1, j2):
            if tag in ("equal", "replace"):
                stands_for.append(i1 + min(j - j1, i2 - i1 - 1))
            else:  # inserted: the line above's, or the first line's at the top
                stands_for.append(max(i1 - 1, 0))
    pieces: list[str] = []
    for number, line in enumerate(new[:-1]):
        old_number = stands_for[number]
        pieces += (line, ends[old_number] if old_number < len(ends) else original.newline)
    pieces.append(new[-1])
    return "".join(pieces)


def encode_text(original: SourceFile, new_text: str) -> bytes:
    """The bytes `new_text` becomes in `original`'s form; SourceFileError if it cannot be encoded."""
    text = new_text.replace("\r\n", "\n").replace("\r", "\n")
    if original.line_ends:
        text = _with_own_line_ends(original, text)
    elif original.newline != "\n":
        text = text.replace("\n", original.newline)
    try:
        data = text.encode(original.encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        line = len(_line_ends(exc.object[: exc.start])) + 1
        raise SourceFileError(
            f"{original.path}: {bad!r} (line {line}) cannot be written in {original.encoding}"
        ) from None
    return (codecs.BOM_UTF8 + data) if original.has_bom else data


def write_source_atomic(original: SourceFile, new_text: str, *, tree: Path | None = None) -> str:
    """Write `new_text` in `original`'s encoding, BOM, newline style and mode; return its sha256.

    Raises what `write_source_bytes` raises.
    """
    # Encoded before touching the disk: unencodable text is refused early.
    return write_source_bytes(original, encode_text(original, new_text), tree=tree)


def write_source_bytes(original: SourceFile, data: bytes, *, tree: Path | None = None) -> str:
    """Replace the file `original` was read from with exactly `data` (keeping its mode), atomically and
    only if it still holds what was read; return the new sha256.

    The file written is the one that was read (`original.real_path`), reached from `tree` (default:
    its own folder) without following any link. Raises StaleFileError, without writing, if the file
    on disk no longer has `original.sha256`, and SourceFileError if it is now a link or its real
    path left the tree since it was read.
    """
    real = original.real_path or Path(os.path.realpath(original.path))
    root = Path(os.path.realpath(tree)) if tree is not None else real.parent
    if not real.is_relative_to(root) or real == root:
        raise SourceFileError(f"{original.path} leads outside {tree} (through a symbolic link); not written")

    def check_and_keep_mode(staged: Staged) -> None:
        _chmod(staged.temp_fd, staged.temp_path, original.mode)
        killpoint("write-tmp")  # crash tests only: a kill here leaves the temp file behind
        # Checked as late as possible: the window left before os.replace is microseconds, where a
        # blind write would lose whatever happened since the file was read (seconds to minutes).
        # The target is opened through the folder's handle, never through a link.
        fd = staged.open_target()
        if fd is None:
            raise StaleFileError(f"{original.path} was deleted after it was read")
        with os.fdopen(fd, "rb") as handle:
            status = os.fstat(handle.fileno())
            current = _sha256_of(handle)
            _copy_extended_attributes(handle.fileno(), staged.temp_fd)
        if _read_only(status.st_mode):
            # os.replace would ignore the missing write bits; someone made this file read-only.
            raise SourceFileError(f"{original.path} is read-only; not overwritten")
        _copy_owner(status, staged.temp_fd)
        if current != original.sha256:
            raise StaleFileError(f"{original.path} changed on disk after it was read; not overwritten")

    try:
        write_atomic(real, data, make_parents=False, before_replace=check_and_keep_mode, root=root)
    except OutsideTreeError as exc:
        raise SourceFileError(f"{original.path}: {exc}; not written") from None
    except OSError as exc:
        raise SourceFileError(f"cannot write {original.path}: {exc.strerror or exc}") from None
    return content_sha256(data)


def _sha256_of(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _chmod(fd: int, path: Path, mode: int) -> None:
    if os.chmod in os.supports_fd:
        os.chmod(fd, mode)
    else:  # Windows: no fchmod
        os.chmod(path, mode)


def _copy_extended_attributes(source_fd: int, temp_fd: int) -> None:
    """The file's extended attributes (`user.*` notes, POSIX ACLs, security labels) onto the file
    that replaces it, which starts without any: best effort, as the owner (some need privileges)."""
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(source_fd)
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            os.setxattr(temp_fd, name, os.getxattr(source_fd, name))


def _copy_owner(status: os.stat_result, temp_fd: int) -> None:
    """Keep the file's owner and group when we may (root, or a group we belong to): best effort."""
    if not hasattr(os, "fchown"):
        return
    tmp_status = os.fstat(temp_fd)
    if (tmp_status.st_uid, tmp_status.st_gid) != (status.st_uid, status.st_gid):
        with contextlib.suppress(OSError):
            os.fchown(temp_fd, status.st_uid, status.st_gid)
