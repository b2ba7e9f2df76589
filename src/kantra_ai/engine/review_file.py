"""The manual-review file: low-confidence fixes that were not applied, for a person to apply later.

A YAML document `{version: 1, entries: [...]}`; each entry is one group of withheld edits with the
incidents they were for (confidence, threshold, the model's explanation) and the edits themselves
(`old` must occur once in the file; replace it with `new`). Appending is a read-modify-write of the
whole document under one lock (`filelock`, next to the file: it serializes this run's batches and
other processes alike, on every OS), written atomically (`_fs.write_atomic`): a reader never sees
half a file and a crash never loses earlier entries.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from kantra_ai._fs import make_dirs, write_atomic
from kantra_ai.redact import redact

REVIEW_VERSION = 1
_HEADER = (
    "# kantra-ai manual review: fixes the model proposed with a confidence below the threshold.\n"
    "# They were NOT applied. For each entry, check the edits and apply them by hand: replace `old`\n"
    "# (which occurs exactly once in the file) with `new`.\n"
)


class ReviewFileError(Exception):
    pass


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so code reads as code."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data and not data.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def _lock(path: Path) -> FileLock:
    # A fresh FileLock per append: each holds the OS lock on its own handle, so two threads of this
    # run exclude each other exactly as two processes do.
    return FileLock(path.with_name(path.name + ".lock"), thread_local=True)


def read_review_file(path: Path) -> list[dict[str, Any]]:
    """The entries of a review file; [] when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ReviewFileError(f"cannot read {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ReviewFileError(
            f"{path} is not valid YAML; not overwritten ({exc.__class__.__name__})"
        ) from exc
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise ReviewFileError(f"{path} is not a kantra-ai review file; not overwritten")
    return list(data["entries"])


def append_review_entries(path: Path, entries: Sequence[dict[str, Any]], *, root: Path | None = None) -> None:
    """Add entries to the review file atomically; raises ReviewFileError (one line) on failure.

    `root`: the tree the file belongs to (the default INPUT/.kantra-ai/manual-review.yaml), written
    as a file of it, through no symbolic link (`_fs.write_atomic`)."""
    if not entries:
        return
    path = Path(os.path.abspath(path)) if root is not None else path.resolve()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        make_dirs(path.parent, root=root)
        with _lock(path):
            existing = read_review_file(path)
            document = {
                "version": REVIEW_VERSION,
                "entries": existing + [{**entry, "recorded_at": stamp} for entry in entries],
            }
            text = _HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
            write_atomic(path, redact(text), root=root)  # redacted: no secret leaves the process
    except OSError as exc:
        raise ReviewFileError(f"cannot write {path}: {exc}") from exc
