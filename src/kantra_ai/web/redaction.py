"""No secret reaches a browser: every response of the web app passes through the redaction layer.

One ASGI middleware around the whole app (pages, error pages, JSON answers, the server-sent event
stream, the served report.html, redirects): the text of each body and each header is put through
`kantra_ai.redact`, so an API key in a run's error, a base URL with a password, a provider error
echoing the key or a forge token is masked whatever route, template or message carried it.

A body sent whole (a `content-length` header: every page, JSON answer and static file) is redacted
whole and its length set again; a streamed one (the event stream: one event per chunk) is redacted
chunk by chunk as it goes. Bodies that are not text (none today) pass untouched: masking bytes of an
image would only break it. `set-cookie` carries the page token, which `security.new_token` never
makes credential-shaped, and is left as it is. (The layer masks a configured secret also as pages
and JSON answers escape it: a password with a `&` or a `"` is not the same bytes there.)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kantra_ai.redact import Redactor, redactor

_TEXT_TYPES = (b"text/", b"application/json", b"application/javascript", b"image/svg+xml")
_BODY_BY_REFERENCE = ("http.response.pathsend", "http.response.zerocopysend")
_UNTOUCHED_HEADERS = (b"set-cookie", b"content-length", b"content-type")


def _is_text(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            kind = value.lower()
            return kind.startswith(_TEXT_TYPES) or b"+json" in kind
    return False


def _clean(data: bytes, clean: Redactor) -> bytes:
    # surrogateescape: bytes that are not UTF-8 come back exactly as they were
    text = data.decode("utf-8", errors="surrogateescape")
    masked = clean(text)
    return data if masked == text else masked.encode("utf-8", errors="surrogateescape")


class RedactResponses:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Bodies must come as bytes to be redacted: no sending a file by its path from under us.
        extensions = scope.get("extensions") or {}
        if any(name in extensions for name in _BODY_BY_REFERENCE):
            kept = {name: value for name, value in extensions.items() if name not in _BODY_BY_REFERENCE}
            scope = {**scope, "extensions": kept}
        head = scope.get("method") == "HEAD"
        start: Message | None = None
        whole = False  # the body's length was announced: collect it, redact it whole
        text = False
        held: list[bytes] = []

        async def redacting_send(message: Message) -> None:
            nonlocal start, whole, text
            if message["type"] == "http.response.start":
                clean = redactor()
                headers = [
                    (name, value if name.lower() in _UNTOUCHED_HEADERS else _clean(value, clean))
                    for name, value in message.get("headers", [])
                ]
                text = _is_text(headers)
                whole = text and not head and any(name.lower() == b"content-length" for name, _ in headers)
                start = {**message, "headers": headers}
                if not whole:
                    await send(start)
                return
            if message["type"] != "http.response.body" or not text or head:
                await send(message)
                return
            body = message.get("body", b"")
            if not whole:
                await send({**message, "body": _clean(body, redactor()) if body else body})
                return
            held.append(body)
            if message.get("more_body", False):
                return
            cleaned = _clean(b"".join(held), redactor())
            assert start is not None
            headers = [
                (name, str(len(cleaned)).encode("latin-1") if name.lower() == b"content-length" else value)
                for name, value in start["headers"]
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": cleaned, "more_body": False})

        await self.app(scope, receive, redacting_send)
