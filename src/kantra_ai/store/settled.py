"""Is an incident the store calls fixed still fixed in the file? (Incremental runs ask before skipping.)

A user who restored the original files (`git checkout .`, `git stash`) and runs again expects the
fixes to be made again, not "skipping 24 incidents settled by earlier runs". For every selected
incident the store records as fixed, the file as it is now is compared with what kantra-ai wrote:

1. the file has exactly the content it had before the write that fixed the incident: restored,
   the fix is gone;
2. the file has exactly the content of kantra-ai's last write to it: the fix is there;
3. otherwise the file changed since (the user edited it): the fix is there when every replacement
   text of the edits made for the incident is still in the file (whitespace-insensitive: the
   user's formatter may have re-indented it); when no edit was recorded for it, it is kept as
   fixed: nothing shows it is gone.

A missing file counts as restored. Incidents found unfixed are planned again like new ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kantra_ai.analysis.model import Incident
from kantra_ai.edits.files import content_sha256
from kantra_ai.redact import redact
from kantra_ai.store.run_store import RunStore

_READERS = 8


@dataclass
class _FileHistory:
    last_after: str = ""  # the content hash of kantra-ai's last write to the file
    before_fix: dict[str, str] = field(default_factory=dict)  # incident -> hash before the write fixing it
    replacements: dict[str, list[str]] = field(default_factory=dict)  # incident -> new texts of its edits


def _histories(store: RunStore, paths: set[str]) -> dict[str, _FileHistory]:
    found: dict[str, _FileHistory] = {}
    rows = store.query(
        "SELECT path, before_sha, after_sha, outcomes, edits FROM writes WHERE tree=? AND state='written'"
        " ORDER BY id",
        (store.tree,),
    )
    for path, before_sha, after_sha, outcomes, edits in rows:
        if str(path) not in paths:
            continue
        history = found.setdefault(str(path), _FileHistory())
        history.last_after = str(after_sha)
        for outcome in json.loads(str(outcomes)):
            if outcome.get("status") == "fixed":
                history.before_fix[str(outcome["id"])] = str(before_sha)
        for edit in json.loads(str(edits or "[]")):
            text = str(edit.get("new_text") or "")
            for incident_id in edit.get("incident_ids") or ():
                if text.strip():
                    history.replacements.setdefault(str(incident_id), []).append(text)
    return found


def _flat(text: str) -> str:
    return " ".join(text.split())


def _current(path: Path) -> tuple[str, str] | None:
    """(sha256, text) of the file now, or None when it is gone or unreadable."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    return content_sha256(raw), raw.decode("utf-8", errors="replace")


def no_longer_fixed(store: RunStore, input_dir: Path, fixed: Iterable[Incident]) -> set[str]:
    """The ids among `fixed` (incidents the store records as fixed) whose fix is not in the file."""
    return fixes_gone(store, input_dir, ((i.id, str(i.path)) for i in fixed if i.path is not None))


def fixes_gone(store: RunStore, input_dir: Path, fixed: Iterable[tuple[str, str]]) -> set[str]:
    """The same for (incident id, path) pairs: what `status` asks of every fix the store records."""
    by_path: dict[str, list[str]] = {}
    for incident_id, path in fixed:
        by_path.setdefault(path, []).append(incident_id)
    if not by_path:
        return set()
    histories = _histories(store, set(by_path))
    paths = sorted(by_path)
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        contents = dict(zip(paths, pool.map(lambda p: _current(input_dir / p), paths), strict=True))
    gone: set[str] = set()
    for path, incident_ids in by_path.items():
        history = histories.get(path)
        now = contents[path]
        for incident_id in incident_ids:
            if history is None:
                continue  # fixed, but by no write the store knows of (an older store): trust it
            if now is None or not _still_fixed(incident_id, history, *now):
                gone.add(incident_id)
    return gone


def _still_fixed(incident_id: str, history: _FileHistory, sha: str, text: str) -> bool:
    if history.before_fix.get(incident_id) == sha:
        return False  # exactly as it was before the fix: restored
    if sha == history.last_after:
        return True  # exactly as kantra-ai left it
    replacements = history.replacements.get(incident_id)
    if not replacements:
        return True  # changed since, and no edit to look for: nothing shows the fix is gone
    flat = _flat(text)
    masked: str | None = None
    for new in replacements:
        wanted = _flat(new)
        if wanted in flat:
            continue
        # The store keeps edits as it keeps every text, through the redaction layer: a fix that
        # wrote something credential-shaped is recorded masked, and found in the file masked alike.
        if masked is None:
            masked = _flat(redact(text))
        if wanted not in masked:
            return False
    return True
