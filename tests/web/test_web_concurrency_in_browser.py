"""Two tabs on one plan, and the CLI on the same tree while the page is open: the tree lock keeps
one run per tree whoever starts it, a stale tab never overwrites a newer plan, and a run started
from the page outlives the tab that started it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from tests.cli.helpers import analysis_of, expected_of, run, tree_differences
from tests.web.conftest import Site, serve_example

from kantra_ai.plan.model import load_plan
from kantra_ai.store.session import open_store
from testing.fakeprovider.server import LatencyModel

pytestmark = pytest.mark.browser
PRODUCT = "src/main/java/com/example/inventory/model/Product.java"


def click(page: Any, selector: str) -> None:
    """Click, and let the page it leads to load whole (under load a page can be half parsed)."""
    page.click(selector)
    page.wait_for_load_state()


@pytest.fixture
def site(tmp_path: pytest.TempPathFactory) -> Iterator[Site]:
    # Every request waits 2 s for its first token: long enough to act while a run holds the tree.
    yield from serve_example(tmp_path, latency=2.0)  # type: ignore[arg-type]


def open_page(browser: Any, site: Site, path: str) -> Any:
    page = browser.new_page()
    page.goto(site.url)
    page.goto(site.base + path)
    return page


def cli_execute(site: Site, *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "kantra_ai.cli.app", "execute", "--plan", str(site.plan),
        "--input", str(site.tree), "--base-url", site.provider.anthropic_base_url,
        "--no-progress", *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=site.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def running_runs(site: Site) -> int:
    path = site.tree / ".kantra-ai" / "state.db"
    if not path.is_file():
        return 0
    store = open_store(site.tree, None, create=False)
    try:
        return len(store.query("SELECT id FROM runs WHERE state='running'"))
    finally:
        store.close()


def wait_until(condition: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_tabs_and_the_cli_share_one_tree_safely(site: Site, browser: Any) -> None:
    made = run(
        "plan", "--analysis", analysis_of("javaee-inventory"), "--input", site.tree,
        "--output", site.plan.parent, "--planner", "deterministic", "--risk-tolerance", "conservative",
    )  # fmt: skip
    assert made == 0
    first, second = open_page(browser, site, "/plan"), open_page(browser, site, "/plan")

    # Two tabs: the first saves, the second (showing the older plan) is refused, not obeyed.
    first.fill("#phase-1 form.rename input[name=name]", "Renamed in the first tab")
    click(first, "#phase-1 form.rename button")
    click(second, "#phase-1 button.defer")
    assert "changed on disk since this page read it" in second.inner_text("#error")
    plan = load_plan(site.plan)
    assert plan.phase("phase-1").name == "Renamed in the first tab" and not plan.phase("phase-1").deferred
    second.reload()
    assert "Renamed in the first tab" in second.inner_text("#phase-1 h2")

    # The CLI runs the plan while the page is open: the page cannot start a second run on the tree,
    # and shows the CLI's run in the store.
    cli = cli_execute(site)
    wait_until(lambda: running_runs(site) == 1, "the CLI run to hold the tree")
    first.goto(site.base + "/run")
    expect(first.locator("tr.run-row")).to_have_count(1)
    assert "running" in first.inner_text("tr.run-row")
    click(first, "#start")  # refused at once, in the page's answer, not by a run in the background
    expect(first.locator("#error")).to_contain_text("another kantra-ai run", timeout=30_000)
    assert "run: idle" in first.inner_text("header")
    assert cli.wait(60) == 0, cli.stderr.read() if cli.stderr else ""
    assert tree_differences(site.tree, expected_of("javaee-inventory")) == []

    # Reject a file on the page, run from the page again and close the tab: the run goes on; the
    # CLI meanwhile is refused by the lock; a new tab shows the run where it is.
    first.goto(site.base + "/review/file?path=" + PRODUCT)
    click(first, "#reject")
    assert tree_differences(site.tree, expected_of("javaee-inventory")) == [PRODUCT]
    site.provider.latency = LatencyModel(ttft=6.0)  # the CLI starts well within this run
    first.goto(site.base + "/run")
    first.check("#retry-failed")
    click(first, "#start")
    first.close()
    wait_until(lambda: running_runs(site) == 1, "the page's run to hold the tree")
    refused = cli_execute(site, "--resume")  # the plan's phases have run
    assert refused.wait(60) == 2
    assert "another kantra-ai run" in (refused.stderr.read() if refused.stderr else "")
    third = open_page(browser, site, "/run")
    expect(third.locator("#live-state")).to_have_text("finished", timeout=60_000)
    assert tree_differences(site.tree, expected_of("javaee-inventory")) == []
    second.close()
    third.close()
