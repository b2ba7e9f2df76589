"""Remove each safety gate of the engine in turn and check that a test fails (docs/testing.md).

    .venv/bin/python scripts/gate_removal.py            # every gate, about a minute per ten gates
    .venv/bin/python scripts/gate_removal.py "syntax gate"

Each gate is one small source change that switches it off (the code a reviewer would delete). The
scripted-provider tests of the engine run against it; a gate whose removal no test notices is
reported as SURVIVED and the script exits 1. The source is restored after every gate, also on
Ctrl-C. Not part of CI: `scripts/test.sh` runs the tests themselves; this checks that they guard.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = "src/kantra_ai/engine/batch_runner.py"
RULES = "src/kantra_ai/engine/outcome_rules.py"
CHECKED = "src/kantra_ai/edits/checked.py"
INTEGRITY = "src/kantra_ai/edits/integrity.py"
ANCHOR = "src/kantra_ai/edits/anchor.py"
COMBINE = "src/kantra_ai/edits/combine.py"
LOCATE = "src/kantra_ai/edits/locate.py"
CONTINUATION = "src/kantra_ai/engine/continuation.py"
STORE = "src/kantra_ai/store/run_store.py"
SCRATCH = "src/kantra_ai/scratch.py"
DELIVER = "src/kantra_ai/delivery/deliver.py"
UNDO = "src/kantra_ai/app/undo.py"
GIT_HOOK = "src/kantra_ai/app/git_delivery.py"
VERIFY_LOOP = "src/kantra_ai/verify/loop.py"
PORTFOLIO = "src/kantra_ai/portfolio/run.py"
PORTFOLIO_UNIT = "src/kantra_ai/portfolio/unit.py"
HUB_ADDON = "src/kantra_ai/hub/addon.py"
PLAN_INCIDENTS = "src/kantra_ai/plan/incidents.py"
VERIFICATION = "src/kantra_ai/app/verification.py"
VERIFY_COMMAND = "src/kantra_ai/verify/command.py"
REPORT_RECORD = "src/kantra_ai/report/record.py"
RUN = "src/kantra_ai/app/run.py"
TESTS = [
    "tests/engine/test_batch_runner.py",
    "tests/edits/test_edits_on_incident_lines.py",
    "tests/engine/test_runner_history.py",
    "tests/engine/test_outcome_rules.py",
    "tests/edits/test_edit_integrity.py",
    "tests/edits/test_edit_apply.py",
    "tests/engine/test_continued_replies.py",
    "tests/engine/test_pack_shares.py",
    "tests/store/test_pack_shares_kept.py",
    "tests/test_scratch.py",
    "tests/delivery/test_commits.py::test_a_repository_in_the_middle_of_an_operation_is_refused_before_head_moves",
    "tests/delivery/test_commits.py::test_undo_waits_while_the_index_is_held_and_then_commits_the_undo",
    "tests/delivery/test_commits.py::test_a_branch_name_taken_by_other_work_is_refused_before_anything_is_sent",
    "tests/verify/test_verify_strategies.py::test_a_check_that_puts_a_fixed_file_back_verifies_nothing_and_stops_the_run",
    "tests/verify/test_verify_strategies.py::test_a_check_that_deletes_the_run_store_is_refused_before_anything_is_sent",
    "tests/portfolio/test_portfolio_embedded.py::test_a_second_portfolio_run_on_the_same_workspace_is_refused_before_it_touches_anything",
    "tests/portfolio/test_portfolio_embedded.py::test_a_source_changed_in_the_manifest_is_never_run_on_the_old_copy",
    "tests/hub/test_hub_addon.py::test_a_config_file_committed_in_the_repository_is_never_read_by_the_pod",
    "tests/hub/test_hub_addon.py::test_the_report_the_hub_is_sent_is_redacted_as_the_log_is",
    "tests/cli/test_remediate_safety.py::test_a_reply_that_deletes_a_whole_file_is_refused_and_nothing_is_called_fixed",
    "tests/hub/test_hub_addon.py::test_a_password_for_the_repository_is_in_no_file_of_the_volume_and_the_branch_is_still_pushed",
    "tests/cli/test_plan_execute.py::test_a_plan_naming_a_file_outside_the_input_is_refused_before_anything_is_sent_or_written",
    "tests/verify/test_verify_strategies.py::test_a_fix_kept_while_the_check_fails_without_our_edits_too_is_never_counted_fixed",
    "tests/verify/test_reanalysis.py::test_incidents_the_analyzer_still_reports_are_failed_in_the_store_for_status_and_the_next_run",
    "tests/delivery/test_commits.py::test_a_fix_reached_through_a_symbolic_link_is_said_and_left_uncommitted_and_the_rest_committed",
    "tests/cli/test_remediate_safety.py::test_a_read_only_file_is_not_sent_and_its_incidents_fail_saying_so",
    "tests/cli/test_remediate_safety.py::test_a_file_in_a_folder_that_cannot_be_written_is_not_sent_and_the_next_run_sends_it",
    "tests/cli/test_output_paths.py",
    "tests/verify/test_command.py",
    "tests/cli/test_confidence_actions.py::test_a_review_file_that_is_a_file_of_the_users_is_refused_before_anything_is_sent",
    "tests/engine/test_relocate_incidents.py",
]

# (gate, file, the code that makes it, the code without it)
GATES: list[tuple[str, str, str, str]] = [
    ("reply cut off at max_tokens", RUNNER, "if response.truncated:", "if False:"),
    (
        "malformed reply",
        RUNNER,
        "        except MalformedReply as exc:\n",
        "        except MalformedReply as exc:\n"
        "            proposed = ProposedFix([], [])\n"
        "        if False:\n",
    ),
    (
        "the model sees only the window",
        RUNNER,
        "        visible_region(source.text, moved),\n",
        "        None,\n",
    ),
    ("syntax gate", CHECKED, "broken = breaks_syntax(path, content, result.content)", "broken = None"),
    (
        "integrity gate",
        CHECKED,
        "for problem in check_integrity(path, content, result.content, result.landings):",
        "for problem in []:",
    ),
    (
        "edits match inside the window",
        CHECKED,
        "content, [edits[i] for i in active], region=region,",
        "content, [edits[i] for i in active], region=None,",
    ),
    (
        "fixed needs an edit",
        RULES,
        "        if not evidence.target_shown:\n"
        "            return outcome(Status.FAILED, FIXED_NEEDS_AN_EDIT)\n",
        "",
    ),
    ("a failed edit fails its incident", RULES, "    if evidence.edit_failure:\n", "    if False:\n"),
    (
        "an unusable last reply decides",
        RULES,
        "    if evidence.reply_problem:\n        return outcome(Status.FAILED, evidence.reply_problem)\n",
        "",
    ),
    ("verdicts that contradict edits", RUNNER, "if tied & reported_fixed:", "if True:"),
    (
        "stale file never overwritten",
        "src/kantra_ai/edits/files.py",
        "if current != original.sha256:",
        "if False:",
    ),
    (
        "--max-cost budget",
        RUNNER,
        "if not ctx.guard.try_reserve(worst):",
        "if not (ctx.guard.try_reserve(worst) or True):",
    ),
    ("no request after a stop", RUNNER, "if ctx.control.stop.is_set():", "if False:"),
    ("a fatal provider error stops the run", RUNNER, 'ctx.control.abort(f"run aborted: {exc}")', "pass"),
    (
        "low confidence withheld",
        RUNNER,
        "screened = state.screen.screen(ProposedFix(kept, proposed.verdicts), pending)",
        "screened = ProposedFix(kept, proposed.verdicts)",
    ),
    ("not asked a third time", RUNNER, "state.given_up.add(incident_id)", "pass"),
    (
        "a retry shows only its incidents' failures",
        RUNNER,
        "if not f.edit.incident_ids or retry_ids & set(f.edit.incident_ids)]",
        "if True]",
    ),
    (
        "edits applied before are known",
        RUNNER,
        "applied_before=[*state.applied_before, *state.applied, *state.already],",
        "applied_before=[],",
    ),
    ("an incident already fixed is not asked", RUNNER, "            if why:\n", "            if False:\n"),
    (
        "an incident a reply said nothing about is asked again",
        RUNNER,
        "    state.asked_unanswered |= state.unanswered\n",
        "    state.unanswered = set()\n",
    ),
    (
        "a sub is no fix of an incident whose line it leaves as it is",
        ANCHOR,
        "    if findings is None:\n        return edit.incident_ids\n",
        "    return edit.incident_ids\n",
    ),
    (
        "one change a reply makes twice, aligned differently, is made once",
        COMBINE,
        "        accepted.remove(insertion)\n",
        "        continue\n",
    ),
    (
        "an edit that reads two ways lands only where both readings agree",
        COMBINE,
        "                        _one_reading(doc.base.lines, [group[a], group[b]])\n",
        "                        pass\n",
    ),
    (
        "overlapping edits that depend on a reading together, not in pairs, are not all applied",
        COMBINE,
        "                    _one_reading(doc.base.lines, group)\n",
        "                    pass\n",
    ),
    (
        "an edit without old goes only on its incidents' lines shown",
        ANCHOR,
        "        if not first < line <= stop:\n",
        "        if False:\n",
    ),
    (
        "an edit without old whose sub applies nowhere is refused",
        ANCHOR,
        "        if not any(before in lines[n] for n in numbers):\n",
        "        if False:\n",
    ),
    (
        "an edit without old quotes its lines uniquely",
        ANCHOR,
        'while len(find_all(window_text, "\\n".join(lines[top : bottom + 1]), 0, len(window_text))) > 1:',
        "while False:",
    ),
    (
        "a continued reply is applied only whole",
        CONTINUATION,
        "    return dataclasses.replace(rest, usage=usage)\n",
        "    return dataclasses.replace(rest, tool_input=_merged(parts), tool_input_error='', usage=usage)\n",
    ),
    (
        "a continued text answer is applied only with a rest that answers",
        CONTINUATION,
        "whole = str(_merged(parts)) + rest.text if holds_answer(rest.text) else rest.text",
        "whole = str(_merged(parts)) + rest.text",
    ),
    (
        "a line after a first line quoted from inside its indentation keeps its own indentation",
        LOCATE,
        "if anchor is not None and not (anchor == 0 and partial_head and j > 0):",
        "if anchor is not None:",
    ),
    (
        "windows follow moved incidents",
        RUNNER,
        "moved = relocate_batch(batch, source.text, changes.moves if changes is not None else None)",
        "moved = batch",
    ),
    (
        "a kept share of a packed reply answers only the incidents it was made for",
        RUNNER,
        "if share is None or set(share.incident_ids) != {i.id for i in pending}:",
        "if share is None:",
    ),
    (
        "a kept share of a packed reply applies only to the bytes it was made for",
        STORE,
        ' WHERE tree=? AND path=? AND content_sha=?"',
        " WHERE tree=? AND path=? AND ?!=''\"",
    ),
    (
        "a share holding a secret-shaped text is never applied",
        STORE,
        'state = "open" if redact(body) == body else "masked"',
        'state = "open"',
    ),
    (
        "only the scratch folders of processes that are gone are removed",
        SCRATCH,
        "return pid != os.getpid() and not _alive(pid)",
        "return True",
    ),
    (
        "only the scratch folders of this pid namespace are removed",
        SCRATCH,
        "    if namespace != _namespace():",
        "    if False:",
    ),
    (
        "only this user's scratch folders are removed",
        SCRATCH,
        "or info.st_uid != os.getuid():",
        ":",
    ),
    (
        "git delivery waits for a merge, rebase or held index",
        DELIVER,
        "        if busy:",
        "        if False:",
    ),
    ("undo waits for a merge, rebase or held index", UNDO, "            if busy:", "            if False:"),
    (
        "a branch taken by other work is refused before anything is sent",
        GIT_HOOK,
        "            self.delivery.refuse_taken_branch(store, continues, store.next_run_id())\n",
        "",
    ),
    ("a check that changes what it checks decides nothing", VERIFY_LOOP, "        if why:", "        if 0:"),
    ("one portfolio run per workspace", PORTFOLIO, "        lock.acquire()\n", "        pass\n"),
    (
        "a changed source is never run on the old copy",
        PORTFOLIO_UNIT,
        "        if recorded and recorded != made_from:",
        "        if False:",
    ),
    (
        "a Hub task never reads a config file committed in the application's repository",
        HUB_ADDON,
        "loaded = load_config(explicit, cwd=home, home=home)",
        "loaded = load_config(explicit, cwd=work / TREE_DIR, home=home)",
    ),
    (
        "what the Hub is told passes the redaction layer",
        HUB_ADDON,
        '"activity": [redact(line) for line in self.activity],',
        '"activity": list(self.activity),',
    ),
    (
        "an edit that removes most of the file is refused",
        INTEGRITY,
        "    problems.extend(_removed_bulk(old_lines, new_lines, landings))\n",
        "",
    ),
    (
        "an edit that writes a placeholder for code it left out is refused",
        INTEGRITY,
        "    problems.extend(_placeholders(landings))\n",
        "",
    ),
    (
        "an incident's edits apply together or not at all",
        CHECKED,
        " or _partners(\n            edits, active, result, refused\n        )",
        "",
    ),
    (
        "an edit that writes a credential is refused",
        CHECKED,
        "if k not in blamed and writes_secret(",
        "if False and (",
    ),
    (
        "a repository password never reaches the clone's config",
        HUB_ADDON,
        "    url, password = _without_password(repo.url)\n",
        "    url, password = repo.url, None\n",
    ),
    (
        "a plan naming a file outside --input is refused",
        PLAN_INCIDENTS,
        "    refuse_outside(analysis.incidents, phase_of, plan_path, input_dir)\n",
        "",
    ),
    (
        "a fix kept while its check fails is not counted fixed",
        VERIFICATION,
        "            if item.state in (REVERTED, FAILING):",
        "            if item.state == REVERTED:",
    ),
    (
        "a fix re-analysis still reports is failed in the store",
        VERIFICATION,
        "            fail_fixes(job.session.store, job.run_id, self.reanalysis.still_reported, reason)\n",
        "            pass\n",
    ),
    (
        "no commit through a symbolic link",
        DELIVER,
        "        writes = self._not_through_links(writes, row.base_sha)\n",
        "",
    ),
    (
        "a file no fix could be written to is not sent",
        RUNNER,
        "    if (problem := write_problem(source)) is not None:",
        "    if (problem := write_problem(source)) is not None and False:",
    ),
    (
        "a report never writes over a file of the user's",
        REPORT_RECORD,
        "    if path.parent.name != TOOL_DIR:",
        "    if False:",
    ),
    (
        "a review file of the user's is refused before anything is sent",
        RUN,
        "            read_review_file(policy.review_file)\n",
        "            pass\n",
    ),
    (
        "a check never sees kantra-ai's own credentials",
        VERIFY_COMMAND,
        "env={**without_our_secrets(os.environ), **QUIET_ENV",
        "env={**os.environ, **QUIET_ENV",
    ),
    (
        "fixed needs its line done",
        RULES,
        "    if evidence.source_shown:\n        return outcome(Status.FAILED, evidence.source_shown)\n",
        "",
    ),
    (
        "a window shows the incidents found past its planned end",
        "src/kantra_ai/engine/relocate.py",
        "        if max(after) > last:\n"
        "            first, last = first + max(after) - last, max(after)\n"
        "        if min(after) < first:\n"
        "            first, last = min(after), last - (first - min(after))\n"
        "        last = max(last, max(after))\n",
        "",
    ),
]


def main(names: list[str]) -> int:
    survived = 0
    for name, relative, gate, without in GATES:
        if names and name not in names:
            continue
        path = ROOT / relative
        text = path.read_text(encoding="utf-8")
        if text.count(gate) != 1:
            print(f"{name}: the gate's code is not found once in {relative}; update this script")
            return 2
        path.write_text(text.replace(gate, without), encoding="utf-8")
        try:
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-rfE", "-p", "no:cacheprovider", *TESTS],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            path.write_text(text, encoding="utf-8")
        failed = next((line for line in run.stdout.splitlines() if line.startswith("FAILED")), "")
        survived += run.returncode == 0
        print(f"{name}: {'caught by ' + failed.split()[1] if run.returncode else 'SURVIVED'}", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
