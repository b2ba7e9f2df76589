"""The gate in front of every request of the web app (Jupyter's model, with the holes closed).

- **Token.** The server makes a random token when it starts and prints the URL with it. A request
  is let in only with that token: in the query (`?token=`, the printed URL), in the
  `X-Kantra-Token` header, or in the cookie the first visit sets (HttpOnly, SameSite=Strict, one
  per port). A request that changes anything (any method but GET and HEAD) must carry the token
  itself, in the header or in the form's `_token` field: the cookie alone, which a browser attaches
  to a forged cross-site form, is never enough; nor is the token in its address. Its body is at
  most MAX_FORM_BYTES (413 otherwise), however the token comes.
- **Host.** Only the names the server answers to (127.0.0.1, localhost, [::1] on its port, and the
  `--host` given): a page on another name that resolves to this machine (DNS rebinding) is refused.
- **Origin.** A request that names an origin must name this server's own: a cross-site form, fetch,
  event stream or websocket handshake is refused before it reaches the app.

Pure ASGI, so it covers every route, the event stream and any upgrade request alike.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http import cookies
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from kantra_ai.redact import redact

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_HEADER = "x-kantra-token"
TOKEN_FIELD = "_token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
MAX_FORM_BYTES = 1_000_000
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")

# Every response: no framing (clickjacking), no referrer to other sites (`no-referrer` would make
# Chromium send `Origin: null` on our own forms), nothing cached, only our own scripts.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)
CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def new_token() -> str:
    """A random token the redaction layer leaves alone (pages carry it; `web/redaction.py` masks
    anything credential-shaped in them, and one time in many thousands a random token is)."""
    while True:
        token = secrets.token_urlsafe(32)
        if redact(token) == token:
            return token


def host_names(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header values the server accepts: loopback names, the bound host, `extra`."""
    names = {*LOOPBACK_NAMES, *extra}
    if host not in ("0.0.0.0", "::", ""):
        names.add(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    return frozenset(f"{name}:{port}" for name in names)


class Guard:
    def __init__(self, app: App, *, token: str, hosts: frozenset[str], cookie: str) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        self.origins = frozenset(f"http://{h}" for h in hosts)
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        foreign_host = headers.get("host", "") not in self.hosts
        origin = headers.get("origin")
        foreign_origin = origin is not None and origin not in self.origins
        if scope["type"] == "websocket" and (foreign_host or foreign_origin):
            await send({"type": "websocket.close", "code": 1008})
            return
        if foreign_host:
            await _deny(send, "unknown Host: open the URL kantra-ai printed")
            return
        if foreign_origin:
            await _deny(send, "cross-origin requests are refused")
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # the server answers 403
            return
        if headers.get("upgrade"):
            await _deny(send, "this server takes no websocket or upgrade requests")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        method = scope.get("method", "GET")
        if method in SAFE_METHODS:
            presented = headers.get(TOKEN_HEADER) or query.get("token")
            if not (self._ok(presented) or self._ok(_cookie(headers, self.cookie))):
                await _deny(send, "no valid token: open the URL kantra-ai printed (it ends in ?token=...)")
                return
            if self._ok(query.get("token")):
                await self._enter(scope, send, query)
                return
            await self.app(scope, receive, _with_headers(send))
            return
        # A change carries the token itself, in the header or the form (never only in the address,
        # which ends up in logs and history), and a body of at most MAX_FORM_BYTES, whichever way
        # it is let in: the app reads its forms whole.
        body, state = await _read_body(receive)
        if state == "too large":
            await _deny(
                send, f"the request is larger than a form of this app ({MAX_FORM_BYTES:,} bytes)", 413
            )
            return
        if state == "gone":
            return
        if not self._ok(headers.get(TOKEN_HEADER)):
            form = dict(parse_qsl(body.decode("utf-8", errors="replace")))
            if not self._ok(form.get(TOKEN_FIELD)):
                await _deny(send, "a change needs the page's token")
                return
        await self.app(scope, _replay(body, receive), _with_headers(send))

    def _ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    async def _enter(self, scope: Scope, send: Send, query: dict[str, str]) -> None:
        """The printed URL: set the cookie and go to the same page without the token in the URL."""
        rest = urlencode({k: v for k, v in query.items() if k != "token"})
        # Always a path of this server: "//evil.example/x" would be another site's address, and a
        # control character (a line break) cannot go into a header at all.
        path = "/" + str(scope.get("path", "/")).lstrip("/\\")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
            path = "/"
        location = quote(path, safe="/%:@!$&'()*+,;=-._~") + (f"?{rest}" if rest else "")
        jar = cookies.SimpleCookie()
        jar[self.cookie] = self.token
        jar[self.cookie]["httponly"] = True
        jar[self.cookie]["samesite"] = "Strict"
        jar[self.cookie]["path"] = "/"
        await _with_headers(send)(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode()),
                    (b"set-cookie", jar[self.cookie].OutputString().encode()),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(headers: dict[str, str], name: str) -> str | None:
    jar = cookies.SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except cookies.CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


async def _read_body(receive: Receive) -> tuple[bytes, str]:
    """The request body, up to MAX_FORM_BYTES; (body, "complete" | "too large" | "gone")."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", "gone"
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            return b"", "too large"
        if not message.get("more_body", False):
            return body, "complete"


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
            if b"content-security-policy" not in names:
                headers.append((b"content-security-policy", CSP))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _deny(send: Send, reason: str, status: int = 403) -> None:
    body = f"{status} {'forbidden' if status == 403 else 'refused'}: {reason}\n".encode()
    await _with_headers(send)(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
