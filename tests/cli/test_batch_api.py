"""`--batch-api` end to end: the real CLI, the official SDKs, the fake provider's batch endpoints over
loopback, real files and the real run store.

Every test checks that nothing went through the synchronous API that should not have
(`fake.request_count`), and what the fake logged as submitted: a request is submitted once, and the
results are applied by the normal engine (a batch result the engine did not recognise as the reply to
its request would show up as a synchronous request)."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.helpers import (
    EXAMPLES,
    analysis_of,
    copy_example,
    expected_of,
    read_only_folder,
    run,
    tree_differences,
)
from tests.store.helpers import store_rows

from kantra_ai.app import batch_run
from kantra_ai.simulated.contract import FakeReply, FakeRequest
from kantra_ai.simulated.recipes import request_text, respond
from testing.fakeprovider.batches import BatchPlan
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"  # 19 incidents, 7 files: 7 requests
PROTOCOLS = ("claude", "openai")
FAST_POLLS = ("--poll-interval", "0.05")


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(respond, batch_plan=BatchPlan(polls_to_end=2)) as server:
        yield server


def _url(fake: FakeProviderServer, provider: str) -> str:
    return fake.anthropic_base_url if provider == "claude" else fake.openai_base_url


def _json_of(*args: str | Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(*args)
    text = out.getvalue()
    return code, (json.loads(text) if text.strip() else {})


def _batch_run(
    app: Path, fake: FakeProviderServer, provider: str = "claude", *extra: str | Path, example: str = EXAMPLE
) -> tuple[int, dict[str, Any]]:
    return _json_of(
        "remediate", "--analysis", analysis_of(example), "--input", app, "--provider", provider,
        "--base-url", _url(fake, provider), "--json", "--no-progress", "--batch-api", *extra,
    )  # fmt: skip


def _submitted_once(fake: FakeProviderServer) -> None:
    """No request was submitted twice: neither its custom_id nor its body."""
    log = fake.batches.log
    assert log, "nothing was submitted"
    assert max(Counter(i.custom_id for i in log).values()) == 1
    assert max(Counter(i.body_sha256 for i in log).values()) == 1


def _store(app: Path, sql: str) -> list[tuple[Any, ...]]:
    return store_rows(app / ".kantra-ai" / "state.db", sql)


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_the_bundled_example_goes_through_the_batch_api_to_the_expected_tree_at_half_the_price(
    tmp_path: Path, fake: FakeProviderServer, provider: str
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _batch_run(app, fake, provider, "--wait", *FAST_POLLS)
    assert code == 0, summary
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert fake.request_count == 0  # every reply came from the batch, applied by the normal engine
    _submitted_once(fake)
    assert len(fake.batches.log) == 7 and fake.batches.polls >= 2
    batch = summary["batch_api"]
    assert batch["results"] == {"succeeded": 7, "errored": 0, "expired": 0, "canceled": 0}
    assert batch["submitted"] == [{"batch": fake.batches.batch_ids[0], "requests": 7}]
    # Every rate halved: the results cost half of what the same usage costs synchronously.
    assert batch["results_cost_usd"] > 0
    halved = batch["results_synchronous_cost_usd"] / 2
    assert batch["results_cost_usd"] == pytest.approx(halved, rel=1e-6, abs=1e-7)
    assert summary["cost_usd"] == pytest.approx(batch["results_cost_usd"], rel=1e-6, abs=1e-7)
    assert batch["same_run_synchronously_usd"] == pytest.approx(2 * summary["cost_usd"], rel=1e-6, abs=1e-7)
    assert batch["waiting"]["incidents"] == 0 and summary["requests"] == 7
    # The store priced each result at batch rates and kept it with its batch.
    rows = _store(app, "SELECT count(*), sum(cost), count(batch_job) FROM requests WHERE status='ok'")
    assert rows[0][0] == 7 and rows[0][1] == pytest.approx(summary["cost_usd"]) and rows[0][2] == 7


def test_the_summary_shows_the_batch_price_next_to_the_synchronous_cost(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code = run(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app,
        "--base-url", fake.anthropic_base_url, "--no-progress", "--batch-api", "--wait", *FAST_POLLS,
    )  # fmt: skip
    assert code == 0
    out = " ".join(capsys.readouterr().out.split())  # the result goes to stdout
    assert "Batch API" in out and "the same run synchronously" in out and "saved" in out
    assert "ran through the normal synchronous API" in out


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_a_run_submits_and_the_same_command_run_again_applies_what_ended(
    tmp_path: Path, fake: FakeProviderServer, provider: str
) -> None:
    fake.batches.plan.polls_to_end = 3
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _batch_run(app, fake, provider)
    assert code == 75  # requests are with the provider
    assert tree_differences(app, EXAMPLES / EXAMPLE / "app") == []  # nothing changed yet
    assert summary["batch_api"]["waiting"] == {"incidents": 19, "batches": fake.batches.batch_ids}
    assert {r["status"] for r in summary["outcomes"]} == {"waiting"}
    code, view = _json_of("status", "--input", app, "--json")
    [listed] = view["batches"]
    assert (listed["batch"], listed["state"], listed["requests"]) == (fake.batches.batch_ids[0], "open", 7)
    assert view["incidents"]["pending"] == 19
    code, summary = _batch_run(app, fake, provider)  # polled once more: still in progress
    assert code == 75 and summary["batch_api"]["submitted"] == []
    code, summary = _batch_run(app, fake, provider)
    assert code == 0, summary
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert fake.request_count == 0 and len(fake.batches.log) == 7  # nothing sent twice
    assert summary["batch_api"]["results"]["succeeded"] == 7
    code, view = _json_of("status", "--input", app, "--json")
    assert view["batches"][0]["state"] == "collected" and view["incidents"]["fixed"] == 19


def test_status_shows_a_run_that_left_requests_with_the_provider_as_waiting_not_finished(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.batches.plan.polls_to_end = 2
    app = copy_example(EXAMPLE, tmp_path)
    assert _batch_run(app, fake)[0] == 75
    code, view = _json_of("status", "--input", app, "--json")
    assert code == 0 and [r["state"] for r in view["runs"]] == ["waiting"]
    assert view["incidents"]["pending"] == 19 and view["incidents"]["fixed"] == 0
    capsys.readouterr()
    assert run("status", "--input", app) == 0
    table = capsys.readouterr().out
    assert "waiting for batch" in table and "finished" not in table
    # The same command run again collects the results: that run finished, the first stays waiting.
    assert _batch_run(app, fake)[0] == 0
    code, view = _json_of("status", "--input", app, "--json")
    assert [r["state"] for r in view["runs"]] == ["finished", "waiting"]
    assert view["incidents"]["fixed"] == 19


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_requests_a_batch_returns_without_a_reply_are_reported_per_incident_and_retried_synchronously(
    tmp_path: Path, fake: FakeProviderServer, provider: str
) -> None:
    fake.batches.plan.item_faults = {1: "errored", 2: "expired"}
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _batch_run(app, fake, provider, "--wait", *FAST_POLLS, "--batch-retry", "sync")
    assert code == 0, summary
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert fake.request_count == 2 and len(fake.batches.log) == 7  # the two, synchronously
    batch = summary["batch_api"]
    assert batch["results"] == {"succeeded": 5, "errored": 1, "expired": 1, "canceled": 0}
    failed = {i.custom_id for i in fake.batches.log if i.number in (1, 2)}
    items = dict(_store(app, "SELECT custom_id, incident_ids FROM batch_items"))
    incidents = {i for custom_id in failed for i in json.loads(items[custom_id])}
    assert {f["incident"] for f in batch["failures"]} == incidents  # one row per incident
    assert {f["kind"] for f in batch["failures"]} == {"errored", "expired"}
    assert {f["action"] for f in batch["failures"]} == {"retried synchronously"}
    assert batch["synchronous_requests_cost_usd"] > 0  # at the normal price


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_by_default_they_go_into_the_next_batch(
    tmp_path: Path, fake: FakeProviderServer, provider: str
) -> None:
    fake.batches.plan.item_faults = {3: "errored"}
    fake.batches.plan.expire_batches = {2}  # the second batch (the resubmission) expires half way...
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _batch_run(app, fake, provider, "--wait", *FAST_POLLS)
    assert code == 0, summary
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    # ... so: 7 requests, the errored one again alone (it expires: 0 of 1 answered), then a third
    # time synchronously: a request two batches returned without a reply is not batched again.
    assert [len([i for i in fake.batches.log if i.batch_id == b]) for b in fake.batches.batch_ids] == [7, 1]
    assert fake.request_count == 1
    actions = [f["action"] for f in summary["batch_api"]["failures"]]
    assert set(actions) == {"submitted again", "retried synchronously"}


def test_max_cost_splits_the_submission_so_that_no_batch_can_pass_the_budget(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    app = copy_example(EXAMPLE, tmp_path / "dry")
    _, dry = _json_of(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--dry-run", "--json", "--batch-api"
    )
    worst = dry["totals"]["batch_api"]["worst_case_cost_usd"]
    budget = worst * 0.55  # about half the requests fit, at their worst case at batch prices
    app = copy_example(EXAMPLE, tmp_path / "run")
    code, summary = _batch_run(app, fake, "claude", "--wait", *FAST_POLLS, "--max-cost", f"{budget:.6f}")
    assert code == 1
    submitted = _store(app, "SELECT sum(worst_cost), count(*) FROM batch_items")[0]
    assert 0 < submitted[1] < 7 and submitted[0] <= budget  # the part that fits, and only that
    assert summary["batch_api"]["skipped_for_budget"] > 0
    assert summary["cost_usd"] <= budget and fake.request_count == 0
    skipped = [r for r in summary["outcomes"] if r["status"] == "skipped"]
    assert skipped and all("--max-cost" in r["reason"] for r in skipped)


def test_a_batch_holds_at_most_batch_max_requests(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _batch_run(app, fake, "claude", "--wait", *FAST_POLLS, "--batch-max-requests", "3")
    assert code == 0 and tree_differences(app, expected_of(EXAMPLE)) == []
    assert [s["requests"] for s in summary["batch_api"]["submitted"]] == [3, 3, 1]
    _submitted_once(fake)


def test_files_with_several_requests_take_several_rounds_each_planned_from_the_file_as_it_is(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    """A file's second request shows the file as its first left it: it is submitted only once the
    first one's result is applied (exactly as the synchronous path sends them one after the other)."""
    app = copy_example("multi-violation", tmp_path)
    code, summary = _batch_run(
        app, fake, "claude", "--wait", *FAST_POLLS, "--batch-size", "3", example="multi-violation"
    )
    assert code == 1, summary  # as synchronously: the scripted model cannot fix two of them
    assert (summary["incidents"]["fixed"], summary["incidents"]["failed"]) == (26, 2)
    assert tree_differences(app, expected_of("multi-violation")) == []
    assert summary["requests"] == 12  # as many as the synchronous path sends
    assert fake.request_count == 0 and len(fake.batches.batch_ids) > 1
    _submitted_once(fake)


def test_the_dry_run_shows_the_batch_price_next_to_the_normal_one_without_any_network(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code, dry = _batch_run(app, fake, "claude", "--dry-run")
    assert code == 0
    totals = dry["totals"]
    assert totals["batch_api"]["expected_cost_usd"] == pytest.approx(totals["expected_cost_usd"] / 2)
    assert totals["batch_api"]["worst_case_cost_usd"] == pytest.approx(totals["worst_case_cost_usd"] / 2)
    assert fake.batches.log == [] and fake.batches.polls == 0 and fake.request_count == 0
    run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--dry-run", "--batch-api")
    assert "Through the batch API: estimated cost" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--provider", "ollama", "--batch-api"), "a local server costs nothing"),
        (("--provider", "openrouter", "--batch-api"), "openrouter offers no batch API"),
        (("--wait",), "--wait only applies with --batch-api"),
        (("--batch-retry", "sync"), "--batch-retry only applies with --batch-api"),
    ],
)
def test_what_cannot_use_a_batch_api_is_refused_in_one_line_with_nothing_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code = run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--no-progress", *args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert tree_differences(app, EXAMPLES / EXAMPLE / "app") == []
    assert not (app / ".kantra-ai" / "state.db").exists()


@pytest.mark.parametrize("command", ["remediate", "execute"])
@pytest.mark.parametrize("dry_run", ["--dry-run", "config"])
def test_wait_in_a_dry_run_is_refused_in_one_line_as_there_is_nothing_to_wait_for(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str], command: str, dry_run: str
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    config = tmp_path / "kantra.yaml"
    config.write_text(yaml.safe_dump({"dry-run": dry_run == "config"}))
    if command == "execute":
        out = tmp_path / "plan"
        assert run("plan", "--analysis", analysis_of(EXAMPLE), "--input", app, "--output", out,
                   "--planner", "deterministic") == 0  # fmt: skip
        source: list[str | Path] = ["execute", "--plan", out / "plan.yaml"]
    else:
        source = ["remediate", "--analysis", analysis_of(EXAMPLE)]
    capsys.readouterr()
    code = run(
        *source, "--input", app, "--base-url", fake.anthropic_base_url, "--no-progress", "--config", config,
        "--batch-api", "--wait", *([dry_run] if dry_run == "--dry-run" else []),
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--wait: a dry run" in err and "submits nothing to wait for" in err
    assert (dry_run if dry_run == "--dry-run" else "dry-run: true in the config") in err
    assert fake.batches.log == [] and fake.batches.polls == 0 and fake.request_count == 0
    assert tree_differences(app, EXAMPLES / EXAMPLE / "app") == []
    assert not (app / ".kantra-ai" / "state.db").exists()


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_an_endpoint_without_batch_endpoints_is_refused_before_the_run_begins(
    tmp_path: Path, provider: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond, batch_plan=BatchPlan(enabled=False)) as server:
        code = run(
            "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", provider,
            "--base-url", _url(server, provider), "--no-progress", "--batch-api",
        )  # fmt: skip
        sent = server.request_count
    err = capsys.readouterr().err
    assert code == 2 and "does not implement" in err and "404" in err
    assert sent == 0 and tree_differences(app, EXAMPLES / EXAMPLE / "app") == []
    assert _store(app, "SELECT count(*) FROM runs") == [(0,)]  # a run that never started is no run


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_batches_cancel_stops_our_batches_and_the_next_run_sends_their_requests_again(
    tmp_path: Path, fake: FakeProviderServer, provider: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.batches.plan.polls_to_end = 50
    app = copy_example(EXAMPLE, tmp_path)
    assert _batch_run(app, fake, provider)[0] == 75
    [first] = fake.batches.batch_ids
    code, cancelled = _json_of("batches", "cancel", "--input", app, "--json")
    assert code == 0 and [c["batch"] for c in cancelled] == [first] and cancelled[0]["cancelled"]
    assert fake.batches.status_of(first) in ("canceling", "cancelling")
    fake.batches.plan.polls_to_end = 1
    code, summary = _batch_run(app, fake, provider, "--wait", *FAST_POLLS)
    assert code == 0, summary
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert summary["batch_api"]["results"]["canceled"] == 7
    assert {f["action"] for f in summary["batch_api"]["failures"]} == {"submitted again"}
    assert len(fake.batches.batch_ids) == 2 and fake.request_count == 0
    code, nothing = _json_of("batches", "cancel", "--input", app, "--json")
    assert code == 0 and nothing == []


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_a_submission_whose_answer_was_lost_is_found_at_the_provider_never_sent_twice(
    tmp_path: Path, fake: FakeProviderServer, provider: str
) -> None:
    fake.batches.plan.drop_create_answers = {1}
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _batch_run(app, fake, provider, "--wait", *FAST_POLLS)
    assert code == 0, summary
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert len(fake.batches.batch_ids) == 1 and len(fake.batches.log) == 7 and fake.request_count == 0
    [(remote, note)] = _store(app, "SELECT remote_id, note FROM batch_jobs")
    assert remote == fake.batches.batch_ids[0] and "lost answer" in note


def test_the_config_file_turns_the_batch_api_on(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    config = tmp_path / "kantra.yaml"
    config.write_text(yaml.safe_dump({"batching": {"batch-api": True, "poll-interval": 0.05}}))
    code, _ = _json_of(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app,
        "--base-url", fake.anthropic_base_url, "--json", "--no-progress", "--config", config, "--wait",
    )  # fmt: skip
    assert code == 0 and len(fake.batches.log) == 7 and fake.request_count == 0


def test_execute_runs_a_plan_through_the_batch_api(tmp_path: Path, fake: FakeProviderServer) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    out = tmp_path / "plan"
    assert run("plan", "--analysis", analysis_of(EXAMPLE), "--input", app, "--output", out,
               "--planner", "deterministic") == 0  # fmt: skip
    args = ["execute", "--plan", out / "plan.yaml", "--input", app, "--base-url", fake.anthropic_base_url,
            "--no-progress", "--batch-api"]  # fmt: skip
    assert run(*args) == 75
    state = yaml.safe_load((out / "state.yaml").read_text())
    assert {p["status"] for p in state["phases"]} <= {"in_progress", "pending"}
    assert run(*args, "--resume", "--wait", *FAST_POLLS) == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert fake.request_count == 0 and len(fake.batches.log) == 7


def test_a_malformed_batch_reply_is_retried_through_the_normal_api_not_answered_by_itself_again(
    tmp_path: Path,
) -> None:
    """A retry (after a reply that did not call the tool) must reach the provider: the batch result
    that failed answers its request once. The retry says why the first reply could not be used, so
    the model is told apart by file, not by the request's text."""
    asked: Counter[str] = Counter()

    def first_answer_garbled(request: FakeRequest) -> FakeReply:
        text = request.last_user_text()
        if "Resources.java" in text:
            asked["Resources.java"] += 1
        if "Resources.java" in text and asked["Resources.java"] == 1:
            return FakeReply(text="I would rather describe the fix in prose.")
        return respond(request)

    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(first_answer_garbled, batch_plan=BatchPlan(polls_to_end=0)) as server:
        code, summary = _batch_run(app, server, "claude", "--wait", *FAST_POLLS)
        synchronous = server.request_count
    assert code == 0, summary
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert synchronous == 1  # the retry, at the normal price


def test_a_run_that_leaves_requests_with_the_provider_says_how_to_continue(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.batches.plan.polls_to_end = 5
    app = copy_example(EXAMPLE, tmp_path)
    code = run(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app,
        "--base-url", fake.anthropic_base_url, "--no-progress", "--batch-api",
    )  # fmt: skip
    assert code == 75
    out = " ".join(capsys.readouterr().out.split())
    [batch] = fake.batches.batch_ids
    assert f"waiting: 19 incidents are with the provider in {batch}: run the same command again" in out
    assert "kantra-ai batches cancel" in out
    assert "stopped early" not in out  # waiting is not stopping short


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_a_submission_lost_on_the_way_waits_and_is_sent_again_only_once_certainly_lost(
    tmp_path: Path, fake: FakeProviderServer, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.batches.plan.lose_creates = {1}  # the create never reaches the provider; no answer either
    app = copy_example(EXAMPLE, tmp_path)
    code, summary = _batch_run(app, fake, provider)
    assert code == 75 and fake.batches.batch_ids == []  # not sent again at once: it may still arrive
    assert summary["batch_api"]["waiting"]["batches"] == ["submission #1 (being confirmed)"]
    code, view = _json_of("status", "--input", app, "--json")
    assert [(b["state"], b["batch"]) for b in view["batches"]] == [("submitting", None)]
    monkeypatch.setattr(batch_run, "LOST_GRACE_SECONDS", 0.0)  # as if minutes had passed
    code, summary = _batch_run(app, fake, provider, "--wait", *FAST_POLLS)
    assert code == 0, summary
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert len(fake.batches.batch_ids) == 1 and fake.request_count == 0
    _submitted_once(fake)
    assert _store(app, "SELECT state FROM batch_jobs ORDER BY id") == [("abandoned",), ("collected",)]


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_a_run_without_the_batch_api_while_requests_are_in_a_batch_is_refused_not_paid_twice(
    tmp_path: Path, fake: FakeProviderServer, provider: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.batches.plan.polls_to_end = 50
    app = copy_example(EXAMPLE, tmp_path)
    assert _batch_run(app, fake, provider)[0] == 75
    [batch] = fake.batches.batch_ids
    capsys.readouterr()
    code, summary = _json_of(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", provider,
        "--base-url", _url(fake, provider), "--json", "--no-progress",
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert (code, summary) == (2, {})
    assert f"7 requests of this tree are with the provider in batch {batch}" in err
    assert "batches cancel" in err and len(err.splitlines()) == 1
    assert fake.request_count == 0  # nothing asked again synchronously
    assert tree_differences(app, EXAMPLES / EXAMPLE / "app") == []
    # Cancelled, they are let go: the synchronous run goes ahead.
    assert _json_of("batches", "cancel", "--input", app, "--json")[0] == 0
    code, _ = _json_of(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", provider,
        "--base-url", _url(fake, provider), "--json", "--no-progress",
    )  # fmt: skip
    assert code == 0 and tree_differences(app, expected_of(EXAMPLE)) == []


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_results_that_are_not_json_lines_are_looked_at_again_later_in_one_line(
    tmp_path: Path, fake: FakeProviderServer, provider: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert _batch_run(app, fake, provider)[0] == 75  # it ends at the next look
    fake.batches.plan.garbled_results = True  # a proxy's error page where the results should be
    capsys.readouterr()
    code, _ = _batch_run(app, fake, provider)
    err = capsys.readouterr().err
    assert code == 75, err
    assert "the answer cannot be read" in err and "they are looked at again later" in err
    assert "Traceback" not in err
    fake.batches.plan.garbled_results = False
    assert _batch_run(app, fake, provider)[0] == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert len(fake.batches.log) == 7 and fake.request_count == 0  # nothing paid twice


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_results_short_of_the_answers_the_provider_counts_are_fetched_again_not_paid_again(
    tmp_path: Path, fake: FakeProviderServer, provider: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert _batch_run(app, fake, provider)[0] == 75  # it ends at the next look
    fake.batches.plan.short_results = 1  # a download cut short: 6 lines for 7 answers billed
    capsys.readouterr()
    code, _ = _batch_run(app, fake, provider)
    err = capsys.readouterr().err
    assert code == 75, err
    assert "hold 6 lines for the 7 answers the provider reports" in err, err
    assert len(fake.batches.log) == 7  # the missing answer was not submitted again
    fake.batches.plan.short_results = 0
    assert _batch_run(app, fake, provider)[0] == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert len(fake.batches.log) == 7 and fake.request_count == 0  # nothing paid twice


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_a_batch_the_provider_no_longer_knows_is_let_go_and_its_requests_sent_again(
    tmp_path: Path, fake: FakeProviderServer, provider: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.batches.plan.polls_to_end = 50
    app = copy_example(EXAMPLE, tmp_path)
    assert _batch_run(app, fake, provider)[0] == 75
    [lost] = fake.batches.batch_ids
    fake.batches.plan.forgotten = {1}  # deleted, or the provider restarted without it
    fake.batches.plan.polls_to_end = 1
    capsys.readouterr()
    code, _ = _batch_run(app, fake, provider, "--wait", *FAST_POLLS)
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"batch {lost}" in err and "the provider no longer knows it" in err
    assert "does not implement" not in err
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert len(fake.batches.batch_ids) == 2 and fake.request_count == 0
    states = dict(_store(app, "SELECT remote_id, state FROM batch_jobs"))
    assert states[lost] == "abandoned"


def test_cancelling_a_batch_the_provider_no_longer_knows_lets_it_go(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    fake.batches.plan.polls_to_end = 50
    app = copy_example(EXAMPLE, tmp_path)
    assert _batch_run(app, fake, "claude")[0] == 75
    fake.batches.plan.forgotten = {1}
    code, cancelled = _json_of("batches", "cancel", "--input", app, "--json")
    assert code == 0 and cancelled[0]["status"].startswith("gone")
    assert _json_of("batches", "cancel", "--input", app, "--json") == (0, [])  # nothing left live


def test_a_batch_adopted_by_time_and_size_alone_is_never_cancelled_from_here(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    # Anthropic keeps no metadata: a submission whose answer was lost is matched by its creation
    # time and size, which another tree on the same key can share. Its results are matched by
    # custom_id (nothing foreign is applied), but cancelling it could cancel someone else's work.
    fake.batches.plan.polls_to_end = 50
    fake.batches.plan.drop_create_answers = {1}
    app = copy_example(EXAMPLE, tmp_path)
    assert _batch_run(app, fake, "claude")[0] == 75
    [batch] = fake.batches.batch_ids
    code, cancelled = _json_of("batches", "cancel", "--input", app, "--json")
    assert [(c["batch"], c["cancelled"]) for c in cancelled] == [(batch, False)]
    assert "may be another tree's batch" in cancelled[0]["status"]
    assert code != 0
    assert fake.batches.status_of(batch) == "in_progress"


def test_a_file_in_a_folder_that_cannot_be_written_is_neither_submitted_nor_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As without --batch-api (tests/cli/test_remediate_safety.py): a file whose edits could never
    be written back is not paid for, in a batch or synchronously."""
    app = copy_example(EXAMPLE, tmp_path)
    asked: list[str] = []

    def recording(request: FakeRequest) -> FakeReply:
        asked.append(request_text(request))
        return respond(request)

    model = app / "src/main/java/com/example/inventory/model"
    with read_only_folder(model, monkeypatch), FakeProviderServer(recording) as server:
        code, summary = _batch_run(app, server, "claude", "--wait", *FAST_POLLS)
    assert code == 1
    assert asked and not [text for text in asked if "model/Product.java" in text]
    refused = [
        o for o in summary["outcomes"] if o["file"].startswith("src/main/java/com/example/inventory/model/")
    ]
    assert refused and all(o["reason"].startswith("not sent: ") for o in refused)
