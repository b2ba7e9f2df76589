"""The web app's test support: a real server (uvicorn on loopback, in a thread) over a copy of a
bundled example, the fake provider over HTTP, and Debian's Chromium driven by Playwright (never
`playwright install`). Screenshots go to test-artifacts/web/ (or $KANTRA_AI_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bench.report_bench import CHROMIUM
from bench.report_bench import browser as start_browser
from tests.cli.conftest import fake
from tests.cli.helpers import EXAMPLES
from tests.provider_env import isolate_provider_env

from kantra_ai.simulated.recipes import respond
from kantra_ai.web.app import WebContext
from kantra_ai.web.security import new_token
from kantra_ai.web.server import WebServer
from testing.fakeprovider.server import FakeProviderServer, LatencyModel

REPO = Path(__file__).resolve().parents[2]
API_KEY = "sk-ant-test-secret-0000"
__all__ = ["fake"]


def artifacts() -> Path:
    folder = Path(os.environ.get("KANTRA_AI_TEST_ARTIFACTS", REPO / "test-artifacts")) / "web"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Site:
    """A served tree: the app's files, its plan, the server and the provider behind it."""

    root: Path  # the working folder (where .kantra-ai.yaml is read)
    tree: Path
    plan: Path
    server: WebServer
    provider: FakeProviderServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base(self) -> str:
        return self.server.base_url


def example_context(root: Path, example: str = "javaee-inventory") -> WebContext:
    """A copy of the example's tree under `root` (as `root/app`) and the web app's context on it:
    the plan in `root/.kantra-ai-plan`, the settings read from `root`."""
    tree = root / "app"
    shutil.copytree(EXAMPLES / example / "app", tree)
    return WebContext(
        input_dir=tree,
        plan_path=root / ".kantra-ai-plan" / "plan.yaml",
        token=new_token(),
        analysis=EXAMPLES / example / "output.yaml",
        cwd=root,
    )


def serve_example(root: Path, example: str = "javaee-inventory", *, latency: float = 0.0) -> Iterator[Site]:
    """Copy the example under `root`, point the config at the fake provider, serve it."""
    ctx = example_context(root, example)
    provider = FakeProviderServer(respond, latency=LatencyModel(ttft=latency) if latency else None)
    provider.start()
    (root / ".kantra-ai.yaml").write_text(
        f"provider: {{name: claude, base-url: '{provider.anthropic_base_url}'}}\n", encoding="utf-8"
    )
    server = WebServer(ctx)
    server.start()
    try:
        yield Site(root, ctx.input_dir, ctx.plan_path, server, provider)
    finally:
        server.stop()
        provider.stop()


@pytest.fixture(autouse=True)
def _provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_provider_env(monkeypatch, anthropic_key=API_KEY, openai_key=None)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the web tests (each test opens its own pages), started the one way the
    browser tests and the report benchmark start it. Closed when they are done, not at the end of
    the session: sync Playwright keeps an event loop running on the main thread, and a test run
    after it that calls `asyncio.run` (every command does) would fail."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium")
    with start_browser() as instance:
        yield instance
