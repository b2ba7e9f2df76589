"""What the web app refuses in one answer, through the ASGI app: plan changes and a start while a
run of another process (a real one, holding the tree's lock) works on the tree, a phase the plan does
not have, numbers no form should carry. Nothing is changed by a refusal."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import EXAMPLES, run
from tests.web.conftest import example_context
from tests.web.test_web_redaction import call

from kantra_ai.web.app import WebContext, build_app

EXAMPLE = "javaee-inventory"

# A run of another process, as far as the tree can tell: it holds the tree's lock until told to stop.
HOLDER = """
import sys
from pathlib import Path
from kantra_ai.store.lock import TreeLock
lock = TreeLock(Path(sys.argv[1]) / ".kantra-ai" / "lock")
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, WebContext]]:
    ctx = example_context(tmp_path, EXAMPLE)
    (tmp_path / ".kantra-ai.yaml").write_text("provider: {name: simulated}\n", encoding="utf-8")
    app = build_app(ctx)
    made = call(app, "POST", "/plan/make", form={"planner": "deterministic", "_token": ctx.token})
    assert made.status == 303 and ctx.plan_path.is_file(), made.body[:300]
    yield app, ctx
    ctx.closing.set()


@contextlib.contextmanager
def held(tree: Path) -> Iterator[int]:
    """A run of another process on `tree` while inside; its pid."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tree)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.communicate("", timeout=10)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rename(app: Any, ctx: WebContext) -> Any:
    form = {
        "op": "rename",
        "phase": "phase-1",
        "name": "First",
        "sha": _sha(ctx.plan_path),
        "_token": ctx.token,
    }
    return call(app, "POST", "/plan/edit", form=form, accept="application/json")


def test_the_plan_is_not_changed_nor_a_run_started_while_another_process_runs_on_the_tree(
    served: tuple[Any, WebContext],
) -> None:
    app, ctx = served
    plan = ctx.plan_path.read_bytes()
    with held(ctx.input_dir) as pid:
        edit = _rename(app, ctx)
        make = call(app, "POST", "/plan/make", form={"planner": "deterministic", "_token": ctx.token})
        start = call(app, "POST", "/run/start", form={"_token": ctx.token}, accept="application/json")
        for answer in (edit, make, start):
            assert answer.status in (400, 409), answer.body[:300]
            assert f"another kantra-ai run (pid {pid}" in answer.body
        assert ctx.plan_path.read_bytes() == plan
        assert not ctx.runs.active
    # Its lock file stays behind, free: the plan changes again.
    assert (ctx.input_dir / ".kantra-ai" / "lock").exists()
    answer = _rename(app, ctx)
    assert answer.status == 200, answer.body[:300]
    assert ctx.plan_path.read_bytes() != plan


def test_a_new_plan_is_never_saved_over_a_plan_changed_since_the_page_read_it(
    served: tuple[Any, WebContext],
) -> None:
    app, ctx = served
    seen = _sha(ctx.plan_path)  # what this page showed
    assert _rename(app, ctx).status == 200  # another tab (or a terminal) edits the plan meanwhile
    edited = ctx.plan_path.read_bytes()
    form = {"planner": "deterministic", "sha": seen, "_token": ctx.token}
    answer = call(app, "POST", "/plan/make", form=form)
    assert answer.status == 409 and "changed on disk since this page read it" in answer.body
    assert ctx.plan_path.read_bytes() == edited  # the edit is not lost
    form["sha"] = _sha(ctx.plan_path)  # reloaded: the page has seen the edit
    assert call(app, "POST", "/plan/make", form=form).status == 303
    assert ctx.plan_path.read_bytes() != edited


def test_a_plan_change_that_names_no_plan_is_refused_as_such(served: tuple[Any, WebContext]) -> None:
    app, ctx = served
    plan = ctx.plan_path.read_bytes()
    form = {"op": "rename", "phase": "phase-1", "name": "First", "_token": ctx.token}
    answer = call(app, "POST", "/plan/edit", form=form, accept="application/json")
    assert answer.status == 400 and "must name the plan it was made against (sha)" in answer.body
    assert ctx.plan_path.read_bytes() == plan


def test_a_phase_the_plan_does_not_have_is_refused_before_anything_starts(
    served: tuple[Any, WebContext],
) -> None:
    app, ctx = served
    answer = call(
        app, "POST", "/run/start", form={"phase": "../../etc", "_token": ctx.token}, accept="application/json"
    )
    assert answer.status == 409
    assert "no phase '../../etc' in the plan" in answer.body and "--phase" not in answer.body
    assert not ctx.runs.active
    assert not (ctx.input_dir / ".kantra-ai").exists()


@pytest.mark.parametrize("typed", ["²", "٣", "12abc", "99999999999999999999999"])
def test_a_number_of_phases_that_is_no_whole_number_is_one_line_not_a_crash(
    served: tuple[Any, WebContext], typed: str
) -> None:
    app, ctx = served
    plan = ctx.plan_path.read_bytes()
    answer = call(app, "POST", "/plan/make", form={"max_phases": typed, "_token": ctx.token})
    assert answer.status == 400
    assert "most phases:" in answer.body
    assert ctx.plan_path.read_bytes() == plan


def test_a_review_page_past_any_number_sqlite_holds_is_shown_not_a_crash(
    served: tuple[Any, WebContext],
) -> None:
    app, ctx = served
    analysis = EXAMPLES / EXAMPLE / "output.yaml"
    # In a thread of its own: the browser tests' Playwright keeps an event loop in the main thread.
    with ThreadPoolExecutor(1) as worker:
        argv = ("remediate", "--analysis", analysis, "--input", ctx.input_dir, "--provider", "simulated")
        assert worker.submit(run, *argv).result() == 0
    for page in ("99999999999999999999999", "²", "-1"):
        assert call(app, "GET", f"/review?page={page}").status == 200, page


@pytest.mark.parametrize("endpoint", ["/run/restart", "/review/approve"])
@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_an_action_no_page_posts_is_a_bad_request_with_nothing_started_or_changed(
    served: tuple[Any, WebContext], endpoint: str, accept: str
) -> None:
    app, ctx = served
    form = {"path": "pom.xml", "_token": ctx.token}
    answer = call(app, "POST", endpoint, form=form, accept=accept)
    assert answer.status == 400, answer.body[:300]
    assert "unknown action" in answer.body and endpoint.rsplit("/", 1)[1] in answer.body
    assert not ctx.runs.active
    assert not (ctx.input_dir / ".kantra-ai").exists()
