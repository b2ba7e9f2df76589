"""The gate in front of the web app, against a real server over loopback with raw HTTP: no token,
a wrong token, a foreign Host (DNS rebinding), a foreign Origin (a cross-site form, fetch or event
stream), a cross-site websocket handshake, a forged form that only has the cookie: all refused, and
nothing changed. No secret reaches any page."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from tests.web.conftest import API_KEY, Site, serve_example

from kantra_ai.web.security import TOKEN_FIELD


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from serve_example(tmp_path_factory.mktemp("security"))


def request(
    site: Site, method: str, path: str, *, headers: dict[str, str] | None = None, body: str | None = None
) -> http.client.HTTPResponse:
    host, port = urlsplit(site.base).hostname, site.server.port
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    sent = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    if body is not None:
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
    connection.request(method, path, body=body, headers=sent)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def token_of(site: Site) -> str:
    return site.server.ctx.token


def cookie_of(site: Site) -> str:
    return f"kantra_ai_token_{site.server.port}={token_of(site)}"


def make_plan_body(site: Site, **extra: str) -> str:
    return urlencode({"planner": "deterministic", "risk_tolerance": "balanced", **extra})


@pytest.mark.parametrize("path", ["/plan", "/run", "/review", "/settings", "/events", "/static/app.js", "/"])
def test_every_page_refuses_a_request_without_the_token(site: Site, path: str) -> None:
    assert request(site, "GET", path).status == 403
    assert request(site, "GET", path + "?token=not-the-token").status == 403
    assert (
        request(site, "GET", path, headers={"Cookie": f"kantra_ai_token_{site.server.port}=wrong"}).status
        == 403
    )


def test_the_printed_url_sets_a_strict_cookie_and_drops_the_token_from_the_address(site: Site) -> None:
    response = request(site, "GET", f"/plan?token={token_of(site)}")
    assert response.status == 303
    assert response.getheader("location") == "/plan"
    cookie = response.getheader("set-cookie") or ""
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert request(site, "GET", "/plan", headers={"Cookie": cookie_of(site)}).status == 200


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("//evil.example/x", "/evil.example/x"),
        ("/\\evil.example", "/evil.example"),
        ("/plan%0d%0aX-A:%201", "/"),
    ],
)
def test_the_printed_url_leads_only_to_a_page_of_this_server(site: Site, path: str, location: str) -> None:
    response = request(site, "GET", f"{path}?token={token_of(site)}")
    assert response.status == 303
    assert response.getheader("location") == location
    assert response.getheader("x-a") is None


def test_a_foreign_host_is_refused_even_with_the_token(site: Site) -> None:
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends its own Host."""
    port = site.server.port
    for host in (f"evil.example:{port}", "127.0.0.1:1", f"localhost.evil.example:{port}"):
        response = request(site, "GET", "/plan", headers={"Host": host, "X-Kantra-Token": token_of(site)})
        assert response.status == 403, host
    assert (
        request(
            site, "GET", "/plan", headers={"Host": f"localhost:{port}", "X-Kantra-Token": token_of(site)}
        ).status
        == 200
    )


def test_a_change_needs_the_token_itself_not_only_the_cookie(site: Site) -> None:
    """A forged cross-site form carries the cookie (were SameSite ignored), never the token."""
    response = request(
        site, "POST", "/plan/make", headers={"Cookie": cookie_of(site)}, body=make_plan_body(site)
    )
    assert response.status == 403
    assert not site.plan.exists()
    wrong = make_plan_body(site, **{TOKEN_FIELD: "guessed"})
    assert request(site, "POST", "/plan/make", headers={"Cookie": cookie_of(site)}, body=wrong).status == 403
    assert not site.plan.exists()


def test_a_change_with_the_token_only_in_the_address_is_refused(site: Site) -> None:
    """The address ends up in logs and history: a change carries the token in a header or form."""
    path = f"/plan/make?token={token_of(site)}"
    assert (
        request(site, "POST", path, headers={"Cookie": cookie_of(site)}, body=make_plan_body(site)).status
        == 403
    )
    assert not site.plan.exists()


def test_a_body_larger_than_any_form_is_refused_whichever_way_the_token_comes(site: Site) -> None:
    big = "x=" + "a" * 1_100_000
    with_header = {"X-Kantra-Token": token_of(site), "Cookie": cookie_of(site)}
    assert request(site, "POST", "/plan/edit", headers=with_header, body=big).status == 413
    in_form = make_plan_body(site, **{TOKEN_FIELD: token_of(site)}) + "&" + big
    assert (
        request(site, "POST", "/plan/make", headers={"Cookie": cookie_of(site)}, body=in_form).status == 413
    )
    assert not site.plan.exists()


def test_a_foreign_origin_is_refused_for_changes_and_the_event_stream(site: Site) -> None:
    body = make_plan_body(site, **{TOKEN_FIELD: token_of(site)})
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{site.server.port + 1}"):
        headers = {"Cookie": cookie_of(site), "Origin": origin}
        assert request(site, "POST", "/plan/make", headers=headers, body=body).status == 403
        assert request(site, "GET", "/events", headers=headers).status == 403
    assert not site.plan.exists()
    own = {"Cookie": cookie_of(site), "Origin": site.base}
    assert request(site, "POST", "/plan/make", headers=own, body=body).status == 303
    assert site.plan.exists()


def test_a_cross_site_websocket_handshake_is_refused(site: Site) -> None:
    port = site.server.port
    for origin in ("http://evil.example", site.base):
        handshake = (
            f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\n"
            f"Cookie: {cookie_of(site)}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(handshake.encode())
            status_line = sock.recv(200).split(b"\r\n", 1)[0]
        assert b" 403 " in status_line + b" ", (origin, status_line)
        assert b"101" not in status_line


def test_pages_are_not_framed_and_load_only_their_own_scripts(site: Site) -> None:
    response = request(site, "GET", "/plan", headers={"Cookie": cookie_of(site)})
    assert response.getheader("x-frame-options") == "DENY"
    policy = response.getheader("content-security-policy") or ""
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_no_secret_reaches_a_page(site: Site, tmp_path: Path) -> None:
    config = site.root / ".kantra-ai.yaml"
    original = config.read_text()
    password = "hunter2-very-secret"
    secret_url = site.provider.anthropic_base_url.replace("http://", f"http://user:{password}@")
    config.write_text(f"provider: {{name: claude, base-url: '{secret_url}'}}\n")
    try:
        pages = [_body(site, path) for path in ("/settings", "/plan", "/run", "/review", "/progress")]
    finally:
        config.write_text(original)
    for text in pages:
        assert API_KEY not in text
        assert password not in text
    assert "set (hidden)" in pages[0]


def _body(site: Site, path: str) -> str:
    host, port = "127.0.0.1", site.server.port
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", path, headers={"Host": f"{host}:{port}", "Cookie": cookie_of(site)})
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    assert response.status == 200, (path, text[:300])
    return text
