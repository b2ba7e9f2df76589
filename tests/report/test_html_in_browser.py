"""plan.html and report.html in headless Chromium: they render, show the phases and incidents, make
no network request and log no console error. Debian's chromium (installed by .ci/run) is driven by
Playwright's own driver; `playwright install` is never needed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bench.report_bench import CHROMIUM, browser
from tests.cli.helpers import analysis_of, copy_example, run

from kantra_ai.plan.model import load_plan
from testing.fakeprovider.server import FakeProviderServer

pytestmark = pytest.mark.browser


@dataclass
class Opened:
    page: Any
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def assert_offline_and_clean(self) -> None:
        outside = [u for u in self.requests if not u.startswith(("file:", "data:"))]
        assert outside == [], f"network requests: {outside}"
        assert self.console_errors == []


@contextmanager
def chromium() -> Iterator[Any]:
    """Started only after the CLI ran: Playwright's sync API keeps an event loop of its own."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium (apt-get install chromium)")
    with browser() as instance:
        yield instance


def _open(browser: Any, path: Path) -> Opened:
    page = browser.new_page()
    opened = Opened(page)
    page.on("request", lambda r: opened.requests.append(r.url))
    page.on("console", lambda m: opened.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: opened.console_errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return opened


def test_plan_html_shows_every_phase_and_incident_offline(tmp_path: Path) -> None:
    app = copy_example("multi-violation", tmp_path)
    out = tmp_path / "plan"
    assert (
        run(
            "plan",
            "--analysis",
            analysis_of("multi-violation"),
            "--input",
            app,
            "--output",
            out,
            "--planner",
            "deterministic",
            "--risk-tolerance",
            "conservative",
        )
        == 0
    )
    plan = load_plan(out / "plan.yaml")
    with chromium() as browser:
        _check_plan_page(_open(browser, out / "plan.html"), plan)


def _check_plan_page(opened: Opened, plan: Any) -> None:
    page = opened.page
    for phase in plan.phases:
        section = page.locator(f"section.phase[data-phase-id='{phase.id}']")
        assert section.is_visible()
        assert phase.name in section.locator("h3").inner_text()
        assert section.locator("tr.incident").count() == phase.incident_count
    assert page.locator("svg.chart").count() == 3
    assert page.locator("#phase-count").inner_text() == str(len(plan.phases))
    # Paths relative to the tree, not the analyzer's URIs; multi-line messages whole.
    text = page.locator("main").inner_text()
    assert "file://" not in text and "/shared/source" not in text
    assert "src/main/java/com/acme/orders/service/OrderService.java" in text
    assert "Use `Principal.getCallerPrincipal()` instead." in text  # the message's second line
    # The analyzer's guidance opens on demand, under a label that says what it is.
    summary = page.locator("section.violation details summary").first
    assert "before / after" not in summary.inner_text() and "Analyzer guidance" in summary.inner_text()
    summary.click()
    assert page.locator("pre.guidance").first.is_visible()
    opened.assert_offline_and_clean()
    page.close()


def _ready(opened: Opened) -> Any:
    opened.page.wait_for_selector("body[data-ready=yes]")
    return opened.page


def _open_all_groups(page: Any) -> None:
    page.evaluate("() => document.querySelectorAll('details.group').forEach(d => { d.open = true; })")
    page.wait_for_timeout(50)


def _remediate(app: Path, fake: FakeProviderServer, example: str = "multi-violation", *extra: str) -> int:
    return run("remediate", "-a", analysis_of(example), "-i", app, "--base-url", fake.anthropic_base_url,
               "--no-progress", "--json", *extra)  # fmt: skip


def test_report_html_shows_the_whole_job_after_a_rerun_that_did_nothing(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("multi-violation", tmp_path)
    assert _remediate(app, fake) == 1  # one incident is left for a human on purpose
    first = json.loads(capsys.readouterr().out)
    assert _remediate(app, fake) == 1  # nothing left to do: no request, and the report keeps the job
    summary = json.loads(capsys.readouterr().out)
    assert summary["requests"] == 0
    report = app / ".kantra-ai" / "report.html"
    with chromium() as browser:
        page = _ready(_open(browser, report))
        assert page.locator("#incident-count").inner_text() == "28"
        assert page.locator("#fixed-count").inner_text() == str(first["incidents"]["fixed"])
        assert page.locator("tr.run-row").count() == 2  # per-run detail: the first run and the rerun
        made_by = f"{first['provider']} / {first['model']}"  # which model each run asked
        assert page.locator("tr.run-row td.model").all_inner_texts() == [made_by, made_by]
        assert page.locator("#shown-count").inner_text() == "28 of 28 incidents shown"
        assert page.locator("details.file").count() == 4  # DataSources.java stays untouched
        page.close()

    # `kantra-ai report` rebuilds the same report from the run store, with report.html and run.json gone.
    before = json.loads((app / ".kantra-ai" / "run.json").read_text())
    report.unlink()
    (app / ".kantra-ai" / "run.json").unlink()
    assert run("report", "-i", app) == 0
    after = json.loads((app / ".kantra-ai" / "run.json").read_text())
    assert {k: v for k, v in after.items() if k != "created_at"} == {
        k: v for k, v in before.items() if k != "created_at"
    }
    assert report.is_file()


def test_report_html_filters_search_links_and_diffs_with_real_line_numbers_offline(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example("multi-violation", tmp_path)
    assert _remediate(app, fake) == 1
    with chromium() as browser:
        opened = _open(browser, app / ".kantra-ai" / "report.html")
        page = _ready(opened)
        # Status filter: the one incident the model could not fix.
        page.locator("#status-filter").select_option("notfixed")
        assert page.locator("#shown-count").inner_text() == "1 of 28 incidents shown"
        _open_all_groups(page)
        rows = page.locator(".incident")
        assert rows.count() == 1
        assert "DataSources.java" in rows.first.inner_text()
        assert re.search(r"model could not fix it", rows.first.inner_text())
        # "Changed files" follows the filters: DataSources.java was not changed.
        assert page.locator("#files-count").inner_text().startswith("0 of 4 changed files")
        page.locator("#status-filter").select_option("all")

        # Rule filter: only that rule's incidents, and only the files they are in.
        rule = "javax-to-jakarta-import-00001"
        value = page.locator("#rule-filter option", has_text=rule).get_attribute("value")
        page.locator("#rule-filter").select_option(value)
        assert page.locator("nav.toc a").count() == 1 and rule in page.locator("nav.toc a").inner_text()
        shown_files = page.locator("details.file").count()
        assert 0 < shown_files < 4
        page.locator("#rule-filter").select_option("all")

        # Search (file, rule, message, explanation) and the file filter.
        from playwright.sync_api import expect

        count = page.locator("#shown-count")
        page.locator("#search").fill("getcallerprincipal")  # in the message of the eap8-ejb incident
        expect(count).to_have_text(re.compile(r"^1 of 28 "))
        page.locator("#search").fill("")
        page.locator("#file-filter").fill("OrderService")
        expect(count).not_to_have_text(re.compile(r"^28 of 28 "))
        page.locator("#file-filter").fill("")
        expect(count).to_have_text(re.compile(r"^28 of 28 "))

        # A fixed incident's diff: its own hunk, with the file's real line numbers and context.
        page.locator("nav.toc a", has_text="eap8-ejb-00001").click()
        row = page.locator(".incident[data-status='fixed']", has_text="OrderService.java:40").first
        row.locator("button[data-act=diff]").click()
        hunk = row.locator(".diff .hunk").first.inner_text()
        start = int(re.match(r"@@ -(\d+),(\d+) \+\d+,\d+ @@", hunk).group(1))  # type: ignore[union-attr]
        assert 30 < start <= 40  # not "@@ -1 +1 @@": the hunk sits where the fix is
        deleted = row.locator(".diff .del").first.inner_text()
        assert "getCallerIdentity" in deleted and deleted.strip().startswith("40")
        assert row.locator(".diff .ctx").count() >= 3  # context lines around it
        # ... and the link from the incident to its file's whole diff.
        row.locator("a.file-link").first.click()
        details = page.locator(
            "details.file[data-file='src/main/java/com/acme/orders/service/OrderService.java']"
        )
        assert details.get_attribute("open") is not None
        assert details.locator(".diff .add").first.is_visible()
        # The analyzer's message, whole (two lines).
        row.locator("button[data-act=message]").click()
        assert "Use `Principal.getCallerPrincipal()` instead." in row.locator("pre.message").inner_text()
        opened.assert_offline_and_clean()
        page.close()


def test_a_low_confidence_fix_shows_its_threshold_next_to_its_confidence(tmp_path: Path) -> None:
    from tests.cli.test_confidence_actions import POM_RULES, lowered

    app = copy_example("javaee-inventory", tmp_path)
    with FakeProviderServer(lowered(POM_RULES)) as server:
        assert _remediate(app, server, "javaee-inventory", "--on-low-confidence", "warn-and-apply") == 0
    with chromium() as browser:
        opened = _open(browser, app / ".kantra-ai" / "report.html")
        page = _ready(opened)
        page.locator("#confidence-filter").select_option("low")
        assert page.locator("#shown-count").inner_text() == "2 of 19 incidents shown"
        _open_all_groups(page)
        for text in page.locator(".incident .conf.low").all_inner_texts():
            assert text == "confidence 0.50 < 0.70"  # trivial complexity: held to 0.70
        assert page.locator(".incident .badge.lowconf").count() == 2
        assert page.locator("#confidence").is_visible()
        opened.assert_offline_and_clean()
        page.close()


def test_report_html_after_execute_shows_its_phases(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    out = tmp_path / "plan"
    assert run("plan", "-a", analysis_of("javaee-inventory"), "-i", app, "-o", out,
               "--planner", "deterministic") == 0  # fmt: skip
    assert run("execute", "--plan", out / "plan.yaml", "-i", app, "--base-url", fake.anthropic_base_url,
               "--no-progress", "--report", tmp_path / "r" / "report.html") == 0  # fmt: skip
    with chromium() as browser:
        opened = _open(browser, tmp_path / "r" / "report.html")
        page = _ready(opened)
        assert page.locator("tr.phase-row[data-phase-id='phase-1']").is_visible()
        assert "completed" in page.locator("tr.phase-row[data-phase-id='phase-1']").inner_text()
        assert page.locator("#incident-count").inner_text() == "19"
        _open_all_groups(page)
        assert page.locator(".incident", has_text="phase-1").count() == 19
        opened.assert_offline_and_clean()
        page.close()


def test_a_report_of_200_files_loads_and_filters_within_the_benchmark_targets(tmp_path: Path) -> None:
    """The small version of bench/report_bench.py (2,000 and 10,000 files live there)."""
    from bench.report_bench import TARGETS, build, measure

    built = build(tmp_path, 200)
    assert built.changed_files == 200 and built.incidents > 1000
    times = measure(built.report, repeats=1)
    for action, limit in TARGETS.items():
        assert times[action] <= limit, f"{action}: {times[action]:.3f} s > {limit} s"


def test_report_html_names_the_files_missing_from_the_tree(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    gone = "src/main/java/com/example/inventory/cdi/Resources.java"
    (app / gone).unlink()
    assert _remediate(app, fake, "javaee-inventory") == 0
    with chromium() as browser:
        opened = _open(browser, app / ".kantra-ai" / "report.html")
        page = _ready(opened)
        missing = page.locator("#missing-files")
        assert (
            "1 files the analysis names are missing from the tree" in missing.locator("summary").inner_text()
        )
        missing.locator("summary").click()
        assert missing.locator("li code").all_inner_texts() == [gone]
        opened.assert_offline_and_clean()
        page.close()
