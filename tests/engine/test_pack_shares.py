"""A packed reply is split by file and each file's share kept before any file is written; a run that
was killed between the files of a pack applies the shares of those not finished, each only to its
file as the pack showed it and for exactly the incidents it asked about, without asking again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.engine.scripted import Recorder, ScriptedProvider, context, incident
from tests.engine.test_packed_requests import (
    FIXED,
    IMPORT,
    _batch,
    _prompts,
    _read,
    _tree,
    fix_all,
    java,
    numbers,
)

from kantra_ai.batching.batches import Batch
from kantra_ai.edits.files import read_source
from kantra_ai.engine.batch_runner import run_batch
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.engine.packed import run_pack
from kantra_ai.engine.replies import PackShare
from kantra_ai.providers.base import ModelResponse


@dataclass
class Events(Recorder):
    """The shares a pack kept, and the order of the events that matter here."""

    shares: list[PackShare] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def pack_split(self, shares: Sequence[PackShare]) -> None:
        self.shares += shares
        self.order.append("split")

    def write_planned(self, path: str, *args: Any, **kwargs: Any) -> None:
        self.order.append(f"write {path}")

    def response_reused(self, path: str, incident_ids: tuple[str, ...], fingerprint: str) -> None:
        self.order.append(f"reused {path} {','.join(incident_ids)}")


@dataclass
class KeptShares:
    """Where a resumed run finds replies and shares (the run store, as far as the engine sees it)."""

    shares: dict[str, PackShare]

    def stored_reply(self, fingerprint: str) -> ModelResponse | None:
        return None

    def pack_share(self, path: str, content_sha: str) -> PackShare | None:
        share = self.shares.get(path)
        return share if share is not None and share.content_sha == content_sha else None


def _packed(root: Path, names: list[str]) -> Events:
    """Run a pack of `names` on `root`; the events it reported."""
    root.mkdir(parents=True, exist_ok=True)
    incidents = _tree(root, names)
    events = Events()
    ctx = context(ScriptedProvider(fix_all), root, prompts=_prompts(incidents), observer=events)
    asyncio.run(run_pack([_batch(i) for i in incidents], ctx))
    return events


def test_a_packed_reply_is_kept_by_file_before_any_file_is_written(tmp_path: Path) -> None:
    _tree(tmp_path, ["A", "B", "C"])
    shown = {name: read_source(tmp_path / f"{name}.java") for name in "ABC"}
    events = _packed(tmp_path, ["A", "B", "C"])
    assert events.order[0] == "split"
    assert sorted(events.order[1:]) == ["write A.java", "write B.java", "write C.java"]
    by_path = {s.path: s for s in events.shares}
    assert sorted(by_path) == ["A.java", "B.java", "C.java"]
    for name in "ABC":
        share = by_path[f"{name}.java"]
        assert share.incident_ids == (name,)
        assert share.content_sha == shown[name].sha256  # the bytes the pack showed
        assert [e.incident_ids for e in share.reply.edits] == [(name,)]  # its own edits only
    assert [s.handle_offset for s in events.shares] == [0, 1, 2]  # numbered across the pack


def test_a_file_holding_its_share_is_fixed_from_it_without_asking_again(tmp_path: Path) -> None:
    events = _packed(tmp_path / "killed", ["A", "B"])
    # The run was killed after A.java was finished: B.java, as the pack showed it, still to do.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    [b] = _tree(resumed, ["B"])
    model = ScriptedProvider(fix_all)
    shares = KeptShares({s.path: s for s in events.shares if s.path == "B.java"})
    seen = Events()
    ctx = context(model, resumed, prompts=_prompts([b]), replies=shares, observer=seen)
    outcomes = asyncio.run(run_batch(_batch(b), ctx))
    assert model.requests == []
    assert seen.order == ["reused B.java B", "write B.java"]  # counted as a reply the killed run paid
    assert [(o.incident_id, o.status) for o in outcomes] == [("B", Status.FIXED)]
    assert _read(resumed, "B") == java("B").replace(IMPORT, FIXED)


def test_a_share_is_not_applied_to_a_file_changed_since_nor_for_other_incidents(tmp_path: Path) -> None:
    events = _packed(tmp_path / "killed", ["A", "B"])
    shares = KeptShares({s.path: s for s in events.shares})
    # B.java changed since the pack showed it: the share was made for other bytes.
    changed = tmp_path / "changed"
    changed.mkdir()
    [b] = _tree(changed, ["B"])
    (changed / "B.java").write_text(java("B") + "// edited by hand\n", encoding="utf-8")
    model = ScriptedProvider(fix_all)
    asyncio.run(run_batch(_batch(b), context(model, changed, prompts=_prompts([b]), replies=shares)))
    assert [numbers(r) for r in model.requests] == [{"B.java": ["1"]}]
    # The same bytes, but the run now asks about another incident of A.java as well.
    more = tmp_path / "more"
    more.mkdir()
    [a] = _tree(more, ["A"])
    other = incident("A2", "A.java", 5, "@Stateless")
    model = ScriptedProvider(fix_all)
    assert a.path is not None
    batch = Batch(a.path, (a, other), None, 300, 400)
    asyncio.run(run_batch(batch, context(model, more, prompts=_prompts([a, other]), replies=shares)))
    assert [numbers(r) for r in model.requests] == [{"A.java": ["1", "2"]}]  # both asked, afresh


def test_in_a_pack_a_file_holding_its_share_is_not_asked_with_the_others(tmp_path: Path) -> None:
    events = _packed(tmp_path / "killed", ["A", "B", "C"])
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    incidents = _tree(resumed, ["A", "B", "C"])
    model = ScriptedProvider(fix_all)
    shares = KeptShares({s.path: s for s in events.shares if s.path == "A.java"})
    ctx = context(model, resumed, prompts=_prompts(incidents), replies=shares)
    outcomes: list[IncidentOutcome] = asyncio.run(run_pack([_batch(i) for i in incidents], ctx))
    assert len(model.requests) == 1
    assert "A.java" not in model.requests[0].prompt  # asked: B.java and C.java only
    assert {o.incident_id: o.status for o in outcomes} == dict.fromkeys("ABC", Status.FIXED)
    for name in "ABC":
        assert _read(resumed, name) == java(name).replace(IMPORT, FIXED)
