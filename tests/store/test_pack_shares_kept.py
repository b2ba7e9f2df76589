"""The run store keeps each file's share of a packed reply until the file is finished: served only for
the bytes it was made for, never once its file is finished, never when it holds something that looks
like a secret (the store keeps it masked, and a masked edit would write `***` into the file)."""

from __future__ import annotations

from tests.store.conftest import StoreAt
from tests.store.helpers import begin_run

from kantra_ai.edits.model import Edit, ProposedFix, Verdict, VerdictStatus
from kantra_ai.engine.replies import PackShare
from kantra_ai.store.run_store import RunStore

SHA = "a" * 64


def _store(store_at: StoreAt) -> tuple[RunStore, int]:
    store = RunStore.open(store_at("state.db"), ".")
    return store, begin_run(store, incidents=3)


def _share(path: str, new_text: str = "import jakarta.ejb.Stateless;") -> PackShare:
    reply = ProposedFix(
        [
            Edit("import javax.ejb.Stateless;", new_text, ("i1",)),
            Edit("", "", ("i2",), line_sub=(("javax", "jakarta"), ("ejb", "ejb"))),
        ],
        [
            Verdict("i1", VerdictStatus.FIXED, 0.9, "renamed"),
            Verdict("i3", VerdictStatus.CANNOT_FIX, None, "needs a human"),
        ],
    )
    return PackShare(path, "f" * 64, ("i1", "i2", "i3"), 4, SHA, reply, across=("i3",))


def test_a_share_comes_back_whole_for_the_bytes_it_was_made_for_until_its_file_is_finished(
    store_at: StoreAt,
) -> None:
    store, run_id = _store(store_at)
    kept = _share("A.java")
    store.keep_pack_shares(run_id, [kept, _share("B.java")])
    assert store.pack_share("A.java", SHA) == kept
    assert store.pack_share("A.java", "b" * 64) is None  # the file is not as the pack showed it
    assert store.pack_share_paths() == {"A.java", "B.java"}
    store.finish_batch(run_id, [], [], None, None, path="A.java")
    assert store.pack_share("A.java", SHA) is None
    assert store.pack_share("B.java", SHA) == _share("B.java")  # its own file not finished yet
    assert store.pack_share_paths() == {"B.java"}


def test_a_share_holding_a_secret_shaped_text_is_never_served(store_at: StoreAt) -> None:
    store, run_id = _store(store_at)
    secret = 'String key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCD";'
    store.keep_pack_shares(run_id, [_share("A.java", new_text=secret)])
    assert store.pack_share("A.java", SHA) is None
    assert store.pack_share_paths() == set()
    [(kept, state)] = store.query("SELECT share, state FROM pack_shares")
    assert state == "masked" and "sk-ant-api03" not in kept and "sk-ant-***" in kept
