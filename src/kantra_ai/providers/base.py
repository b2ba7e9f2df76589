"""What every provider adapter offers the pipeline: one streamed completion per request."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from kantra_ai.providers.pricing import Usage
from kantra_ai.redact import redact
from kantra_ai.tokens import estimate_tokens


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model must call to answer (its name, description and JSON schema).

    The edit format decides the tool (formats/); providers only translate it into their protocol's
    shape (Anthropic `tools` / OpenAI `functions`), so they never depend on what the tool means.
    """

    name: str
    description: str
    input_schema: Mapping[str, Any]

    def as_json(self) -> str:
        return json.dumps(
            {"name": self.name, "description": self.description, "input_schema": self.input_schema}
        )

    @cached_property
    def tokens(self) -> int:
        """Estimated input tokens the definition adds to every request that offers it."""
        return estimate_tokens(self.as_json())


class RequestEvents(Protocol):
    """What happens to one request on the wire, reported by the provider adapter as it happens.

    The run store keeps a reply the moment its last event is in (`completed`), before the call
    returns through the pacing and retry layers: a run killed after that reuses it instead of
    paying for it again. `sent` tells requests that went out from requests still waiting their
    turn, so that a killed run's recovery counts only those the server received.
    """

    def sent(self) -> None:
        """The request is going out now (called again for each retry)."""

    def completed(self, response: ModelResponse) -> None:
        """The whole reply is in; nothing else has happened to it yet."""

    def may_retry(self, billed: Usage) -> str:
        """Before another attempt: why not (a reason, e.g. `--max-cost`), or "". `billed`: what the
        failed attempt was billed, when the provider said."""


@dataclass(frozen=True)
class ModelRequest:
    """One request, laid out so that what many requests share comes first (cacheable prefix).

    `system` (instructions + answer protocol) is identical for every request of a run; `guidance`
    (the rules involved) is shared by the requests of files that hit the same rules; `prompt` is
    the file and its incidents.
    """

    system: str
    guidance: str
    prompt: str
    max_tokens: int
    tool: ToolSpec | None = None  # the tool the model must answer with; None: a plain-text answer
    cache_key: str = ""  # routes OpenAI-compatible prompt caching (prompt_cache_key)
    # Who to tell when the request goes out and when its reply is complete (not part of what is asked).
    events: RequestEvents | None = field(default=None, compare=False, repr=False)

    def notify_sent(self) -> None:
        if self.events is not None:
            self.events.sent()

    def retry_refusal(self, billed: Usage) -> str:
        """Why another attempt may not go out after one billed `billed` ("": it may)."""
        return self.events.may_retry(billed) if self.events is not None else ""

    def notify_completed(self, response: ModelResponse) -> ModelResponse:
        if self.events is not None:
            self.events.completed(response)
        return response


@dataclass
class ModelResponse:
    text: str
    tool_input: Any  # decoded input of the apply_fixes tool call; None when there was none
    stop_reason: str  # normalized: end_turn, tool_use, max_tokens, refusal, other
    usage: Usage
    tool_input_error: str = ""  # the tool arguments were not valid JSON
    headers: dict[str, str] = field(default_factory=dict)
    # The tool call's arguments as they arrived, kept only when they did not decode: a reply cut
    # off at max_tokens is continued from the whole items they hold (engine/continuation.py).
    tool_arguments: str = ""

    @property
    def truncated(self) -> bool:
        return self.stop_reason == "max_tokens"


class ProviderError(Exception):
    """A request failed after the SDK's own retries.

    `fatal` errors (bad key, unknown model, bad base URL) stop the whole run: every further request
    would fail the same way and the user has to act.
    """

    def __init__(
        self,
        message: str,
        *,
        fatal: bool = False,
        status: int | None = None,
        usage: Usage | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(redact(message))  # a server may echo the key it refused
        self.fatal = fatal
        self.status = status
        # Tokens already billed before the failure (a stream that broke off still costs money).
        self.usage = usage or Usage()
        self.retry_after = retry_after  # seconds the server asked us to wait (retry-after[-ms])
        self.headers = headers or {}  # response headers (rate-limit state) when there was a response

    @property
    def retryable(self) -> bool:
        """Worth another try: rate limited, overloaded, a server error, or no response at all."""
        if self.fatal:
            return False
        return self.status is None or self.status in RETRYABLE_STATUSES

    @property
    def overloaded(self) -> bool:
        """The provider pushed back (429 rate limit, 529/503 overloaded): send less, not just again."""
        return self.status in (429, 503, 529)


RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms` (preferred, Anthropic and OpenAI send it) or `retry-after` in seconds."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue  # an HTTP date: rare on these APIs; fall back to our own backoff
        if seconds >= 0:
            return seconds
    return None


# Called with the output characters received so far; called with 0 once the response has started
# (headers and first event in: the server has processed the prompt and written its cache entries).
ProgressCallback = Callable[[int], None]


class Provider(Protocol):
    name: str
    model: str
    local: bool  # a local server: costs nothing

    async def complete(
        self, request: ModelRequest, on_progress: ProgressCallback | None = None
    ) -> ModelResponse: ...

    async def aclose(self) -> None: ...


# The request an adapter is sending right now, in this task: the HTTP client's hooks report to it.
_SENDING: ContextVar[ModelRequest | None] = ContextVar("kantra_ai_sending", default=None)


@contextmanager
def sending(request: ModelRequest) -> Iterator[None]:
    """Around the SDK call: the HTTP client's hooks (`send_hooks`) tell `request` when its body has
    been written to the connection, which is when the server has it."""
    token = _SENDING.set(request)
    try:
        yield
    finally:
        _SENDING.reset(token)


def send_hooks() -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
    """Event hooks for the SDKs' HTTP client: each request gets a trace callback that reports
    `sent` once its body is on the wire (not when it was merely handed to the client, nor while it
    waited for a connection)."""

    async def on_request(http_request: Any) -> None:
        model_request = _SENDING.get()
        if model_request is None or model_request.events is None:
            return

        async def trace(name: str, info: Mapping[str, Any]) -> None:
            if name.endswith("send_request_body.complete"):
                model_request.notify_sent()

        http_request.extensions["trace"] = trace

    return {"request": [on_request]}


def one_line(text: str, limit: int = 300) -> str:
    """Errors from SDKs can be long multi-line bodies; reports want one line. Secrets are masked
    (a server may echo the key it refused) before the text is cut, so no part of one survives."""
    flat = " ".join(redact(str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# Status codes where retrying cannot help: the request or the account is wrong.
FATAL_STATUSES = frozenset({400, 401, 403, 404, 413})


def status_error(
    model: str, status: int, message: str, headers: Mapping[str, str], usage: Usage
) -> ProviderError:
    """The SDKs' HTTP status errors, in one shape for the engine and its retry layer."""
    return ProviderError(
        f"{model}: HTTP {status}: {one_line(message)}",
        fatal=status in FATAL_STATUSES,
        status=status,
        usage=usage,
        retry_after=retry_after_seconds(headers),
        headers=dict(headers),
    )


def connection_error(
    model: str, what: str, exc: BaseException, usage: Usage, headers: Mapping[str, str] | None = None
) -> ProviderError:
    """A connection that failed, or broke off; `headers`: the response's, when it had begun (the
    endpoint answered: a broken stream is a blip, not a wrong address)."""
    return ProviderError(f"{model}: {what}: {one_line(str(exc))}", usage=usage, headers=dict(headers or {}))


def decode_tool_json(raw: str) -> tuple[Any, str]:
    """The tool call's arguments, or an error saying why they are not JSON (a reply to reject)."""
    try:
        return json.loads(raw), ""
    except json.JSONDecodeError as exc:
        return None, f"tool input is not valid JSON ({exc.msg} at char {exc.pos})"


def undecoded(raw: str, error: str) -> str:
    """What a response keeps of the tool arguments: their text when they did not decode."""
    return raw if error else ""
