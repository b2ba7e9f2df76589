"""Incremental by default: what earlier runs settled is skipped, the rest is done, nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.helpers import analysis_of, copy_example, expected_of, run, tree_differences
from tests.store.helpers import one_line_error, remediate, store_rows

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.faults import Fault, FaultPlan
from testing.fakeprovider.server import FakeProviderServer

# The --json summary's store.skipped: what earlier runs settled, by what happened to it.
SKIPPED_KINDS = ("fixed", "not_applicable", "failed", "low_confidence", "held_back")


def test_rerunning_a_finished_job_sends_no_request_and_says_what_it_skipped(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    assert remediate("javaee-inventory", app, fake)[0] == 0
    first = fake.request_count
    capsys.readouterr()
    code, summary = remediate("javaee-inventory", app, fake)
    assert code == 0
    assert fake.request_count == first  # zero provider requests
    assert summary["requests"] == 0 and summary["tokens"]["input"] == 0
    assert summary["store"]["skipped"] == {**dict.fromkeys(SKIPPED_KINDS, 0), "fixed": 19}
    assert "skipping 19 incidents settled by earlier runs" in capsys.readouterr().err
    assert tree_differences(app, expected_of("javaee-inventory")) == []


def test_a_reruns_summary_table_says_what_earlier_runs_settled(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    assert remediate("javaee-inventory", app, fake)[0] == 0
    capsys.readouterr()
    argv = (
        "--analysis",
        analysis_of("javaee-inventory"),
        "--input",
        app,
        "--base-url",
        fake.anthropic_base_url,
    )
    assert run("remediate", *argv, "--no-progress") == 0
    table = " ".join(capsys.readouterr().out.split())  # however the console wrapped it
    assert "incidents selected │ 0 │ │ settled by earlier runs (not sent) │ 19 (19 fixed) │" in table


def test_a_dry_run_after_a_finished_job_plans_nothing(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    remediate("javaee-inventory", app, fake)
    code, plan = remediate("javaee-inventory", app, fake, "--dry-run")
    assert code == 0
    assert plan["totals"]["requests"] == 0


def test_failed_incidents_are_asked_again_only_with_retry_failed(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example("multi-violation", tmp_path)  # the JNDI lookup needs a human
    assert remediate("multi-violation", app, fake)[0] == 1
    before = fake.request_count
    code, summary = remediate("multi-violation", app, fake)
    assert (code, fake.request_count) == (1, before)  # still failed, not asked again
    assert summary["store"]["skipped"]["failed"] == 1
    code, summary = remediate("multi-violation", app, fake, "--retry-failed")
    assert code == 1
    assert fake.request_count == before + 1  # only the file with the failed incident
    assert [o["rule"] for o in summary["outcomes"]] == ["jndi-to-quarkus-00001"]
    assert tree_differences(app, expected_of("multi-violation")) == []


def test_fresh_ignores_the_history(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    remediate("javaee-inventory", app, fake)
    first = fake.request_count
    _, summary = remediate("javaee-inventory", app, fake, "--fresh")
    # Every file asked again (a reply sized from the first run's edits may be cut off and asked
    # once more: "already migrated" verdicts are longer than the edits they replace).
    assert fake.request_count >= 2 * first
    assert summary["store"]["skipped"] == dict.fromkeys(SKIPPED_KINDS, 0)
    assert tree_differences(app, expected_of("javaee-inventory")) == []  # nothing fixed twice


def test_a_run_the_provider_aborted_is_continued_with_resume(tmp_path: Path) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    # The third request is refused for good (a revoked key): the run stops, two files are done.
    with FakeProviderServer(respond, faults={3: Fault.status(401)}) as server:
        code, summary = remediate("javaee-inventory", app, server, "--batch-parallelism", "1")
        assert code == 3 and summary["aborted"]
        code, summary = remediate("javaee-inventory", app, server, "--resume", "--batch-parallelism", "1")
        requests = server.request_count
    assert code == 0
    assert summary["store"]["continues_run"] == 1
    assert requests == 3 + 5  # two files were not asked again; the refused one was
    assert tree_differences(app, expected_of("javaee-inventory")) == []


def test_a_refused_run_between_does_not_hide_the_run_to_continue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    with FakeProviderServer(respond, faults={3: Fault.status(401)}) as server:
        assert remediate("javaee-inventory", app, server, "--batch-parallelism", "1")[0] == 3
    with FakeProviderServer(respond, faults=FaultPlan.every_request(Fault.status(401), 1000)) as server:
        code, refused = remediate("javaee-inventory", app, server)
    assert (code, refused["store"]["state"], refused["store"]["continues_run"]) == (3, "refused", 1)
    capsys.readouterr()
    with FakeProviderServer(respond) as server:
        code, summary = remediate("javaee-inventory", app, server)
    assert "continuing run #1 (aborted)" in capsys.readouterr().err  # not the refused #2
    assert (code, summary["store"]["continues_run"]) == (0, 1)
    assert tree_differences(app, expected_of("javaee-inventory")) == []


def test_incidents_whose_requests_failed_without_a_reply_are_retried_by_default(tmp_path: Path) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    # 422 is neither retried by the SDK nor fatal: the first two requests fail for good, unpaid.
    refused = FaultPlan.every_request(Fault.status(422), 2)
    with FakeProviderServer(respond, faults=refused) as server:
        code, first = remediate("javaee-inventory", app, server, "--batch-parallelism", "1")
        assert code == 1
        failed = {o["id"] for o in first["outcomes"] if o["reason"].startswith("request failed")}
        assert failed
        code, summary = remediate("javaee-inventory", app, server)
    assert code == 0
    assert summary["store"]["skipped"] == {**dict.fromkeys(SKIPPED_KINDS, 0), "fixed": 19 - len(failed)}
    assert {o["id"] for o in summary["outcomes"]} == failed
    assert tree_differences(app, expected_of("javaee-inventory")) == []


def test_incidents_are_recognised_after_earlier_fixes_moved_their_lines(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example("multi-violation", tmp_path)
    service = app / "src/main/java/com/acme/orders/service/OrderService.java"
    lines = service.read_text().count("\n")
    # This fix deletes an import: everything below it in OrderService.java moves up one line.
    remediate("multi-violation", app, fake, "--violation-ids", "persistence-to-quarkus-00010")
    assert service.read_text().count("\n") == lines - 1
    code, summary = remediate("multi-violation", app, fake)
    assert summary["store"]["skipped"]["fixed"] == 1
    assert "persistence-to-quarkus-00010" not in {o["rule"] for o in summary["outcomes"]}
    assert tree_differences(app, expected_of("multi-violation")) == []
    assert code == 1  # the JNDI lookup, as in a single run


def test_the_store_records_requests_edits_and_outcomes(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    # Confidence filtering on: every reply carries a verdict with confidence and explanation.
    remediate("javaee-inventory", app, fake, "--enable-confidence")
    db = app / ".kantra-ai" / "state.db"
    assert store_rows(db, "SELECT status, count(*) FROM incidents GROUP BY status") == [("fixed", 19)]
    requests = store_rows(
        db, "SELECT status, input_tokens + cache_write_tokens + cache_read_tokens, cost FROM requests"
    )
    assert len(requests) == 7 and all(s == "ok" and tokens > 0 and cost > 0 for s, tokens, cost in requests)
    writes = store_rows(db, "SELECT state, before_sha, after_sha, edits FROM writes")
    assert len(writes) == 7 and all(w[0] == "written" and w[1] != w[2] and "old_text" in w[3] for w in writes)
    explained = store_rows(db, "SELECT count(*) FROM incidents WHERE confidence > 0 AND explanation != ''")
    assert explained == [(19,)]
    assert store_rows(db, "SELECT state, count(*) FROM replies GROUP BY state") == [("used", 7)]


def test_state_puts_the_store_where_asked(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    elsewhere = tmp_path / "stores" / "inventory.db"
    remediate("javaee-inventory", app, fake, "--state", elsewhere)
    assert elsewhere.is_file() and not (app / ".kantra-ai" / "state.db").exists()
    before = fake.request_count
    _, summary = remediate("javaee-inventory", app, fake, "--state", elsewhere)
    assert fake.request_count == before and summary["store"]["skipped"]["fixed"] == 19


def test_a_run_stopped_by_max_cost_is_continued_with_resume(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    # A budget for a few of the 7 requests: the rest are skipped, never sent.
    code, first = remediate("javaee-inventory", app, fake, "--max-cost", "0.012", "--batch-parallelism", "1")
    assert code == 1 and 0 < first["incidents"]["skipped"] < 19
    code, summary = remediate("javaee-inventory", app, fake, "--resume")
    assert code == 0
    assert summary["store"]["continues_run"] == 1
    assert summary["store"]["skipped"]["fixed"] == first["incidents"]["fixed"]
    assert fake.request_count == 7  # each file asked once over both runs
    assert tree_differences(app, expected_of("javaee-inventory")) == []


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--resume"], "nothing to resume"),
        (["--fresh", "--resume"], "--fresh"),
        (["--fresh", "--retry-failed"], "--fresh"),
    ],
)
def test_inconsistent_history_flags_are_one_line_errors(
    flags: list[str],
    fragment: str,
    tmp_path: Path,
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    code, _ = remediate("javaee-inventory", app, fake, *flags)
    assert code == 2
    assert fragment in one_line_error(capsys.readouterr().err)
    assert fake.request_count == 0
    assert tree_differences(app, copy_example("javaee-inventory", tmp_path / "pristine")) == []
    assert not (app / ".kantra-ai").exists()  # no lock, no store made to find there is nothing
