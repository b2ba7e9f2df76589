"""`--engine ray` on a real local Ray cluster (a head and two worker nodes, fast health checks):
real git remotes, fake forges, the fake model server. One worker node is killed while an
application builds; the application is retried on the other node and resumes from its run store.
Ray is imported only inside the fixture: without the `ray` extra this module still collects."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
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

from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.portfolio.manifest import load_manifest
from kantra_ai.portfolio.run import PortfolioOptions, PortfolioResult, run_portfolio
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.ratelimit import RateLimits
from testing.fakeprovider.server import FakeProviderServer

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXAMPLE_OF = {"inventory": "javaee-inventory", "orders": "multi-violation", "stock": "javaee-inventory"}
SMALL_STORE = 80 * 1024 * 1024
FAST_HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One cluster for the session (Ray starts slowly). Its workers inherit this environment:
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


def test_a_node_lost_while_an_application_builds_is_retried_without_paying_twice(
    cluster: Any, tmp_path: Path
) -> None:
    # The embedded engine on the same manifest: what the trees and the requests should be.
    start = time.monotonic()
    minute = RateLimits(requests_per_minute=8, clock=lambda: start + (time.monotonic() - start) * 10)
    shared = RateLimitConfig(requests_per_minute=7)  # of the provider's 8: see the embedded test
    embedded_apps = _apps(tmp_path / "embedded", "e", cluster.git_config)
    with FakeProviderServer(respond, rate_limits=minute) as server:
        manifest = manifest_of(tmp_path / "embedded.yaml", embedded_apps, server, workspace="embedded-work")
        options = PortfolioOptions(max_apps=3, rate_limits=shared, minute_seconds=6.0)
        embedded = run_portfolio(load_manifest(manifest), options, lambda line: None)
        expected_requests = server.request_count
        assert server.rate_limited_count == 0

    # On Ray: every application's build writes its worker's pid, then takes a while.
    marks = tmp_path / "building"
    marks.mkdir()
    ray_apps = _apps(tmp_path / "ray", "r", cluster.git_config)
    start = time.monotonic()
    with FakeProviderServer(respond, rate_limits=minute) as server:
        manifest = manifest_of(
            tmp_path / "ray.yaml", ray_apps, server, workspace="ray-work",
            verify=f'echo "$PPID" >> "{marks}/$(basename "$(dirname "$PWD")")"; sleep 4',
        )  # fmt: skip
        options = PortfolioOptions(
            engine="ray", ray_address=cluster.address, max_apps=3, rate_limits=shared, minute_seconds=6.0
        )
        outcome: list[PortfolioResult] = []
        runner = threading.Thread(
            target=lambda: outcome.append(run_portfolio(load_manifest(manifest), options, lambda line: None))
        )
        runner.start()
        killed = _kill_the_node_of_the_first_build(cluster, marks)
        runner.join(timeout=240)
        assert outcome, "the portfolio did not finish"
        assert server.request_count == expected_requests  # no paid request repeated
        assert server.rate_limited_count == 0

    result = {a.name: a for a in outcome[0].apps}
    assert (
        [a.state for a in outcome[0].apps] == [a.state for a in embedded.apps] == ["done", "partial", "done"]
    )
    # The killed application built twice: its first attempt was lost with the node.
    assert len((marks / killed).read_text().split()) == 2
    for app, twin in zip(ray_apps, embedded_apps, strict=True):
        tree = tmp_path / "ray-work" / app.name / "tree"
        assert tree_differences(tree, EXAMPLES / app.example / "expected") == []
        assert tree_differences(tree, tmp_path / "embedded-work" / twin.name / "tree") == []
        pulls = app.forge.pulls(f"acme/{app.name}")
        assert len(pulls) == 1
        assert result[app.name].pr_urls == [pulls[0]["html_url"]]
        assert result[app.name].verification == "passed"
    for app in embedded_apps + ray_apps:
        app.forge.stop()


def _kill_the_node_of_the_first_build(cluster: Any, marks: Path) -> str:
    """Wait for the first application to start building; kill the worker node it builds on."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started = sorted(marks.iterdir())
        if started:
            name = started[0].name
            raylet = _raylet_of(int(started[0].read_text().split()[0]))
            node = next(n for n in cluster.worker_nodes if n.all_processes["raylet"][0].process.pid == raylet)
            cluster.remove_node(node, allow_graceful=False)
            return name
        time.sleep(0.05)
    raise AssertionError("no application started building")
