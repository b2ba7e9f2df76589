"""What an edit's texts mean in lines: the conventions `apply.py` and `integrity.py` share.

Edits are about lines. A model writes `old_text` and `new_text` by hand, and what it cannot mean
literally is normalised here, the same way for applying an edit and for checking the result:

- newlines: "\\r\\n" and "\\r" are "\\n" (file content is matched with "\\n"; `files.py` restores the
  file's own endings on write);
- the line breaks at the edges of `new_text` follow `old_text`'s: `old_text` "x;\\n" with `new_text`
  "y;" means the line becomes "y;", not "y;" glued to the next line; `old_text` "x;" with `new_text`
  "y;\\n" means the same, not an extra line break. Where both texts have breaks at an edge, the
  difference is deliberate (a blank line added or removed) and kept;
- spaces or tabs after a text's last line break are the next line's indentation, copied by accident;
- a blank `new_text` deletes what `old_text` names: whole lines when it names whole lines.

After that, a text is a list of lines: the one break it starts with (if any) ends the line before it,
the one it ends with (if any) ends its last line; both are structure, not lines.
"""

from __future__ import annotations

import re

_NEXT_LINE_INDENT = re.compile(r"\n[ \t]+\Z")


def unify_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def is_blank(text: str) -> bool:
    return not text.strip()


def _breaks(text: str) -> tuple[int, int]:
    """How many line breaks `text` starts and ends with."""
    return len(text) - len(text.lstrip("\n")), len(text) - len(text.rstrip("\n"))


def normalise_pair(old_text: str, new_text: str) -> tuple[str, str]:
    """Both texts with "\\n" newlines, and `new_text`'s edge line breaks agreeing with `old_text`'s."""
    old = _NEXT_LINE_INDENT.sub("\n", unify_newlines(old_text))
    new = _NEXT_LINE_INDENT.sub("\n", unify_newlines(new_text))
    if is_blank(new):
        return old, ""
    old_lead, old_trail = _breaks(old)
    new_lead, new_trail = _breaks(new)
    if old_lead and not new_lead:
        new = "\n" * old_lead + new
    elif new_lead and not old_lead:
        new = new.lstrip("\n")
    if old_trail and not new_trail:
        new = new + "\n" * old_trail
    elif new_trail and not old_trail:
        new = new.rstrip("\n")
    return old, new


def text_lines(text: str, *, lead: bool, trail: bool) -> list[str]:
    """The lines `text` names: without the break that ends the line before it (`lead`) and the one
    that ends its own last line (`trail`). A blank text names no lines."""
    if is_blank(text):
        return []
    body = text[1:] if lead and text.startswith("\n") else text
    if trail and body.endswith("\n"):
        body = body[:-1]
    return body.split("\n")


def edit_line_counts(old_text: str, new_text: str) -> tuple[int, int]:
    """How many lines the edit names and how many it puts in their place."""
    old, new = normalise_pair(old_text, new_text)
    lead, trail = old.startswith("\n"), old.endswith("\n")
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
