"""Low-confidence fixes end to end: the real CLI, the SDK, the fake model over loopback, real files.

The scripted model answers every fix with confidence 0.9; a wrapper lowers it for chosen rules. All
rules of the example have effort 1, so they are "trivial" (default threshold 0.70).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.helpers import analysis_of, copy_example, expected_of, remediate_json, run, tree_differences

from kantra_ai.edits.apply import apply_edits
from kantra_ai.edits.model import Edit
from kantra_ai.simulated.contract import FakeReply, FakeRequest, Responder
from kantra_ai.simulated.recipes import parse_prompts, request_text, respond
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"
POM_RULES = re.compile(r"^javax-to-jakarta-dependencies-")
SCHEMA_RULE = re.compile(r"^javaee-to-jakarta-namespaces-00030$")  # shares an edit with 00002 on one line


def lowered(rules: re.Pattern[str], confidence: float = 0.5) -> Responder:
    """The scripted model, less sure about the incidents of the matching rules."""

    def answer(request: FakeRequest) -> FakeReply:
        reply = respond(request)
        prompts = parse_prompts(request_text(request))  # several files when small ones are packed
        low = {i.id for prompt in prompts for i in prompt.incidents if rules.search(i.rule_id)}
        for call in reply.tool_calls:
            for verdict in call.input.get("verdicts", []):
                if str(verdict["id"]) in low:
                    verdict["confidence"] = confidence
        return reply

    return answer


def _remediate(app: Path, server: FakeProviderServer, *extra: str | Path) -> tuple[int, dict[str, Any]]:
    return remediate_json(EXAMPLE, app, server, *extra)


def _outcomes(summary: dict[str, Any], rules: re.Pattern[str]) -> list[dict[str, Any]]:
    return [o for o in summary["outcomes"] if rules.search(o["rule"])]


def _trivial(summary: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = summary["confidence"]["by_complexity"]["trivial"]
    return row


def test_skip_leaves_low_confidence_fixes_out_and_says_why(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(lowered(POM_RULES)) as server:
        code, summary = _remediate(app, server, "--enable-confidence")
    assert code == 1
    assert tree_differences(app, expected_of(EXAMPLE)) == ["pom.xml"]  # every other fix applied
    assert (app / "pom.xml").read_bytes() == (copy_example(EXAMPLE, tmp_path / "p") / "pom.xml").read_bytes()
    pom = _outcomes(summary, POM_RULES)
    assert len(pom) == 2
    for outcome in pom:
        assert outcome["status"] == "skipped"
        assert outcome["confidence"] == 0.5 and outcome["threshold"] == 0.7
        assert outcome["reason"] == "confidence 0.50 is below the trivial threshold 0.70; edit not applied"
    assert _trivial(summary) == {"threshold": 0.7, "incidents": 19, "fixed": 17, "below_threshold": 2}
    report = Path(summary["report"]).read_text()
    assert "Confidence by migration complexity" in report
    assert "<td>trivial</td><td>0.70</td><td>19</td><td>17</td><td>2</td>" in report


def test_a_rerun_names_fixes_skipped_for_low_confidence_as_such_not_as_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(lowered(POM_RULES)) as server:
        assert _remediate(app, server, "--enable-confidence")[0] == 1
        asked = server.request_count
        capsys.readouterr()
        code, summary = _remediate(app, server, "--enable-confidence")
        assert code == 1 and server.request_count == asked  # nothing asked again without --retry-failed
    said = " ".join(capsys.readouterr().err.split())
    assert "skipping 19 incidents settled by earlier runs (17 fixed, 2 skipped for low confidence);" in said
    assert "failed" not in said.replace("--retry-failed", "")
    assert "--retry-failed asks again about the 2 not fixed" in said
    skipped = {"fixed": 17, "not_applicable": 0, "failed": 0, "low_confidence": 2, "held_back": 0}
    assert summary["store"]["skipped"] == skipped


def test_warn_and_apply_applies_low_confidence_fixes_and_flags_them(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(lowered(POM_RULES)) as server:
        code, summary = _remediate(app, server, "--on-low-confidence", "warn-and-apply")  # turns it on
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    for outcome in _outcomes(summary, POM_RULES):
        assert outcome["status"] == "fixed"
        assert outcome["reason"].startswith("applied although confidence 0.50 is below")
    assert _trivial(summary) == {"threshold": 0.7, "incidents": 19, "fixed": 19, "below_threshold": 2}


def test_warn_and_apply_warns_once_for_all_its_fixes_in_the_summary_for_people(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(lowered(POM_RULES)) as server:
        args = ["--analysis", analysis_of(EXAMPLE), "--input", app, "--base-url", server.anthropic_base_url]
        assert run("remediate", *args, "--no-progress", "--on-low-confidence", "warn-and-apply") == 0
    out = capsys.readouterr().out
    assert "Confidence by migration complexity" in out
    warnings = [line for line in out.splitlines() if "warning:" in line]
    # Two fixes were applied below their threshold: one grouped warning, not one per incident.
    assert len(warnings) == 1, warnings
    assert "2 fixes were applied below their confidence threshold" in warnings[0]
    assert "pom.xml (2)" in warnings[0]


def _apply_review(pristine: str, entries: Iterable[dict[str, Any]]) -> str:
    edits = [Edit(e["old"], e["new"], tuple(e["incidents"])) for entry in entries for e in entry["edits"]]
    result = apply_edits(pristine, edits)
    assert not result.failed
    return result.content


def test_manual_review_file_keeps_the_proposed_edits_so_a_person_can_apply_them(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path / "run")
    review = tmp_path / "review" / "manual-review.yaml"
    with FakeProviderServer(lowered(POM_RULES)) as server:
        extra = ["--on-low-confidence", "manual-review-file", "--review-file", str(review)]
        code, summary = _remediate(app, server, *extra)
    assert code == 1
    assert tree_differences(app, expected_of(EXAMPLE)) == ["pom.xml"]
    for outcome in _outcomes(summary, POM_RULES):
        assert outcome["status"] == "skipped"
        assert outcome["reason"].endswith(f"; proposed edit saved to {review}")
    document = yaml.safe_load(review.read_text())
    entries = document["entries"]
    assert {e["file"] for e in entries} == {"pom.xml"}
    incidents = [i for e in entries for i in e["incidents"]]
    assert {i["rule"] for i in incidents} == {
        "javax-to-jakarta-dependencies-00006",
        "javax-to-jakarta-dependencies-00007",
    }
    assert all(i["confidence"] == 0.5 and i["threshold"] == 0.7 and i["explanation"] for i in incidents)
    # Applying the recorded edits by hand gives exactly the fix that was withheld.
    pristine = (app / "pom.xml").read_text()
    assert _apply_review(pristine, entries) == (expected_of(EXAMPLE) / "pom.xml").read_text()


def test_the_review_file_defaults_to_the_input_tree_and_grows_across_runs(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    review = app / ".kantra-ai" / "manual-review.yaml"
    with FakeProviderServer(lowered(POM_RULES)) as server:
        _remediate(app, server, "--on-low-confidence", "manual-review-file")
        first = yaml.safe_load(review.read_text())["entries"]
        _remediate(app, server, "--on-low-confidence", "manual-review-file", "--fresh")
    second = yaml.safe_load(review.read_text())["entries"]
    assert len(first) > 0
    assert second[: len(first)] == first and len(second) == 2 * len(first)  # appended, not replaced


def test_an_edit_shared_with_a_low_confidence_incident_is_withheld_for_both(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(lowered(SCHEMA_RULE)) as server:
        code, summary = _remediate(app, server, "--enable-confidence")
    assert code == 1
    line5 = [o for o in summary["outcomes"] if o["file"].endswith("persistence.xml") and o["line"] == 5]
    assert {o["status"] for o in line5} == {"skipped"}
    partner = next(o for o in line5 if not SCHEMA_RULE.search(o["rule"]))
    assert "shared with low-confidence incident" in partner["reason"]
    text = (app / "src/main/resources/META-INF/persistence.xml").read_text()
    assert 'xmlns="https://jakarta.ee/xml/ns/persistence"' in text  # line 3: its own edit, applied
    assert "persistence_2_1.xsd" in text  # line 5: the shared edit, withheld


def test_min_confidence_raises_every_threshold_and_turns_filtering_on(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _remediate(app, fake, "--min-confidence", "0.95")
    assert code == 1
    assert summary["incidents"]["fixed"] == 0
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []
    assert _trivial(summary)["threshold"] == 0.95


@pytest.mark.parametrize("override, fixed", [("trivial=0.95", 0), ("high=0.99,expert=0.99", 19)])
def test_complexity_threshold_overrides_only_the_complexities_it_names(
    override: str, fixed: int, tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    _, summary = _remediate(app, fake, "--complexity-threshold", override)
    assert summary["incidents"]["fixed"] == fixed
    assert summary["confidence"]["enabled"] is True


def test_a_bad_complexity_threshold_is_a_one_line_error(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code = run(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--complexity-threshold", "hard=1"
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kantra-ai: error: --complexity-threshold:") and len(err.splitlines()) == 1
    assert fake.request_count == 0


def test_a_review_file_that_is_a_file_of_the_users_is_refused_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--review-file pom.xml` ran, withheld every fix, said "Withheld fixes were saved for manual
    review in pom.xml" (they were not: the file is not a review file) and left pom.xml.lock behind."""
    app = copy_example(EXAMPLE, tmp_path)
    code = run(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", "simulated",
        "--on-low-confidence", "manual-review-file", "--min-confidence", "0.99",
        "--review-file", app / "pom.xml",
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert (
        err.startswith(f"kantra-ai: error: --review-file {app / 'pom.xml'}: ")
        and "not a kantra-ai review" in err
    )
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine"), ignore=()) == []


def _config(app_parent: Path, monkeypatch: pytest.MonkeyPatch, confidence: dict[str, Any]) -> None:
    (app_parent / ".kantra-ai.yaml").write_text(yaml.safe_dump({"confidence": confidence}))
    monkeypatch.chdir(app_parent)


def test_thresholds_from_the_config_file_take_effect(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    _config(tmp_path, monkeypatch, {"enabled": True, "complexity-thresholds": {"trivial": 0.95}})
    code, summary = _remediate(app, fake)
    assert code == 1
    assert summary["incidents"]["fixed"] == 0


def test_the_threshold_flag_overrides_the_config_file(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    _config(tmp_path, monkeypatch, {"enabled": True, "complexity-thresholds": {"trivial": 0.95}})
    code, summary = _remediate(app, fake, "--complexity-threshold", "trivial=0.5")
    assert code == 0
    assert summary["incidents"]["fixed"] == 19


def test_an_explicit_default_action_beats_the_config_files_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    _config(tmp_path, monkeypatch, {"enabled": True, "on-low-confidence": "warn-and-apply"})
    with FakeProviderServer(lowered(POM_RULES)) as server:
        _, summary = _remediate(app, server, "--on-low-confidence", "skip")  # skip is the default
    assert {o["status"] for o in _outcomes(summary, POM_RULES)} == {"skipped"}


def test_no_enable_confidence_beats_the_config_file(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    _config(tmp_path, monkeypatch, {"enabled": True, "complexity-thresholds": {"trivial": 0.95}})
    code, summary = _remediate(app, fake, "--no-enable-confidence")
    assert code == 0
    assert summary["confidence"]["enabled"] is False


def test_without_filtering_low_confidence_fixes_are_applied_as_before(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(lowered(POM_RULES)) as server:
        code, summary = _remediate(app, server)
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert _trivial(summary)["below_threshold"] == 0


def test_execute_holds_fixes_to_the_thresholds_too(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    out = tmp_path / "plan"
    flags = [
        "--analysis",
        analysis_of(EXAMPLE),
        "--input",
        app,
        "--output",
        out,
        "--planner",
        "deterministic",
    ]
    assert run("plan", *flags) == 0
    base = [
        "--plan",
        out / "plan.yaml",
        "--input",
        app,
        "--base-url",
        fake.anthropic_base_url,
        "--no-progress",
    ]
    assert run("execute", *base, "--min-confidence", "0.95") == 1
    assert fake.request_count > 0
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []
