"""No page, JSON answer, server-sent event, error page or served report shows a secret: the web
app's responses pass through the redaction layer (`web/redaction.py`), whatever carried the secret
there. Driven through the ASGI app itself (no socket, no browser), with secrets of every kind in
the places a page can pick them up: a run's error and notes, text the page echoes back (a path, an
action, a notice), a report.html on disk, the settings file."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from tests.web.conftest import example_context

from kantra_ai.web.app import WebContext, build_app
from kantra_ai.web.security import new_token

EXAMPLE = "javaee-inventory"


@dataclass(frozen=True)
class Secrets:
    key: str  # the provider's API key (ANTHROPIC_API_KEY)
    forge: str  # a forge token (GITHUB_TOKEN)
    password: str  # the password of the configured base URL
    shaped: str  # a key nobody configured, masked by its shape
    url: str  # the base URL with it

    def leaks(self, text: str) -> list[str]:
        return [name for name, value in vars(self).items() if name != "url" and value in text]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


def call(
    app: Any,
    method: str,
    path: str,
    *,
    form: dict[str, str] | None = None,
    accept: str = "text/html",
    first_event: bool = False,
    extensions: dict[str, Any] | None = None,
) -> Response:
    """One request through the ASGI app; for the event stream, the response up to its first event."""

    async def go() -> Response:
        body = urlencode(form or {}).encode()
        asked = False
        done = asyncio.Event()
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # the client stays until it has what it came for
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)
            if message["type"] == "http.response.body" and (
                not message.get("more_body") or (first_event and b"data:" in message.get("body", b""))
            ):
                done.set()

        path_only, _, query = path.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path_only, "raw_path": path_only.encode(),
            "query_string": query.encode(), "root_path": "", "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80), "extensions": extensions or {},
            "headers": [
                (b"host", b"127.0.0.1"), (b"accept", accept.encode()),
                (b"content-type", b"application/x-www-form-urlencoded"),
            ],
        }  # fmt: skip
        await asyncio.wait_for(app(scope, receive, send), timeout=20)
        start = next(m for m in messages if m["type"] == "http.response.start")
        data = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        headers = {k.decode(): v.decode("latin-1") for k, v in start["headers"]}
        if "content-length" in headers:
            assert int(headers["content-length"]) == len(data)  # the length follows the masking
        return Response(start["status"], headers, data.decode())

    # In a thread of its own: the browser tests' Playwright keeps an event loop in the main thread.
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(lambda: asyncio.run(go())).result()


@pytest.fixture
def secret() -> Secrets:
    password = "pw" + secrets.token_hex(12)
    return Secrets(
        key="sk-ant-api03-" + secrets.token_urlsafe(40),
        forge="ghp_" + secrets.token_hex(18),
        password=password,
        shaped="sk-proj-" + secrets.token_hex(20),
        url=f"https://kantra:{password}@llm-proxy.example.com/v1",
    )


@pytest.fixture
def served(
    tmp_path: Path, secret: Secrets, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, WebContext]]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret.key)
    monkeypatch.setenv("GITHUB_TOKEN", secret.forge)
    ctx = example_context(tmp_path, EXAMPLE)
    (tmp_path / ".kantra-ai.yaml").write_text(
        yaml.safe_dump(
            {
                "provider": {"name": "claude", "base-url": secret.url},
                "verification": {"command": f"GH_TOKEN={secret.shaped} ./gradlew check"},
            }
        ),
        encoding="utf-8",
    )
    yield build_app(ctx), ctx
    ctx.closing.set()


def test_a_run_error_and_notes_carrying_secrets_reach_neither_the_json_nor_the_event_stream(
    served: tuple[Any, WebContext], secret: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, ctx = served
    # A password that pages and JSON escape (not the same bytes there as in the environment); its
    # tail `rd-42` is the same in every escaping: the test looks for that.
    monkeypatch.setenv("PROXY_PASSWORD", 'pä&ss"<w>\\rd-42')
    ctx.runs.progress.note(f"pushed with token {secret.forge} through {os.environ['PROXY_PASSWORD']}")
    ctx.runs.progress.end("failed", error=f"internal error: {secret.url} refused key {secret.key}", code=1)
    answers = {
        "/progress": call(app, "GET", "/progress", accept="application/json"),
        "/events": call(app, "GET", "/events", first_event=True),
        "/run": call(app, "GET", "/run"),
    }
    for path, answer in answers.items():
        assert answer.status == 200, (path, answer.body[:300])
        assert secret.leaks(answer.body) == [], path
        assert "refused key ***" in answer.body, path  # masked, not dropped
        assert "rd-42" not in answer.body, path
    progress = json.loads(answers["/progress"].body)
    assert progress["error"] == "internal error: https://kantra:***@llm-proxy.example.com/v1 refused key ***"
    event = answers["/events"].body.split("data: ", 1)[1].split("\n", 1)[0]
    assert json.loads(event)["notes"] == ["pushed with token *** through ***"]


def test_error_pages_and_json_errors_that_echo_the_request_show_no_secret(
    served: tuple[Any, WebContext], secret: Secrets
) -> None:
    app, _ = served
    answers = {
        "error page": call(app, "GET", "/review/file?" + urlencode({"path": f"src/{secret.key}.java"})),
        "notice": call(app, "GET", "/plan?" + urlencode({"notice": f"token {secret.forge} at {secret.url}"})),
        "json error": call(
            app,
            "POST",
            "/plan/edit",
            form={"op": secret.forge, "phase": secret.key},
            accept="application/json",
        ),
        "run action": call(app, "POST", f"/run/{secret.key}", accept="application/json"),
    }
    assert [a.status for a in answers.values()] == [404, 200, 400, 400]
    for name, answer in answers.items():
        assert secret.leaks(answer.body) == [], name
    assert "src/***.java: no run knows this file" in answers["error page"].body
    assert "token *** at https://kantra:***@llm-proxy.example.com/v1" in answers["notice"].body
    assert json.loads(answers["json error"].body) == {"ok": False, "error": "unknown change '***'"}


def test_a_report_on_disk_carrying_a_secret_is_served_masked(
    served: tuple[Any, WebContext], secret: Secrets
) -> None:
    app, ctx = served
    report = ctx.report_path()
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        f"<html><body><p>key {secret.key} via {secret.url}, {secret.shaped}</p></body></html>",
        encoding="utf-8",
    )
    answer = call(app, "GET", "/report")
    assert answer.status == 200
    assert secret.leaks(answer.body) == []
    assert "key *** via https://kantra:***@llm-proxy.example.com/v1, sk-proj-***" in answer.body


def test_the_settings_page_shows_no_secret_and_saving_it_unchanged_keeps_them_in_the_file(
    served: tuple[Any, WebContext], secret: Secrets
) -> None:
    app, ctx = served
    config = ctx.cwd / ".kantra-ai.yaml"
    before = config.read_bytes()
    answer = call(app, "GET", "/settings")
    assert answer.status == 200
    assert secret.leaks(answer.body) == []
    assert "set (hidden)" in answer.body
    shown = _form_values(answer.body)
    assert shown["provider.base-url"] != secret.url
    assert shown["verification.command"] == "GH_TOKEN=sk-proj-*** ./gradlew check"
    saved = call(app, "POST", "/settings", form={**shown, "_token": ctx.token})
    assert saved.status == 303, saved.body[:300]
    assert "nothing changed" in saved.headers["location"].replace("+", " ")
    assert config.read_bytes() == before  # the password and the token are still in the file, not "***"


def test_editing_a_masked_url_but_leaving_its_mask_is_refused_and_the_file_kept(
    served: tuple[Any, WebContext], secret: Secrets
) -> None:
    app, ctx = served
    config = ctx.cwd / ".kantra-ai.yaml"
    before = config.read_bytes()
    shown = _form_values(call(app, "GET", "/settings").body)
    assert "****" in shown["provider.base-url"]
    moved = shown["provider.base-url"].replace("llm-proxy.example.com", "llm-proxy2.example.com")
    answer = call(app, "POST", "/settings", form={**shown, "provider.base-url": moved, "_token": ctx.token})
    assert answer.status == 400
    assert "still holds the hidden part" in answer.body
    assert config.read_bytes() == before  # the password is not replaced by asterisks
    # Typed whole, credentials included, the new URL is saved.
    whole = secret.url.replace("llm-proxy.example.com", "llm-proxy2.example.com")
    saved = call(app, "POST", "/settings", form={**shown, "provider.base-url": whole, "_token": ctx.token})
    assert saved.status == 303
    assert whole in config.read_text(encoding="utf-8")


def _form_values(html: str) -> dict[str, str]:
    """The text inputs of the settings form as the page shows them."""
    import re

    values: dict[str, str] = {}
    for tag in re.findall(r"<input\b[^>]*>", html):
        name = re.search(r'\bname="([^"]+)"', tag)
        value = re.search(r'\bvalue="([^"]*)"', tag)
        kind = re.search(r'\btype="([^"]+)"', tag)
        if name and value and (kind is None or kind.group(1) in ("text", "number", "url")):
            values[name.group(1)] = value.group(1).replace("&amp;", "&").replace("&#34;", '"')
    return values


def test_the_page_token_is_never_credential_shaped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages carry the token and the redaction layer masks credential-shaped text in them: a token
    # that looked like a key would be masked and every form would be refused.
    drawn = iter(["x-sk-proj-0123456789abcdef0123456789", "plain-random-token-without-a-shape"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    assert new_token() == "plain-random-token-without-a-shape"


def test_a_server_that_could_send_files_by_path_still_gets_every_body_to_redact(
    served: tuple[Any, WebContext],
) -> None:
    # A server offering `http.response.pathsend` would get static files by their path, past any
    # look at their bytes; the app is not offered it.
    app, _ = served
    answer = call(app, "GET", "/static/app.js", extensions={"http.response.pathsend": {}})
    assert answer.status == 200
    assert "function" in answer.body
