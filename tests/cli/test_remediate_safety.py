"""Bad replies, stale files, storms and budgets: the user's files stay intact, every incident accounted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import (
    EXAMPLES,
    analysis_of,
    copy_example,
    expected_of,
    read_only_folder,
    remediate_json,
    run,
    tree_differences,
)

from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall
from kantra_ai.simulated.recipes import parse_prompts, quoting, request_text, respond
from testing.fakeprovider.faults import Fault, FaultPlan
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"


def _remediate(app: Path, server: FakeProviderServer, *extra: str) -> tuple[int, dict[str, Any]]:
    return remediate_json(EXAMPLE, app, server, *extra)


def _reasons(summary: dict[str, Any]) -> set[str]:
    return {o["reason"] for o in summary["outcomes"] if o["status"] != "fixed"}


def test_truncated_replies_are_never_applied(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond, faults=FaultPlan.every_request(Fault.truncate(0.6), 1000)) as server:
        code, summary = _remediate(app, server)
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []
    assert code == 1
    assert summary["incidents"]["fixed"] == 0
    assert all("cut off at max_tokens" in r for r in _reasons(summary))


def test_garbage_replies_leave_files_untouched_and_say_why(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond, faults=FaultPlan.every_request(Fault.garbage(), 1000)) as server:
        code, summary = _remediate(app, server)
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []
    assert code == 1
    assert summary["incidents"]["failed"] == summary["incidents"]["selected"]
    assert all("malformed reply" in r for r in _reasons(summary))


def test_one_truncated_reply_is_retried_with_more_room_and_succeeds(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond, faults=FaultPlan.sequence(Fault.truncate(0.5))) as server:
        code, summary = _remediate(app, server, "--batch-parallelism", "1")
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    files = len({o["file"] for o in summary["outcomes"]})
    assert summary["requests"] == files + 1  # the truncated one was asked again


def test_an_overload_the_api_reports_mid_stream_is_retried_as_a_529(tmp_path: Path) -> None:
    # The API sheds load by ending a stream that began 200 with an `error` event (overloaded_error).
    app = copy_example(EXAMPLE, tmp_path)
    faults = FaultPlan.sequence(Fault.stream_error(), Fault.stream_error())
    with FakeProviderServer(respond, faults=faults) as server:
        code, summary = _remediate(app, server, "--batch-parallelism", "1")
        assert server.faults_injected == {"stream_error": 2}
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert summary["performance"]["run"]["pacing"]["overloaded_529"] == 2, summary["performance"]


def _ambiguous(request: FakeRequest) -> FakeReply:
    reply = respond(quoting(request))
    edits = [{"ids": e["ids"], "old": "import", "new": "export"} for e in reply.tool_calls[0].input["edits"]]
    return FakeReply(tool_calls=[ToolCall("apply_fixes", {**reply.tool_calls[0].input, "edits": edits})])


@pytest.mark.parametrize("mode", [(), ("--text-edits",)], ids=["tool", "text"])
def test_a_cut_off_reply_is_continued_over_the_wire_and_the_tree_ends_as_expected(
    tmp_path: Path, mode: tuple[str, ...]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    # One at a time, the third request is the first whose answer has two items (or blocks): cut off
    # in its second, its first arrived whole.
    cut = FaultPlan(scripted={3: Fault.truncate(0.8)})
    with FakeProviderServer(respond, faults=cut) as server:
        code, summary = _remediate(app, server, "--batch-parallelism", "1", *mode)
        asked = [r.last_user_text() for r in server.requests]
        stops = server.stop_reasons
    assert code == 0, _reasons(summary)
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    # The cut-off reply was continued in the request after it: the same question, what arrived, and
    # the rest asked for (not asked again whole).
    assert stops[2] == "max_tokens" and "## Your answer was cut off" in asked[3]
    assert asked[3].startswith(asked[2]) and stops[3] != "max_tokens"
    files = len({o["file"] for o in summary["outcomes"]})
    assert summary["requests"] == files + 1


def test_a_reply_cut_off_at_a_max_tokens_sized_from_evidence_costs_no_repair_round(tmp_path: Path) -> None:
    """Once replies were seen, max_tokens is sized from them (below the static budget); when that was
    too little, the incidents still get their repair round after the request with more room."""
    app = copy_example(EXAMPLE, tmp_path)
    answers: dict[str, int] = {}

    def cut_then_ambiguous_then_right(request: FakeRequest) -> FakeReply:
        path = request.last_user_text().split("## File: ", 1)[-1].split("\n", 1)[0]
        if len(answers) < 2 and path not in answers:  # the first files answer normally: evidence
            answers[path] = 99
        answers[path] = answers.get(path, 0) + 1
        if answers[path] == 1:
            return FakeReply(tool_calls=respond(request).tool_calls, stop_reason="max_tokens")
        if answers[path] == 2:
            return _ambiguous(request)
        return respond(request)

    with FakeProviderServer(cut_then_ambiguous_then_right) as server:
        code, summary = _remediate(app, server, "--batch-parallelism", "1")
    assert len(answers) > 2 and all(n == 3 for n in answers.values() if n < 99)
    assert code == 0, _reasons(summary)
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_ambiguous_edits_are_refused_and_the_file_is_untouched(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(_ambiguous) as server:
        code, summary = _remediate(app, server)
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []
    assert code == 1
    assert any("matches" in r and "places" in r for r in _reasons(summary))
    # Each failed edit was sent back once for a retry (bounded), then given up.
    assert summary["requests"] == 2 * len({o["file"] for o in summary["outcomes"]})


def test_a_file_changed_on_disk_during_the_run_is_re_read_and_re_planned(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    victim = next(p for p in sorted(app.rglob("*.java")) if "javax.persistence" in p.read_text())
    expected = (expected_of(EXAMPLE) / victim.relative_to(app)).read_text()
    users_line = "\n// the user's own edit while the tool ran\n"
    asked: list[str] = []

    def meddling(request: FakeRequest) -> FakeReply:
        if victim.name in request.last_user_text():
            asked.append(request.last_user_text())
            if len(asked) == 1:
                victim.write_text(victim.read_text() + users_line)
        return respond(request)

    with FakeProviderServer(meddling) as server:
        code, _ = _remediate(app, server)
    # Not overwritten blindly: the second request saw the user's edit, and the result keeps it.
    assert len(asked) == 2 and users_line.strip() in asked[1]
    assert victim.read_text() == expected + users_line
    assert code == 0


def test_a_file_that_keeps_changing_is_never_overwritten(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    victim = next(p for p in sorted(app.rglob("*.java")) if "javax.persistence" in p.read_text())
    lines_added: list[str] = []

    def meddling(request: FakeRequest) -> FakeReply:
        if victim.name in request.last_user_text():
            lines_added.append(f"// the user's edit number {len(lines_added) + 1}\n")
            victim.write_text(victim.read_text() + lines_added[-1])
        return respond(request)

    original = victim.read_text()
    with FakeProviderServer(meddling) as server:
        code, summary = _remediate(app, server)
    assert victim.read_text() == original + "".join(lines_added)
    assert code == 1
    stale = [o for o in summary["outcomes"] if o["file"].endswith(victim.name)]
    assert stale and all("changed on disk" in o["reason"] for o in stale)


def test_a_storm_of_429_and_529_still_processes_every_incident(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    storm = FaultPlan(rate_429=0.3, rate_529=0.3, retry_after_ms=1, seed=11)
    with FakeProviderServer(respond, faults=storm) as server:
        code, summary = _remediate(app, server)
        injected = server.faults_injected
    assert sum(injected.values()) >= 3
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert summary["incidents"]["fixed"] == summary["incidents"]["selected"]


def test_max_cost_is_never_exceeded(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond) as server:
        _, full = _remediate(copy_example(EXAMPLE, tmp_path / "full"), server)
        limit = full["cost_usd"] / 2
        code, summary = _remediate(app, server, "--max-cost", f"{limit:.6f}")
    assert summary["cost_usd"] <= limit
    assert code == 1
    assert summary["incidents"]["skipped"] > 0
    assert any("--max-cost" in r for r in _reasons(summary))


def test_a_rejected_api_key_aborts_the_run_with_its_own_exit_code(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond, faults=FaultPlan.every_request(Fault.status(401), 1000)) as server:
        code, summary = _remediate(app, server)
        requests = server.request_count
    assert code == 3
    assert summary["aborted"]
    assert requests <= 8  # stopped starting new requests after the first refusal
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []


def test_dry_run_opens_no_connection_and_changes_nothing(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code = run(
        "remediate",
        "--analysis",
        analysis_of(EXAMPLE),
        "--input",
        app,
        "--base-url",
        fake.anthropic_base_url,
        "--dry-run",
        "--json",
    )
    plan = json.loads(capsys.readouterr().out)
    assert code == 0
    assert fake.connection_count == 0
    assert plan["totals"]["requests"] == len(plan["requests"]) > 0
    assert plan["totals"]["input_tokens"] > 0
    assert plan["totals"]["expected_cost_usd"] <= plan["totals"]["worst_case_cost_usd"]
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []


def test_dry_run_needs_no_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    app = copy_example(EXAMPLE, tmp_path)
    code = run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--dry-run")
    assert code == 0
    assert "Dry run" in capsys.readouterr().out


def test_a_stream_dropped_mid_reply_is_never_applied_and_is_asked_again(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    drops = FaultPlan.sequence(Fault.drop(0.5), Fault.drop(0.8))
    with FakeProviderServer(respond, faults=drops) as server:
        code, summary = _remediate(app, server, "--batch-parallelism", "1")
        injected = server.faults_injected
    assert injected.get("drop") == 2
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert summary["incidents"]["fixed"] == summary["incidents"]["selected"]


def test_an_edit_that_does_not_match_is_retried_with_the_closest_lines(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    seen: list[str] = []

    def sloppy_first(request: FakeRequest) -> FakeReply:
        seen.append(request.last_user_text())
        if len(seen) > 1:
            return respond(request)
        reply = respond(quoting(request))
        call = reply.tool_calls[0]
        edits = [{**e, "old": e["old"].replace("import", "imprt")} for e in call.input["edits"]]
        return FakeReply(tool_calls=[ToolCall("apply_fixes", {**call.input, "edits": edits})])

    with FakeProviderServer(sloppy_first) as server:
        code, _ = _remediate(app, server, "--batch-parallelism", "1")
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert "closest lines" in seen[1]
    assert "could not be applied" in seen[1]


def test_a_retry_after_a_malformed_reply_reaches_the_model(tmp_path: Path) -> None:
    """A model whose first answer per file is prose, not a tool call: the retry must not be served
    the stored bad reply again; every incident is fixed with one retry per file."""
    app = copy_example(EXAMPLE, tmp_path)
    asked: dict[str, int] = {}

    def prose_first(request: FakeRequest) -> FakeReply:
        text = request.last_user_text()
        path = text.split("## File: ", 1)[1].split("\n", 1)[0]
        asked[path] = asked.get(path, 0) + 1
        if asked[path] == 1:
            return FakeReply(text="I would replace the javax imports with jakarta ones.")
        assert "could not be used" in text  # the retry says what was wrong
        return respond(request)

    with FakeProviderServer(prose_first) as server:
        code, summary = _remediate(app, server, "--max-retries", "3")
    assert code == 0, summary
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert set(asked.values()) == {2}
    assert summary["requests"] == 2 * len(asked)
    db = sqlite3.connect(app / ".kantra-ai" / "state.db")
    states = sorted({row[0] for row in db.execute("SELECT state FROM replies")})
    db.close()
    assert states == ["unusable", "used"]


def _spoil_subs(spoil: Any) -> Any:
    """A responder whose first answer for each file has its `subs` spoiled by `spoil(item, handles)`
    (the handles the request showed); later answers are the scripted model's own."""
    asked: set[str] = set()

    def responder(request: FakeRequest) -> FakeReply:
        reply = respond(request)
        paths = {prompt.path for prompt in parse_prompts(request_text(request))}
        if paths & asked or not reply.tool_calls or "subs" not in reply.tool_calls[0].input:
            return reply
        asked.update(paths)
        call = reply.tool_calls[0]
        subs = [spoil(item) for item in call.input["subs"]]
        return FakeReply(tool_calls=[ToolCall("apply_fixes", {**call.input, "subs": subs})])

    return responder


def _only_expected_changes(app: Path, summary: dict[str, Any], pristine: Path) -> None:
    """Every file with no failed incident is exactly the expected one; in the others every line that
    changed is a line of the expected file (nothing the fixes would not write)."""
    failed = {o["file"] for o in summary["outcomes"] if o["status"] != "fixed"}
    expected = expected_of(EXAMPLE)
    assert set(tree_differences(app, expected)) <= failed
    for name in failed:
        before = set((pristine / name).read_text(encoding="utf-8").splitlines())
        wanted = set((expected / name).read_text(encoding="utf-8").splitlines())
        assert set((app / name).read_text(encoding="utf-8").splitlines()) - before <= wanted


def test_subs_whose_words_stand_on_none_of_their_lines_change_nothing_and_are_asked_again(
    tmp_path: Path,
) -> None:
    app = copy_example(EXAMPLE, tmp_path)

    def misspelt(item: list[Any]) -> list[Any]:
        return [item[0], *(t.upper() if k % 2 == 0 else t for k, t in enumerate(item[1:]))]

    with FakeProviderServer(_spoil_subs(misspelt)) as server:
        code, summary = _remediate(app, server, "--batch-parallelism", "1")
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    files = len({o["file"] for o in summary["outcomes"]})
    assert summary["requests"] > files  # the spoiled answers were not taken as fixes


@pytest.mark.parametrize(
    "spoil",
    [
        # Incident numbers the request never showed: dropped; the incidents they meant are not fixed.
        lambda item: [[900, 901], *item[1:]],
        # Numbers shifted by one: the words go on the lines of the incidents named, where they stand.
        lambda item: [[i + 1 for i in (item[0] if isinstance(item[0], list) else [item[0]])], *item[1:]],
    ],
    ids=["unknown-numbers", "shifted-numbers"],
)
def test_subs_naming_the_wrong_incidents_change_only_what_the_fixes_would(tmp_path: Path, spoil: Any) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(_spoil_subs(spoil)) as server:
        _, summary = _remediate(app, server, "--batch-parallelism", "1")
    _only_expected_changes(app, summary, copy_example(EXAMPLE, tmp_path / "pristine"))
    assert summary["incidents"]["fixed"] > 0


def _deleting(request: FakeRequest) -> FakeReply:
    """The scripted model's answer, each Java file's edits replaced by one that deletes the file."""
    reply = respond(quoting(request))
    prompts = parse_prompts(request_text(request))
    if len(prompts) != 1 or prompts[0].language != "java" or not reply.tool_calls:
        return reply
    ids = sorted({n for e in reply.tool_calls[0].input.get("edits", []) for n in e["ids"]})
    gone = {"ids": ids, "old": prompts[0].content, "new": ""}
    return FakeReply(tool_calls=[ToolCall("apply_fixes", {"edits": [gone]})])


def test_a_reply_that_deletes_a_whole_file_is_refused_and_nothing_is_called_fixed(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(_deleting) as server:
        _, summary = _remediate(app, server)
    java = {o["file"] for o in summary["outcomes"] if o["file"].endswith(".java")}
    assert java
    for path in java:
        assert (app / path).read_bytes() == (EXAMPLES / EXAMPLE / "app" / path).read_bytes()
    assert {o["status"] for o in summary["outcomes"] if o["file"] in java} == {"failed"}
    assert any("the edit removes" in r for r in _reasons(summary)), _reasons(summary)


def _waving_off(request: FakeRequest) -> FakeReply:
    """A model that says every incident does not apply."""
    verdicts = [
        {"id": int(i.id), "status": "not_applicable", "reason": "n/a"}
        for prompt in parse_prompts(request_text(request))
        for i in prompt.incidents
    ]
    return FakeReply(tool_calls=[ToolCall("apply_fixes", {"edits": [], "verdicts": verdicts})])


def test_does_not_apply_for_incidents_whose_files_still_hold_what_the_rule_replaces_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(_waving_off) as server:
        _, summary = _remediate(app, server)
        doubtful = {(d["file"], d["name"]) for d in summary["doubtful_not_applicable"]}
        assert ("pom.xml", "javax") in doubtful
        assert ("src/main/resources/META-INF/persistence.xml", "persistence_2_1.xsd") in doubtful
        capsys.readouterr()
        other = copy_example(EXAMPLE, tmp_path / "other")
        argv = ("--analysis", analysis_of(EXAMPLE), "--input", other, "--base-url", server.anthropic_base_url)
        run("remediate", *argv, "--no-progress")
    said = " ".join(capsys.readouterr().out.split())
    assert (
        f"the model said {len(summary['doubtful_not_applicable'])} incidents do not apply, yet their files"
        in said
    )
    with FakeProviderServer(respond) as server:  # a model that fixes them: nothing doubtful
        _, fixed = _remediate(copy_example(EXAMPLE, tmp_path / "fixed"), server)
    assert fixed["doubtful_not_applicable"] == []


def test_a_file_in_a_folder_that_cannot_be_written_is_not_sent_and_the_next_run_sends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only folder (a read-only mount, another user's folder): its files' edits could never
    land, so they are not sent and not paid for; once it can be written, the same command sends
    them, without --retry-failed. Before: every file was sent, paid for, and failed "cannot write
    file" after the reply (and --retry-failed paid for it again)."""
    app = copy_example(EXAMPLE, tmp_path)
    model = app / "src/main/java/com/example/inventory/model"
    with read_only_folder(model, monkeypatch), FakeProviderServer(respond) as server:
        code, summary = _remediate(app, server)
        sent = [r for r in server.requests if "model/Product.java" in request_text(r)]
    assert code == 1
    assert sent == []
    refused = [
        o for o in summary["outcomes"] if o["file"].startswith("src/main/java/com/example/inventory/model/")
    ]
    assert refused and {o["status"] for o in refused} == {"failed"}
    assert all(o["reason"].startswith("not sent: ") and "is not writable" in o["reason"] for o in refused)
    with FakeProviderServer(respond) as server:
        code, summary = _remediate(app, server)
        assert server.request_count == 1  # only the folder's file, sent once
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_a_file_of_mixed_newlines_changes_only_on_the_fixed_lines(tmp_path: Path) -> None:
    # Half its lines CRLF, half LF (a file edited on two systems): the run fixes the incidents'
    # lines and leaves every other line's ending as it was, not rewritten in the dominant style.
    name = "src/main/java/com/example/inventory/service/InventoryService.java"
    app = copy_example(EXAMPLE, tmp_path)
    lines = (app / name).read_bytes().splitlines(keepends=True)
    ends = [b"\r\n" if number % 2 else b"\n" for number in range(len(lines))]
    (app / name).write_bytes(
        b"".join(line.rstrip(b"\n") + end for line, end in zip(lines, ends, strict=True))
    )
    with FakeProviderServer(respond) as server:
        code, summary = _remediate(app, server)
    assert code == 0 and name in summary["changed_files"]
    wanted = (expected_of(EXAMPLE) / name).read_bytes().splitlines(keepends=True)
    assert len(wanted) == len(lines)
    assert (app / name).read_bytes() == b"".join(
        line.rstrip(b"\n") + end for line, end in zip(wanted, ends, strict=True)
    )


def test_a_read_only_file_is_not_sent_and_its_incidents_fail_saying_so(tmp_path: Path) -> None:
    # No fix of a file without write permission could land (the write refuses it): the model is
    # not paid to answer for it; the run's other files are fixed as usual.
    name = "src/main/java/com/example/inventory/service/InventoryService.java"
    app = copy_example(EXAMPLE, tmp_path)
    before = (app / name).read_bytes()
    (app / name).chmod(0o444)
    with FakeProviderServer(respond) as server:
        code, summary = _remediate(app, server)
        asked = [r.last_user_text() for r in server.requests]
    assert code == 1
    mine = [o for o in summary["outcomes"] if o["file"] == name]
    assert mine and {(o["status"], o["reason"]) for o in mine} == {
        ("failed", f"not sent: {app / name} is read-only, so no fix could be written to it")
    }
    assert not any(f"## File: {name}" in text for text in asked)
    assert (app / name).read_bytes() == before
    assert summary["incidents"]["fixed"] == summary["incidents"]["selected"] - len(mine)


def test_max_cost_is_never_exceeded_by_retries_of_broken_replies(tmp_path: Path) -> None:
    """Each attempt of a request is billed (a reply that broke off had its input counted), yet only
    one attempt's worst case was reserved: a retry goes out only if it still fits the budget."""
    app = copy_example(EXAMPLE, tmp_path)
    prices = tmp_path / "prices.yaml"  # every input token at one rate, output nearly free: an
    # attempt costs most of a request's worst case, and a second one would not fit
    prices.write_text(
        "claude-sonnet-5-5: {input: 10, output: 0.01, cache-read: 10, cache-write: 10, cache-write-1h: 10}\n"
    )
    limit = 0.03
    with FakeProviderServer(respond, faults=FaultPlan.sequence(*[Fault.drop(0.9)] * 4)) as server:
        code, summary = _remediate(
            app, server, "-m", "claude-sonnet-5-5", "--prices", str(prices), "--max-cost", str(limit),
            "--batch-parallelism", "1",
        )  # fmt: skip
        sent = server.request_count
    assert summary["cost_usd"] > 0.01  # the first attempt, billed and counted
    assert summary["cost_usd"] <= limit
    assert sent == 1
    assert code == 1
    assert any("--max-cost" in r for r in _reasons(summary))
