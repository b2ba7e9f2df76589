"""The review from the run store: paging, filters and search that stay fast at 10,000 files;
accepting a file; rejecting one takes back exactly our edits (from the store's write log) and
refuses a file changed since."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from bench.review_bench import build_review_store
from tests.cli.helpers import EXAMPLES, copy_example, expected_of, remediate_json, run, tree_differences
from tests.web.conftest import example_context
from tests.web.test_web_redaction import call

from kantra_ai.app.review import REJECT_REASON, Review
from kantra_ai.errors import UserError
from kantra_ai.store.review import FileQuery, list_files
from kantra_ai.store.run_store import RunStore
from kantra_ai.store.session import open_store
from kantra_ai.web.app import build_app
from testing.fakeprovider.server import FakeProviderServer

PRODUCT = "src/main/java/com/example/inventory/model/Product.java"
RESOURCE = "src/main/java/com/example/inventory/rest/ProductResource.java"


@pytest.fixture
def fixed_tree(tmp_path: Path, fake: FakeProviderServer) -> Path:
    app = copy_example("javaee-inventory", tmp_path)
    code, _ = remediate_json("javaee-inventory", app, fake)
    assert code == 0 and tree_differences(app, expected_of("javaee-inventory")) == []
    return app


def test_rejecting_a_file_restores_exactly_what_was_there_and_keeps_the_others(fixed_tree: Path) -> None:
    review = Review(fixed_tree)
    before = review.files(FileQuery(review="to_review"))
    assert before.total == 7
    undone = review.reject(PRODUCT, say=lambda text: None)
    assert undone
    assert (fixed_tree / PRODUCT).read_bytes() == (
        EXAMPLES / "javaee-inventory" / "app" / PRODUCT
    ).read_bytes()
    assert tree_differences(fixed_tree, expected_of("javaee-inventory")) == [PRODUCT]
    detail = review.file(PRODUCT)
    assert detail is not None and detail.detail.decision == "rejected" and not detail.detail.write_ids
    assert {i.status for i in detail.detail.incidents} == {"failed"}
    assert {i.reason for i in detail.detail.incidents} == {REJECT_REASON}
    # Counted as answered: a plain rerun leaves them; only --retry-failed asks again.
    store = open_store(fixed_tree, None, create=False)
    try:
        known = store.known()
    finally:
        store.close()
    rejected = [i for i in detail.detail.incidents]
    assert all(known[i.id].answered for i in rejected)
    assert review.files(FileQuery(review="rejected")).total == 1
    with pytest.raises(UserError, match="no fix of kantra-ai is left"):
        review.reject(PRODUCT, say=lambda text: None)


def test_a_file_changed_since_is_never_reverted(fixed_tree: Path) -> None:
    target = fixed_tree / RESOURCE
    target.write_text(target.read_text() + "\n// my own change\n")
    mine = target.read_bytes()
    review = Review(fixed_tree)
    found = review.file(RESOURCE)
    assert found is not None and found.changed_outside
    with pytest.raises(UserError, match="changed since kantra-ai wrote it"):
        review.reject(RESOURCE, say=lambda text: None)
    assert target.read_bytes() == mine


def test_a_file_replaced_by_a_link_out_of_the_tree_is_not_shown(fixed_tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("a secret outside the tree\n")
    target = fixed_tree / RESOURCE
    target.unlink()
    target.symlink_to(outside)
    found = Review(fixed_tree).file(RESOURCE)
    assert found is not None and not found.readable
    assert not any("a secret outside the tree" in line for _, line in found.diff)


def test_accepting_holds_for_the_content_it_was_about(fixed_tree: Path) -> None:
    review = Review(fixed_tree)
    found = review.file(RESOURCE)
    assert found is not None and found.detail.current_sha
    with pytest.raises(UserError, match="wrote it again since this page showed it"):
        review.accept(RESOURCE, "0" * 64)
    review.accept(RESOURCE, found.detail.current_sha)
    assert [r.path for r in review.files(FileQuery(review="accepted")).rows] == [RESOURCE]
    assert review.files(FileQuery(review="to_review")).total == 6
    assert any(kind == "add" and "jakarta" in line for kind, line in found.diff)


def test_the_review_of_a_tree_nothing_ran_on_is_empty(tmp_path: Path) -> None:
    assert Review(tmp_path).files(FileQuery()).total == 0
    assert Review(tmp_path).file("pom.xml") is None


FILES = 10_000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    """A store as 10,000 files with three incidents each and one write each would leave it (the
    benchmark's own workload: bench/review_bench.py times what this test checks the plans of)."""
    return build_review_store(tmp_path_factory.mktemp("big") / "state.db", FILES)


@pytest.mark.parametrize(
    ("query", "total"),  # totals from how the fixture made the files
    [
        (FileQuery(), FILES),
        (FileQuery(page=150), FILES),
        (FileQuery(status="failed"), FILES // 10),
        (FileQuery(review="to_review", page=7), FILES),
        (FileQuery(low_confidence=True), FILES // 250),
        (FileQuery(search="file00042"), 1),
        (FileQuery(search="module3/"), len([n for n in range(FILES) if n % 97 == 3])),
        (FileQuery(search="rule-12", status="failed"), FILES // 40),  # a file of rule-12 with a failure
    ],
)
def test_paging_filters_and_search_at_10000_files_look_files_up_by_index(
    big_store: RunStore, query: FileQuery, total: int
) -> None:
    # Speed is measured in bench/, never timed here (machines are noisy); what keeps a page fast
    # at any size is that no statement of the listing scans a whole table: every access to
    # incidents goes through an index, and writes and reviews are looked up per file by path
    # (SQLite's own query plan says so).
    statements: list[str] = []
    big_store.db.set_trace_callback(statements.append)
    try:
        page = list_files(big_store, query)
    finally:
        big_store.db.set_trace_callback(None)
    assert statements
    for sql in statements:
        plan = [str(row[3]) for row in big_store.db.execute(f"EXPLAIN QUERY PLAN {sql}")]
        # i, w, r: the aliases of incidents, writes and reviews in the listing's SQL.
        scans = [step for step in plan if step.startswith(("SCAN i", "SCAN w", "SCAN r"))]
        assert not scans, f"{query}: full table scans {scans}"
        # Per file, writes and the review are found by path, not by walking the tree's rows.
        if " writes w " in sql:
            per_file = [step for step in plan if step.startswith(("SEARCH w", "SEARCH r"))]
            assert per_file, f"{query}: {plan}"
            assert all("path=?" in step for step in per_file), f"{query}: {per_file}"
    if query == FileQuery() or query == FileQuery(page=150):
        # Unfiltered: the page's paths come from the index, and only those files are aggregated.
        aggregated = [sql for sql in statements if " writes w " in sql]
        assert len(aggregated) == 1 and "AND i.path IN (" in aggregated[0], aggregated
    assert page.total == total
    assert len(page.rows) == min(query.per_page, max(page.total - (query.page - 1) * query.per_page, 0))
    paths = [r.path for r in page.rows]
    assert paths == sorted(paths)
    if query.status == "failed":
        assert all(r.counts["failed"] for r in page.rows)


def test_the_file_page_says_what_each_incidents_check_decided(tmp_path: Path) -> None:
    ctx = example_context(tmp_path, "javaee-inventory")
    check = tmp_path / "check.sh"  # passes whatever the tree holds: every fix is verified
    check.write_text("#!/bin/sh\nexit 0\n")
    check.chmod(0o755)
    analysis = EXAMPLES / "javaee-inventory" / "output.yaml"
    argv = ("remediate", "--analysis", analysis, "--input", ctx.input_dir, "--provider", "simulated")
    # In a thread of its own: the browser tests' Playwright keeps an event loop in the main thread.
    with ThreadPoolExecutor(1) as worker:
        assert worker.submit(run, *argv, "--verify", "build", "--verify-command", str(check)).result() == 0
    app = build_app(ctx)
    try:
        page = call(app, "GET", "/review/file?" + urlencode({"path": PRODUCT}))
    finally:
        ctx.closing.set()
    assert page.status == 200
    said = re.findall(r'<p class="verification">([^<]*)</p>', page.body)
    assert said and set(said) == {"verification: verified"}, said
