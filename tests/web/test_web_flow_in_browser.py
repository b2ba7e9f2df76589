"""The whole flow, driven only through the page in Debian's Chromium: make a plan of the bundled
example, split, rename, move a violation, reorder by keyboard and by drag and drop, merge, defer,
see a plan edited on disk refused, run the plan with live progress, run the deferred phase, review
(search, filter, accept, reject a file: exactly our edits taken back), run again to the expected
tree, change settings. Screenshots of every step go to test-artifacts/web/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from playwright.sync_api import expect
from tests.cli.helpers import EXAMPLES, expected_of, tree_differences
from tests.web.conftest import API_KEY, Site, artifacts, serve_example

from kantra_ai.plan.model import Plan, dump_plan, load_plan

pytestmark = pytest.mark.browser

EXAMPLE = "javaee-inventory"
REJECTED = "src/main/java/com/example/inventory/model/Product.java"
ACCEPTED = "src/main/java/com/example/inventory/rest/ProductResource.java"


def click(page: Any, selector: str) -> None:
    """Click, and let the page it leads to load whole (under load a page can be half parsed)."""
    page.click(selector)
    page.wait_for_load_state()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # Each request waits a little for its first token, so the page can be seen while it runs.
    yield from serve_example(tmp_path_factory.mktemp("flow"), EXAMPLE, latency=0.6)


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(artifacts() / f"{name}.png"), full_page=True)


def plan_of(site: Site) -> Plan:
    return load_plan(site.plan)


def order(site: Site) -> list[str]:
    return [p.id for p in plan_of(site).ordered_phases()]


def test_plan_run_review_and_settings_through_the_page(site: Site, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    # The refused changes answer 400 and 409 on purpose (the browser logs those); nothing else may.
    refused = re.compile(r"status of (400|409) ")
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and not refused.search(m.text) else None,
    )
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(site.url)  # the printed URL: its token becomes a cookie, the address loses it
    assert page.url == f"{site.base}/plan"
    assert "No plan yet" in page.inner_text("main")
    _plan(page, site)
    _run(page, site)
    _review(page, site)
    _settings(page, site)

    outside = [u for u in requests if not u.startswith(site.base)]
    assert outside == [], f"requests outside the app: {outside}"
    assert errors == []
    kept = {p.name for p in artifacts().glob("*.png")}
    assert {"01-plan.png", "04-run-live.png", "07-review-file.png", "08-settings.png"} <= kept
    page.close()


def _plan(page: Any, site: Site) -> None:
    page.select_option("select[name=risk_tolerance]", "conservative")
    click(page, "#make-plan")
    assert page.locator("li.phase").count() == 2 == len(plan_of(site).phases)
    assert page.inner_text("#phase-count") == "2"
    assert page.locator("svg.chart").count() == 3
    shot(page, "01-plan")

    # Split the first violation of phase-1 off into a phase of its own (after phase-1).
    first = plan_of(site).phase("phase-1").violations[0].key
    click(page, "#phase-1 details summary")
    page.check(f"#phase-1 input[name=violation][value='{first}']")
    click(page, "#phase-1 .split-button")
    assert order(site) == ["phase-1", "phase-3", "phase-2"]
    assert [v.key for v in plan_of(site).phase("phase-3").violations] == [first]

    page.fill("#phase-3 form.rename input[name=name]", "Imports first")
    click(page, "#phase-3 form.rename button")
    assert plan_of(site).phase("phase-3").name == "Imports first"
    assert "Imports first" in page.inner_text("#phase-3 h2")

    # Move a violation of phase-2 to phase-3 with its "move to" control.
    moved = plan_of(site).phase("phase-2").violations[0].key
    click(page, "#phase-2 details summary")
    row = page.locator(f"#phase-2 tr.violation[data-key='{moved}']")
    row.locator("select.move-target").select_option("phase-3")
    row.locator("button.move-violation").click()
    page.wait_for_load_state()
    assert moved in [v.key for v in plan_of(site).phase("phase-3").violations]

    # Keyboard: focus phase-3 and press Alt+Up: it goes first.
    page.focus("#phase-3")
    with page.expect_navigation():  # saved, then the page loads the plan as it is now
        page.keyboard.press("Alt+ArrowUp")
    wait_for(lambda: order(site) == ["phase-3", "phase-1", "phase-2"], "the keyboard move to be saved")
    page.wait_for_selector("p.notice")
    assert [e.get_attribute("data-phase-id") for e in page.locator("li.phase").all()] == order(site)

    # Drag and drop: phase-2 onto the top half of phase-3.
    with page.expect_navigation():
        page.locator("#phase-2 .grip").drag_to(page.locator("#phase-3"), target_position={"x": 40, "y": 4})
    wait_for(lambda: order(site) == ["phase-2", "phase-3", "phase-1"], "the drop to be saved")
    page.wait_for_selector("#phase-2")
    shot(page, "02-plan-edited")

    # Merge phase-1 into phase-3, defer phase-2.
    page.select_option("#phase-3 form.merge select", "phase-1")
    click(page, "#phase-3 form.merge button")
    assert order(site) == ["phase-2", "phase-3"]
    click(page, "#phase-2 button.defer")
    assert plan_of(site).phase("phase-2").deferred
    assert page.inner_text("#approved-count") == "1"
    total = sum(p.incident_count for p in plan_of(site).phases)
    assert total == 19  # every incident is still in exactly one phase

    # A plan edited on disk meanwhile is not overwritten: the change is refused, the edit stays.
    edited = plan_of(site)
    edited.phase("phase-3").name = "Edited by hand"
    dump_plan(edited, site.plan)
    on_disk = site.plan.read_bytes()
    click(page, "#phase-3 button.defer")
    assert "changed on disk since this page read it" in page.inner_text("#error")
    assert site.plan.read_bytes() == on_disk
    page.goto(f"{site.base}/plan")
    assert "Edited by hand" in page.inner_text("#phase-3 h2")
    shot(page, "03-plan-conflict-reloaded")


def _wait_run(page: Any, state: str = "finished") -> None:
    expect(page.locator("#live-state")).to_have_text(state, timeout=60_000)


def _run(page: Any, site: Site) -> None:
    page.goto(f"{site.base}/run")
    page.select_option("#run-phase", "")
    click(page, "#start")
    expect(page.locator("#live-state")).to_have_text(re.compile("running|finished"), timeout=30_000)
    shot(page, "04-run-live")
    _wait_run(page)
    # The page reloads itself once the run ended: phase states and the store as they are now.
    expect(page.locator("tr.phase-row[data-phase-id='phase-3'] .phase-status")).to_have_text("completed")
    expect(page.locator("tr.phase-row[data-phase-id='phase-2'] .phase-status")).to_have_text("pending")
    expect(page.locator("tr.run-row")).to_have_count(1)
    shot(page, "05-run-finished")

    # The deferred phase, on its own.
    page.select_option("#run-phase", "phase-2")
    click(page, "#start")
    expect(page.locator("#live-scope")).to_have_text("phase phase-2", timeout=30_000)
    _wait_run(page)
    assert tree_differences(site.tree, expected_of(EXAMPLE)) == []
    expect(page.locator("tr.run-row")).to_have_count(2)


def _review(page: Any, site: Site) -> None:
    page.goto(f"{site.base}/review")
    assert page.inner_text("#file-total").startswith("7 file(s)")
    shot(page, "06-review")
    page.fill("#search", "pom")
    click(page, "#filters button")
    assert [r.get_attribute("data-path") for r in page.locator("tr.file-row").all()] == ["pom.xml"]

    page.goto(f"{site.base}/review")
    click(page, f"a:text-is('{ACCEPTED}')")
    assert page.locator("#file-diff .add").count() > 0
    assert "jakarta" in page.inner_text("#file-diff")
    assert page.locator("article.incident[data-status='fixed']").count() >= 1
    shot(page, "07-review-file")
    click(page, "#accept")
    assert page.inner_text("#decision") == "accepted"

    page.goto(f"{site.base}/review?" + "q=Product.java")
    click(page, f"a:text-is('{REJECTED}')")
    click(page, "#reject")
    assert "rejected" in page.inner_text("p.notice")
    assert (site.tree / REJECTED).read_bytes() == (EXAMPLES / EXAMPLE / "app" / REJECTED).read_bytes()
    assert tree_differences(site.tree, expected_of(EXAMPLE)) == [REJECTED]
    assert page.locator("article.incident[data-status='failed']").count() >= 1

    page.goto(f"{site.base}/review?review=accepted")
    assert [r.get_attribute("data-path") for r in page.locator("tr.file-row").all()] == [ACCEPTED]

    # Approve the deferred phase and run the whole plan again, asking again about what was
    # rejected: the tree is the expected one again (what runs fixed before is not sent again).
    page.goto(f"{site.base}/plan")
    click(page, "#phase-2 button.approve")
    assert not plan_of(site).phase("phase-2").deferred
    page.goto(f"{site.base}/run")
    page.check("#retry-failed")
    click(page, "#start")
    _wait_run(page)
    expect(page.locator("tr.run-row")).to_have_count(4)
    assert tree_differences(site.tree, expected_of(EXAMPLE)) == []


def _settings(page: Any, site: Site) -> None:
    config = site.root / ".kantra-ai.yaml"
    mine = "# the team's settings: ask Ana before changing the provider\n"
    config.write_text(mine + config.read_text())
    provider_line = config.read_text().splitlines()[1]
    page.goto(f"{site.base}/settings")
    assert API_KEY not in page.content()
    assert page.inner_text("#api-key-state") == "set (hidden)"
    page.fill("[name='limits.max-cost']", "5")
    click(page, "#save-settings")
    assert "saved 1 setting(s)" in page.inner_text("p.notice")
    saved = yaml.safe_load(config.read_text())
    assert saved["limits"] == {"max-cost": 5.0}
    assert saved["provider"]["base-url"] == site.provider.anthropic_base_url  # kept as it was
    assert config.read_text().splitlines()[:2] == [mine.strip(), provider_line]  # comment, order, style

    before = config.read_bytes()
    page.fill("[name='limits.max-retries']", "9")
    click(page, "#save-settings")
    assert "limits.max-retries" in page.inner_text("#error")
    assert config.read_bytes() == before

    # A page that echoes what it was asked (here the notice it is to show) shows no secret.
    page.goto(f"{site.base}/settings?" + urlencode({"notice": f"sent with {API_KEY}"}))
    assert API_KEY not in page.content()
    assert page.inner_text("p.notice") == "sent with ***"
    shot(page, "08-settings")
