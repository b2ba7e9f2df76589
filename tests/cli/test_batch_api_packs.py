"""`--batch-api` packs small files as a synchronous run does: several files in one batch request,
applied by the normal engine, through the real CLI, the official SDKs and the fake provider's batch
endpoints over loopback. A pack that is still with the provider keeps its files together until its
result is applied, so no file is asked twice."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.workloads import Workload, synthetic
from tests.cli.helpers import run
from tests.store.helpers import store_rows

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.batches import BatchPlan
from testing.fakeprovider.server import FakeProviderServer

FILES = 20  # small generated files: more than a run needs before it packs them
FAST_POLLS = ("--poll-interval", "0.05")


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    return synthetic(tmp_path_factory.mktemp("gen"), files=FILES, seed=3, small=True, name="small")


@pytest.fixture(scope="module")
def synchronous_tree(workload: Workload, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The tree a synchronous (packed) run leaves: what the batch runs must leave too."""
    app = tmp_path_factory.mktemp("sync") / "app"
    shutil.copytree(workload.app, app)
    with FakeProviderServer(respond) as fake:
        code, _ = _remediate(app, workload, fake.anthropic_base_url, "claude")
    assert code in (0, 1)
    return _tree(app)


@pytest.fixture(scope="module", autouse=True)
def keys() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANTHROPIC_API_KEY", "test-key")
        patch.setenv("OPENAI_API_KEY", "test-key")
        yield


def _remediate(
    app: Path, workload: Workload, url: str, provider: str, *extra: str
) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(
            "remediate", "--analysis", workload.analysis, "--input", app, "--provider", provider,
            "--base-url", url, "--json", "--no-progress", *extra,
        )  # fmt: skip
    text = out.getvalue()
    return code, (json.loads(text) if text.strip() else {})


def _tree(app: Path) -> dict[str, str]:
    return {str(p.relative_to(app)): p.read_text() for p in sorted(app.rglob("*.java"))}


def _submitted_groups(app: Path) -> list[list[str]]:
    rows = store_rows(
        app / ".kantra-ai" / "state.db", "SELECT incident_ids FROM batch_items ORDER BY job_id, custom_id"
    )
    return [json.loads(str(row[0])) for row in rows]


def _files_of(app: Path) -> dict[str, str]:
    """Incident id -> its file, as the run store recorded the outcomes."""
    rows = store_rows(app / ".kantra-ai" / "state.db", "SELECT id, path FROM incidents")
    return {str(r[0]): str(r[1]) for r in rows}


@pytest.mark.parametrize("provider", ["claude", "openai"])
def test_small_files_go_packed_into_batch_requests_and_end_as_a_synchronous_run_leaves_them(
    tmp_path: Path, workload: Workload, synchronous_tree: dict[str, str], provider: str
) -> None:
    app = tmp_path / "app"
    shutil.copytree(workload.app, app)
    with FakeProviderServer(respond, batch_plan=BatchPlan(polls_to_end=1)) as fake:
        url = fake.anthropic_base_url if provider == "claude" else fake.openai_base_url
        code, summary = _remediate(app, workload, url, provider, "--batch-api", "--wait", *FAST_POLLS)
        assert code in (0, 1), summary
        assert fake.request_count == 0  # every packed result was the reply to the engine's request
        submitted = len(fake.batches.log)
    assert _tree(app) == synchronous_tree != _tree(workload.app)
    assert submitted < FILES // 2  # several files per request
    groups = _submitted_groups(app)
    files = _files_of(app)
    assert max(len({files[i] for i in group}) for group in groups) >= 2
    assert max(Counter(i for group in groups for i in group).values()) == 1  # no incident asked twice
    assert summary["batch_api"]["results"]["succeeded"] == submitted == summary["requests"]


def test_a_pack_still_with_the_provider_keeps_its_files_when_other_requests_end_first(
    tmp_path: Path, workload: Workload, synchronous_tree: dict[str, str]
) -> None:
    """Each request its own batch, the second ending long after the others: once the others are
    applied, the files left are too few to be packed anew, and yet the pack submitted for them is
    what the engine asks (its result answers it): no incident submitted twice, none sent
    synchronously."""
    app = tmp_path / "app"
    shutil.copytree(workload.app, app)
    plan = BatchPlan(polls_to_end=1, polls_to_end_of={2: 6})
    with FakeProviderServer(respond, batch_plan=plan) as fake:
        extra = ("--batch-api", "--wait", *FAST_POLLS, "--batch-max-requests", "1")
        code, summary = _remediate(app, workload, fake.anthropic_base_url, "claude", *extra)
        assert code in (0, 1), summary
        assert fake.request_count == 0
        batches = len(fake.batches.batch_ids)
    groups = _submitted_groups(app)
    assert max(Counter(i for group in groups for i in group).values()) == 1
    assert len(groups) == batches < FILES // 2
    files = _files_of(app)
    assert len({files[i] for i in groups[1]}) >= 2  # the late one was a pack
    assert _tree(app) == synchronous_tree


def test_a_pack_returned_without_a_reply_is_reported_incident_by_incident_under_each_ones_file(
    tmp_path: Path, workload: Workload, synchronous_tree: dict[str, str]
) -> None:
    """The first batch expires unanswered: each packed request's incidents are reported under their
    own files (not all under the file the request is recorded under), then submitted again."""
    app = tmp_path / "app"
    shutil.copytree(workload.app, app)
    plan = BatchPlan(polls_to_end=1, expire_batches={1}, expired_share=0.0)
    with FakeProviderServer(respond, batch_plan=plan) as fake:
        code, summary = _remediate(
            app, workload, fake.anthropic_base_url, "claude", "--batch-api", "--wait", *FAST_POLLS
        )
        assert code in (0, 1), summary
        assert fake.request_count == 0 and len(fake.batches.batch_ids) == 2
    failures = summary["batch_api"]["failures"]
    files = _files_of(app)
    assert len(failures) == len(files)  # every incident, once
    assert all(row["file"] == files[row["incident"]] for row in failures)
    assert len({row["file"] for row in failures}) == FILES
    assert {row["action"] for row in failures} == {"submitted again"}
    assert _tree(app) == synchronous_tree
