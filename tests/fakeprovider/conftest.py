"""Shared fixtures: servers that always stop, and the real SDK clients pointed at them.

Helpers are fixtures rather than importable functions because this directory is not a package, and
importing `conftest` by name breaks as soon as another test directory has one too.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from testing.fakeprovider.server import FakeProviderServer

API_KEY = "sk-test-fake-key"


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    """One CA bundle load for the session: each SDK client would otherwise spend ~0.15 s on it."""
    return ssl.create_default_context()


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def make_server() -> Iterator[Callable[..., FakeProviderServer]]:
    """Build and start servers that are stopped when the test ends, whatever happens."""
    started: list[FakeProviderServer] = []

    def factory(*args: Any, **kwargs: Any) -> FakeProviderServer:
        server = FakeProviderServer(*args, **kwargs).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def anthropic_for() -> Callable[..., anthropic.Anthropic]:
    def build(server: FakeProviderServer, max_retries: int = 0) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=server.anthropic_base_url, api_key=API_KEY, max_retries=max_retries
        )

    return build


@pytest.fixture
def async_anthropic_for() -> Callable[..., anthropic.AsyncAnthropic]:
    def build(server: FakeProviderServer, max_retries: int = 0) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key=API_KEY, max_retries=max_retries
        )

    return build


@pytest.fixture
def openai_for() -> Callable[..., openai.OpenAI]:
    def build(server: FakeProviderServer, max_retries: int = 0) -> openai.OpenAI:
        return openai.OpenAI(base_url=server.openai_base_url, api_key=API_KEY, max_retries=max_retries)

    return build


@pytest.fixture
def async_openai_for() -> Callable[..., openai.AsyncOpenAI]:
    def build(server: FakeProviderServer, max_retries: int = 0) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=server.openai_base_url, api_key=API_KEY, max_retries=max_retries)

    return build
