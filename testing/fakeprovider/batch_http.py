"""The HTTP routes of the batch APIs (see batches.py for their behaviour).

    Anthropic  POST /v1/messages/batches, GET /v1/messages/batches[/{id}[/results]],
               POST /v1/messages/batches/{id}/cancel
    OpenAI     POST /v1/files (multipart), GET /v1/files/{id}[/content], DELETE /v1/files/{id},
               POST /v1/batches, GET /v1/batches[/{id}], POST /v1/batches/{id}/cancel

The handler asks `route` first; what it does not claim goes on to the synchronous endpoints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from kantra_ai.simulated.contract import Protocol
from testing.fakeprovider.wire import WireError

if TYPE_CHECKING:
    from testing.fakeprovider.batches import BatchBook
    from testing.fakeprovider.handler import FakeProviderHandler

_ID = r"([A-Za-z0-9_-]+)"
# (method, path, protocol, serve(book, request content type, request body, query, *path ids))
Route = tuple[str, re.Pattern[str], Protocol, Callable[..., Any]]


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise WireError(400, "The request body is not a valid JSON object")
    return body


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str, bytes]]:
    """The form fields of a multipart/form-data body: name -> (filename or "", content)."""
    if not content_type.startswith("multipart/form-data"):
        raise WireError(400, "Expected a multipart/form-data body")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename() or "", payload)
    return fields


def _upload(book: BatchBook, content_type: str, raw: bytes) -> dict[str, Any]:
    fields = _multipart(content_type, raw)
    if "file" not in fields or "purpose" not in fields:
        raise WireError(400, "'file' and 'purpose' are required")
    filename, content = fields["file"]
    return book.upload_file(filename or "upload.jsonl", fields["purpose"][1].decode(), content)


_ROUTES: list[Route] = [
    ("GET", re.compile(r"/v1/messages/batches"), "anthropic", lambda b, t, r, q: b.anthropic_list(q)),
    (
        "GET",
        re.compile(rf"/v1/messages/batches/{_ID}"),
        "anthropic",
        lambda b, t, r, q, i: b.anthropic_retrieve(i),
    ),
    (
        "GET",
        re.compile(rf"/v1/messages/batches/{_ID}/results"),
        "anthropic",
        lambda b, t, r, q, i: b.anthropic_results(i),
    ),
    (
        "POST",
        re.compile(r"/v1/messages/batches"),
        "anthropic",
        lambda b, t, r, q: b.anthropic_create(_json(r)),
    ),
    (
        "POST",
        re.compile(rf"/v1/messages/batches/{_ID}/cancel"),
        "anthropic",
        lambda b, t, r, q, i: b.anthropic_cancel(i),
    ),
    ("POST", re.compile(r"/v1/files"), "openai", lambda b, t, r, q: _upload(b, t, r)),
    ("GET", re.compile(rf"/v1/files/{_ID}"), "openai", lambda b, t, r, q, i: b.file_json(i)),
    ("GET", re.compile(rf"/v1/files/{_ID}/content"), "openai", lambda b, t, r, q, i: b.file_content(i)),
    ("DELETE", re.compile(rf"/v1/files/{_ID}"), "openai", lambda b, t, r, q, i: b.delete_file(i)),
    ("GET", re.compile(r"/v1/batches"), "openai", lambda b, t, r, q: b.openai_list(q)),
    ("GET", re.compile(rf"/v1/batches/{_ID}"), "openai", lambda b, t, r, q, i: b.openai_retrieve(i)),
    ("POST", re.compile(r"/v1/batches"), "openai", lambda b, t, r, q: b.openai_create(_json(r))),
    ("POST", re.compile(rf"/v1/batches/{_ID}/cancel"), "openai", lambda b, t, r, q, i: b.openai_cancel(i)),
]


def route(handler: FakeProviderHandler, method: str) -> bool:
    """Serve the request if it is one of the batch endpoints; False when it is not."""
    if not handler.owner.batches.plan.enabled:
        return False
    parts = urlsplit(handler.path)
    path = parts.path.rstrip("/")
    for verb, pattern, protocol, serve in _ROUTES:
        match = pattern.fullmatch(path)
        if verb != method or match is None:
            continue
        query = dict(parse_qsl(parts.query))
        creating = verb == "POST" and pattern.pattern.endswith("batches")
        try:
            # Read the body even where it is not used: it must not be left on a keep-alive connection.
            raw = handler._read_body() if method != "GET" else b""
            if creating and handler.owner.batches.loses_create():
                handler._abort_connection()  # never created, and the client never hears of it
                return True
            content_type = handler.headers.get("content-type", "")
            result = serve(handler.owner.batches, content_type, raw, query, *match.groups())
        except WireError as exc:
            handler._send_error(protocol, exc.status, exc.message)
            return True
        if creating and book_drops(handler, result):
            handler._abort_connection()  # created, but the client never hears of it
            return True
        if isinstance(result, bytes):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/binary")
            handler.send_header("Content-Length", str(len(result)))
            handler.end_headers()
            handler.wfile.write(result)
        else:
            handler._send_json(200, result)
        return True
    return False


def book_drops(handler: FakeProviderHandler, created: Any) -> bool:
    batch_id = created.get("id") if isinstance(created, dict) else None
    return isinstance(batch_id, str) and handler.owner.batches.drops_answer(batch_id)
