"""`portfolio run` with the embedded engine: real git remotes, fake forges, the fake model server."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.portfolio.helpers import EXAMPLES, App, make_app, tree_differences, write_manifest

from kantra_ai.cli.app import main
from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.errors import UserError
from kantra_ai.portfolio.manifest import load_manifest
from kantra_ai.portfolio.run import PortfolioOptions, run_portfolio
from kantra_ai.portfolio.unit import AppSpec, application_tree, lost_result
from kantra_ai.simulated.recipes import respond
from kantra_ai.store.lock import TreeLock
from kantra_ai.store.session import open_store
from testing.fakeprovider.faults import Fault, FaultPlan
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.ratelimit import RateLimits
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE_OF = {"inventory": "javaee-inventory", "orders": "multi-violation", "stock": "javaee-inventory"}


def portfolio(*args: str | Path) -> tuple[int, dict[str, Any], str]:
    """`kantra-ai portfolio ...` in this process: (exit code, --json document or {}, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["portfolio", *map(str, args)])
    text = out.getvalue()
    return code, (json.loads(text) if text.strip().startswith("{") else {}), err.getvalue()


def _edited(manifest: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The manifest with `change` made to its document, as a user edits the file."""
    data = yaml.safe_load(manifest.read_text())
    change(data)
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    return manifest


@pytest.fixture
def apps(tmp_path: Path, git_config: Path) -> list[App]:
    made = [make_app(tmp_path, name, example, git_config) for name, example in EXAMPLE_OF.items()]
    yield made
    for app in made:
        app.forge.stop()


def test_every_application_ends_with_its_expected_tree_and_one_pull_request(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps, server, verify="test -d src")
    code, document, _ = portfolio("run", manifest, "--max-apps", "3", "--json")
    by_name = {a["name"]: a for a in document["apps"]}
    assert code == 1  # orders holds one incident the scripted model cannot fix: partial
    assert by_name["inventory"]["state"] == by_name["stock"]["state"] == "done"
    assert by_name["orders"]["state"] == "partial" and by_name["orders"]["failed"] == 1
    for app in apps:
        tree = tmp_path / "work" / app.name / "tree"
        assert tree_differences(tree, EXAMPLES / app.example / "expected") == []
        pulls = app.forge.pulls(f"acme/{app.name}")
        assert len(pulls) == 1
        assert by_name[app.name]["pr_urls"] == [pulls[0]["html_url"]]
        assert by_name[app.name]["verification"] == "passed"
    # The portfolio's report links every application's own report.
    report = Path(document["report"]).read_text()
    for app in apps:
        link = f"{app.name}/tree/.kantra-ai/report.html"
        assert f'href="{link}"' in report and (Path(document["report"]).parent / link).is_file()


def test_two_applications_of_one_repository_each_deliver_their_own_branch_and_pull_request(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    # The whole application and its mandatory fixes, as examples/portfolio.yaml has them: run numbers
    # are per tree, so both pushed kantra-ai/1 and the second push was always rejected.
    inventory = apps[0]

    def add_mandatory_twin(data: dict[str, Any]) -> None:
        whole = data["apps"][0]
        settings = {**whole["settings"], "filters": {"categories": ["mandatory"]}}
        data["apps"].append(dict(whole, name="inventory-mandatory", settings=settings))

    manifest = _edited(write_manifest(tmp_path / "portfolio.yaml", [inventory], server), add_mandatory_twin)
    code, document, _ = portfolio("run", manifest, "--max-apps", "1", "--json")
    assert code == 0, document
    branches = {a["name"]: a["branches"] for a in document["apps"]}
    assert branches == {
        "inventory": ["kantra-ai/inventory/1"],
        "inventory-mandatory": ["kantra-ai/inventory-mandatory/1"],
    }
    pulls = inventory.forge.pulls("acme/inventory")
    assert sorted(p["head"]["ref"] for p in pulls) == sorted(b[0] for b in branches.values())


def test_commits_made_without_a_pull_request_name_the_branch_that_holds_them(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    inventory = apps[0]

    def commit_only(data: dict[str, Any]) -> None:
        data["apps"][0]["settings"]["git"] = {"commit-strategy": "per-violation"}  # not pushed

    manifest = _edited(write_manifest(tmp_path / "portfolio.yaml", [inventory], server), commit_only)
    code, document, _ = portfolio("run", manifest, "--json")
    assert code == 0
    assert document["apps"][0]["branches"] == ["kantra-ai/inventory/1"]
    assert inventory.forge.pulls("acme/inventory") == []


def test_an_application_whose_run_the_provider_refused_is_not_verified(
    tmp_path: Path, apps: list[App]
) -> None:
    with FakeProviderServer(respond, faults=FaultPlan(scripted={1: Fault.status(401)})) as refusing:
        manifest = write_manifest(tmp_path / "portfolio.yaml", [apps[0]], refusing, verify="true")
        code, document, _ = portfolio("run", manifest, "--json")
    app = document["apps"][0]
    assert code == 1
    assert (app["state"], app["fixed"], app["verification"]) == ("failed", 0, None), app


def test_a_source_changed_in_the_manifest_is_never_run_on_the_old_copy(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    inventory, orders = apps[0], apps[1]
    manifest = write_manifest(tmp_path / "portfolio.yaml", [inventory], server)
    right = manifest.read_text()
    manifest.write_text(right.replace(inventory.url, orders.url))  # the wrong repository by mistake
    assert portfolio("run", manifest, "--json")[1]["apps"][0]["state"] == "failed"
    manifest.write_text(right)  # put right: the workspace still holds the other repository's copy
    code, document, _ = portfolio("run", manifest, "--json")
    app = document["apps"][0]
    assert (code, app["state"], app["requests"]) == (1, "failed", 0)
    assert app["reason"].startswith("its source or ref in the manifest changed since"), app["reason"]
    shutil.rmtree(tmp_path / "work" / "inventory")  # as the reason says
    code, document, _ = portfolio("run", manifest, "--json")
    assert (code, document["apps"][0]["state"]) == (0, "done")


def test_an_application_whose_every_attempt_was_lost_counts_what_they_spent(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    # With Ray, a task whose worker died on every attempt: the driver has no result from it, only
    # the application's run store. Counted as $0, its spend went back to the budget for others.
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps[:1], server)
    code, document, _ = portfolio("run", manifest, "--json")
    spent = document["apps"][0]["cost"]
    assert code == 0 and spent > 0
    loaded = load_manifest(manifest)
    lost = lost_result(loaded.apps[0], loaded.workspace, 0.0, None, "ray: the worker died")
    assert (lost.state, lost.reason, lost.cost) == ("failed", "ray: the worker died", spent)
    status = portfolio("status", manifest, "--json")[1]["apps"][0]
    assert (status["state"], status["reason"], status["cost"]) == ("failed", "ray: the worker died", spent)


def test_verification_given_as_settings_checks_every_fix_inside_the_applications_job(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    checks = tmp_path / "checks.log"
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps[:1], server)
    document = yaml.safe_load(manifest.read_text())
    document["settings"]["verification"] = {
        "enabled": True,
        "type": "build",
        "command": f"echo checked >> {checks}",
    }
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    code, result, _ = portfolio("run", manifest, "--json")
    assert code == 0 and result["apps"][0]["state"] == "done"
    tree = tmp_path / "work" / apps[0].name / "tree"
    db = sqlite3.connect(tree / ".kantra-ai" / "state.db")
    try:
        verdicts = {str(r[0]) for r in db.execute("SELECT verification FROM incidents WHERE status='fixed'")}
    finally:
        db.close()
    assert verdicts == {"verified"}  # the job's own verification, not an after-the-fact command
    assert checks.read_text().count("checked") >= 2  # the baseline, then the fixed files


def test_rerunning_resumes_without_asking_or_delivering_twice(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps[:1], server)
    code, first, _ = portfolio("run", manifest, "--json")
    assert code == 0
    asked = server.request_count
    assert asked > 0 and first["apps"][0]["cost"] > 0
    code, document, _ = portfolio("run", manifest, "--json")
    assert code == 0 and server.request_count == asked
    assert document["apps"][0]["fixed"] == 19 and document["apps"][0]["cost"] == 0  # this run's
    assert len(apps[0].forge.pulls("acme/inventory")) == 1
    code, status, _ = portfolio("status", manifest, "--json")
    assert status["apps"][0]["state"] == "done" and status["apps"][0]["pr_urls"]
    assert status["apps"][0]["cost"] == first["apps"][0]["cost"]  # every run's, not the last one's


def test_status_after_a_killed_rerun_says_the_application_is_unfinished(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps[:1], server)
    assert portfolio("run", manifest, "--max-cost", "0.0001")[0] == 1  # nothing sent: partial
    with FakeProviderServer(respond, latency=LatencyModel(ttft=1.0)) as slow:
        write_manifest(manifest, apps[:1], slow)
        argv = [sys.executable, "-m", "kantra_ai.cli.app", "portfolio", "run", str(manifest)]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while slow.request_count < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.kill()  # a lost machine: no result is written
        process.wait(timeout=60)
    code, status, _ = portfolio("status", manifest, "--json")
    app = status["apps"][0]
    assert code == 0 and app["state"] == "unfinished", app
    assert app["reason"].startswith("run #2 on its tree started after this result and is crashed"), app


def test_every_applications_run_store_can_be_one_postgresql_database(
    tmp_path: Path, apps: list[App], server: FakeProviderServer, postgres_url: str
) -> None:
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps[:2], server)
    code, document, _ = portfolio("run", manifest, "--store", postgres_url, "--json")
    assert code == 1 and [a["state"] for a in document["apps"]] == ["done", "partial"]
    asked = server.request_count
    for app in apps[:2]:
        tree = tmp_path / "work" / app.name / "tree"
        assert tree_differences(tree, EXAMPLES / app.example / "expected") == []
        assert not (tree / ".kantra-ai" / "state.db").exists()
        store = open_store(tree, None, create=False, store=postgres_url)
        try:
            assert store.last_run() is not None
        finally:
            store.close()
    # The same database named in the manifest: the rerun finds everything settled there.
    raw = yaml.safe_load(manifest.read_text())
    manifest.write_text(yaml.safe_dump({**raw, "store": postgres_url}))
    code, document, _ = portfolio("run", manifest, "--json")
    assert code == 1 and server.request_count == asked
    assert [len(a["pr_urls"]) for a in document["apps"]] == [1, 1]


def test_a_machine_lost_with_its_disk_loses_no_fix_and_pays_nothing_again(
    tmp_path: Path, apps: list[App], server: FakeProviderServer, postgres_url: str
) -> None:
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps[:2], server)
    code, first, _ = portfolio("run", manifest, "--store", postgres_url, "--json")
    assert code == 1 and [a["state"] for a in first["apps"]] == ["done", "partial"]
    asked = server.request_count
    # The next attempt runs on a machine with none of this one's files: a fresh clone of each
    # application, the run store in PostgreSQL as the only memory of what was fixed.
    shutil.rmtree(tmp_path / "work")
    code, again, _ = portfolio("run", manifest, "--store", postgres_url, "--json")
    assert code == 1 and [a["state"] for a in again["apps"]] == ["done", "partial"]
    assert server.request_count == asked  # the fixes came back from the store, not from the model
    assert [a["pr_urls"] for a in again["apps"]] == [a["pr_urls"] for a in first["apps"]]
    assert all(len(a["pr_urls"]) == 1 for a in again["apps"])
    for app in apps[:2]:
        tree = tmp_path / "work" / app.name / "tree"
        assert tree_differences(tree, EXAMPLES / app.example / "expected") == []


def test_an_applications_folder_inside_its_repository_never_leads_out_of_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "services" / "orders").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    spec = AppSpec(name="orders", source="x", path="services/orders")
    assert application_tree(spec, tree) == (tree / "services" / "orders").resolve()
    for outside in ("../elsewhere", str(tmp_path / "elsewhere"), "services/missing"):
        with pytest.raises(UserError, match=f"no folder '{re.escape(outside)}' in the repository of orders"):
            application_tree(dataclasses.replace(spec, path=outside), tree)


def test_one_application_failing_never_stops_the_others(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps[:1], server)
    raw = yaml.safe_load(manifest.read_text())
    raw["apps"] += [
        {"name": "gone", "source": "https://github.com/acme/no-such-app.git", "analysis": "x.yaml"},
        {**raw["apps"][0], "name": "no-analysis", "analysis": str(tmp_path / "missing.yaml")},
        {**raw["apps"][0], "name": "bad-command", "analysis": None, "analysis-command": "exit 3"},
    ]
    manifest.write_text(yaml.safe_dump(raw))
    code, document, _ = portfolio("run", manifest, "--json")
    by_name = {a["name"]: a for a in document["apps"]}
    assert code == 1
    assert by_name["inventory"]["state"] == "done"
    assert by_name["gone"]["state"] == "failed" and "git clone" in by_name["gone"]["reason"]
    assert by_name["no-analysis"]["state"] == "failed" and "missing.yaml" in by_name["no-analysis"]["reason"]
    assert by_name["bad-command"]["reason"] == "analysis command failed: exit 3"


def test_the_portfolio_budget_is_never_exceeded(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps, server)
    # What the whole portfolio costs without a limit, on a copy: then a little less as the limit.
    # Not much less: each request reserves its worst case (every input token a 1 h cache write, its
    # whole max_tokens of output) before it is sent, and with the run-wide cached prefix that is
    # about what a whole application really costs here. One at a time, the first application's
    # share (a third) admits few of its requests; the others share what it leaves.
    unlimited = write_manifest(
        tmp_path / "copy.yaml", apps, server, workspace="free", settings={"git": {"branch-prefix": "free"}}
    )
    full = portfolio("run", unlimited, "--json")[1]
    total = sum(a["cost"] for a in full["apps"])
    assert total > 0
    limit = round(total * 0.9, 6)
    code, document, _ = portfolio("run", manifest, "--max-apps", "1", "--max-cost", str(limit), "--json")
    assert code == 1
    spent = sum(a["cost"] for a in document["apps"])
    assert 0 < spent <= limit
    assert any(a["state"] == "partial" for a in document["apps"])
    # What the budget kept from being sent is not sent, not failed, and the reason names the budget.
    # (The model fixes every incident of inventory that it is sent.)
    first = document["apps"][0]
    assert (first["name"], first["failed"]) == ("inventory", 0) and first["fixed"] + first["skipped"] == 19
    assert first["skipped"] and first["reason"].startswith(f"{first['skipped']} not sent: --max-cost $")


def test_one_rate_limit_for_all_applications(tmp_path: Path, apps: list[App], git_config: Path) -> None:
    """Three applications at once under one requests-per-minute limit: the provider (the fake
    server's own buckets, its minute shortened to 6 s) never refuses one. Each application with its
    own limiter would take the whole limit three times over. (The portfolio is given 7 of the
    provider's 8: the provider counts a request when it arrives, a little after it was sent.)"""
    start = time.monotonic()
    scaled = RateLimits(requests_per_minute=8, clock=lambda: start + (time.monotonic() - start) * 10)
    with FakeProviderServer(respond, rate_limits=scaled) as limited:
        manifest = write_manifest(tmp_path / "portfolio.yaml", apps, limited)
        options = PortfolioOptions(
            max_apps=3, rate_limits=RateLimitConfig(requests_per_minute=7), minute_seconds=6.0
        )
        result = run_portfolio(load_manifest(manifest), options, lambda line: None)
        assert [a.state for a in result.apps] == ["done", "partial", "done"]
        assert limited.request_count > 8  # the limit binds
        assert limited.rate_limited_count == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apps: []\n", "apps: List should have at least 1 item"),
        ("apps:\n  - {name: a, source: x}\n", "give analysis (a file or folder) or analysis-command"),
        ("apps:\n  - {name: a, source: x, analysis: y, colour: red}\n", "apps.0.colour: Extra inputs"),
        ("apps:\n  - {name: a/b, source: x, analysis: y}\n", "apps.0.name: Value error, letters"),
        ("apps:\n  - {name: a, source: x, analysis: y}\n  - {name: a, source: z, analysis: y}\n", "two"),
        ("apps:\n  - {name: a, source: x, analysis: y, settings: {limits: {max-cost: -1}}}\n",
         "apps.a.settings: limits.max-cost"),
        ("max-apps: 0\napps:\n  - {name: a, source: x, analysis: y}\n", "max-apps: Input should be greater"),
        # NaN compares false with everything: as a budget it was no budget at all.
        ("max-cost: .nan\napps:\n  - {name: a, source: x, analysis: y}\n", "max-cost: Input should be a fin"),
        # Taken silently, a dry run paid and wrote, a batch run paid the full price.
        ("apps:\n  - {name: a, source: x, analysis: y, settings: {dry-run: true}}\n", "dry-run: not for"),
        ("apps:\n  - {name: a, source: x, analysis: y, settings: {batching: {batch-api: true}}}\n",
         "apps.a.settings: batching.batch-api: not for a portfolio application"),
        ("apps: [\n", "not valid YAML"),
        ("store: state.db\napps:\n  - {name: a, source: x, analysis: y}\n", "store: Value error, a postgresql://"),
        ("store: postgresql://u:pw-9@db/k\napps:\n  - {name: a, source: x, analysis: y}\n", "no password in"),
        ("apps:\n  - {name: a, source: 'https://u:pw-9@git.example/a.git', analysis: y}\n",
         "apps.0.source: Value error, no password in the manifest"),
        # The workspace holds copies of the sources: inside one it would copy it into itself.
        ("workspace: x\napps:\n  - {name: a, source: x, analysis: y}\n", "inside the source of a"),
        ("workspace: x/ws\napps:\n  - {name: a, source: x, analysis: y}\n", "inside the source of a"),
        ("workspace: .\napps:\n  - {name: a, source: x, analysis: y}\n", "holds the source of a"),
        ("workspace: portfolio.yaml\napps:\n  - {name: a, source: x, analysis: y}\n", "not a folder"),
    ],
)  # fmt: skip
def test_a_bad_manifest_is_one_line_and_nothing_runs(tmp_path: Path, text: str, message: str) -> None:
    manifest = tmp_path / "portfolio.yaml"
    manifest.write_text(text)
    code, _, err = portfolio("run", manifest)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("kantra-ai: error: ") and message in err, err
    assert "pw-9" not in err  # a password the manifest holds is never repeated
    assert not (tmp_path / ".kantra-ai-portfolio").exists()


def test_a_manifest_that_is_not_text_is_one_line_and_nothing_runs(tmp_path: Path) -> None:
    manifest = tmp_path / "portfolio.yaml"
    manifest.write_bytes(b"\xde\xad\xbe\xef apps: []\n")  # not UTF-8: was a UnicodeDecodeError traceback
    code, _, err = portfolio("run", manifest)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("kantra-ai: error: ") and "not UTF-8 text" in err, err
    assert not (tmp_path / ".kantra-ai-portfolio").exists()


@pytest.mark.parametrize("flag", ["--max-cost", "--max-cost-per-app"])
@pytest.mark.parametrize("value", ["nan", "inf", "0"])
def test_a_budget_that_is_not_a_positive_amount_is_refused(tmp_path: Path, flag: str, value: str) -> None:
    manifest = tmp_path / "portfolio.yaml"
    manifest.write_text("apps:\n  - {name: a, source: x, analysis: y}\n")
    code, _, err = portfolio("run", manifest, flag, value)
    assert code == 2
    assert err == f"kantra-ai: error: {flag} must be a positive amount of USD, not {value}\n"
    assert not (tmp_path / ".kantra-ai-portfolio").exists()


def test_a_second_portfolio_run_on_the_same_workspace_is_refused_before_it_touches_anything(
    tmp_path: Path, apps: list[App], server: FakeProviderServer
) -> None:
    # Two runs copied the same application into the same folder, one removing the other's half-made
    # copy: the application was left truncated, and every rerun failed on it.
    manifest = write_manifest(tmp_path / "portfolio.yaml", apps, server)
    workspace = load_manifest(manifest).workspace
    workspace.mkdir()
    with TreeLock(workspace / "portfolio.lock") as held:
        held.acquire()
        code, _, err = portfolio("run", manifest)
    assert code == 2
    assert err.startswith("kantra-ai: error: another portfolio run (pid ") and err.count("\n") == 1, err
    assert server.request_count == 0
    assert [p.name for p in workspace.iterdir()] == ["portfolio.lock"]


def test_the_bundled_portfolio_runs_offline_without_importing_ray(tmp_path: Path) -> None:
    """`examples/portfolio.yaml` as the README says to run it, workspace moved to a tmp folder."""
    manifest = tmp_path / "portfolio.yaml"
    raw = yaml.safe_load((EXAMPLES / "portfolio.yaml").read_text())
    raw["workspace"] = str(tmp_path / "work")
    for app in raw["apps"]:
        app["source"] = str(EXAMPLES / app["source"])
        app["analysis"] = str(EXAMPLES / app["analysis"])
    manifest.write_text(yaml.safe_dump(raw))
    script = (
        "import sys; from kantra_ai.cli.app import main; code = main(['portfolio', 'run', sys.argv[1]]);"
        "print('RAY' if 'ray' in sys.modules else 'NO-RAY'); sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", script, str(manifest)], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # the orders app keeps its one unfixable incident
    assert done.stdout.strip().endswith("NO-RAY")
    for app in raw["apps"]:
        example = Path(app["analysis"]).parent
        assert tree_differences(tmp_path / "work" / app["name"] / "tree", example / "expected") == []
    assert "portfolio: inventory: done" in done.stderr


def test_ctrl_c_stops_every_application_and_the_rerun_finishes_them(
    tmp_path: Path, apps: list[App], git_config: Path, server: FakeProviderServer
) -> None:
    twins = [make_app(tmp_path, f"twin-{app.name}", app.example, git_config) for app in apps[:2]]
    baseline = write_manifest(tmp_path / "baseline.yaml", twins, server, workspace="baseline")
    portfolio("run", baseline)
    needed = server.request_count  # what the two applications ask without interruption
    for twin in twins:
        twin.forge.stop()
    with FakeProviderServer(respond, latency=LatencyModel(ttft=1.0)) as slow:
        manifest = write_manifest(tmp_path / "portfolio.yaml", apps[:2], slow)
        argv = [sys.executable, "-m", "kantra_ai.cli.app", "portfolio", "run", str(manifest)]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while slow.request_count < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert 0 < slow.request_count < needed  # stopped part-way
        code, document, _ = portfolio("run", manifest, "--json")
        assert code == 1 and [a["state"] for a in document["apps"]] == ["done", "partial"]
        for app in apps[:2]:
            tree = tmp_path / "work" / app.name / "tree"
            assert tree_differences(tree, EXAMPLES / app.example / "expected") == []
        # The requests in flight at Ctrl-C finished and were saved: the rerun asked only for the rest.
        assert slow.request_count == needed


def test_a_token_in_a_url_never_reaches_the_result_or_the_report(tmp_path: Path) -> None:
    """A URL with its credentials in an application's failure (here the analysis command's last
    line) is written with the credentials masked."""
    secret = "ghp-in-the-url-5e1f"
    command = f"echo 'cannot fetch https://x-token:{secret}@git.example.com/acme/a.git' >&2; exit 1"
    manifest = tmp_path / "portfolio.yaml"
    app = {"name": "a", "source": str(EXAMPLES / "javaee-inventory" / "app"), "analysis-command": command}
    manifest.write_text(yaml.safe_dump({"apps": [app]}))
    code, document, err = portfolio("run", manifest, "--json")
    assert code == 1
    assert document["apps"][0]["reason"] == (
        "analysis command failed: cannot fetch https://x-token:***@git.example.com/acme/a.git"
    )
    written = [p.read_text() for p in (tmp_path / ".kantra-ai-portfolio").glob("*/*.*") if p.is_file()]
    written += [p.read_text() for p in (tmp_path / ".kantra-ai-portfolio").glob("*.*")]
    assert secret not in json.dumps(document) + err + "".join(written)


def test_the_result_table_piped_keeps_application_names_and_states_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Piped (`| tee`, CI), the table was folded to 80 columns: 'invent/ory', 'partia/l'."""
    monkeypatch.delenv("COLUMNS", raising=False)
    shutil.copytree(EXAMPLES, tmp_path / "examples")  # the bundled manifest, offline (simulated)
    manifest = tmp_path / "examples" / "portfolio.yaml"
    for command in ("run", "status"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            main(["portfolio", command, str(manifest)])
        rows = {line.split("│")[1].strip(): line for line in out.getvalue().splitlines() if "│" in line}
        assert {"inventory", "orders", "inventory-mandatory"} <= set(rows), out.getvalue()
        assert "partial" in rows["orders"] and "1 failed" in rows["orders"], out.getvalue()


def test_portfolio_report_never_writes_over_a_file_that_is_not_its_report(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    manifest = tmp_path / "examples" / "portfolio.yaml"
    victim = tmp_path / "examples" / "javaee-inventory" / "app" / "pom.xml"
    before = victim.read_bytes()
    code, _, err = portfolio("report", manifest, "-o", victim)
    assert code == 2 and err.count("\n") == 1 and "is not a kantra-ai report" in err, err
    assert victim.read_bytes() == before
    assert portfolio("report", manifest, "-o", tmp_path / "p.html")[0] == 0
    assert portfolio("report", manifest, "-o", tmp_path / "p.html")[0] == 0  # its own: written again
