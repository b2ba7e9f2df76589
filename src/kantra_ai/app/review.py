"""The review of what runs changed in a tree, file by file: browse (paged, filtered), accept, reject.

Browsing reads the run store without the tree lock (a run may be working meanwhile). Rejecting a
file takes back exactly the fixes kantra-ai wrote to it (`store/revert.py`, as `kantra-ai undo` does,
for one file across every run that wrote it): under the tree lock, recorded as a run of its own,
refused when the file changed since we wrote it. Its incidents become failed ("rejected in the
review") as if a model had answered them badly: a later run asks again only with --retry-failed.
Accepting records that a person approved the file's content as it is now; a later write reopens it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kantra_ai.app.prepare import check_input_dir
from kantra_ai.app.undo import revert_as_run
from kantra_ai.edits.files import SourceFileError, check_inside, read_source
from kantra_ai.engine.outcomes import Status
from kantra_ai.errors import UserError
from kantra_ai.report.job import diff_hunks
from kantra_ai.store.history import HistoryOptions
from kantra_ai.store.revert import live_writes
from kantra_ai.store.review import (
    ACCEPTED,
    REJECTED,
    FileDetail,
    FilePage,
    FileQuery,
    IncidentRow,
    file_detail,
    list_files,
    record_decision,
)
from kantra_ai.store.run_store import RunStore
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import RunSession, default_store_path, open_store
from kantra_ai.verify.loop import describe

REJECT_REASON = "rejected in the review: the fix was taken back"


@dataclass
class FileReview:
    detail: FileDetail
    diff: list[tuple[str, str]]  # (kind, line) rows from the content before our first write to now
    changed_outside: bool  # the file on disk is not what our last write left
    readable: bool

    def verification(self, row: IncidentRow) -> str:
        """What the incident's check decided, worded as the summary and the report word it."""
        state, rounds, detail = row.verification
        return describe(state, rounds, detail) if state else "not run"


class Review:
    """The review of one tree (its run store: `state`, default INPUT/.kantra-ai/state.db)."""

    def __init__(self, input_dir: Path, state: Path | None = None) -> None:
        self.input_dir = input_dir
        self.state = state

    def _store(self) -> RunStore | None:
        if not (self.state or default_store_path(self.input_dir)).is_file():
            return None
        try:
            return open_store(self.input_dir, self.state, create=False)
        except StoreError as exc:
            raise UserError(str(exc)) from None

    def files(self, query: FileQuery) -> FilePage:
        store = self._store()
        if store is None:
            return FilePage([], 0, query)
        try:
            return list_files(store, query)
        except StoreError as exc:
            raise UserError(str(exc)) from None
        finally:
            store.close()

    def file(self, path: str) -> FileReview | None:
        store = self._store()
        if store is None:
            return None
        try:
            detail = file_detail(store, path)
        except StoreError as exc:
            raise UserError(str(exc)) from None
        finally:
            store.close()
        if detail is None:
            return None
        try:
            current = read_source(self.input_dir / path)
            check_inside(current, self.input_dir)  # a link put there since: its target is not shown
        except (OSError, SourceFileError):
            return FileReview(detail, [], changed_outside=detail.current_sha is not None, readable=False)
        before = current.text
        if detail.before is not None:
            before = detail.before.decode("utf-8", errors="replace")
        changed = detail.current_sha is not None and current.sha256 != detail.current_sha
        return FileReview(detail, diff_rows(before, current.text), changed_outside=changed, readable=True)

    def accept(self, path: str, seen_sha: str) -> None:
        """Approve the file's fixes as the page showed them (`seen_sha`: what our last write left)."""
        store = self._store()
        if store is None:
            raise UserError("nothing to accept: no run has written this tree")
        try:
            detail = file_detail(store, path)
            if detail is None or detail.current_sha is None:
                raise UserError(f"{path}: kantra-ai never wrote this file")
            if detail.current_sha != seen_sha:
                raise UserError(f"{path}: a run wrote it again since this page showed it; reload")
            record_decision(store, path, ACCEPTED, detail.current_sha)
        except StoreError as exc:
            raise UserError(str(exc)) from None
        finally:
            store.close()

    def reject(self, path: str, *, say: Callable[[str], None]) -> list[int]:
        """Take back every fix of ours still in the file; the writes undone. UserError when the file
        changed since (nothing touched), or another run holds the tree."""
        check_input_dir(self.input_dir)
        try:
            history = HistoryOptions(state=self.state)
            with RunSession(self.input_dir, history, say, command="review") as session:
                store = session.open()
                writes = live_writes(store, path=path)
                if not writes:
                    raise UserError(f"{path}: no fix of kantra-ai is left in this file to reject")
                _, result = revert_as_run(
                    store,
                    self.input_dir,
                    writes,
                    mode="review reject",
                    kind=session.command,
                    note=f"rejected {path} in the review",
                    status=Status.FAILED,
                    reason=REJECT_REASON,
                    answered=True,
                )
                if path in result.refused:
                    raise UserError(f"{path}: {result.refused[path]}")
                after = store.query(
                    "SELECT after_sha FROM writes WHERE tree=? AND path=? AND state='written'"
                    " ORDER BY id DESC LIMIT 1",
                    (store.tree, path),
                )
                record_decision(store, path, REJECTED, str(after[0][0]))
                return result.undone_writes
        except StoreError as exc:
            raise UserError(str(exc)) from None


def diff_rows(before: str, after: str) -> list[tuple[str, str]]:
    """The report's diff (real line numbers) as (kind, line) rows: hunk, add, del or ctx."""
    rows: list[tuple[str, str]] = []
    for old_start, old_length, new_start, new_length, text in diff_hunks(before, after):
        rows.append(("hunk", f"@@ -{old_start},{old_length} +{new_start},{new_length} @@"))
        kinds = {"+": "add", "-": "del"}
        rows += [(kinds.get(line[:1], "ctx"), line) for line in str(text).split("\n")]
    return rows
