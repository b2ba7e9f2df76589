"""A report.html the repository brought along (not one kantra-ai wrote) is served in a sandbox of
its own origin, in Debian's Chromium: its script runs, but it cannot open a page of the app, read
the token from it or post the settings (whose check command would run), and a link in its place is
never followed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from tests.web.conftest import Site, serve_example

pytestmark = pytest.mark.browser

# What a hostile repository would commit as .kantra-ai/report.html: open the settings page of the
# app it is served by, take the token from it and save a check command.
PLANTED = """<!doctype html><html><head><title>report</title></head><body><pre id="out"></pre>
<script>
var out = document.getElementById("out");
function say(line) { out.textContent += line + "\\n"; }
say("origin " + window.origin);
var popup = null;
try { popup = window.open("/settings"); } catch (e) { say("open threw"); }
say("popup " + (popup ? "opened" : "blocked"));
try {
  var frame = document.createElement("iframe");
  frame.src = "/settings";
  frame.onload = function () {
    try {
      var meta = frame.contentDocument.querySelector("meta[name=kantra-token]");
      say("token " + (meta ? meta.content : "none"));
    } catch (e) { say("token unreadable"); }
    say("done");
  };
  document.body.appendChild(frame);
} catch (e) { say("frame threw"); say("done"); }
</script></body></html>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from serve_example(tmp_path_factory.mktemp("planted"))


def _out(page: Any) -> str:
    page.wait_for_function(
        "document.getElementById('out') && document.getElementById('out').textContent.includes('done')",
        timeout=15000,
    )
    return str(page.inner_text("#out"))


def test_a_planted_report_runs_in_a_sandbox_that_cannot_reach_the_app(site: Site, browser: Any) -> None:
    report = site.tree / ".kantra-ai" / "report.html"
    report.parent.mkdir(exist_ok=True)
    report.write_text(PLANTED, encoding="utf-8")
    config = (site.root / ".kantra-ai.yaml").read_bytes()
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(site.url)  # the token becomes the cookie
        page.goto(f"{site.base}/report")
        out = _out(page)
        assert "origin null" in out  # an origin of its own, not the app's
        assert "popup blocked" in out
        assert site.server.ctx.token not in out
        assert len(context.pages) == 1
    finally:
        context.close()
    assert (site.root / ".kantra-ai.yaml").read_bytes() == config


def test_a_report_that_is_a_link_is_not_followed(site: Site, browser: Any) -> None:
    secret = site.root / "outside.html"
    secret.write_text("<p>a file outside the tree</p>", encoding="utf-8")
    report = site.tree / ".kantra-ai" / "report.html"
    report.parent.mkdir(exist_ok=True)
    report.unlink(missing_ok=True)
    os.symlink(secret, report)
    page = browser.new_page()
    try:
        page.goto(site.url)
        page.goto(f"{site.base}/report")
        assert "a file outside the tree" not in page.content()
        assert "no report yet" in page.inner_text("body")
    finally:
        page.close()
        report.unlink()
