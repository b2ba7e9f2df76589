"""Undo exactly what kantra-ai wrote: a revert after a failed verification, `kantra-ai undo`, a file
rejected in the review.

Every write is recorded with the file's bytes before and after (content by hash, `blobs`). To undo
some writes of a file:

- the file must still be what kantra-ai last wrote to it (its hash is the last write's after-hash);
  a file someone changed since is never touched, whatever the request;
- if the writes to undo are the file's last ones and follow each other (each started from what the
  previous one left), the file gets back the bytes it had before the first of them;
- otherwise (later writes of ours built on them, or a gap in the chain) each write to undo is taken
  out of the current content by a three-way merge (`git merge-file`, the same merge `git revert`
  does), newest first; if the changes overlap, the file is left alone and the reason given.

Undoing is itself a write, recorded like any other (intent first, then the file, then the result),
so a kill at any moment is settled by recovery; once it happened, the undone writes are marked with
the revert that undid them. It never runs `git reset`, `git checkout` or `git clean`.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kantra_ai.edits.files import (
    SourceFileError,
    StaleFileError,
    content_sha256,
    read_source,
    write_source_bytes,
)
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.scratch import scratch_folder
from kantra_ai.store.codec import Decided, outcomes_from_json
from kantra_ai.store.run_store import RunStore


@dataclass(frozen=True)
class RecordedWrite:
    id: int
    run_id: int
    path: str
    before_sha: str
    after_sha: str
    fixed: tuple[str, ...]  # the incidents the write fixed


@dataclass
class RevertResult:
    reverted: dict[str, list[int]] = field(default_factory=dict)  # path -> the writes undone
    refused: dict[str, str] = field(default_factory=dict)  # path -> why it was left alone

    @property
    def undone_writes(self) -> list[int]:
        return sorted(w for ids in self.reverted.values() for w in ids)


def live_writes(
    store: RunStore, *, run_id: int | None = None, path: str | None = None
) -> list[RecordedWrite]:
    """Writes that happened and are not undone (fixes and their repairs), oldest first; by run
    and/or path if given."""
    sql = (
        "SELECT id, run_id, path, before_sha, after_sha, outcomes FROM writes"
        " WHERE tree=? AND state='written' AND kind IN ('fix', 'repair') AND reverted_by IS NULL"
    )
    params: list[object] = [store.tree]
    if run_id is not None:
        sql += " AND run_id=?"
        params.append(run_id)
    if path is not None:
        sql += " AND path=?"
        params.append(path)
    rows = store.query(sql + " ORDER BY id", params)
    return [
        RecordedWrite(
            int(r[0]),
            int(r[1]),
            str(r[2]),
            str(r[3]),
            str(r[4]),
            tuple(
                d.outcome.incident_id
                for d in outcomes_from_json(str(r[5]))
                if d.outcome.status is Status.FIXED
            ),
        )
        for r in rows
    ]


def revert_writes(
    store: RunStore,
    input_dir: Path,
    write_ids: Iterable[int],
    *,
    run_id: int,
    status: Status,
    reason: str,
    answered: bool = False,
) -> RevertResult:
    """Undo the given writes (recorded as writes of run `run_id`); see the module docstring. The
    incidents they fixed get `status` and `reason` once the file is reverted (`skipped` for
    `undo`: the next run does them again; `failed` for a verification that kept failing).
    `answered`: count them as answered by a model, so that only `--retry-failed` asks again (a fix
    a person rejected in the review).

    Call with the tree lock held. Files are handled one by one: a refusal for one leaves the others.
    """
    wanted = set(write_ids)
    result = RevertResult()
    by_path: dict[str, list[RecordedWrite]] = {}
    for write in live_writes(store):
        if write.id in wanted:
            by_path.setdefault(write.path, []).append(write)
    for path, chosen in sorted(by_path.items()):
        decided = [
            Decided(IncidentOutcome(incident_id, status, reason), answered)
            for write in chosen
            for incident_id in write.fixed
        ]
        refusal = _revert_file(store, input_dir, path, chosen, run_id, decided)
        if refusal:
            result.refused[path] = refusal
        else:
            result.reverted[path] = [w.id for w in chosen]
    return result


def _revert_file(
    store: RunStore,
    input_dir: Path,
    path: str,
    chosen: list[RecordedWrite],
    run_id: int,
    decided: list[Decided],
) -> str:
    """ "" when the file was reverted, else the reason it was left alone."""
    try:
        current = read_source(input_dir / path)
    except (OSError, SourceFileError) as exc:
        return f"cannot read it: {exc}"
    target = content_without(store, path, current.sha256, current.raw, chosen)
    if isinstance(target, str):
        return target
    ids = {w.id for w in chosen}
    after_sha = content_sha256(target)
    write_id = store.write_intent(
        run_id,
        path,
        current.sha256,
        after_sha,
        decided,
        [],
        contents=(current.raw, target),
        kind="revert",
        reverts=sorted(ids),
    )
    try:
        write_source_bytes(current, target, tree=input_dir)  # a file of the tree, through no link
    except StaleFileError:
        store.finish_batch(run_id, [], [], write_id, None)
        return "changed on disk while it was being reverted; left as it is"
    except SourceFileError as exc:
        store.finish_batch(run_id, [], [], write_id, None)
        return str(exc)
    store.finish_batch(run_id, decided, [], write_id, [])
    return ""


def content_without(
    store: RunStore, path: str, current_sha: str, current: bytes, chosen: list[RecordedWrite]
) -> bytes | str:
    """The file's bytes with the `chosen` writes (of `path`) taken out, or why that cannot be done:
    the file must still be what kantra-ai last wrote; see the module docstring. Writes nothing."""
    history = live_writes(store, path=path)
    everything = _all_written(store, path)
    if not everything or current_sha != everything[-1]:
        return "changed since kantra-ai wrote it; left as it is"
    ids = {w.id for w in chosen}
    first = next(i for i, w in enumerate(history) if w.id in ids)
    tail = history[first:]
    chained = all(b.before_sha == a.after_sha for a, b in itertools.pairwise(tail))
    if all(w.id in ids for w in tail) and chained and tail[-1].after_sha == current_sha:
        target = store.content(tail[0].before_sha)
        if target is None:
            return "its content before the write was not recorded (written by an older version)"
        return target
    return _merged(store, current, chosen)


def _all_written(store: RunStore, path: str) -> list[str]:
    """The after-hash of every write of the file that happened (ours, reverts included), in order."""
    rows = store.query(
        "SELECT after_sha FROM writes WHERE tree=? AND path=? AND state='written' ORDER BY id",
        (store.tree, path),
    )
    return [str(r[0]) for r in rows]


def _merged(store: RunStore, content: bytes, chosen: list[RecordedWrite]) -> bytes | str:
    """`content` with each chosen write taken out (newest first), or why that cannot be done."""
    if shutil.which("git") is None:
        return "later writes built on this one and git (for the three-way merge) is not installed"
    for write in reversed(chosen):
        before, after = store.content(write.before_sha), store.content(write.after_sha)
        if before is None or after is None:
            return "its content was not recorded (written by an older version)"
        # The change written -> original (the write undone), applied onto the current content.
        merged = merge_file(content, after, before)
        if merged is None:
            return "later changes overlap the ones to undo; left as it is"
        content = merged
    return content


def merge_file(current: bytes, base: bytes, other: bytes) -> bytes | None:
    """`current` with the change `base` -> `other` applied by a three-way merge (`git merge-file`,
    the merge `git revert` and `git cherry-pick` do); None when the changes overlap or touch (git
    counts adjacent changes as a conflict) or git is not installed."""
    if current == base:
        return other
    if other == base:
        return current
    git = shutil.which("git")
    if git is None:
        return None
    with scratch_folder("merge") as tmp:
        files = {name: tmp / name for name in ("current", "base", "other")}
        for name, data in (("current", current), ("base", base), ("other", other)):
            files[name].write_bytes(data)
        # merge-file CURRENT BASE OTHER; exit status > 0 counts conflicts.
        done = subprocess.run(
            [git, "merge-file", "-p", "--quiet", *(str(f) for f in files.values())],
            capture_output=True,
            check=False,
        )
    return done.stdout if done.returncode == 0 else None
