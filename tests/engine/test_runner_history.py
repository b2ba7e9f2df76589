"""Batches of one file and earlier runs: windows follow moved incidents, incidents already fixed are
not asked again, edits made before are recognised, and a run's files are executed one batch at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

from tests.engine.scripted import Recorder, ScriptedProvider, batch, context, incident, tool_reply

from kantra_ai.batching.batches import FileBatches
from kantra_ai.edits.model import Edit
from kantra_ai.engine.batch_runner import run_batch
from kantra_ai.engine.history import EarlierWrite, FileHistory
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.engine.runner import RunBatches, execute_batches
from kantra_ai.providers.base import ModelRequest, ModelResponse

IMPORTS = [f"import javax.ejb.Bean{n};" for n in range(3)]
BODY = [f"    int value{n} = {n};" for n in range(120)]
JAVA = "\n".join(["package shop;", "", *IMPORTS, "", "public class Big {", *BODY, "}"]) + "\n"
LINE_OF_VALUE_100 = 8 + 100  # 1-based: package, blank, 3 imports, blank, class, then the body


class Log:
    """A `WriteLog` double: what "earlier runs" wrote."""

    def __init__(self, history: FileHistory) -> None:
        self.history = history

    def file_history(self, path: str) -> FileHistory:
        return self.history


def _outcomes(results: list[IncidentOutcome]) -> dict[str, IncidentOutcome]:
    return {o.incident_id: o for o in results}


def test_a_later_window_follows_lines_an_earlier_batch_inserted(tmp_path: Path) -> None:
    (tmp_path / "Big.java").write_text(JAVA, encoding="utf-8")
    top = incident("top", "Big.java", 3, IMPORTS[0])
    # No snippet: only what the engine knows about the earlier batch's edits can move it.
    low = incident("low", "Big.java", LINE_OF_VALUE_100, message="Rename value100")
    inserted = "\n".join(f"import jakarta.extra.Added{n};" for n in range(30))
    fixed = IMPORTS[0].replace("javax", "jakarta")
    first = tool_reply([(IMPORTS[0], fixed + "\n" + inserted, ["top"])], [("top", "fixed", 0.9)])

    def second(request: ModelRequest) -> ModelResponse:
        # The window must show the incident's line, where it is now (30 lines further down).
        assert BODY[100] in request.prompt, request.prompt
        assert f" line {LINE_OF_VALUE_100 + 30} R" in request.prompt
        return tool_reply(
            [(BODY[100], BODY[100].replace("value100", "renamed"), ["low"])], [("low", "fixed", 0.9)]
        )

    model = ScriptedProvider(first, second)
    batches = FileBatches(
        PurePosixPath("Big.java"),
        [
            batch("Big.java", top, window=(1, 20)),
            batch("Big.java", low, window=(LINE_OF_VALUE_100 - 5, LINE_OF_VALUE_100 + 5)),
        ],
    )
    result = asyncio.run(execute_batches(RunBatches([batches]), context(model, tmp_path), 1))
    assert {o.status for o in result.outcomes.values()} == {Status.FIXED}
    text = (tmp_path / "Big.java").read_text(encoding="utf-8")
    assert "int renamed = 100;" in text and "import jakarta.extra.Added29;" in text


def test_a_window_follows_an_incident_an_earlier_run_moved(tmp_path: Path) -> None:
    added = "\n".join(f"import jakarta.extra.Added{n};" for n in range(30))
    (tmp_path / "Big.java").write_text(JAVA.replace(IMPORTS[0], IMPORTS[0] + "\n" + added), encoding="utf-8")
    low = incident("low", "Big.java", LINE_OF_VALUE_100, BODY[100].strip(), message="Rename value100")

    def answer(request: ModelRequest) -> ModelResponse:
        assert BODY[100] in request.prompt and f" line {LINE_OF_VALUE_100 + 30} R" in request.prompt
        return tool_reply([], [("low", "cannot_fix", 0.5)])

    model = ScriptedProvider(answer)
    planned = batch("Big.java", low, window=(LINE_OF_VALUE_100 - 5, LINE_OF_VALUE_100 + 5))
    asyncio.run(run_batch(planned, context(model, tmp_path)))
    assert len(model.requests) == 1


def test_an_incident_whose_line_shows_the_rules_target_state_is_not_asked(tmp_path: Path) -> None:
    # An earlier run fixed line 3 (for another incident on it); the file as analysed had javax there.
    now = JAVA.replace(IMPORTS[0], "import jakarta.ejb.Bean0;")
    (tmp_path / "Big.java").write_text(now, encoding="utf-8")
    same_line = incident("same-line", "Big.java", 3, IMPORTS[0])
    model = ScriptedProvider()
    ctx = context(model, tmp_path, history=Log(FileHistory((), JAVA)))
    outcomes = _outcomes(asyncio.run(run_batch(batch("Big.java", same_line), ctx)))
    assert outcomes["same-line"].status is Status.FIXED
    assert outcomes["same-line"].reason.startswith("already fixed: line 3 shows `jakarta.ejb`")
    assert model.requests == []


def test_a_line_that_still_holds_what_the_rule_replaces_is_asked_about(tmp_path: Path) -> None:
    now = JAVA.replace(IMPORTS[0], "import javax.ejb.Bean0; // jakarta.ejb later")
    (tmp_path / "Big.java").write_text(now, encoding="utf-8")
    same_line = incident("same-line", "Big.java", 3, IMPORTS[0])
    model = ScriptedProvider(tool_reply([], [("same-line", "cannot_fix", 0.5)]))
    ctx = context(model, tmp_path, history=Log(FileHistory((), JAVA)))
    asyncio.run(run_batch(batch("Big.java", same_line), ctx))
    assert len(model.requests) == 1


def test_fixed_without_an_edit_is_believed_when_another_edit_of_the_reply_made_the_fix(
    tmp_path: Path,
) -> None:
    (tmp_path / "Big.java").write_text(JAVA, encoding="utf-8")
    a = incident("a", "Big.java", 3, IMPORTS[0])
    b = incident("b", "Big.java", 3, IMPORTS[0])  # another rule on the same line
    reply = tool_reply(
        [(IMPORTS[0], "import jakarta.ejb.Bean0;", ["a"])], [("a", "fixed", 0.9), ("b", "fixed", 0.9)]
    )
    outcomes = _outcomes(
        asyncio.run(run_batch(batch("Big.java", a, b), context(ScriptedProvider(reply), tmp_path)))
    )
    assert outcomes["a"].status is Status.FIXED
    assert outcomes["b"].status is Status.FIXED
    assert outcomes["b"].reason.startswith("no edit needed: line 3 shows")


def test_an_earlier_runs_edit_repeated_by_the_model_is_already_applied(tmp_path: Path) -> None:
    # An earlier run made this edit (quoting the next line as context); a later edit changed that
    # line. The model repeats the earlier edit: its texts are nowhere now, but it must count as made.
    repeated = (IMPORTS[1] + "\n" + IMPORTS[2], "import jakarta.ejb.Bean1;\n" + IMPORTS[2])
    now = JAVA.replace(IMPORTS[1], "import jakarta.ejb.Bean1;").replace(
        IMPORTS[2], "import jakarta.ejb.Bean2;"
    )
    (tmp_path / "Big.java").write_text(now, encoding="utf-8")
    a = incident("a", "Big.java", 4, IMPORTS[1], message="Migrate this bean")
    model = ScriptedProvider(tool_reply([(*repeated, ["a"])], [("a", "fixed", 0.9)]))
    history = FileHistory((EarlierWrite((Edit(*repeated, ("old",)),), frozenset({"old"})),), JAVA)
    ctx = context(model, tmp_path, history=Log(history), max_retries=2)
    outcomes = _outcomes(asyncio.run(run_batch(batch("Big.java", a), ctx)))
    assert outcomes["a"].status is Status.FIXED
    assert len(model.requests) == 1
    assert (tmp_path / "Big.java").read_text(encoding="utf-8") == now


def test_an_incident_an_earlier_run_fixed_whose_edits_stand_is_not_asked(tmp_path: Path) -> None:
    edit = Edit(IMPORTS[1], "import jakarta.ejb.Bean1;", ("a",))
    (tmp_path / "Big.java").write_text(JAVA.replace(IMPORTS[1], edit.new_text), encoding="utf-8")
    a = incident("a", "Big.java", 4)  # no snippet: only the write log can tell
    model = ScriptedProvider()
    history = FileHistory((EarlierWrite((edit,), frozenset({"a"})),), JAVA)
    outcomes = _outcomes(
        asyncio.run(run_batch(batch("Big.java", a), context(model, tmp_path, history=Log(history))))
    )
    assert outcomes["a"].status is Status.FIXED and "earlier run" in outcomes["a"].reason
    assert model.requests == []


def test_an_incident_whose_earlier_fix_was_undone_by_hand_is_asked_again(tmp_path: Path) -> None:
    edit = Edit(IMPORTS[1], "import jakarta.ejb.Bean1;", ("a",))
    (tmp_path / "Big.java").write_text(JAVA, encoding="utf-8")  # the fix is gone
    a = incident("a", "Big.java", 4)
    model = ScriptedProvider(tool_reply([(IMPORTS[1], edit.new_text, ["a"])], [("a", "fixed", 0.9)]))
    history = FileHistory((EarlierWrite((edit,), frozenset({"a"})),), JAVA)
    outcomes = _outcomes(
        asyncio.run(run_batch(batch("Big.java", a), context(model, tmp_path, history=Log(history))))
    )
    assert len(model.requests) == 1
    assert outcomes["a"].status is Status.FIXED and outcomes["a"].reason == ""
    assert (tmp_path / "Big.java").read_text(encoding="utf-8") == JAVA.replace(IMPORTS[1], edit.new_text)


def test_files_run_concurrently_and_one_files_batches_in_order(tmp_path: Path) -> None:
    (tmp_path / "Big.java").write_text(JAVA, encoding="utf-8")
    (tmp_path / "Other.java").write_text(JAVA, encoding="utf-8")
    order: list[str] = []

    def answer(request: ModelRequest) -> ModelResponse:
        path = "Big.java" if "## File: Big.java" in request.prompt else "Other.java"
        n = 0 if "#first line" in request.prompt or "#other line" in request.prompt else 1
        order.append(f"{path}:{n}")
        ids = [line.split()[0][1:] for line in request.prompt.splitlines() if line.startswith("#")]
        return tool_reply(
            [(IMPORTS[n], IMPORTS[n].replace("javax", "jakarta"), ids)], [(i, "fixed", 0.9) for i in ids]
        )

    big = FileBatches(
        PurePosixPath("Big.java"),
        [
            batch("Big.java", incident("first", "Big.java", 3)),
            batch("Big.java", incident("second", "Big.java", 4)),
        ],
    )
    other = FileBatches(
        PurePosixPath("Other.java"), [batch("Other.java", incident("other", "Other.java", 3))]
    )
    recorder = Recorder()
    model = ScriptedProvider(answer, answer, answer)
    result = asyncio.run(
        execute_batches(RunBatches([big, other]), context(model, tmp_path, observer=recorder), 4)
    )
    assert {o.status for o in result.outcomes.values()} == {Status.FIXED}
    assert order.index("Big.java:0") < order.index("Big.java:1")
    assert result.totals.requests == 3
    assert sorted(o.incident_id for o in recorder.done) == ["first", "other", "second"]
