"""A fake LLM provider: a real loopback HTTP server speaking the Anthropic Messages and OpenAI Chat
Completions wire protocols, so the official SDK clients talk to it unchanged.

    with FakeProviderServer(responder, faults={1: Fault.status(529)}) as server:
        client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test-key")
        client.messages.create(model="claude-sonnet-5", max_tokens=100, messages=[...])
        assert server.request_count == 2

Usage is counted with a real BPE (`tokens.py`, never the product's estimator), prompt caching and
rate limits follow the real APIs' accounting (`RateLimits(strict=True)`: the harsher variant), and
faults (HTTP errors, bad content, broken streams) are injected on demand. In drift
mode (`drift=DriftSettings(rate, kinds)`) the responder's edits come out drifted the way real
models drift them, and `server.drift.log` says how.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from types import TracebackType

from kantra_ai.simulated.continuation import continuing
from kantra_ai.simulated.contract import FakeReply, FakeRequest, Responder, ToolCall
from testing.fakeprovider.batches import BatchBook, BatchPlan
from testing.fakeprovider.caching import CachingModel, PromptCache
from testing.fakeprovider.drift import DriftingResponder, DriftSettings
from testing.fakeprovider.faults import Fault, FaultPlan
from testing.fakeprovider.handler import FakeHTTPServer, FakeProviderHandler
from testing.fakeprovider.latency import LatencyModel
from testing.fakeprovider.ratelimit import RateLimiter, RateLimits
from testing.fakeprovider.wire import ResponseAborted

__all__ = [
    "BatchPlan",
    "CachingModel",
    "DriftSettings",
    "FakeProviderServer",
    "FakeReply",
    "FakeRequest",
    "Fault",
    "FaultPlan",
    "LatencyModel",
    "RateLimits",
    "Responder",
    "ToolCall",
    "ok_responder",
]


def ok_responder(request: FakeRequest) -> FakeReply:
    """The default responder: a short plain-text answer."""
    return FakeReply(text="ok")


class FakeProviderServer:
    """See the module docstring. Thread-safe; usable as a context manager or via start()/stop()."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        faults: FaultPlan | Mapping[int, Fault] | None = None,
        latency: LatencyModel | None = None,
        caching: CachingModel | None = None,
        rate_limits: RateLimits | None = None,
        batch_plan: BatchPlan | None = None,
        drift: DriftSettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_requests: bool = False,
    ) -> None:
        if host == "localhost":
            host = "127.0.0.1"
        try:
            loopback = ipaddress.IPv4Address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"the fake provider only listens on IPv4 loopback, not {host!r}")
        self.responder: Responder = responder or ok_responder
        # Drift mode: the responder's edits drifted the way real models drift them (drift.py).
        self.drift: DriftingResponder | None = None
        if drift is not None:
            self.drift = DriftingResponder(self.responder, drift)
            self.responder = self.drift
        # Outermost: a continuation turn reaches the responder (and drift) as the original request,
        # and is answered with what did not arrive (kantra_ai/simulated/continuation.py).
        self.responder = continuing(self.responder)
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan(scripted=dict(faults or {}))
        self.latency = latency or LatencyModel()
        self.caching = caching or CachingModel()
        self.cache = PromptCache(self.caching)
        self.limiter = RateLimiter(rate_limits) if rate_limits is not None else None
        # The batch APIs (testing/fakeprovider/batches.py): their state, plan and submission log.
        self.batches = BatchBook(self, batch_plan)
        self.log_requests = log_requests
        self._host = host
        self._requested_port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http: FakeHTTPServer | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._open_sockets: set[socket.socket] = set()
        self._requests: list[FakeRequest] = []
        self._arrivals: list[float] = []
        self._completions: dict[int, float] = {}
        self._stop_reasons: dict[int, str] = {}
        self._auth: list[dict[str, str]] = []
        self._connections = 0
        self._count_tokens_calls = 0
        self._faults: Counter[str] = Counter()
        self._rate_limited = 0
        self._responder_errors: list[str] = []
        self._internal_errors: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeProviderServer:
        if self._http is not None:
            return self
        self._stopping.clear()
        http = FakeHTTPServer((self._host, self._requested_port), FakeProviderHandler)
        http.owner = self
        self._http = http
        self._port = int(http.server_address[1])
        # A short poll interval keeps stop() (which waits for the loop to notice) fast in test teardown.
        self._thread = threading.Thread(
            target=http.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        http, self._http = self._http, None
        if http is None:
            return
        self._stopping.set()  # wakes handlers sleeping in latency waits
        http.shutdown()
        with self._lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            # Idle keep-alive connections would otherwise hold handler threads in a blocking read.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (kept after stop(), so reports can still name it)."""
        if self._port is None:
            raise RuntimeError("the fake provider was never started; call start() or use it in a with block")
        return self._port

    @property
    def anthropic_base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"http://{self._host}:{self.port}/v1"

    # -- observability ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        """Generation requests received (both protocols, including ones answered with a fault)."""
        with self._lock:
            return list(self._requests)

    @property
    def arrival_times(self) -> list[float]:
        """`time.monotonic()` at which each of `requests` arrived (to check client pacing and backoff)."""
        with self._lock:
            return list(self._arrivals)

    @property
    def completion_times(self) -> list[float | None]:
        """`time.monotonic()` at which the response to each of `requests` was completely written
        (None: refused, cut off, or still going), to tell which replies a killed client had."""
        with self._lock:
            return [self._completions.get(n) for n in range(1, len(self._requests) + 1)]

    @property
    def stop_reasons(self) -> list[str | None]:
        """Why the reply to each of `requests` ended ("end_turn", "tool_use", "max_tokens",
        "stop_sequence"; None: refused, or no reply generated yet). A reply cut off at `max_tokens`
        is a question the client may rightly ask again with more room."""
        with self._lock:
            return [self._stop_reasons.get(n) for n in range(1, len(self._requests) + 1)]

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def connection_count(self) -> int:
        """TCP connections accepted since start (or the last reset_stats)."""
        with self._lock:
            return self._connections

    @property
    def count_tokens_calls(self) -> int:
        with self._lock:
            return self._count_tokens_calls

    @property
    def faults_injected(self) -> dict[str, int]:
        """Injected faults by label: "http_529", "overloaded", "truncate", "garbage", "drop", "stall"."""
        with self._lock:
            return dict(self._faults)

    @property
    def rate_limited_count(self) -> int:
        """Requests refused with 429 by the rate limiter (not by scripted faults)."""
        with self._lock:
            return self._rate_limited

    @property
    def seen_auth_headers(self) -> list[dict[str, str]]:
        """Per request (all endpoints), every header whose name suggests a credential, lower-cased."""
        with self._lock:
            return [dict(h) for h in self._auth]

    @property
    def responder_errors(self) -> list[str]:
        """Tracebacks of responder exceptions (each answered with HTTP 500)."""
        with self._lock:
            return list(self._responder_errors)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs in the fake provider itself (the connection was closed)."""
        with self._lock:
            return list(self._internal_errors)

    def reset_stats(self) -> None:
        """Forget recorded requests and counters (request numbering for faults restarts at 1)."""
        with self._lock:
            self._requests.clear()
            self._arrivals.clear()
            self._completions.clear()
            self._stop_reasons.clear()
            self._auth.clear()
            self._connections = 0
            self._count_tokens_calls = 0
            self._faults.clear()
            self._rate_limited = 0
            self._responder_errors.clear()
            self._internal_errors.clear()

    @property
    def limiter_is_strict(self) -> bool:
        return self.limiter is not None and self.limiter.limits.strict

    def clear_cache(self) -> None:
        self.cache.clear()

    # -- used by the handler ---------------------------------------------------------------------

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections += 1
            self._open_sockets.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open_sockets.discard(sock)

    def _record_auth(self, headers: dict[str, str]) -> None:
        with self._lock:
            self._auth.append(headers)

    def _record(self, request: FakeRequest) -> int:
        with self._lock:
            self._requests.append(request)
            self._arrivals.append(time.monotonic())
            return len(self._requests)

    def _note_completed(self, number: int) -> None:
        with self._lock:
            self._completions[number] = time.monotonic()

    def _note_stop_reason(self, number: int, stop_reason: str) -> None:
        with self._lock:
            self._stop_reasons[number] = stop_reason

    def _note_count_tokens(self) -> None:
        with self._lock:
            self._count_tokens_calls += 1

    def _note_fault(self, label: str) -> None:
        with self._lock:
            self._faults[label] += 1

    def _note_rate_limited(self) -> None:
        with self._lock:
            self._rate_limited += 1

    def _note_responder_error(self, text: str) -> None:
        with self._lock:
            self._responder_errors.append(text)

    def _note_internal_error(self, text: str) -> None:
        with self._lock:
            self._internal_errors.append(text)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise ResponseAborted("server stopping")
