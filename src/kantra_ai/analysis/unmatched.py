"""The `unmatched` and `skipped` lists of an analysis, blanked while the file is read.

They list every rule id that did not fire: most of a real file, and of no use here. They are
blanked (each of their lines made empty, not removed, so YAML error line numbers stay true) as the
parser reads the file, so that neither the file nor a blanked copy of it is ever whole in memory
(25 MB each for 100,000 incidents). Only the layout every Go YAML emitter writes is touched: a
ruleset key at column 2 of a top-level sequence, its items at column 2 ("  - id") or deeper, blank
and comment lines among them. Anything else is read as it is.
"""

from __future__ import annotations

import io
import re
from typing import BinaryIO

# The key line that opens a block, and the lines of one (items and deeper lines; blanks, comments).
_KEY = re.compile(rb"^  (?:unmatched|skipped):[ \t]*\r?\n", re.MULTILINE)
_IN_BLOCK = (b"  - ", b"   ")
_BLANK = re.compile(rb"[ \t]*(?:#[^\n]*)?\r?\n")
_BOM = b"\xef\xbb\xbf"
_DOCUMENT_START = re.compile(rb"---[ \t]*\r?\n")
_CHUNK = 1 << 16


class BlankedStream:
    """A binary stream of `source` with its ignored blocks blanked, read as a parser reads: `read`
    a chunk at a time. The blocks are blanked only when the document is a top-level sequence (the
    analyzer's list of rulesets): blank or comment lines, at most a `---` line, then `- `."""

    def __init__(self, source: BinaryIO, chunk: int = _CHUNK) -> None:
        self._source = source
        self._chunk = chunk
        self._out = bytearray()
        self._blanking = False
        self._done = False
        # The start of a line whose end has not been read yet: at first, the lines `_head` read.
        self._carry, self._active = self._head()

    def _head(self) -> tuple[bytes, bool]:
        """The lines up to the one that says whether the document is a top-level sequence, and
        whether it is."""
        lines: list[bytes] = []
        while True:
            line = self._source.readline()
            lines.append(line)
            if len(lines) == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            if not line or not _BLANK.fullmatch(line):
                if _DOCUMENT_START.fullmatch(line):
                    line = self._source.readline()
                    lines.append(line)
                return b"".join(lines), line.startswith(b"- ")

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._out) < size):
            self._fill()
        if size < 0 or size >= len(self._out):
            taken = bytes(self._out)
            self._out.clear()
            return taken
        taken = bytes(self._out[:size])
        del self._out[:size]
        return taken

    def _fill(self) -> None:
        chunk = self._source.read(self._chunk)
        data = self._carry + chunk
        if not chunk:
            self._done = True
            self._carry = b""
            self._lines(data)  # the last line, without a line break (or nothing)
            return
        cut = data.rfind(b"\n") + 1
        self._carry = data[cut:]
        self._lines(data[:cut])

    def _lines(self, data: bytes) -> None:
        """Whole lines (the last one may lack its line break only at the end of the file)."""
        if not self._active:
            self._out += data
            return
        out = self._out
        pos, end = 0, len(data)
        while pos < end:
            if self._blanking:
                line_end = data.find(b"\n", pos) + 1 or end
                if data.startswith(_IN_BLOCK, pos):
                    out += b"\n" if data[line_end - 1 : line_end] == b"\n" else b""
                    pos = line_end
                    continue
                if _BLANK.fullmatch(data, pos, line_end):
                    out += b"\n"
                    pos = line_end
                    continue
                self._blanking = False
            key = _KEY.search(data, pos)
            if key is None:
                out += data[pos:] if pos else data
                return
            out += data[pos : key.start()]
            out += b"\n"
            pos = key.end()
            self._blanking = True


def blank_ignored_blocks(data: bytes) -> bytes:
    """`data` with its ignored blocks blanked (`BlankedStream` over the whole text at once)."""
    return BlankedStream(io.BytesIO(data)).read()
