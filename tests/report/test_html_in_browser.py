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
from tests.cli.helpers import analysis_of, copy_example, run

from kantra_ai.plan.model import load_plan
from testing.fakeprovider.server import FakeProviderServer

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


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
    # The analyzer's guidance opens on demand.
    page.locator("section.violation details summary").first.click()
    assert page.locator("pre.guidance").first.is_visible()
    opened.assert_offline_and_clean()
    page.close()


def test_report_html_shows_results_diffs_and_filters_offline(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("multi-violation", tmp_path)
    code = run(
        "remediate",
        "--analysis",
        analysis_of("multi-violation"),
        "--input",
        app,
        "--base-url",
        fake.anthropic_base_url,
        "--json",
        "--no-progress",
    )
    assert code == 1  # one incident is left for a human on purpose
    summary = json.loads(capsys.readouterr().out)
    report = app / ".kantra-ai" / "report.html"
    assert summary["report"] == str(report)
    with chromium() as browser:
        _check_report_page(_open(browser, report), summary)

    # `kantra-ai report` regenerates the same report from the saved run record.
    before = report.read_text()
    report.unlink()
    assert run("report", "--input", app) == 0
    assert report.read_text() == before


def _check_report_page(opened: Opened, summary: dict[str, Any]) -> None:
    page = opened.page
    rows = page.locator("tr.incident")
    assert rows.count() == summary["incidents"]["selected"] == 28
    assert page.locator("#fixed-count").inner_text() == str(summary["incidents"]["fixed"])
    fixed_row = page.locator("tr.incident[data-status='fixed']").first
    assert fixed_row.locator(".diff .add").first.is_visible()
    assert "jakarta" in fixed_row.locator(".diff .add").first.inner_text()
    assert page.locator("section.file").count() == 4  # DataSources.java stays untouched

    page.locator("input[value='failed']").check()
    visible = [r for r in rows.all() if r.is_visible()]
    assert len(visible) == 1 and "DataSources.java" in visible[0].inner_text()
    assert re.search(r"model could not fix it", visible[0].inner_text())
    page.locator("input[value='lowconf']").check()
    assert [r for r in rows.all() if r.is_visible()] == []  # the scripted model is confident
    page.locator("input[value='all']").check()
    assert all(r.is_visible() for r in rows.all())
    opened.assert_offline_and_clean()
    page.close()


def test_report_html_after_execute_shows_its_phases(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    out = tmp_path / "plan"
    assert (
        run(
            "plan",
            "--analysis",
            analysis_of("javaee-inventory"),
            "--input",
            app,
            "--output",
            out,
            "--planner",
            "deterministic",
        )
        == 0
    )
    assert (
        run(
            "execute",
            "--plan",
            out / "plan.yaml",
            "--input",
            app,
            "--base-url",
            fake.anthropic_base_url,
            "--no-progress",
            "--report",
            tmp_path / "r" / "report.html",
        )
        == 0
    )
    with chromium() as browser:
        opened = _open(browser, tmp_path / "r" / "report.html")
        _check_execute_page(opened)


def _check_execute_page(opened: Opened) -> None:
    page = opened.page
    assert page.locator("tr.phase-row[data-phase-id='phase-1']").is_visible()
    assert page.locator("tr.incident").count() == 19
    opened.assert_offline_and_clean()
    page.close()
