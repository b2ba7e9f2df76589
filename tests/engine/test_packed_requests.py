"""Several small files in one request: each file still fixed, checked, written and decided on its own.

The requests are built by the real request builder (bound to the run's rules, as a run binds it);
the scripted model reads the incident numbers each request shows for each file and answers with them.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path, PurePosixPath

from tests.engine.scripted import Recorder, ScriptedProvider, context, incident, text_reply, tool_reply

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import Batch, FileBatches
from kantra_ai.batching.packing import PackSettings
from kantra_ai.engine.outcomes import Status
from kantra_ai.engine.packed import run_pack
from kantra_ai.engine.runner import RunBatches, execute_batches
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.base import ModelRequest, ModelResponse
from kantra_ai.providers.pricing import Usage

IMPORT = "import javax.ejb.Stateless;"
FIXED = "import jakarta.ejb.Stateless;"


def java(name: str) -> str:
    return f"package shop;\n\n{IMPORT}\n\n@Stateless\npublic class {name} {{\n}}\n"


def _tree(root: Path, names: list[str]) -> list[Incident]:
    incidents = []
    for name in names:
        (root / f"{name}.java").write_text(java(name), encoding="utf-8")
        incidents.append(incident(name, f"{name}.java", 3, IMPORT))
    return incidents


def _batch(one: Incident) -> Batch:
    assert one.path is not None
    return Batch(one.path, (one,), None, 300, 400)


def _prompts(incidents: list[Incident]) -> PromptBuilder:
    return PromptBuilder().with_rules(incidents)


_SECTION = re.compile(r"^## File: (\S+)\n(.*?)(?=^## File: |\Z)", re.MULTILINE | re.DOTALL)
_NUMBER = re.compile(r"^#(\d+) line", re.MULTILINE)


def numbers(request: ModelRequest) -> dict[str, list[str]]:
    """{file shown: the incident numbers listed for it} of a request."""
    return {m.group(1): _NUMBER.findall(m.group(2)) for m in _SECTION.finditer(request.prompt)}


def fix_all(request: ModelRequest) -> ModelResponse:
    """What a good model answers: each file's import fixed, under that file's incident number."""
    edits = [(IMPORT, FIXED, handles) for handles in numbers(request).values()]
    return tool_reply(edits)


def b_is_wrong(request: ModelRequest) -> ModelResponse:
    """A.java's import fixed; B.java's edit quotes a line B.java does not have."""
    shown = numbers(request)
    return tool_reply(
        [(IMPORT, FIXED, shown["A.java"]), ("import javax.nothing.Here;", FIXED, shown["B.java"])]
    )


def _read(root: Path, name: str) -> str:
    return (root / f"{name}.java").read_text(encoding="utf-8")


def test_small_files_share_one_request_and_each_is_fixed_and_written(tmp_path: Path) -> None:
    incidents = _tree(tmp_path, ["A", "B", "C"])
    model = ScriptedProvider(fix_all)
    recorder = Recorder()
    ctx = context(model, tmp_path, prompts=_prompts(incidents), observer=recorder)
    outcomes = asyncio.run(run_pack([_batch(i) for i in incidents], ctx))
    assert len(model.requests) == 1
    assert set(numbers(model.requests[0])) == {"A.java", "B.java", "C.java"}
    assert {o.incident_id: o.status for o in outcomes} == dict.fromkeys("ABC", Status.FIXED)
    assert sorted(recorder.written) == ["A.java", "B.java", "C.java"]  # each file written on its own
    for name in "ABC":
        assert _read(tmp_path, name) == java(name).replace(IMPORT, FIXED)


def test_one_files_bad_edit_in_a_packed_reply_does_not_lose_the_others_edits(tmp_path: Path) -> None:
    incidents = _tree(tmp_path, ["A", "B"])

    def b_alone(request: ModelRequest) -> ModelResponse:
        assert set(numbers(request)) == {"B.java"}  # the retry is for the failed file alone
        assert "could not be applied" in request.prompt
        return fix_all(request)

    model = ScriptedProvider(b_is_wrong, b_alone)
    ctx = context(model, tmp_path, prompts=_prompts(incidents))
    outcomes = {o.incident_id: o for o in asyncio.run(run_pack([_batch(i) for i in incidents], ctx))}
    assert outcomes["A"].status is Status.FIXED
    assert _read(tmp_path, "A") == java("A").replace(IMPORT, FIXED)
    assert outcomes["B"].status is Status.FIXED
    assert _read(tmp_path, "B") == java("B").replace(IMPORT, FIXED)
    assert len(model.requests) == 2


def test_a_failed_file_of_a_pack_keeps_its_repair_round_and_the_others_their_edits(tmp_path: Path) -> None:
    incidents = _tree(tmp_path, ["A", "B"])

    def still_wrong(request: ModelRequest) -> ModelResponse:
        return tool_reply([("import javax.nothing.There;", FIXED, numbers(request)["B.java"])])

    model = ScriptedProvider(b_is_wrong, still_wrong)
    ctx = context(model, tmp_path, prompts=_prompts(incidents))
    outcomes = {o.incident_id: o for o in asyncio.run(run_pack([_batch(i) for i in incidents], ctx))}
    assert outcomes["A"].status is Status.FIXED
    assert outcomes["B"].status is Status.FAILED and "edit not applied" in outcomes["B"].reason
    assert _read(tmp_path, "A") == java("A").replace(IMPORT, FIXED)
    assert _read(tmp_path, "B") == java("B")  # the user's file untouched
    assert len(model.requests) == 2  # one retry, as for a file asked alone


def test_an_edit_naming_incidents_of_two_files_is_applied_to_neither_and_asked_again_alone(
    tmp_path: Path,
) -> None:
    incidents = _tree(tmp_path, ["A", "B", "C"])

    def mixed(request: ModelRequest) -> ModelResponse:
        shown = numbers(request)
        return tool_reply(
            [(IMPORT, FIXED, shown["A.java"]), (IMPORT, FIXED, [*shown["B.java"], *shown["C.java"]])]
        )

    model = ScriptedProvider(mixed, fix_all, fix_all)
    ctx = context(model, tmp_path, prompts=_prompts(incidents))
    outcomes = {o.incident_id: o for o in asyncio.run(run_pack([_batch(i) for i in incidents], ctx))}
    assert [sorted(numbers(r)) for r in model.requests[1:]] in (
        [["B.java"], ["C.java"]],
        [["C.java"], ["B.java"]],
    )
    assert {i: o.status for i, o in outcomes.items()} == dict.fromkeys("ABC", Status.FIXED)
    for name in "ABC":
        assert _read(tmp_path, name) == java(name).replace(IMPORT, FIXED)


def test_words_replaced_on_incidents_lines_of_several_files_are_made_in_each_file(tmp_path: Path) -> None:
    """One `subs` item for the incidents of every file: each file gets the pairs for its own lines,
    in the one request; a file whose line lacks the words is asked again alone, the others kept."""
    incidents = _tree(tmp_path, ["A", "B", "C"])
    (tmp_path / "C.java").write_text(
        java("C").replace(IMPORT, "import javax.ejb.Singleton;"), encoding="utf-8"
    )

    def one_item(request: ModelRequest) -> ModelResponse:
        everyone = [int(n) for shown in numbers(request).values() for n in shown]
        item = [everyone, "javax.ejb.Stateless", "jakarta.ejb.Stateless"]
        return ModelResponse(
            text="", tool_input={"subs": [item]}, stop_reason="tool_use", usage=Usage(100, 50)
        )

    def c_alone(request: ModelRequest) -> ModelResponse:
        assert list(numbers(request)) == ["C.java"]
        return tool_reply(
            [("import javax.ejb.Singleton;", "import jakarta.ejb.Singleton;", numbers(request)["C.java"])]
        )

    model = ScriptedProvider(one_item, c_alone)
    ctx = context(model, tmp_path, prompts=_prompts(incidents))
    outcomes = {o.incident_id: o for o in asyncio.run(run_pack([_batch(i) for i in incidents], ctx))}
    assert {i: o.status for i, o in outcomes.items()} == dict.fromkeys("ABC", Status.FIXED)
    assert "occurs on none of the incidents' lines" in model.requests[1].prompt
    for name in "AB":
        assert _read(tmp_path, name) == java(name).replace(IMPORT, FIXED)
    assert _read(tmp_path, "C") == java("C").replace(IMPORT, "import jakarta.ejb.Singleton;")


def test_a_packed_reply_cut_off_is_asked_again_with_twice_the_room(tmp_path: Path) -> None:
    incidents = _tree(tmp_path, ["A", "B"])
    cut = tool_reply([], stop_reason="max_tokens")
    model = ScriptedProvider(cut, fix_all)
    ctx = context(model, tmp_path, prompts=_prompts(incidents), max_retries=0)
    outcomes = {o.incident_id: o for o in asyncio.run(run_pack([_batch(i) for i in incidents], ctx))}
    assert [len(numbers(r)) for r in model.requests] == [2, 2]
    assert model.requests[1].max_tokens == 2 * model.requests[0].max_tokens
    assert {i: o.status for i, o in outcomes.items()} == dict.fromkeys("AB", Status.FIXED)


def test_a_packed_reply_cut_off_twice_sends_each_file_alone_without_using_a_repair_round(
    tmp_path: Path,
) -> None:
    incidents = _tree(tmp_path, ["A", "B"])
    cut = tool_reply([], stop_reason="max_tokens")
    model = ScriptedProvider(cut, cut, fix_all, fix_all)
    recorder = Recorder()
    ctx = context(model, tmp_path, prompts=_prompts(incidents), observer=recorder, max_retries=0)
    outcomes = {o.incident_id: o for o in asyncio.run(run_pack([_batch(i) for i in incidents], ctx))}
    assert len(model.requests) == 4
    assert all(len(numbers(r)) == 1 for r in model.requests[2:])
    assert {i: o.status for i, o in outcomes.items()} == dict.fromkeys("AB", Status.FIXED)
    assert any("cut off" in reason for reason in recorder.rejected)


def test_a_malformed_packed_reply_sends_each_file_alone(tmp_path: Path) -> None:
    incidents = _tree(tmp_path, ["A", "B"])
    prose = text_reply("Sure, here are the fixes.")
    model = ScriptedProvider(prose, fix_all, fix_all)
    ctx = context(model, tmp_path, prompts=_prompts(incidents), max_retries=0)
    outcomes = {o.incident_id: o for o in asyncio.run(run_pack([_batch(i) for i in incidents], ctx))}
    assert [sorted(numbers(r)) for r in model.requests[1:]] in (
        [["A.java"], ["B.java"]],
        [["B.java"], ["A.java"]],
    )
    assert {i: o.status for i, o in outcomes.items()} == dict.fromkeys("AB", Status.FIXED)


def test_a_file_is_never_in_two_requests_at_once(tmp_path: Path) -> None:
    names = [f"S{n:02d}" for n in range(24)]
    incidents = _tree(tmp_path, names)
    in_flight: list[str] = []
    overlaps: list[str] = []
    asked: list[str] = []

    class Slow(ScriptedProvider):
        async def complete(self, request: ModelRequest, on_progress: object = None) -> ModelResponse:
            shown = list(numbers(request))
            overlaps.extend(path for path in shown if path in in_flight)
            in_flight.extend(shown)
            asked.extend(shown)
            await asyncio.sleep(0.01)
            for path in shown:
                in_flight.remove(path)
            return fix_all(request)

    prompts = _prompts(incidents)
    files = [
        FileBatches(PurePosixPath(f"{n}.java"), [_batch(i)], fixed_tokens=0)
        for n, i in zip(names, incidents, strict=True)
    ]
    plan = RunBatches(files, packing=PackSettings(max_files=5))
    model = Slow()
    result = asyncio.run(execute_batches(plan, context(model, tmp_path, prompts=prompts), parallelism=8))
    assert overlaps == []
    assert sorted(asked) == sorted(f"{n}.java" for n in names)  # each file in exactly one request
    assert 1 < len({r.path for r in result.records}) <= 24 // 5 + 1  # packs, not one request per file
    assert all(o.status is Status.FIXED for o in result.outcomes.values())


def test_a_packed_reply_cut_off_is_continued_and_each_file_gets_its_part_once_whole(tmp_path: Path) -> None:
    incidents = _tree(tmp_path, ["A", "B"])

    def edits(request: ModelRequest) -> list[tuple[str, str, list[str]]]:
        return [(IMPORT, FIXED, handles) for handles in numbers(request).values()]

    def cut_after_the_first_file(request: ModelRequest) -> ModelResponse:
        raw = json.dumps(tool_reply(edits(request)).tool_input)
        first = json.dumps(tool_reply(edits(request)[:1]).tool_input["edits"][0])
        end = raw.index(first) + len(first) + 5
        return ModelResponse("", None, "max_tokens", Usage(100, 50), "not JSON", tool_arguments=raw[:end])

    def the_rest(request: ModelRequest) -> ModelResponse:
        return tool_reply(edits(request)[1:])

    model = ScriptedProvider(cut_after_the_first_file, the_rest)
    ctx = context(model, tmp_path, prompts=_prompts(incidents), max_retries=0)
    outcomes = {o.incident_id: o for o in asyncio.run(run_pack([_batch(i) for i in incidents], ctx))}
    first, second = model.requests
    assert len(numbers(first)) == 2 and second.prompt.startswith(first.prompt)
    assert "## Your answer was cut off" in second.prompt
    assert {i: o.status for i, o in outcomes.items()} == dict.fromkeys("AB", Status.FIXED)
    for name in "AB":
        assert _read(tmp_path, name) == java(name).replace(IMPORT, FIXED)


def test_a_pack_holding_more_work_than_a_lone_file_is_asked_before_it(tmp_path: Path) -> None:
    # One cache group: E (the longest file) leads it. F alone plans 350 output tokens; B, C and D
    # plan 300 each, 900 together, in one pack: the pack is the longer request and goes first,
    # though each of its files is shorter than F (the run would otherwise end on it).
    incidents = _tree(tmp_path, ["B", "C", "D", "E", "F"])
    work = {"B": 300, "C": 300, "D": 300, "E": 600, "F": 350}
    files = [
        FileBatches(i.path, [Batch(i.path, (i,), None, 300, work[i.path.stem])])
        for i in incidents
        if i.path is not None
    ]
    model = ScriptedProvider(fix_all, fix_all, fix_all)
    ctx = context(model, tmp_path, prompts=_prompts(incidents))
    pack = [PurePosixPath(f"{name}.java") for name in ("B", "C", "D")]
    asyncio.run(execute_batches(RunBatches(files=files, packs=[pack]), ctx, parallelism=1))
    asked = [sorted(numbers(request)) for request in model.requests]
    assert asked == [["E.java"], ["B.java", "C.java", "D.java"], ["F.java"]]
    assert all(_read(tmp_path, name) == java(name).replace(IMPORT, FIXED) for name in work)
