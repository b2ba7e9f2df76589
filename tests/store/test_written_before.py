"""What the store knows about earlier writes and replies, as the engine uses it: a reply that could
not be used is never served again, and an incident an earlier run already fixed is not asked."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import yaml
from tests.cli.helpers import run
from tests.engine.scripted import (
    IdHandles,
    ScriptedProvider,
    batch,
    context,
    incident,
    text_reply,
    tool_reply,
)
from tests.store.helpers import store_rows

from kantra_ai.edits.model import Edit
from kantra_ai.engine.batch_runner import run_batch
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status
from kantra_ai.engine.replies import request_fingerprint
from kantra_ai.providers.pricing import Usage
from kantra_ai.simulated.recipes import respond
from kantra_ai.store.codec import Decided
from kantra_ai.store.observer import StoreObserver
from kantra_ai.store.run_store import RunStore
from testing.fakeprovider.server import FakeProviderServer

JAVA = "package shop;\n\nimport javax.ejb.Stateless;\n\n@Stateless\npublic class Orders {\n}\n"
IMPORT = "import javax.ejb.Stateless;"


def _store(tmp_path: Path) -> RunStore:
    store = RunStore.open(tmp_path / "state.db", ".")
    return store


def test_a_stored_reply_that_does_not_parse_is_used_once_then_the_model_is_asked(tmp_path: Path) -> None:
    (tmp_path / "Orders.java").write_text(JAVA, encoding="utf-8")
    a = incident("a", "Orders.java", 3, IMPORT)
    planned = batch("Orders.java", a)
    store = _store(tmp_path)
    run_id = store.begin_run(
        mode="incremental",
        analysis="x",
        provider="scripted",
        model="scripted-model",
        resumes=None,
        selected=1,
        planned=1,
        skipped_done=0,
    )
    store.register(run_id, [a])
    # A killed run paid for a reply to the first request, and it was prose, not a tool call.
    first = IdHandles().first_request(planned, JAVA)  # the builder `context` gives the engine
    fingerprint = request_fingerprint(first, "scripted", "scripted-model")
    request_id = store.request_started(run_id, "Orders.java", ["a"])
    record = RequestRecord("Orders.java", ("a",), 0, Usage(1, 1), 0.0, "end_turn")
    store.response_received(request_id, record, fingerprint, text_reply("prose"))

    model = ScriptedProvider(
        tool_reply([(IMPORT, "import jakarta.ejb.Stateless;", ["a"])], [("a", "fixed", 0.9)])
    )
    ctx = context(model, tmp_path, observer=StoreObserver(store, run_id), replies=store)
    outcomes = asyncio.run(run_batch(planned, ctx))
    assert [o.status for o in outcomes] == [Status.FIXED]
    assert len(model.requests) == 1  # the stored reply stood in for the first request, once
    assert store.stored_reply(fingerprint) is None
    rows = store_rows(tmp_path / "state.db", f"SELECT state FROM replies WHERE fingerprint='{fingerprint}'")
    assert rows == [("unusable",)]
    store.close()


def test_the_file_history_holds_the_writes_that_stand_and_the_file_before_the_first(tmp_path: Path) -> None:
    store = _store(tmp_path)
    edit = Edit(IMPORT, "import jakarta.ejb.Stateless;", ("a",))
    decided = [
        Decided(IncidentOutcome("a", Status.FIXED), True),
        Decided(IncidentOutcome("b", Status.FAILED), True),
    ]
    for number in range(2):
        write = store.write_intent(
            1,
            "Orders.java",
            f"{number}" * 64,
            f"{number + 1}" * 64,
            decided,
            [],
            contents=(JAVA.encode() if number == 0 else b"later", b"after"),
        )
        store.finish_batch(1, decided, [], write, [edit])
    undone = store.write_intent(1, "Orders.java", "9" * 64, "8" * 64, decided, [], contents=(b"x", b"y"))
    store.finish_batch(1, decided, [], undone, [edit])
    with store.tx() as db:
        db.execute("UPDATE writes SET reverted_by=99 WHERE id=?", (undone,))
    history = store.file_history("Orders.java")
    assert len(history.writes) == 2
    assert history.writes[0].edits == (edit,) and history.writes[0].fixed == frozenset({"a"})
    assert history.original == JAVA
    assert store.file_history("Other.java").writes == ()
    store.close()


def _analysis(tmp_path: Path) -> Path:
    """One import line flagged by two rules, each with its own message."""
    snip = "2  \n3  import javax.ejb.Stateless;\n4  "
    uri = "file:///opt/input/source/src/Orders.java"

    def violation(message: str) -> dict[str, Any]:
        return {
            "description": message,
            "category": "mandatory",
            "effort": 1,
            "incidents": [{"uri": uri, "message": message, "lineNumber": 3, "codeSnip": snip}],
        }

    document = [
        {
            "name": "rules",
            "violations": {
                "javax-to-jakarta-import-00001": violation(
                    "Replace the `javax.ejb` import statement with `jakarta.ejb`"
                ),
                "ejb-stateless-import-00002": violation(
                    "Replace `javax.ejb.Stateless` with `jakarta.ejb.Stateless`"
                ),
            },
        }
    ]
    path = tmp_path / "output.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _remediate(analysis: Path, app: Path, server: FakeProviderServer, rule: str) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run(
            "remediate",
            "--analysis",
            analysis,
            "--input",
            app,
            "--base-url",
            server.anthropic_base_url,
            "--json",
            "--no-progress",
            "--violation-ids",
            rule,
        )
    summary: dict[str, Any] = json.loads(out.getvalue())
    return summary


def test_an_incident_an_earlier_run_fixed_on_the_same_line_is_not_asked_again(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "Orders.java").write_text(JAVA, encoding="utf-8")
    analysis = _analysis(tmp_path)
    with FakeProviderServer(respond) as server:
        first = _remediate(analysis, app, server, "javax-to-jakarta-import-00001")
        assert [o["status"] for o in first["outcomes"]] == ["fixed"]
        asked = server.request_count
        second = _remediate(analysis, app, server, "ejb-stateless-import-00002")
        assert server.request_count == asked  # nothing to ask: the line shows the fix
    [outcome] = second["outcomes"]
    assert outcome["status"] == "fixed"
    assert (
        outcome["reason"]
        == "already fixed: line 3 shows `jakarta.ejb.Stateless` instead of `javax.ejb.Stateless`"
    )
    assert "import jakarta.ejb.Stateless;" in (app / "src" / "Orders.java").read_text(encoding="utf-8")
