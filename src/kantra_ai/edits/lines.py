"""What an edit's texts mean in lines: the conventions `apply.py` and `integrity.py` share.

Edits are about lines. A model writes `old_text` and `new_text` by hand, and what it cannot mean
literally is normalised here, the same way for applying an edit and for checking the result:

- newlines: "\\r\\n" and "\\r" are "\\n" (file content is matched with "\\n"; `files.py` restores the
  file's own endings on write);
- the line breaks at the edges of `new_text` follow `old_text`'s: `old_text` "x;\\n" with `new_text`
  "y;" means the line becomes "y;", not "y;" glued to the next line; `old_text` "x;" with `new_text`
  "y;\\n" means the same, not an extra line break. Where both texts have breaks at an edge, the
  difference is deliberate (a blank line added or removed) and kept; and where only `new_text` has
  them but reading them as blank lines lines it up better with `old_text` (a blank context line
  after a deleted one: `old_text` "x;\\n\\ny;\\n", `new_text` "\\ny;\\n"), they are blank lines;
  and where `new_text` starts with a whitespace-only line that `old_text` has as its first line
  after the break it starts with (`old_text` "\\n\\t\\nx;", `new_text` "\\t\\ny;"), that line is a
  line, and `new_text` left out the break: read as a break, the line would be lost;
- spaces or tabs after a text's last line break are the next line's indentation, copied by accident;
- a blank `new_text` deletes what `old_text` names (whole lines when it names whole lines), unless it
  is blank lines that `old_text` ends or starts with, kept.

After that, a text is a list of lines: the one break it starts with (if any) ends the line before it,
the one it ends with (if any) ends its last line; both are structure, not lines.
"""

from __future__ import annotations

import difflib
import re

_NEXT_LINE_INDENT = re.compile(r"\n[ \t]+\Z")
# Line breaks at the edges, with only spaces or tabs around them (trailing whitespace copied too).
_LEADING_BREAKS = re.compile(r"\A(?:[ \t]*\n)+")
_TRAILING_BREAKS = re.compile(r"(?:\n[ \t]*)+\Z")
_LEAD_BREAK = re.compile(r"\A[ \t]*\n")
_TRAIL_BREAK = re.compile(r"\n[ \t]*\Z")


def unify_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def is_blank(text: str) -> bool:
    return not text.strip()


def _breaks(text: str) -> tuple[int, int]:
    """How many line breaks `text` starts and ends with."""
    lead, trail = _LEADING_BREAKS.match(text), _TRAILING_BREAKS.search(text)
    return (lead.group().count("\n") if lead else 0), (trail.group().count("\n") if trail else 0)


def edge_break_chars(text: str) -> tuple[int, int]:
    """How many characters the break that ends the line before `text` takes at its start (0: none),
    and the break that ends its last line at its end."""
    lead, trail = _LEAD_BREAK.match(text), _TRAIL_BREAK.search(text)
    return (lead.end() if lead else 0), (len(text) - trail.start() if trail else 0)


def normalise_pair(old_text: str, new_text: str) -> tuple[str, str]:
    """Both texts with "\\n" newlines, and `new_text`'s edge line breaks agreeing with `old_text`'s."""
    old = _NEXT_LINE_INDENT.sub("\n", unify_newlines(old_text))
    new = _NEXT_LINE_INDENT.sub("\n", unify_newlines(new_text))
    if is_blank(new):
        # Nothing but blank lines: the blank lines old_text ends (or starts) with, kept as context
        # ("x;\\n\\n" -> "\\n" deletes x only), or else nothing at all.
        return old, new if "\n" in new and _shared(old, new) else ""
    old_lead, old_trail = _breaks(old)
    new_lead, new_trail = _breaks(new)
    if old_lead and not new_lead:
        new = "\n" * old_lead + new
    elif new_lead and not old_lead:
        new = _better_aligned(old, new, _LEADING_BREAKS.sub("", new))
    elif old_lead and _lead_is_old_first_line(old, new):
        new = old[: edge_break_chars(old)[0]] + new
    if old_trail and not new_trail:
        new = new + "\n" * old_trail
    elif new_trail and not old_trail:
        new = _better_aligned(old, new, _TRAILING_BREAKS.sub("", new))
    return old, new


def _lead_is_old_first_line(old: str, new: str) -> bool:
    """Whether what would be read as `new`'s leading break ("\\t\\n") is, in `old`, not its break but
    the whitespace-only line after it: `new` then starts with that line and left out the break."""
    old_break, new_break = edge_break_chars(old)[0], edge_break_chars(new)[0]
    if not old_break or not new_break or old[:old_break] == new[:new_break]:
        return False
    return old[old_break : old_break + new_break] == new[:new_break]


def _better_aligned(old: str, as_written: str, normalised: str) -> str:
    """`normalised`, unless `as_written` (its edge breaks read as blank lines) shares more lines with
    `old`: then those blank lines are lines the edit keeps."""
    return as_written if _shared(old, as_written) > _shared(old, normalised) else normalised


def _shared(old: str, new: str) -> int:
    """How many lines `new` keeps of `old` (compared stripped), read with old's edge breaks."""
    lead, trail = (chars > 0 for chars in edge_break_chars(old))
    old_lines = [line.strip() for line in text_lines(old, lead=lead, trail=trail)]
    new_lines = [line.strip() for line in text_lines(new, lead=lead, trail=trail)]
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def text_lines(text: str, *, lead: bool, trail: bool) -> list[str]:
    """The lines `text` names: without the break that ends the line before it (`lead`) and the one
    that ends its own last line (`trail`). The empty text names no lines."""
    if not text:
        return []
    body = text
    if lead:
        body = body[edge_break_chars(body)[0] :]
    if trail:
        body = body[: len(body) - edge_break_chars(body)[1]]
    return body.split("\n")


def edit_line_counts(old_text: str, new_text: str) -> tuple[int, int]:
    """How many lines the edit names and how many it puts in their place."""
    old, new = normalise_pair(old_text, new_text)
    lead, trail = (chars > 0 for chars in edge_break_chars(old))
    return len(text_lines(old, lead=lead, trail=trail)), len(text_lines(new, lead=lead, trail=trail))


def split_content(content: str) -> tuple[list[str], bool]:
    """The content's lines and whether it ends with a newline (the empty string after it is no line)."""
    if not content:
        return [], False
    lines = content.split("\n")
    final_newline = lines[-1] == ""
    if final_newline:
        lines.pop()
    return lines, final_newline


def join_content(lines: list[str], final_newline: bool) -> str:
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if final_newline else "")
