"""`store/restore.py` on both backends: a fresh checkout gets our writes back, byte for byte; a file
with someone else's content is refused and left alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tests.store.conftest import StoreAt

from kantra_ai.store.restore import restore_writes
from kantra_ai.store.run_store import RunStore
from kantra_ai.store.schema import StoreError

ORIGINAL = b"line 1\nline 2\n"
FIRST = b"LINE 1\nline 2\n"
SECOND = b"LINE 1\nLINE 2\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _recorded(store_at: StoreAt) -> RunStore:
    """Two writes of one file, recorded as the engine records them (on another machine's checkout)."""
    store = RunStore.open(store_at("state.db"), "app")
    run = store.begin_run(
        mode="t", analysis="", provider="", model="", resumes=None, selected=0, planned=0, skipped_done=0
    )
    for before, after in ((ORIGINAL, FIRST), (FIRST, SECOND)):
        write = store.write_intent(run, "a.txt", _sha(before), _sha(after), [], [], contents=(before, after))
        store.finish_batch(run, [], [], write, [])
    return store


def test_a_fresh_checkout_gets_our_last_write_back(tmp_path: Path, store_at: StoreAt) -> None:
    store = _recorded(store_at)
    (tmp_path / "a.txt").write_bytes(ORIGINAL)  # the clone: as before our first write
    assert restore_writes(store, tmp_path) == ["a.txt"]
    assert (tmp_path / "a.txt").read_bytes() == SECOND
    assert restore_writes(store, tmp_path) == []  # already there: nothing to do


def test_a_file_with_someone_elses_content_is_refused_and_kept(tmp_path: Path, store_at: StoreAt) -> None:
    store = _recorded(store_at)
    (tmp_path / "a.txt").write_bytes(b"their line\n")
    with pytest.raises(StoreError, match="neither what kantra-ai's first write of it found"):
        restore_writes(store, tmp_path)
    assert (tmp_path / "a.txt").read_bytes() == b"their line\n"
