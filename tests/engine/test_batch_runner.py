"""One batch against a scripted model: every gate between a reply and the user's file.

Each test scripts the model's replies, runs the batch on a real file in a temporary folder and checks
the file and the outcomes. The gates: a reply cut off at max_tokens, a malformed reply, the syntax
gate, the integrity gate, "fixed needs an edit", verdicts that contradict edits, retries (what they
show, when they stop), a file changed on disk during the request, confidence withholding.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.engine.scripted import (
    IdHandles,
    Recorder,
    ScriptedProvider,
    batch,
    context,
    incident,
    text_reply,
    tool_reply,
)

from kantra_ai.engine.batch_runner import RunContext, run_batch
from kantra_ai.engine.calibration import Calibration
from kantra_ai.engine.confidence import ConfidencePolicy, LowConfidenceAction
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.providers.base import ModelResponse, ProviderError
from kantra_ai.providers.pricing import Usage

JAVA = """\
package shop;

import javax.ejb.Stateless;
import java.util.List;

@Stateless
public class Orders {
    public int count(List<String> names) {
        return names.size();
    }

    public int twice(int a) {
        return a * 2;
    }
}
"""
IMPORT = "import javax.ejb.Stateless;"
FIXED_IMPORT = "import jakarta.ejb.Stateless;"


def _run(
    root: Path, ctx: RunContext, *incidents_: object, window: tuple[int, int] | None = None
) -> dict[str, IncidentOutcome]:
    planned = batch("Orders.java", *incidents_, window=window)  # type: ignore[arg-type]
    return {o.incident_id: o for o in asyncio.run(run_batch(planned, ctx))}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "Orders.java").write_text(JAVA, encoding="utf-8")
    return tmp_path


def _file(root: Path) -> str:
    return (root / "Orders.java").read_text(encoding="utf-8")


A = incident("a", "Orders.java", 3, IMPORT)


def test_a_good_reply_is_applied_and_the_incident_fixed(root: Path) -> None:
    model = ScriptedProvider(tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)]))
    outcomes = _run(root, context(model, root), A)
    assert outcomes["a"].status is Status.FIXED
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)
    assert len(model.requests) == 1


def test_a_reply_cut_off_at_max_tokens_is_never_applied(root: Path) -> None:
    cut = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)], stop_reason="max_tokens")
    model = ScriptedProvider(cut)
    recorder = Recorder()
    outcomes = _run(root, context(model, root, max_retries=0, observer=recorder), A)
    assert outcomes["a"].status is Status.FAILED
    assert "cut off at max_tokens (1000)" in outcomes["a"].reason
    assert _file(root) == JAVA
    assert recorder.rejected  # the store marks it unusable


def test_after_a_cut_off_reply_the_same_question_is_asked_with_twice_the_room(root: Path) -> None:
    cut = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)], stop_reason="max_tokens")
    good = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)])
    model = ScriptedProvider(cut, good)
    outcomes = _run(root, context(model, root), A)
    assert outcomes["a"].status is Status.FIXED
    assert [r.max_tokens for r in model.requests] == [1000, 2000]
    assert model.requests[0].prompt == model.requests[1].prompt


def test_a_malformed_reply_is_never_applied_and_its_retry_says_why(root: Path) -> None:
    good = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)])
    model = ScriptedProvider(text_reply("I would change the import."), good)
    recorder = Recorder()
    outcomes = _run(root, context(model, root, observer=recorder), A)
    assert outcomes["a"].status is Status.FIXED
    assert len(model.requests) == 2
    assert "could not be used" in model.requests[1].prompt
    assert recorder.rejected and "malformed reply" in recorder.rejected[0]


def test_a_malformed_reply_fails_its_incidents_saying_so(root: Path) -> None:
    model = ScriptedProvider(text_reply("I would change the import."))
    outcomes = _run(root, context(model, root, max_retries=0), A)
    assert outcomes["a"].status is Status.FAILED
    assert outcomes["a"].reason.startswith("malformed reply: ")
    assert _file(root) == JAVA


def test_the_model_sees_only_the_window_and_its_edits_match_only_there(root: Path) -> None:
    # `    }` closes both methods; inside the window (the second method) it is unique.
    b = incident("b", "Orders.java", 13, "return a * 2;")
    reply = tool_reply([("    }", "    } // twice", ["b"])], [("b", "fixed", 0.9)])
    model = ScriptedProvider(reply)
    outcomes = _run(root, context(model, root, max_retries=0), b, window=(12, 14))
    assert "public int twice" in model.requests[0].prompt
    assert "public int count" not in model.requests[0].prompt
    assert outcomes["b"].status is Status.FIXED
    assert _file(root) == JAVA.replace(
        "        return a * 2;\n    }", "        return a * 2;\n    } // twice"
    )


def test_every_incident_whose_edit_landed_is_fixed_by_it(root: Path) -> None:
    b = incident(
        "b", "Orders.java", 6, "@Stateless", message="Replace `@Stateless` with `@ApplicationScoped`"
    )
    reply = tool_reply(
        [(IMPORT, FIXED_IMPORT, ["a"]), ("@Stateless", "@ApplicationScoped", ["b"])],
        [("a", "fixed", 0.9), ("b", "fixed", 0.9)],
    )
    outcomes = _run(root, context(ScriptedProvider(reply), root, max_retries=0), A, b)
    # Fixed by their own edits (rule 11), not by the target state their lines show (rule 8).
    assert [(o.status, o.reason) for o in outcomes.values()] == [(Status.FIXED, "")] * 2


def test_an_edit_that_breaks_the_syntax_is_refused(root: Path) -> None:
    # Parses before, not after (a missing semicolon): only the syntax gate can see it.
    broken = tool_reply([("        return a * 2;", "        return a * 2", ["a"])], [("a", "fixed", 0.9)])
    model = ScriptedProvider(broken)
    outcomes = _run(root, context(model, root, max_retries=0), A)
    assert outcomes["a"].status is Status.FAILED
    assert "no longer parses" in outcomes["a"].reason
    assert _file(root) == JAVA


def test_an_edit_that_removes_a_used_import_is_refused_by_the_integrity_gate(root: Path) -> None:
    # The file still parses; the name `List` is still used.
    removal = tool_reply([("import java.util.List;\n", "", ["a"])], [("a", "fixed", 0.9)])
    model = ScriptedProvider(removal)
    outcomes = _run(root, context(model, root, max_retries=0), A)
    assert outcomes["a"].status is Status.FAILED
    assert "List" in outcomes["a"].reason
    assert _file(root) == JAVA


def test_only_the_edit_a_gate_blames_is_refused(root: Path) -> None:
    b = incident("b", "Orders.java", 13, "return a * 2;")
    reply = tool_reply(
        [(IMPORT, FIXED_IMPORT, ["a"]), ("        return a * 2;", "        return a * 2", ["b"])],
        [("a", "fixed", 0.9), ("b", "fixed", 0.9)],
    )
    model = ScriptedProvider(reply)
    outcomes = _run(root, context(model, root, max_retries=0), A, b)
    assert outcomes["a"].status is Status.FIXED
    assert outcomes["b"].status is Status.FAILED
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)


def test_fixed_needs_an_edit(root: Path) -> None:
    model = ScriptedProvider(tool_reply([], [("a", "fixed", 0.9)]))
    outcomes = _run(root, context(model, root, max_retries=0), A)
    assert outcomes["a"].status is Status.FAILED
    assert outcomes["a"].reason == "model said fixed but sent no edit for it"


def test_an_edit_for_another_incident_does_not_fix_this_one(root: Path) -> None:
    b = incident(
        "b", "Orders.java", 6, "@Stateless", message="Replace `@Stateless` with `@ApplicationScoped`"
    )
    reply = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9), ("b", "fixed", 0.9)])
    outcomes = _run(root, context(ScriptedProvider(reply), root, max_retries=0), A, b)
    assert outcomes["a"].status is Status.FIXED
    assert outcomes["b"].status is Status.FAILED


def test_an_edit_naming_no_incident_is_tied_to_every_incident_of_its_request(root: Path) -> None:
    reply = tool_reply([(IMPORT, FIXED_IMPORT, [])], [("a", "fixed", 0.9)])
    outcomes = _run(root, context(ScriptedProvider(reply), root), A)
    assert outcomes["a"].status is Status.FIXED


def test_an_incident_without_a_verdict_fails_and_its_edits_are_not_applied(root: Path) -> None:
    # When every incident is asked for a verdict (confidence filtering); terse replies (the default)
    # leave the verdicts of edited incidents out (the test after this one).
    reply = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [])
    full = IdHandles(full_verdicts=True)
    outcomes = _run(root, context(ScriptedProvider(reply), root, max_retries=0, prompts=full), A)
    assert outcomes["a"].status is Status.FAILED
    assert "no verdict" in outcomes["a"].reason and "not applied" in outcomes["a"].reason
    assert _file(root) == JAVA


def test_in_a_terse_reply_an_edited_incident_without_a_verdict_is_fixed(root: Path) -> None:
    reply = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [])
    outcomes = _run(root, context(ScriptedProvider(reply), root, max_retries=0), A)
    assert outcomes["a"].status is Status.FIXED
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)


@pytest.mark.parametrize(
    "verdict, status", [("not_applicable", Status.NOT_APPLICABLE), ("cannot_fix", Status.FAILED)]
)
def test_edits_of_an_incident_the_reply_does_not_report_fixed_are_not_applied(
    root: Path, verdict: str, status: Status
) -> None:
    reply = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", verdict, 0.9)])
    outcomes = _run(root, context(ScriptedProvider(reply), root, max_retries=0), A)
    assert outcomes["a"].status is status
    assert "its edits were not applied" in outcomes["a"].reason
    assert _file(root) == JAVA


def test_an_edit_shared_with_an_incident_reported_fixed_is_applied(root: Path) -> None:
    b = incident("b", "Orders.java", 3, IMPORT)
    reply = tool_reply([(IMPORT, FIXED_IMPORT, ["a", "b"])], [("a", "fixed", 0.9), ("b", "cannot_fix", 0.9)])
    outcomes = _run(root, context(ScriptedProvider(reply), root, max_retries=0), A, b)
    assert (outcomes["a"].status, outcomes["b"].status) == (Status.FIXED, Status.FAILED)
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)


def test_a_failed_edit_is_retried_with_its_reason_and_the_closest_lines_numbered(root: Path) -> None:
    wrong = tool_reply([("import javax.ejb.Stateles;", FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)])
    right = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)])
    model = ScriptedProvider(wrong, right)
    outcomes = _run(root, context(model, root), A)
    assert outcomes["a"].status is Status.FIXED
    retry = model.requests[1].prompt
    assert "old text not found" in retry
    assert f"3 | {IMPORT}" in retry  # the closest line, with its number
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)


def test_a_retry_for_an_ambiguous_old_text_shows_every_place_it_matches(root: Path) -> None:
    b = incident("b", "Orders.java", 9, "return names.size();")
    ambiguous = tool_reply([("    }\n", "    }\n\n", ["b"])], [("b", "fixed", 0.9)])
    model = ScriptedProvider(ambiguous, tool_reply([], [("b", "cannot_fix", 0.5)]))
    _run(root, context(model, root), b)
    retry = model.requests[1].prompt
    assert "old text matches 2 places" in retry
    assert "10 |     }" in retry and "14 |     }" in retry


def test_a_retry_is_only_for_the_incidents_whose_edits_failed(root: Path) -> None:
    b = incident(
        "b", "Orders.java", 6, "@Stateless", message="Replace `@Stateless` with `@ApplicationScoped`"
    )
    first = tool_reply(
        [(IMPORT, FIXED_IMPORT, ["a"]), ("@Statelez", "@ApplicationScoped", ["b"])],
        [("a", "fixed", 0.9), ("b", "fixed", 0.9)],
    )
    second = tool_reply([("@Stateless\n", "@ApplicationScoped\n", ["b"])], [("b", "fixed", 0.9)])
    model = ScriptedProvider(first, second)
    outcomes = _run(root, context(model, root), A, b)
    assert {o.status for o in outcomes.values()} == {Status.FIXED}
    assert "#b line" in model.requests[1].prompt and "#a line" not in model.requests[1].prompt
    assert FIXED_IMPORT in model.requests[1].prompt  # it shows the file as it is now


def test_an_edit_that_fails_twice_for_the_same_reason_is_not_asked_a_third_time(root: Path) -> None:
    wrong = tool_reply([("import javax.ejb.Stateles;", FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)])
    model = ScriptedProvider(wrong, wrong, wrong, wrong)
    outcomes = _run(root, context(model, root, max_retries=3), A)
    assert len(model.requests) == 2
    assert outcomes["a"].status is Status.FAILED
    assert "not asked again" in outcomes["a"].reason


def test_a_retry_shows_only_the_failures_of_the_incidents_it_asks_about(root: Path) -> None:
    # a's edit fails twice the same way (given up); b's fails another way: the third request is
    # for b alone and must not show a's failed edit again.
    b = incident("b", "Orders.java", 13, "return a * 2;")
    wrong_a = ("import javax.ejb.Stateles;", FIXED_IMPORT, ["a"])
    verdicts = [("a", "fixed", 0.9), ("b", "fixed", 0.9)]
    first = tool_reply([wrong_a, ("        return a * 3;", "        return a + a;", ["b"])], verdicts)
    second = tool_reply([wrong_a, ("    }\n", "    }\n\n", ["b"])], verdicts)
    third = tool_reply([("        return a * 2;", "        return a + a;", ["b"])], [("b", "fixed", 0.9)])
    model = ScriptedProvider(first, second, third)
    outcomes = _run(root, context(model, root, max_retries=2), A, b)
    assert len(model.requests) == 3
    assert "import javax.ejb.Stateles;" in model.requests[1].prompt
    assert "#a line" not in model.requests[2].prompt
    assert "import javax.ejb.Stateles;" not in model.requests[2].prompt
    assert "old text matches 2 places" in model.requests[2].prompt
    assert outcomes["a"].status is Status.FAILED and outcomes["b"].status is Status.FIXED


def test_an_incident_whose_last_reply_was_cut_off_fails_for_that_reason(root: Path) -> None:
    # The outcome names the rule that decided: the retry's reply was unusable, which is why the
    # incident is not fixed (not the first reply's failed edit).
    wrong = tool_reply([("import javax.ejb.Stateles;", FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)])
    cut = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)], stop_reason="max_tokens")
    model = ScriptedProvider(wrong, cut)
    outcomes = _run(root, context(model, root), A)
    assert outcomes["a"].status is Status.FAILED
    assert outcomes["a"].reason.startswith("reply cut off at max_tokens")
    assert _file(root) == JAVA


def test_a_later_reply_without_an_edit_does_not_make_up_for_a_failed_one(root: Path) -> None:
    wrong = tool_reply([("import javax.ejb.Stateles;", FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)])
    model = ScriptedProvider(wrong, tool_reply([], [("a", "fixed", 0.9)]))
    outcomes = _run(root, context(model, root), A)
    assert outcomes["a"].status is Status.FAILED
    assert "old text not found" in outcomes["a"].reason


def test_a_repeated_edit_costs_no_retry(root: Path) -> None:
    twice = tool_reply(
        [(IMPORT + "\n", FIXED_IMPORT, ["a"]), (IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)]
    )
    model = ScriptedProvider(twice)
    outcomes = _run(root, context(model, root, max_retries=2), A)
    assert outcomes["a"].status is Status.FIXED
    assert len(model.requests) == 1
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)


def test_a_file_changed_during_the_request_is_never_overwritten_and_planned_again(root: Path) -> None:
    def edit_by_hand(number: int) -> None:
        if number == 1:
            (root / "Orders.java").write_text("// edited by hand\n" + JAVA, encoding="utf-8")

    reply = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)])
    model = ScriptedProvider(reply, reply, during=edit_by_hand)
    outcomes = _run(root, context(model, root), A)
    assert len(model.requests) == 2
    assert "// edited by hand" in model.requests[1].prompt  # planned again from what is there now
    assert outcomes["a"].status is Status.FIXED
    assert _file(root) == "// edited by hand\n" + JAVA.replace(IMPORT, FIXED_IMPORT)


def test_a_file_that_keeps_changing_is_left_alone(root: Path) -> None:
    def edit_by_hand(number: int) -> None:
        (root / "Orders.java").write_text(f"// edit {number}\n" + JAVA, encoding="utf-8")

    reply = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.9)])
    model = ScriptedProvider(reply, reply, during=edit_by_hand)
    outcomes = _run(root, context(model, root), A)
    assert outcomes["a"].status is Status.FAILED
    assert "changed on disk" in outcomes["a"].reason
    assert _file(root) == "// edit 2\n" + JAVA


def test_a_low_confidence_fix_is_withheld(root: Path, tmp_path: Path) -> None:
    policy = ConfidencePolicy.build(enabled=True)
    reply = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.5)])
    outcomes = _run(root, context(ScriptedProvider(reply), root, confidence=policy), A)
    assert outcomes["a"].status is Status.SKIPPED
    assert "below the trivial threshold" in outcomes["a"].reason
    assert _file(root) == JAVA


def test_a_low_confidence_fix_is_applied_with_warn_and_apply(root: Path) -> None:
    policy = ConfidencePolicy.build(enabled=True, action=LowConfidenceAction.WARN_AND_APPLY)
    reply = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [("a", "fixed", 0.5)])
    outcomes = _run(root, context(ScriptedProvider(reply), root, confidence=policy), A)
    assert outcomes["a"].status is Status.FIXED
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)


def test_a_request_that_fails_fails_its_incidents_and_a_fatal_error_stops_the_run(root: Path) -> None:
    model = ScriptedProvider(ProviderError("bad key", fatal=True, status=401))
    ctx = context(model, root)
    outcomes = _run(root, ctx, A)
    assert outcomes["a"].status is Status.FAILED and "request failed" in outcomes["a"].reason
    assert ctx.control.stop.is_set()
    assert _run(root, ctx, A)["a"].status is Status.SKIPPED  # no request starts after that
    assert len(model.requests) == 1


def test_a_request_over_the_budget_is_not_sent(root: Path) -> None:
    from kantra_ai.engine.budget import CostGuard
    from kantra_ai.providers.pricing import ModelPrice

    model = ScriptedProvider()
    ctx = context(model, root, guard=CostGuard(0.000001, ModelPrice(3.0, 15.0, 3.75, 6.0, 0.3)))
    outcomes = _run(root, ctx, A)
    assert outcomes["a"].status is Status.SKIPPED and "--max-cost" in outcomes["a"].reason
    assert model.requests == []


def _sub_reply(
    ids: list[str], pairs: list[list[str]], quoted: tuple[tuple[str, str, list[str]], ...] = ()
) -> ModelResponse:
    """A terse reply whose first edit leaves `old` out: `pairs` go on the lines of `ids`."""
    edits: list[dict[str, object]] = [{"ids": ids, "sub": pairs}]
    edits += [{"ids": i, "old": o, "new": n} for o, n, i in quoted]
    return ModelResponse(text="", tool_input={"edits": edits}, stop_reason="tool_use", usage=Usage(100, 50))


def test_an_edit_on_its_incidents_lines_follows_them_where_an_earlier_reply_moved_them(root: Path) -> None:
    """#b's edit adds a line above #a's, and #a's first edit fails: the retry shows #a one line
    lower, and an edit naming #a's line lands there, never on the line that now stands at 3."""
    b = incident("b", "Orders.java", 2, "")
    first = _sub_reply(
        ["a"], [["javax.persistence", "x"]], (("package shop;", "package shop;\n// migrated", ["b"]),)
    )
    retry = _sub_reply(["a"], [["javax.", "jakarta."]])
    model = ScriptedProvider(first, retry)
    outcomes = _run(root, context(model, root, prompts=IdHandles(full_verdicts=False)), A, b)
    assert outcomes["a"].status is Status.FIXED and outcomes["b"].status is Status.FIXED
    assert "occurs on none of the incidents' lines" in model.requests[1].prompt
    assert "#a line 4" in model.requests[1].prompt
    assert _file(root) == JAVA.replace("package shop;", "package shop;\n// migrated").replace(
        IMPORT, FIXED_IMPORT
    )


B = incident("b", "Orders.java", 7, "public class Orders {", message="Make `Orders` final")


def test_an_incident_a_reply_said_nothing_about_is_asked_again_alone_and_told_so(root: Path) -> None:
    forgot_b = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [])  # terse: a fixed by its edit; b forgotten
    declines_b = tool_reply([], [("b", "not_applicable", 0.9)])
    model = ScriptedProvider(forgot_b, declines_b)
    outcomes = _run(root, context(model, root), A, B)
    assert outcomes["a"].status is Status.FIXED
    assert outcomes["b"].status is Status.NOT_APPLICABLE
    assert len(model.requests) == 2
    again = model.requests[1].prompt
    assert "said nothing about some of the incidents" in again
    assert "Make `Orders` final" in again and "jakarta.ejb" not in again.split("## Incidents")[-1]
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)


def test_an_incident_said_nothing_about_twice_fails_for_want_of_a_verdict(root: Path) -> None:
    missed_a_forgot_b = tool_reply([("import javax.ejb.Stateles;", FIXED_IMPORT, ["a"])], [])
    still_nothing = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [])  # a mended, b forgotten again
    model = ScriptedProvider(missed_a_forgot_b, still_nothing)  # a third request is not scripted
    outcomes = _run(root, context(model, root, max_retries=3), A, B)
    assert outcomes["a"].status is Status.FIXED
    assert outcomes["b"].status is Status.FAILED and "no verdict" in outcomes["b"].reason
    assert len(model.requests) == 2


def test_an_incident_whose_line_a_sub_leaves_as_it_is_is_not_fixed_by_it_and_is_asked_again(
    root: Path,
) -> None:
    """A `subs` item naming #a and #b whose words stand on #a's line only: #b's line keeps its
    problem, so the item is no fix of #b (a terse reply's naming implied one), and #b is asked again."""
    words_on_a_only = _sub_reply(["a", "b"], [["javax.", "jakarta."]])
    declines_b = tool_reply([], [("b", "not_applicable", 0.9)])
    model = ScriptedProvider(words_on_a_only, declines_b)
    outcomes = _run(root, context(model, root, prompts=IdHandles(full_verdicts=False)), A, B)
    assert outcomes["a"].status is Status.FIXED
    assert outcomes["b"].status is Status.NOT_APPLICABLE
    assert len(model.requests) == 2 and "said nothing about" in model.requests[1].prompt
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)


def test_a_finding_the_analyzer_reports_at_two_lines_is_fixed_by_a_sub_on_either(root: Path) -> None:
    """The same rule and message at line 3 and at line 7 (as analyzers report an XML root's
    attribute at a child element too): one `subs` item naming both, its words on line 3, fixes both."""
    again = incident("a2", "Orders.java", 7, "public class Orders {")  # A's rule and message
    model = ScriptedProvider(_sub_reply(["a", "a2"], [["javax.", "jakarta."]]))
    outcomes = _run(root, context(model, root, prompts=IdHandles(full_verdicts=False)), A, again)
    assert outcomes["a"].status is Status.FIXED and outcomes["a2"].status is Status.FIXED
    assert len(model.requests) == 1
    assert _file(root) == JAVA.replace(IMPORT, FIXED_IMPORT)


def test_an_incident_inside_lines_another_edit_changed_line_for_line_is_asked_again_at_its_own_line(
    tmp_path: Path,
) -> None:
    # One edit changes lines 3 and 5 (quoting 3-5) for a and b; c, on line 4 between them, was
    # forgotten. Its retry must point at line 4, not at the edited block's first line (a's import).
    text = "package shop;\n\nimport javax.a.A;\nimport javax.c.C;\nimport javax.b.B;\n\nclass X {}\n"
    (tmp_path / "X.java").write_text(text, encoding="utf-8")
    old = "import javax.a.A;\nimport javax.c.C;\nimport javax.b.B;\n"
    new = "import jakarta.a.A;\nimport javax.c.C;\nimport jakarta.b.B;\n"
    first = tool_reply([(old, new, ["a", "b"])], [])
    second = tool_reply([("import javax.c.C;\n", "import jakarta.c.C;\n", ["c"])], [])
    model = ScriptedProvider(first, second)
    a, c, b = (
        incident(n, "X.java", line, f"import javax.{n}.{n.upper()};")
        for n, line in (("a", 3), ("c", 4), ("b", 5))
    )
    outcomes = {
        o.incident_id: o for o in asyncio.run(run_batch(batch("X.java", a, b, c), context(model, tmp_path)))
    }
    assert all(o.status is Status.FIXED for o in outcomes.values())
    assert "#c line 4" in model.requests[1].prompt
    assert (tmp_path / "X.java").read_text(encoding="utf-8") == text.replace("javax", "jakarta")


def test_where_output_binds_a_cut_off_reply_is_asked_again_with_twice_the_room_not_the_static_budget(
    root: Path,
) -> None:
    # Sized from evidence at a few dozen tokens, cut off twice: 2x, then 4x, never the batch's static
    # 1,000 reserved whole; the cut-offs cost the incident no repair round (max_retries=0).
    calibration = Calibration()
    for n in range(3):
        calibration.observe_output([incident(f"seen{n}", "Orders.java", 3)], 20, {f"seen{n}": 20})
    calibration.output_bound = True
    cut = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [], stop_reason="max_tokens")
    good = tool_reply([(IMPORT, FIXED_IMPORT, ["a"])], [])
    model = ScriptedProvider(cut, cut, good)
    outcomes = _run(root, context(model, root, max_retries=0, calibration=calibration), A)
    assert outcomes["a"].status is Status.FIXED
    first, second, third = (r.max_tokens for r in model.requests)
    assert first < 100 and (second, third) == (2 * first, 4 * first)
    # Where output does not bind, the first cut-off asks for the static budget at once.
    calibration.output_bound = False
    (root / "Orders.java").write_text(JAVA, encoding="utf-8")
    model = ScriptedProvider(cut, good)
    _run(root, context(model, root, max_retries=0, calibration=calibration), A)
    assert model.requests[1].max_tokens == 1000


def test_an_edit_naming_two_incidents_that_changes_one_of_their_lines_does_not_fix_the_other(
    tmp_path: Path,
) -> None:
    # One edit tied to both imports rewrites line 3 only: line 5 is untouched and still holds the
    # `javax.ejb` its rule says to replace, so it is not reported fixed (the other one is).
    text = "package shop;\n\nimport javax.ejb.Stateless;\nimport java.util.List;\nimport javax.ejb.EJB;\n"
    (tmp_path / "X.java").write_text(text, encoding="utf-8")
    a = incident("a", "X.java", 3, "import javax.ejb.Stateless;")
    b = incident("b", "X.java", 5, "import javax.ejb.EJB;")
    model = ScriptedProvider(tool_reply([(IMPORT, FIXED_IMPORT, ["a", "b"])], []))
    outcomes = {
        o.incident_id: o for o in asyncio.run(run_batch(batch("X.java", a, b), context(model, tmp_path)))
    }
    assert outcomes["a"].status is Status.FIXED
    assert outcomes["b"].status is Status.FAILED
    assert outcomes["b"].reason == "an edit naming it changed other lines: line 5 still shows `javax.ejb`"
    assert (tmp_path / "X.java").read_text(encoding="utf-8") == text.replace(IMPORT, FIXED_IMPORT)


def test_a_namespace_left_on_a_line_no_edit_quoted_is_not_fixed_whatever_else_the_rule_asks(
    tmp_path: Path,
) -> None:
    # "Replace `X` with `Y` and change the schema version number": the namespace rewritten on line 3
    # by an edit naming the incidents of lines 3 and 5 leaves line 5's `X` as it was.
    text = (
        '<persistence version="2.1"\n'
        '   xmlns="http://xmlns.jcp.org/xml/ns/persistence"\n'
        '   xsi:schemaLocation="\n'
        "        http://xmlns.jcp.org/xml/ns/persistence\n"
        '        persistence_2_1.xsd">\n'
        "</persistence>\n"
    )
    (tmp_path / "persistence.xml").write_text(text, encoding="utf-8")
    message = (
        "Replace `http://xmlns.jcp.org/xml/ns/persistence` with `https://jakarta.ee/xml/ns/persistence`"
        " and change the schema version number"
    )
    top, low = (
        incident(n, "persistence.xml", line, text.split("\n")[line - 1].strip(), message=message)
        for n, line in (("top", 2), ("low", 4))
    )
    old = '   xmlns="http://xmlns.jcp.org/xml/ns/persistence"'
    new = '   xmlns="https://jakarta.ee/xml/ns/persistence"'
    model = ScriptedProvider(tool_reply([(old, new, ["top", "low"])], []))
    ran = asyncio.run(run_batch(batch("persistence.xml", top, low), context(model, tmp_path)))
    outcomes = {o.incident_id: o for o in ran}
    assert outcomes["top"].status is Status.FIXED
    assert outcomes["low"].status is Status.FAILED
    assert outcomes["low"].reason.startswith("an edit naming it changed other lines: line 4 still shows")


def test_an_edit_of_a_shared_line_that_changes_one_rules_part_does_not_fix_the_other_rule(
    tmp_path: Path,
) -> None:
    # Two rules on line 5; the edit naming both swaps the annotation and leaves `javax.ejb` there.
    text = "package shop;\n\nimport javax.ejb.Stateless;\n\n@Stateless @javax.ejb.Local\nclass X {}\n"
    (tmp_path / "X.java").write_text(text, encoding="utf-8")
    line = "@Stateless @javax.ejb.Local"
    scope = (
        "Convert to a CDI bean by replacing the `@Stateless` annotation with a scope eg `@ApplicationScoped`"
    )
    a = incident("a", "X.java", 5, line, message=scope)
    b = incident("b", "X.java", 5, line, message="Replace `javax.ejb` with `jakarta.ejb`")
    swapped = "@ApplicationScoped @javax.ejb.Local"
    model = ScriptedProvider(tool_reply([(line, swapped, ["a", "b"])], []))
    outcomes = {
        o.incident_id: o for o in asyncio.run(run_batch(batch("X.java", a, b), context(model, tmp_path)))
    }
    assert outcomes["a"].status is Status.FIXED
    assert outcomes["b"].status is Status.FAILED
    assert outcomes["b"].reason == "its edit left `javax.ejb` on line 5, with no `jakarta.ejb`"
    assert (tmp_path / "X.java").read_text(encoding="utf-8") == text.replace(line, swapped)
