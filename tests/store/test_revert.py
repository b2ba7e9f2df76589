"""`store/revert.py` on a real store and real files: what is restored, merged, or refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.store.conftest import StoreAt

from kantra_ai.edits.files import read_source
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.store.codec import Decided
from kantra_ai.store.revert import live_writes, revert_writes
from kantra_ai.store.run_store import RunStore

ORIGINAL = b"line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n"


def _store(store_at: StoreAt) -> tuple[RunStore, int]:
    store = RunStore.open(store_at("state.db"), ".")
    run = store.begin_run(
        mode="test", analysis="", provider="", model="", resumes=None, selected=0, planned=0, skipped_done=0
    )
    return store, run


def _write(store: RunStore, run: int, tree: Path, path: str, new: bytes, fixed: str = "") -> int:
    """A write of ours, recorded exactly as the engine records one (intent, file, result)."""
    source = read_source(tree / path)
    decided = [Decided(IncidentOutcome(fixed, Status.FIXED), True)] if fixed else []
    write_id = store.write_intent(
        run,
        path,
        source.sha256,
        hashlib.sha256(new).hexdigest(),
        decided,
        [],
        contents=(source.raw, new),
    )
    (tree / path).write_bytes(new)
    store.finish_batch(run, decided, [], write_id, [])
    return write_id


def test_the_last_write_of_a_file_is_undone_to_its_exact_bytes(tmp_path: Path, store_at: StoreAt) -> None:
    store, run = _store(store_at)
    (tmp_path / "a.txt").write_bytes(ORIGINAL)
    first = _write(store, run, tmp_path, "a.txt", ORIGINAL.replace(b"line 2", b"LINE 2"))
    result = revert_writes(store, tmp_path, [first], run_id=run, status=Status.SKIPPED, reason="undone")
    assert result.reverted == {"a.txt": [first]} and result.refused == {}
    assert (tmp_path / "a.txt").read_bytes() == ORIGINAL
    assert live_writes(store) == []  # marked undone: never undone twice


def test_an_earlier_write_is_taken_out_under_a_later_one_that_does_not_overlap(
    tmp_path: Path, store_at: StoreAt
) -> None:
    store, run = _store(store_at)
    (tmp_path / "a.txt").write_bytes(ORIGINAL)
    first = _write(store, run, tmp_path, "a.txt", ORIGINAL.replace(b"line 1", b"LINE 1"), "i1")
    both = ORIGINAL.replace(b"line 1", b"LINE 1").replace(b"line 6", b"LINE 6")
    _write(store, run, tmp_path, "a.txt", both)
    result = revert_writes(store, tmp_path, [first], run_id=run, status=Status.SKIPPED, reason="undone")
    assert result.refused == {}
    assert (tmp_path / "a.txt").read_bytes() == ORIGINAL.replace(b"line 6", b"LINE 6")
    # The incident the undone write fixed is decided again: open (skipped), with the reason.
    decided = store.query("SELECT status, reason FROM outcomes WHERE incident_id='i1' ORDER BY rowid")
    assert decided == [("fixed", ""), ("skipped", "undone")]


def test_an_earlier_write_that_a_later_one_rewrote_is_refused_and_the_file_kept(
    tmp_path: Path, store_at: StoreAt
) -> None:
    store, run = _store(store_at)
    (tmp_path / "a.txt").write_bytes(ORIGINAL)
    first = _write(store, run, tmp_path, "a.txt", ORIGINAL.replace(b"line 3", b"LINE 3"))
    _write(store, run, tmp_path, "a.txt", ORIGINAL.replace(b"line 3", b"Line three"))
    kept = (tmp_path / "a.txt").read_bytes()
    result = revert_writes(store, tmp_path, [first], run_id=run, status=Status.SKIPPED, reason="undone")
    assert result.refused == {"a.txt": "later changes overlap the ones to undo; left as it is"}
    assert (tmp_path / "a.txt").read_bytes() == kept


def test_a_file_someone_else_changed_is_never_touched(tmp_path: Path, store_at: StoreAt) -> None:
    store, run = _store(store_at)
    (tmp_path / "a.txt").write_bytes(ORIGINAL)
    first = _write(store, run, tmp_path, "a.txt", ORIGINAL.replace(b"line 4", b"LINE 4"))
    theirs = ORIGINAL.replace(b"line 4", b"LINE 4") + b"their line\n"
    (tmp_path / "a.txt").write_bytes(theirs)
    result = revert_writes(store, tmp_path, [first], run_id=run, status=Status.SKIPPED, reason="undone")
    assert result.refused == {"a.txt": "changed since kantra-ai wrote it; left as it is"}
    assert (tmp_path / "a.txt").read_bytes() == theirs


def test_a_user_edit_between_two_of_our_writes_survives_the_undo_of_both(
    tmp_path: Path, store_at: StoreAt
) -> None:
    store, run = _store(store_at)
    (tmp_path / "a.txt").write_bytes(ORIGINAL)
    first = _write(store, run, tmp_path, "a.txt", ORIGINAL.replace(b"line 1", b"LINE 1"))
    users = (tmp_path / "a.txt").read_bytes().replace(b"line 3", b"user's line 3")
    (tmp_path / "a.txt").write_bytes(users)  # between our writes: the chain is broken here
    second = _write(store, run, tmp_path, "a.txt", users.replace(b"line 6", b"LINE 6"))
    result = revert_writes(store, tmp_path, [first, second], run_id=run, status=Status.SKIPPED, reason="x")
    assert result.refused == {}
    assert (tmp_path / "a.txt").read_bytes() == ORIGINAL.replace(b"line 3", b"user's line 3")
