"""`--reanalyze-command`: a fresh analysis (written by a script in the analyzer's format) decides
whether the fixed incidents are really gone and which incidents of the fixed rules are new."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from tests.cli.helpers import run
from tests.verify.helpers import CSV_EXPORT, CSV_IMPORT, SUMMARY, example, javac, remediate, rows

from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = example("utf8-reports")
SCRIPT = Path(__file__).with_name("reanalyze_utf8.py")


def _command(*flags: str) -> str:
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(SCRIPT))} {{output}} {' '.join(flags)}".strip()


@pytest.mark.slow  # real compiler runs (the JDK): run once, by scripts/test.sh
def test_a_stricter_rule_sees_the_fixed_incidents_gone_and_a_new_one_of_the_same_rule(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    # Not in the analysis the run fixes: the fresh one reports it as a new incident of a fixed rule.
    report_app = app / "src/main/java/com/example/reports/ReportApp.java"
    report_app.write_text(
        report_app.read_text().replace(
            "    private ReportApp() {",
            '    private ReportApp() {\n        java.io.Reader in = new java.io.FileReader("x");',
        )
    )
    code, summary = remediate(
        EXAMPLE / "output.yaml", app, fake,
        "--verify", "build", "--verify-command", javac(tmp_path / "c"),
        "--reanalyze-command", _command("--charsets"),
    )  # fmt: skip
    again = summary["verification"]["reanalysis"]
    assert again["error"] is None
    assert (again["gone"], again["still_reported"]) == (2, [])  # Summary's fix was reverted: not fixed
    assert [(n["file"], n["rule"]) for n in again["new_incidents"]] == [
        ("src/main/java/com/example/reports/ReportApp.java", "utf-8-by-default-00000")
    ]
    assert {rows(summary)[p].get("reanalysis") for p in (CSV_EXPORT, CSV_IMPORT)} == {"gone"}
    assert code == 1  # Summary


def test_incidents_the_analyzer_still_reports_are_not_counted_as_fixed(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    # The real rules match every such constructor call, charset or not: the analyzer keeps reporting them.
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    code, summary = remediate(EXAMPLE / "output.yaml", app, fake, "--reanalyze-command", _command())
    again = summary["verification"]["reanalysis"]
    assert sorted(again["still_reported"]) == sorted(r["id"] for r in summary["outcomes"])
    for path in (CSV_EXPORT, CSV_IMPORT, SUMMARY):
        assert rows(summary)[path]["status"] == "failed"
        assert rows(summary)[path]["reason"] == "re-analysis: the analyzer still reports it"
    assert code == 1


def test_incidents_the_analyzer_still_reports_are_failed_in_the_store_for_status_and_the_next_run(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    remediate(EXAMPLE / "output.yaml", app, fake, "--reanalyze-command", _command())
    capsys.readouterr()
    assert run("status", "--input", app, "--json") == 0
    incidents = json.loads(capsys.readouterr().out)["incidents"]
    assert incidents["fixed"] == 0 and incidents["failed"] == 3
    # The next run does not take them as fixed by an earlier run: they are failed ones it names.
    _, summary = remediate(EXAMPLE / "output.yaml", app, fake)
    assert summary["store"]["skipped"]["fixed"] == 0
    assert summary["store"]["skipped"]["failed"] == 3


def test_a_reanalyze_command_without_its_output_placeholder_is_refused_before_anything_runs(
    tmp_path: Path, capsys: object
) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "app", app)
    code = run(
        "remediate", "--analysis", EXAMPLE / "output.yaml", "--input", app, "--provider", "simulated",
        "--reanalyze-command", "kantra analyze --input .",
    )  # fmt: skip
    assert code == 2
    assert not (app / ".kantra-ai").exists()
