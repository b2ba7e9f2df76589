"""What a restart does with each state a killed run can leave behind (store API level)."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

import pytest
from tests.store.conftest import StoreAt

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.edits.model import Edit, ProposedFix
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status
from kantra_ai.engine.replies import PackShare
from kantra_ai.providers.base import ModelResponse
from kantra_ai.providers.pricing import Usage
from kantra_ai.store.codec import Decided
from kantra_ai.store.recovery import Recovery, recover
from kantra_ai.store.run_store import RunStore

OLD = "import javax.inject.Inject;\n"
NEW = "import jakarta.inject.Inject;\n"
RULE = Violation("rules", "javax-to-jakarta", "rename", Category.MANDATORY, 1)
INCIDENT = Incident("abc123", RULE, "file:///src/A.java", PurePosixPath("src/A.java"), 1, "use jakarta")
REPLY = ModelResponse(
    text="", tool_input={"edits": [], "incidents": []}, stop_reason="tool_use", usage=Usage(100, 50)
)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Killed:
    """A run recorded up to its write intent, then killed (the store closed without finishing)."""

    def __init__(self, tmp_path: Path, store_at: StoreAt) -> None:
        self.tree = tmp_path / "app"
        self.file = self.tree / "src" / "A.java"
        self.file.parent.mkdir(parents=True)
        self.file.write_text(OLD)
        self.db = store_at("state.db")
        store = RunStore.open(self.db, ".")
        self.run = store.begin_run(
            mode="incremental",
            analysis="out.yaml",
            provider="claude",
            model="m",
            resumes=None,
            selected=1,
            planned=1,
            skipped_done=0,
        )
        store.register(self.run, [INCIDENT])
        request = store.request_started(self.run, "src/A.java", [INCIDENT.id])
        record = RequestRecord("src/A.java", (INCIDENT.id,), 0, REPLY.usage, 0.001, "tool_use")
        store.response_received(request, record, "fp-1", REPLY)
        fixed = Decided(IncidentOutcome(INCIDENT.id, Status.FIXED, "", 0.9, "renamed"), True)
        store.write_intent(self.run, "src/A.java", _sha(OLD), _sha(NEW), [fixed], ["fp-1"])
        store.close()

    def restart(self) -> tuple[RunStore, Recovery]:
        store = RunStore.open(self.db, ".")
        return store, recover(store, self.tree)


def test_a_write_that_happened_before_the_kill_is_recorded_and_not_repeated(
    tmp_path: Path, store_at: StoreAt
) -> None:
    killed = Killed(tmp_path, store_at)
    killed.file.write_text(NEW)  # the rename happened, the bookkeeping did not
    store, recovery = killed.restart()
    assert recovery.completed_writes == ["src/A.java"]
    assert store.known()[INCIDENT.id].status == "fixed"
    assert store.query("SELECT recovered, explanation FROM outcomes") == [(1, "renamed")]
    assert store.stored_reply("fp-1") is None  # used: never applied a second time
    assert store.query("SELECT state FROM runs") == [("crashed",)]
    assert killed.file.read_text() == NEW


def test_a_write_recovered_as_done_spends_its_files_share_of_a_packed_reply(
    tmp_path: Path, store_at: StoreAt
) -> None:
    """Killed after the write of a file of a pack: its share is spent like the reply it came from, so
    that the file restored to those bytes later (an undo) is never given the same edits unasked."""
    killed = Killed(tmp_path, store_at)
    store = RunStore.open(killed.db, ".")
    edit = Edit(OLD.strip(), NEW.strip(), (INCIDENT.id,))
    share = PackShare("src/A.java", "fp-1", (INCIDENT.id,), 0, _sha(OLD), ProposedFix([edit], []))
    store.keep_pack_shares(killed.run, [share])
    store.close()
    killed.file.write_text(NEW)
    store, recovery = killed.restart()
    assert recovery.completed_writes == ["src/A.java"]
    assert store.pack_share("src/A.java", _sha(OLD)) is None


def test_a_write_that_never_happened_keeps_its_paid_reply_for_the_next_run(
    tmp_path: Path, store_at: StoreAt
) -> None:
    killed = Killed(tmp_path, store_at)
    store, recovery = killed.restart()
    assert recovery.undone_writes == ["src/A.java"]
    assert store.known()[INCIDENT.id].status == "pending"
    reused = store.stored_reply("fp-1")
    assert reused is not None and reused.tool_input == REPLY.tool_input and reused.usage == REPLY.usage
    assert store.query("SELECT count(*) FROM outcomes") == [(0,)]


def test_a_file_changed_by_someone_else_is_planned_again_not_overwritten(
    tmp_path: Path, store_at: StoreAt
) -> None:
    killed = Killed(tmp_path, store_at)
    killed.file.write_text(OLD + "// the user's edit\n")
    store, recovery = killed.restart()
    assert recovery.changed_outside == ["src/A.java"]
    assert store.known()[INCIDENT.id].status == "pending"
    assert killed.file.read_text() == OLD + "// the user's edit\n"


def test_a_temporary_file_left_by_a_kill_mid_write_is_removed(tmp_path: Path, store_at: StoreAt) -> None:
    killed = Killed(tmp_path, store_at)
    leftover = killed.file.parent / ".A.java.x1y2z3.kantra-tmp"
    leftover.write_text(NEW[:10])
    unrelated = killed.file.parent / ".B.java.x1y2z3.kantra-tmp"
    unrelated.write_text("someone else's")
    _, recovery = killed.restart()
    assert recovery.temp_files_removed == [str(leftover)]
    assert not leftover.exists() and unrelated.exists()


def test_a_request_in_flight_at_the_kill_is_marked_lost_and_its_incidents_pending(
    tmp_path: Path, store_at: StoreAt
) -> None:
    db = store_at("state.db")
    store = RunStore.open(db, ".")
    run = store.begin_run(
        mode="incremental",
        analysis="a",
        provider="p",
        model="m",
        resumes=None,
        selected=1,
        planned=1,
        skipped_done=0,
    )
    store.register(run, [INCIDENT])
    store.request_started(run, "src/A.java", [INCIDENT.id])
    assert store.known()[INCIDENT.id].status == "in_flight"
    store.close()
    store = RunStore.open(db, ".")
    recovery = recover(store, tmp_path)
    assert recovery.lost_requests == 1 and recovery.crashed_runs == [run]
    assert store.query("SELECT status FROM requests") == [("lost",)]
    assert store.known()[INCIDENT.id].status == "pending"


@pytest.mark.parametrize("tree", [".", "/elsewhere/app"])
def test_one_store_keeps_the_trees_it_serves_apart(tmp_path: Path, store_at: StoreAt, tree: str) -> None:
    shared = RunStore.open(store_at("shared.db"), "/other/tree")
    run = shared.begin_run(
        mode="incremental",
        analysis="a",
        provider="p",
        model="m",
        resumes=None,
        selected=1,
        planned=1,
        skipped_done=0,
    )
    shared.register(run, [INCIDENT])
    shared.close()
    mine = RunStore.open(store_at("shared.db"), tree)
    assert mine.known() == {} and mine.last_run() is None
    assert recover(mine, tmp_path).crashed_runs == []  # the other tree's run is not ours to settle
