"""The HTTP side of the fake provider: routing, bodies, errors, JSON and chunked SSE responses."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kantra_ai.simulated.contract import FakeRequest, Protocol
from testing.fakeprovider import anthropic_wire, batch_http, openai_wire
from testing.fakeprovider.caching import CacheLookup, PromptCache, Segment
from testing.fakeprovider.ratelimit import RateDecision
from testing.fakeprovider.reply import ShapedReply, shape_reply
from testing.fakeprovider.tokens import ANTHROPIC_VOCABULARY, OPENAI_VOCABULARY, Vocabulary
from testing.fakeprovider.wire import Frame, ResponseAborted, Usage, WireError

if TYPE_CHECKING:
    from testing.fakeprovider.server import FakeProviderServer

# Header names that carry or could leak credentials; recorded per request for leak tests.
_SENSITIVE_MARKERS = ("auth", "key", "token", "secret", "cookie", "organization", "project", "session")
_MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class _Codec:
    parse: Callable[[dict[str, Any]], FakeRequest]
    segments: Callable[[FakeRequest], list[Segment]]
    lookup: Callable[[PromptCache, str, list[Segment]], CacheLookup]
    body: Callable[[ShapedReply, FakeRequest, Usage, str], dict[str, Any]]
    frames: Callable[[ShapedReply, FakeRequest, Usage, str], list[Frame]]
    error: Callable[[int, str | None, str], dict[str, Any]]
    stream_error: Callable[[int], Frame]
    stop_sequences: Callable[[FakeRequest], list[str]]
    tools_allowed: Callable[[FakeRequest], bool]
    id_prefix: str
    tool_id_prefix: str
    vocabulary: Vocabulary


_CODECS: dict[Protocol, _Codec] = {
    "anthropic": _Codec(
        parse=anthropic_wire.parse_request,
        segments=anthropic_wire.prompt_segments,
        lookup=PromptCache.lookup_anthropic,
        body=anthropic_wire.message_json,
        frames=anthropic_wire.stream_frames,
        error=anthropic_wire.error_json,
        stream_error=anthropic_wire.stream_error_frame,
        stop_sequences=anthropic_wire.stop_sequences,
        tools_allowed=anthropic_wire.tools_allowed,
        id_prefix="msg_fake_",
        tool_id_prefix="toolu_fake_",
        vocabulary=ANTHROPIC_VOCABULARY,
    ),
    "openai": _Codec(
        parse=openai_wire.parse_request,
        segments=openai_wire.prompt_segments,
        lookup=PromptCache.lookup_openai,
        body=openai_wire.completion_json,
        frames=openai_wire.stream_frames,
        error=openai_wire.error_json,
        stream_error=openai_wire.stream_error_frame,
        stop_sequences=openai_wire.stop_sequences,
        tools_allowed=openai_wire.tools_allowed,
        id_prefix="chatcmpl-fake-",
        tool_id_prefix="call_fake_",
        vocabulary=OPENAI_VOCABULARY,
    ),
}


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of parallel clients must not be refused at accept time
    owner: FakeProviderServer

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._connection_opened(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a cancelled or killed run) is normal here, not worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.owner._connection_closed(request)
        super().shutdown_request(request)


def _retry_headers(retry_after_ms: int | None, retry_after_s: float | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
        headers["retry-after"] = str(max(1, math.ceil(retry_after_ms / 1000)))
    if retry_after_s is not None:
        headers["retry-after"] = f"{retry_after_s:g}"
    return headers


class FakeProviderHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per request on keep-alive connections) and SSE frames get batched.
    disable_nagle_algorithm = True
    server: FakeHTTPServer
    server_version = "FakeProvider/1.0"

    @property
    def owner(self) -> FakeProviderServer:
        return self.server.owner

    def log_message(self, format: str, *args: Any) -> None:
        if self.owner.log_requests:
            super().log_message(format, *args)

    # -- HTTP plumbing ---------------------------------------------------------------------------

    def _guess_protocol(self) -> Protocol:
        return "anthropic" if self.headers.get("anthropic-version") else "openai"

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        if length > _MAX_BODY_BYTES:
            raise WireError(413, "Request exceeds the maximum allowed number of bytes.")
        return self.rfile.read(length) if length else b""

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_error(
        self,
        protocol: Protocol,
        status: int,
        message: str | None,
        headers: Mapping[str, str] | None = None,
        request_id: str = "",
    ) -> None:
        all_headers = {"request-id" if protocol == "anthropic" else "x-request-id": request_id or "req_fake"}
        all_headers.update(headers or {})
        self._send_json(status, _CODECS[protocol].error(status, message, request_id), all_headers)

    def _api_key(self) -> str:
        """The key the request carried: `x-api-key` (Anthropic) or `Authorization: Bearer` (OpenAI)."""
        key = self.headers.get("x-api-key")
        if key:
            return key
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else auth

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _abort_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        if batch_http.route(self, "GET"):
            return
        protocol = self._guess_protocol()
        if urlsplit(self.path).path.rstrip("/") != "/v1/models":
            self._send_error(protocol, 404, f"Not found: {self.path}")
            return
        models = ["claude-sonnet-5", "claude-haiku-4-5", "gpt-5"]
        if protocol == "anthropic":
            data: list[dict[str, Any]] = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"}
                for m in models
            ]
            self._send_json(
                200, {"data": data, "has_more": False, "first_id": models[0], "last_id": models[-1]}
            )
        else:
            data = [{"id": m, "object": "model", "created": 1767225600, "owned_by": "fake"} for m in models]
            self._send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        protocol: Protocol = "openai" if path == "/v1/chat/completions" else self._guess_protocol()
        if path.startswith("/v1/messages"):
            protocol = "anthropic"
        self.owner._record_auth(
            {k.lower(): v for k, v in self.headers.items() if any(m in k.lower() for m in _SENSITIVE_MARKERS)}
        )
        if batch_http.route(self, "POST"):
            return
        try:
            raw = self._read_body()
            body = json.loads(raw) if raw else None
            if not isinstance(body, dict):
                raise WireError(400, "The request body is not a valid JSON object")
        except (ValueError, WireError) as exc:
            status = exc.status if isinstance(exc, WireError) else 400
            self._send_error(protocol, status, f"Invalid request body: {exc}")
            self.close_connection = True
            return
        try:
            if path == "/v1/messages":
                self._generate("anthropic", body)
            elif path == "/v1/messages/count_tokens":
                self._count_tokens(body)
            elif path == "/v1/chat/completions":
                self._generate("openai", body)
            else:
                self._send_error(protocol, 404, f"Not found: {self.path}")
        except (ResponseAborted, OSError):
            # The client hung up, a drop fault fired or the server is stopping: nothing left to say.
            self._abort_connection()
        except Exception:
            # A bug in the fake itself: record it for the test to see, and fail the request visibly.
            self.owner._note_internal_error(traceback.format_exc())
            self._abort_connection()

    def do_DELETE(self) -> None:
        if not batch_http.route(self, "DELETE"):
            self._send_error(self._guess_protocol(), 404, f"Not found: {self.path}")

    # -- endpoints -------------------------------------------------------------------------------

    def _count_tokens(self, body: dict[str, Any]) -> None:
        self.owner._note_count_tokens()
        try:
            request = anthropic_wire.parse_request(body, count_tokens=True)
            segments = anthropic_wire.prompt_segments(request)
        except WireError as exc:
            self._send_error("anthropic", exc.status, exc.message)
            return
        self._send_json(
            200, {"input_tokens": sum(s.tokens for s in segments)}, {"request-id": "req_fake_count"}
        )

    def _generate(self, protocol: Protocol, body: dict[str, Any]) -> None:
        owner = self.owner
        codec = _CODECS[protocol]
        try:
            request = codec.parse(body)
        except WireError as exc:
            self._send_error(protocol, exc.status, exc.message)
            return
        number = owner._record(request)
        request_id = f"req_fake_{number:06d}"
        id_header = "request-id" if protocol == "anthropic" else "x-request-id"

        fault = owner.faults.fault_for(number)
        status_fault = fault is not None and (
            fault.kind in ("status", "overloaded") or (fault.kind == "stream_error" and not request.stream)
        )
        if fault is not None and status_fault:
            owner._note_fault(fault.label)
            retry = _retry_headers(fault.retry_after_ms, fault.retry_after_s)
            message = fault.key_message(self._api_key()) if fault.echo_key else fault.message
            self._send_error(protocol, fault.status_for(protocol), message, retry, request_id)
            return

        try:
            lookup = codec.lookup(owner.cache, request.model, codec.segments(request))
        except WireError as exc:
            self._send_error(protocol, exc.status, exc.message, request_id=request_id)
            return

        decision: RateDecision | None = None
        if owner.limiter is not None:
            billed_input = lookup.total_tokens - lookup.cache_read_tokens
            decision = owner.limiter.acquire(billed_input, request.max_tokens)
            if not decision.allowed:
                owner._note_rate_limited()
                self._refuse_rate_limited(protocol, request, decision, request_id)
                return

        output_tokens = 0
        try:
            try:
                reply = owner.responder(request)
            except Exception:
                owner._note_responder_error(traceback.format_exc())
                self._send_error(protocol, 500, "The fake provider's responder raised", request_id=request_id)
                return
            shaped = shape_reply(
                reply,
                max_tokens=request.max_tokens,
                fault=fault,
                stop_sequences=codec.stop_sequences(request),
                allow_tools=codec.tools_allowed(request),
                tool_id_prefix=f"{codec.tool_id_prefix}{number:06d}_",
                vocabulary=codec.vocabulary,
            )
            output_tokens = shaped.output_tokens
            owner._note_stop_reason(number, shaped.stop_reason)
            if fault is not None:
                owner._note_fault(fault.label)
            headers = {id_header: request_id}
            if decision is not None and not owner.limiter_is_strict:
                headers.update(
                    decision.anthropic_headers() if protocol == "anthropic" else decision.openai_headers()
                )
            owner._sleep((fault.seconds if fault is not None else 0.0) + owner.latency.ttft)
            # The response starts here, and only now does its cache write become visible to others.
            lookup.commit()
            usage = Usage(lookup, shaped.output_tokens)
            drop_at = fault.fraction if fault is not None and fault.kind == "drop" else None
            message_id = f"{codec.id_prefix}{number:06d}"
            if request.stream:
                frames = codec.frames(shaped, request, usage, message_id)
                if fault is not None and fault.kind == "stream_error":
                    keep = max(1, min(len(frames) - 1, int(len(frames) * fault.fraction)))
                    frames = [*frames[:keep], codec.stream_error(fault.status_for(protocol))]
                self._stream(frames, headers, drop_at)
            else:
                owner._sleep(owner.latency.generation_seconds(shaped.output_tokens))
                self._send_body(codec.body(shaped, request, usage, message_id), headers, drop_at)
            self.wfile.flush()
            owner._note_completed(number)
        finally:
            if owner.limiter is not None and decision is not None:
                owner.limiter.settle(request.max_tokens, output_tokens)

    def _refuse_rate_limited(
        self, protocol: Protocol, request: FakeRequest, decision: RateDecision, request_id: str
    ) -> None:
        if self.owner.limiter_is_strict:  # says nothing: no retry-after, no limits, no remaining
            message = "Rate limit exceeded. Please slow down."
            if protocol == "anthropic":
                self._send_error(protocol, 429, message, request_id=request_id)
            else:
                self._send_json(429, openai_wire.error_json(429, message), {"x-request-id": request_id})
            return
        wait_ms = max(1, math.ceil(decision.retry_after_s * 1000))
        headers = _retry_headers(wait_ms, None)
        state = decision.states[decision.exceeded]
        kind = decision.exceeded.replace("_", " ")
        if protocol == "anthropic":
            headers.update(decision.anthropic_headers())
            message = (
                f"This request would exceed your organization's rate limit of {state.limit} {kind} "
                f"per minute (model: {request.model}). Please retry after {wait_ms} ms."
            )
            self._send_error(protocol, 429, message, headers, request_id)
            return
        headers.update(decision.openai_headers())
        message = (
            f"Rate limit reached for {request.model} on {kind} per min: Limit {state.limit}, "
            f"Remaining {state.remaining}. Please try again in {wait_ms}ms."
        )
        payload = openai_wire.error_json(429, message)
        payload["error"]["type"] = "requests" if decision.exceeded == "requests" else "tokens"
        headers["x-request-id"] = request_id
        self._send_json(429, payload, headers)

    def _send_body(self, payload: dict[str, Any], headers: Mapping[str, str], drop_at: float | None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if drop_at is None:
            self.wfile.write(body)
            return
        self.wfile.write(body[: max(1, min(len(body) - 1, int(len(body) * drop_at)))])
        raise ResponseAborted("drop fault")

    def _stream(self, frames: list[Frame], headers: Mapping[str, str], drop_at: float | None) -> None:
        owner = self.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        limit = len(frames)
        if drop_at is not None:
            limit = max(1, min(len(frames) - 1, int(len(frames) * drop_at)))
        started = time.monotonic()
        generated = 0
        tps = owner.latency.tps
        for frame in frames[:limit]:
            generated += frame.tokens
            if tps > 0 and frame.tokens:
                owner._sleep(started + generated / tps - time.monotonic())
            self._write_chunk(frame.data)
        if limit < len(frames):
            raise ResponseAborted("drop fault")
        self.wfile.write(b"0\r\n\r\n")
