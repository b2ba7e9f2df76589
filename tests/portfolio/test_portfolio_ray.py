"""`--engine ray` on a real local Ray cluster (a head and two worker nodes, fast health checks):
Debian's PostgreSQL on loopback as the run store, real git remotes, fake forges, the fake model
server. Six applications; one worker node is killed while an application's per-fix verification
build runs; the application is retried on the other node and resumes from its run store.
Ray is imported only inside the fixture: without the `ray` extra this module still collects."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.portfolio.helpers import (
    API_KEY,
    EXAMPLES,
    TOKEN,
    App,
    make_app,
    tree_differences,
    write_git_config,
)
from tests.portfolio.helpers import write_manifest as manifest_of

from kantra_ai.cli.app import main
from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.portfolio.manifest import load_manifest
from kantra_ai.portfolio.run import PortfolioOptions, PortfolioResult, run_portfolio
from kantra_ai.simulated.recipes import parse_prompt, request_text, respond
from kantra_ai.store.session import open_store
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.ratelimit import RateLimits
from testing.fakeprovider.server import FakeProviderServer
from testing.postgres import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# (utf8-reports needs a real compiler to reach its expected tree: its build is a stand-in here.)
EXAMPLE_OF = {
    "inventory": "javaee-inventory",
    "orders": "multi-violation",
    "stock": "javaee-inventory",
    "billing": "multi-violation",
    "catalog": "javaee-inventory",
    "shipping": "multi-violation",
}
STATES = {"javaee-inventory": "done", "multi-violation": "partial"}
SMALL_STORE = 80 * 1024 * 1024
FAST_HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
}
MINUTE = 6.0  # the provider's minute, shortened: its clock runs ten times as fast
PROVIDER_RPM = 8
PORTFOLIO_RPM = 7  # of the provider's 8: it counts a request when it arrives, a little after it left
# A reply finished this long before its worker's node died may not have been stored when it died.
LOST_REPLY_WINDOW = 2.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One cluster for the module (Ray starts slowly). Its workers inherit this environment:
    the git config the tests add their remotes to, the forge token and the model key."""
    import ray
    from ray.cluster_utils import Cluster

    git_config = tmp_path_factory.mktemp("ray-git") / "gitconfig"
    write_git_config(git_config)
    env = {
        "GIT_CONFIG_GLOBAL": str(git_config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GITHUB_TOKEN": TOKEN,
        "ANTHROPIC_API_KEY": API_KEY,
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    for name in ("ANTHROPIC_BASE_URL", "GH_TOKEN"):
        os.environ.pop(name, None)
    head = {"num_cpus": 0, "object_store_memory": SMALL_STORE, "include_dashboard": False}
    made = Cluster(initialize_head=True, head_node_args={**head, "_system_config": FAST_HEALTH_CHECKS})
    for _ in range(2):
        made.add_node(num_cpus=2, object_store_memory=SMALL_STORE)
    ray.init(address=made.address, log_to_driver=False)
    made.wait_for_nodes()
    made.git_config = git_config
    yield made
    ray.shutdown()
    made.shutdown()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _apps(root: Path, prefix: str, git_config: Path) -> list[App]:
    root.mkdir()
    return [make_app(root, f"{prefix}-{name}", example, git_config) for name, example in EXAMPLE_OF.items()]


def _raylet_of(pid: int) -> int:
    """The parent of a process (a Ray worker's parent is its node's raylet)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _build(marks: Path) -> dict[str, Any]:
    """The job's own per-fix verification (`verification` settings), a build that records which
    worker ran it (one line per check: the baseline, then one per fixed file) in a file named
    after the application; its second check, the first after a fix, takes a few seconds."""
    log = f'"{marks}/$(basename "$(dirname "$PWD")")"'
    command = f'echo "$PPID" >> {log}; [ "$(wc -l < {log})" -ne 2 ] || sleep 4'
    return {"verification": {"enabled": True, "type": "build", "command": command}}


def _asked(
    server: FakeProviderServer, answered: Callable[[float], bool] = lambda _when: True
) -> Counter[tuple[str, str, int | None, str]]:
    """Every incident the provider answered a question about (paid for), by file, rule, line and
    message, counted once per answered request that asked about it (`answered`: only the requests
    whose reply was complete at such a moment, by the server's `time.monotonic()`). Incidents, not
    request bodies: how incidents are grouped into requests, the run-wide prefix and `max_tokens`
    follow the token estimates' calibration, which the applications share through the database, so
    they depend on which applications finished first. A reply cut off at `max_tokens` is left out:
    asking that question again with more room is not paying twice, and whether a reply is cut off
    follows the same calibration."""
    asked: Counter[tuple[str, str, int | None, str]] = Counter()
    replies = zip(server.requests, server.completion_times, server.stop_reasons, strict=True)
    for request, finished, stop_reason in replies:
        prompt = parse_prompt(request_text(request))
        assert prompt is not None
        if finished is not None and stop_reason != "max_tokens" and answered(finished):
            asked.update((prompt.path, i.rule_id, i.line, i.message) for i in prompt.incidents)
    return asked


def _scaled_minute() -> RateLimits:
    start = time.monotonic()
    return RateLimits(requests_per_minute=PROVIDER_RPM, clock=lambda: start + (time.monotonic() - start) * 10)


def _verified(store_url: str, tree: Path) -> set[str]:
    store = open_store(tree, None, create=False, store=store_url)
    try:
        sql = "SELECT verification FROM incidents WHERE tree=? AND status='fixed'"
        rows = store.query(sql, (store.tree,))
    finally:
        store.close()
    return {str(row[0]) for row in rows}


def test_a_node_lost_while_an_application_builds_is_retried_without_paying_twice(
    cluster: Any, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    shared = RateLimitConfig(requests_per_minute=PORTFOLIO_RPM)

    # The embedded engine on the same manifest: what the trees and the requests should be.
    embedded_apps = _apps(tmp_path / "embedded", "e", cluster.git_config)
    embedded_marks = tmp_path / "embedded-building"
    embedded_marks.mkdir()
    embedded_store = postgres_server.fresh_url()
    with FakeProviderServer(respond, rate_limits=_scaled_minute()) as server:
        manifest = manifest_of(
            tmp_path / "embedded.yaml", embedded_apps, server, workspace="embedded-work",
            settings=_build(embedded_marks),
        )  # fmt: skip
        options = PortfolioOptions(
            max_apps=4, rate_limits=shared, minute_seconds=MINUTE, store=embedded_store
        )
        embedded = run_portfolio(load_manifest(manifest), options, lambda line: None)
        expected_asked = _asked(server)
        assert all(r is not None for r in server.completion_times)
        assert server.rate_limited_count == 0

    # On Ray, every application's run store in PostgreSQL.
    marks = tmp_path / "building"
    marks.mkdir()
    ray_apps = _apps(tmp_path / "ray", "r", cluster.git_config)
    store = postgres_server.fresh_url()
    with FakeProviderServer(respond, rate_limits=_scaled_minute()) as server:
        manifest = manifest_of(
            tmp_path / "ray.yaml", ray_apps, server, workspace="ray-work", settings=_build(marks)
        )
        options = PortfolioOptions(
            engine="ray",
            ray_address=cluster.address,
            max_apps=4,
            rate_limits=shared,
            minute_seconds=MINUTE,
            store=store,
        )
        outcome: list[PortfolioResult] = []
        runner = threading.Thread(
            target=lambda: outcome.append(run_portfolio(load_manifest(manifest), options, lambda line: None))
        )
        runner.start()
        killed, killed_pid, killed_at = _kill_the_node_of_the_first_fix_build(cluster, marks)
        runner.join(timeout=240)
        assert outcome, "the portfolio did not finish"
        # No paid request repeated: every incident asked about as often as without the lost node (a
        # request in flight when the node died was never answered, so never paid), but for a reply
        # the server finished in the last moment before the node died, which the worker had no time
        # to store: paid, lost with the node and asked again, a window no client can close.
        asked = _asked(server)
        lost = _asked(server, lambda when: killed_at - LOST_REPLY_WINDOW <= when <= killed_at)
        assert expected_asked - asked == Counter()
        assert all(extra <= lost[key] for key, extra in (asked - expected_asked).items()), (
            asked - expected_asked,
            lost,
        )
        # No minute over the limit: the provider refused nothing, though the limit held it back.
        assert server.rate_limited_count == 0
        assert server.request_count > PROVIDER_RPM

    result = {a.name: a for a in outcome[0].apps}
    expected_states = [STATES[example] for example in EXAMPLE_OF.values()]
    assert [a.state for a in outcome[0].apps] == [a.state for a in embedded.apps] == expected_states
    # The killed application's first attempt died in its first check after a fix; the retry, on
    # the other node, checked the rest and every fix it kept is verified.
    builders = (marks / killed).read_text().split()
    assert builders[:2] == [str(killed_pid)] * 2 and str(killed_pid) not in builders[2:]
    assert len(builders) > 2
    assert _verified(store, tmp_path / "ray-work" / killed / "tree") == {"verified"}
    for app, twin in zip(ray_apps, embedded_apps, strict=True):
        tree = tmp_path / "ray-work" / app.name / "tree"
        assert tree_differences(tree, EXAMPLES / app.example / "expected") == []
        assert tree_differences(tree, tmp_path / "embedded-work" / twin.name / "tree") == []
        assert not (tree / ".kantra-ai" / "state.db").exists()  # the store is the database
        pulls = app.forge.pulls(f"acme/{app.name}")
        assert len(pulls) == 1
        assert result[app.name].pr_urls == [pulls[0]["html_url"]]
    for app in embedded_apps + ray_apps:
        app.forge.stop()


def _kill_the_node_of_the_first_fix_build(cluster: Any, marks: Path) -> tuple[str, int, float]:
    """Wait for the first application to start its first check after a fix; kill the worker node
    it runs on. Its name, the pid of the worker that was running it, and when the node was gone
    (`time.monotonic()`)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for mark in sorted(marks.iterdir()):
            builders = mark.read_text().split()
            if len(builders) >= 2:
                worker = int(builders[1])
                raylet = _raylet_of(worker)
                nodes = cluster.worker_nodes
                node = next(n for n in nodes if n.all_processes["raylet"][0].process.pid == raylet)
                cluster.remove_node(node, allow_graceful=False)
                return mark.name, worker, time.monotonic()
        time.sleep(0.05)
    raise AssertionError("no application started building")


@pytest.mark.parametrize(
    ("address", "said"),
    [
        # Ray itself waited for these without end, printing its own warnings, the workspace locked.
        ("127.0.0.1:1", "--ray-address 127.0.0.1:1: nothing answers there (Connection refused)"),
        (":6390", "--ray-address :6390: expected auto, HOST:PORT of the head node, or ray://HOST:PORT"),
    ],
)
def test_a_ray_address_where_no_head_node_answers_is_one_line_at_once(
    tmp_path: Path, address: str, said: str
) -> None:
    manifest = tmp_path / "portfolio.yaml"
    manifest.write_text("apps:\n  - {name: a, source: x, analysis: y}\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["portfolio", "run", str(manifest), "--engine", "ray", "--ray-address", address])
    assert code == 2
    assert err.getvalue().splitlines()[-1] == f"kantra-ai: error: {said}"


def test_a_store_password_on_the_command_line_is_refused_with_the_ray_engine(tmp_path: Path) -> None:
    # Ray keeps the driver's command line in the cluster's job table, for everyone who can see it.
    manifest = tmp_path / "portfolio.yaml"
    manifest.write_text("apps:\n  - {name: a, source: x, analysis: y}\n")
    argv = ["portfolio", "run", str(manifest), "--engine", "ray", "--ray-address", "auto"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([*argv, "--store", "postgresql://kantra:pgS3cretPW@127.0.0.1:1/kantra"])
    assert code == 2
    assert "--store: no password in it with --engine ray" in err.getvalue()
    assert "pgS3cretPW" not in err.getvalue()


def test_an_application_asking_more_cpus_than_any_node_has_fails_at_once(
    cluster: Any, tmp_path: Path
) -> None:
    # Ray keeps such a task pending for ever, without a word: the portfolio never ended.
    manifest = tmp_path / "portfolio.yaml"
    manifest.write_text("apps:\n  - {name: big, source: x, analysis: y, cpus: 64}\n")
    options = PortfolioOptions(engine="ray", ray_address=cluster.address, max_cost=1.0)
    said: list[str] = []
    result = run_portfolio(load_manifest(manifest), options, said.append)
    app = result.apps[0]
    assert app.state == "failed"
    assert app.reason == "cpus 64: no node of the cluster has that many (the most: 2)"
    assert any("big: failed: cpus 64" in line for line in said)


def _one_plain_application(tmp_path: Path, server: FakeProviderServer) -> Path:
    """A manifest of one application copied from a plain folder, its model the given server; its
    requests one at a time, so that a stop lands with most of them not sent yet."""
    shutil.copytree(EXAMPLES / "javaee-inventory" / "app", tmp_path / "inventory")
    manifest = tmp_path / "portfolio.yaml"
    manifest.write_text(
        f"settings: {{provider: {{name: claude, base-url: '{server.anthropic_base_url}'}}, "
        "batching: {batch-parallelism: 1}}\n"
        "apps:\n  - {name: inventory, source: inventory, "
        f"analysis: '{EXAMPLES / 'javaee-inventory' / 'output.yaml'}'}}\n"
    )
    return manifest


def test_ctrl_c_at_the_driver_stops_every_task_as_ctrl_c_stops_one_run(cluster: Any, tmp_path: Path) -> None:
    # Cancelled outright, the tasks left their runs crashed, replies in flight lost (paid again on
    # the rerun). Told to stop, each run lets them finish, saves them and ends interrupted.
    with FakeProviderServer(respond, latency=LatencyModel(ttft=1.0)) as slow:
        manifest = _one_plain_application(tmp_path, slow)
        options = PortfolioOptions(engine="ray", ray_address=cluster.address)

        def press_ctrl_c() -> None:
            deadline = time.monotonic() + 60
            while slow.request_count < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run_portfolio(load_manifest(manifest), options, lambda line: None)
        asked = slow.request_count
    tree = tmp_path / ".kantra-ai-portfolio" / "inventory" / "tree"
    store = open_store(tree, None, create=False)
    try:
        assert [str(r[0]) for r in store.query("SELECT state FROM runs")] == ["interrupted"]
        assert store.query("SELECT count(*) FROM incidents WHERE status = 'in_flight'")[0][0] == 0
        saved = store.query("SELECT count(*) FROM requests WHERE status = 'ok'")[0][0]
    finally:
        store.close()
    assert saved == asked  # every request sent was answered, saved, and will not be paid again


def test_sigterm_to_a_ray_driver_stops_it_as_ctrl_c_does(cluster: Any, tmp_path: Path) -> None:
    # Ray's driver installs its own crash handler for SIGTERM: a native dump, exit 1, runs crashed.
    with FakeProviderServer(respond, latency=LatencyModel(ttft=1.0)) as slow:
        manifest = _one_plain_application(tmp_path, slow)
        argv = [
            sys.executable, "-m", "kantra_ai.cli.app", "portfolio", "run", str(manifest),
            "--engine", "ray", "--ray-address", cluster.address, "--json",
        ]  # fmt: skip
        driver = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while slow.request_count < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        driver.send_signal(signal.SIGTERM)
        out, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err
    assert "SIGTERM received" not in err and err.strip().endswith("kantra-ai: interrupted"), err
    assert out == ""  # nothing of Ray's on stdout
    store = open_store(tmp_path / ".kantra-ai-portfolio" / "inventory" / "tree", None, create=False)
    try:
        assert [str(r[0]) for r in store.query("SELECT state FROM runs")] == ["interrupted"]
    finally:
        store.close()
