"""Provider batch APIs: many requests submitted at once, answered within 24 hours, at half the price.

Anthropic's Message Batches and OpenAI's Batch API (and OpenAI-compatible servers implementing
`/v1/batches`) behind one small interface. A request goes in with its `custom_id` (the batch key
the run store gives it) and its result comes back with that `custom_id`, in any order:

    client = open_batch_client(preset, model, base_url=..., tools=True)
    remote = await client.submit(entries, tag="kai3f9c...", sending=...)  # -> the provider's id
    state = await client.retrieve(remote)                     # status, counts, ended?
    async for result in client.results(remote): ...          # once ended: one per request
    await client.cancel(remote)

Request bodies are built by the synchronous adapters' `build_params` (the same prompt, tool and
cache layout as a normal request, with the 1 h cache TTL), so a batch request is exactly the
request the synchronous path would send.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kantra_ai.providers.base import ModelRequest, ModelResponse, one_line
from kantra_ai.providers.registry import PRESETS, Preset, ProviderConfigError, api_key_for

# What a batch result says happened to one request.
SUCCEEDED = "succeeded"
ERRORED = "errored"
EXPIRED = "expired"
CANCELED = "canceled"
FAILED_KINDS = (ERRORED, EXPIRED, CANCELED)

# Batches hold the cache entries they write for an hour: their requests are answered over minutes.
BATCH_CACHE_TTL = "1h"


@dataclass(frozen=True)
class BatchEntry:
    """One request to submit; `custom_id` is echoed with its result."""

    custom_id: str
    request: ModelRequest


@dataclass(frozen=True)
class RemoteBatch:
    """What the provider says about a batch as of the last look."""

    id: str
    status: str  # the provider's own word (in_progress, ended / validating, completed, expired, ...)
    ended: bool  # every request has a result (succeeded, errored, expired or cancelled)
    counts: dict[str, int] = field(default_factory=dict)  # requests by state, as the provider counts
    created_at: float = 0.0  # epoch seconds
    tag: str = ""  # what we tagged it with (OpenAI metadata), when the provider keeps it
    total: int = 0  # requests in the batch
    error: str = ""  # why the provider refused the whole batch, when it did

    @property
    def failed(self) -> bool:
        """The batch as a whole was refused (OpenAI: the input file did not validate)."""
        return self.status == "failed"


@dataclass(frozen=True)
class BatchResult:
    """The result of one request of a batch."""

    custom_id: str
    kind: str  # SUCCEEDED, ERRORED, EXPIRED or CANCELED
    response: ModelResponse | None = None  # when it succeeded
    error: str = ""  # why not, when it did not


class BatchApiError(Exception):
    """A batch API call failed. `accepted` is False when the provider certainly did not take the
    submission (it answered with an error); None when nobody can tell (the connection broke)."""

    def __init__(self, message: str, *, status: int | None = None, accepted: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.accepted = accepted


class BatchUnsupported(BatchApiError):
    """The endpoint does not implement the batch API."""


class BatchGone(BatchApiError):
    """The provider does not know a batch it was asked about (deleted, or lost in a restart)."""


class BatchClient(Protocol):
    protocol: str  # "anthropic" or "openai"
    max_requests: int  # the most requests one batch may hold
    max_bytes: int  # the largest submission the provider accepts

    def entry_bytes(self, entry: BatchEntry) -> int:
        """The size `entry` adds to a submission (its line in the JSONL the provider receives)."""

    async def probe(self) -> None:
        """Check that the endpoint implements the batch API and accepts the key (one cheap call);
        raise BatchUnsupported or BatchApiError when it does not."""

    async def submit(self, entries: Sequence[BatchEntry], *, tag: str, sending: Callable[[], None]) -> str:
        """Create one batch of `entries`; the provider's batch id. `tag` marks it as ours where the
        provider keeps metadata, so a submission whose answer was lost can be found again;
        `sending` is called right before the call that creates the batch goes out."""

    async def retrieve(self, batch_id: str) -> RemoteBatch: ...

    def results(self, batch_id: str) -> AsyncIterator[BatchResult]:
        """Every request's result of an ended batch (in any order)."""

    async def cancel(self, batch_id: str) -> RemoteBatch: ...

    async def recent(self, since: float) -> list[RemoteBatch]:
        """The account's batches created at or after `since` (epoch seconds), newest first."""

    async def aclose(self) -> None: ...


@contextlib.contextmanager
def sdk_errors(
    what: str,
    *,
    status_error: type[Exception],
    sdk_error: type[Exception],
    unsupported: str,
    refused_if_answered: bool = False,
    refused_if_silent: bool = False,
    one_batch: bool = False,
) -> Iterator[None]:
    """An SDK's errors as BatchApiError, saying `what` failed: an HTTP error with its status (404 and
    405: BatchUnsupported, with the `unsupported` explanation; a 404 about `one_batch`: BatchGone),
    any other with its message, and an answer that is not what the API sends (not JSON: a proxy's
    error page, a cut download) as one line too. For a submission: an error answer means the
    provider did not take it (`refused_if_answered`); no answer (a broken connection, a timeout)
    leaves that unknown unless `refused_if_silent`."""
    answered = False if refused_if_answered else None
    silent = False if refused_if_silent else None
    try:
        yield
    except status_error as exc:
        status = getattr(exc, "status_code", None)
        message = f"{what}: HTTP {status}: {one_line(str(getattr(exc, 'message', exc)))}"
        if status == 404 and one_batch:
            raise BatchGone(f"{message} (the provider no longer knows it)", status=status) from exc
        if status in (404, 405):
            raise BatchUnsupported(f"{message} ({unsupported})", status=status, accepted=answered) from exc
        raise BatchApiError(message, status=status, accepted=answered) from exc
    except sdk_error as exc:
        raise BatchApiError(f"{what}: {one_line(str(exc))}", accepted=silent) from exc
    except ValueError as exc:  # JSON that does not decode; a shape the SDK cannot read
        raise BatchApiError(
            f"{what}: the answer cannot be read ({one_line(str(exc))})", accepted=silent
        ) from exc


async def newest_since(
    listing: AsyncIterable[Any], remote: Callable[[Any], RemoteBatch], since: float
) -> list[RemoteBatch]:
    """The batches of a newest-first listing created at or after `since` (no page beyond them)."""
    found: list[RemoteBatch] = []
    async for batch in listing:
        converted = remote(batch)
        if converted.created_at < since:
            break
        found.append(converted)
    return found


def check_supported(preset: Preset) -> None:
    """Refuse, in one line, a provider without a batch API (before anything is locked or sent)."""
    if preset.batch_api:
        return
    why = (
        "a local server costs nothing, so there is nothing to halve"
        if preset.local
        else f"{preset.name} offers no batch API kantra-ai can use"
    )
    raise ProviderConfigError(
        f"--batch-api: {why}; supported: {', '.join(p.name for p in PRESETS.values() if p.batch_api)} "
        "(and OpenAI-compatible "
        "servers that implement /v1/batches: --provider openai --base-url URL)"
    )


def open_batch_client(
    preset: Preset, model: str, *, base_url: str | None, tool_name: str | None
) -> BatchClient:
    """The batch client for `preset` (no request yet); a missing key is a ProviderConfigError.
    `tool_name`: the tool replies answer with (the edit format's), None for plain-text replies."""
    key = api_key_for(preset)
    if preset.key_env and not key:
        raise ProviderConfigError(f"{preset.key_env} is not set: export it to use the batch API")
    url = base_url or preset.base_url
    if preset.protocol == "anthropic":
        from kantra_ai.providers.anthropic_batches import AnthropicBatchClient

        return AnthropicBatchClient(model, api_key=key, base_url=url, tool_name=tool_name)
    from kantra_ai.providers.openai_batches import OpenAIBatchClient

    return OpenAIBatchClient(
        preset.name,
        model,
        api_key=key or "not-needed",
        base_url=url,
        supports_tools=tool_name is not None,
        max_tokens_field=preset.max_tokens_field,
        tool_name=tool_name,
    )
