"""Anthropic's Message Batches through the official SDK (`client.messages.batches`).

Up to 100,000 requests or 256 MB per batch; results are kept for 29 days; everything (input,
output, cache writes and reads) is billed at half the normal price.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

import anthropic
from anthropic.types.messages import batch_create_params

from kantra_ai.providers.anthropic_provider import AnthropicProvider, response_from_message
from kantra_ai.providers.base import one_line
from kantra_ai.providers.batch_api import (
    BATCH_CACHE_TTL,
    CANCELED,
    ERRORED,
    EXPIRED,
    SUCCEEDED,
    BatchEntry,
    BatchResult,
    RemoteBatch,
    newest_since,
    sdk_errors,
)

MAX_REQUESTS = 100_000
MAX_BYTES = 256 * 1024 * 1024
LIST_PAGE = 100


class AnthropicBatchClient:
    protocol = "anthropic"
    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES

    def __init__(
        self, model: str, *, api_key: str | None, base_url: str | None, tool_name: str | None = None
    ) -> None:
        # The synchronous adapter builds the bodies: the same layout, with the 1 h cache TTL.
        self._bodies = AnthropicProvider(model, api_key=api_key, base_url=base_url, cache_ttl=BATCH_CACHE_TTL)
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=4)
        self._tool_name = tool_name

    def _entry(self, entry: BatchEntry) -> dict[str, Any]:
        return {"custom_id": entry.custom_id, "params": self._bodies.build_params(entry.request)}

    def entry_bytes(self, entry: BatchEntry) -> int:
        return len(json.dumps(self._entry(entry)).encode()) + 2

    def _calls(
        self, what: str, *, submitting: bool = False, one_batch: bool = False
    ) -> contextlib.AbstractContextManager[None]:
        return sdk_errors(
            what,
            status_error=anthropic.APIStatusError,
            sdk_error=anthropic.AnthropicError,
            unsupported="this endpoint does not implement the Message Batches API",
            refused_if_answered=submitting,
            one_batch=one_batch,
        )

    async def probe(self) -> None:
        with self._calls("the batch API"):
            await self._client.messages.batches.list(limit=1)

    async def submit(self, entries: Sequence[BatchEntry], *, tag: str, sending: Callable[[], None]) -> str:
        # Never retried by the SDK: a create whose answer was lost may have been accepted, and a
        # retry would submit every request a second time (the caller finds it again at the provider).
        client = self._client.with_options(max_retries=0)
        requests = cast(list[batch_create_params.Request], [self._entry(e) for e in entries])
        sending()
        with self._calls("submitting a batch", submitting=True):
            batch = await client.messages.batches.create(requests=requests)
        return batch.id

    async def retrieve(self, batch_id: str) -> RemoteBatch:
        with self._calls(f"batch {batch_id}", one_batch=True):
            return _remote(await self._client.messages.batches.retrieve(batch_id))

    async def results(self, batch_id: str) -> AsyncIterator[BatchResult]:
        with self._calls(f"results of batch {batch_id}", one_batch=True):
            async for line in await self._client.messages.batches.results(batch_id):
                yield _result(line, self._tool_name)

    async def cancel(self, batch_id: str) -> RemoteBatch:
        with self._calls(f"cancelling batch {batch_id}", one_batch=True):
            return _remote(await self._client.messages.batches.cancel(batch_id))

    async def recent(self, since: float) -> list[RemoteBatch]:
        with self._calls("listing batches"):
            return await newest_since(self._client.messages.batches.list(limit=LIST_PAGE), _remote, since)

    async def aclose(self) -> None:
        await self._client.close()
        await self._bodies.aclose()


def _remote(batch: Any) -> RemoteBatch:
    counts = batch.request_counts
    by_state = {
        "processing": counts.processing,
        SUCCEEDED: counts.succeeded,
        ERRORED: counts.errored,
        EXPIRED: counts.expired,
        CANCELED: counts.canceled,
    }
    return RemoteBatch(
        id=batch.id,
        status=batch.processing_status,
        ended=batch.processing_status == "ended",
        counts=by_state,
        created_at=batch.created_at.timestamp(),
        total=sum(by_state.values()),
    )


def _result(line: Any, tool_name: str | None) -> BatchResult:
    result = line.result
    if result.type == "succeeded":
        return BatchResult(line.custom_id, SUCCEEDED, response_from_message(result.message, tool_name))
    if result.type == "errored":
        inner = getattr(result.error, "error", None)
        what = f"{getattr(inner, 'type', 'error')}: {getattr(inner, 'message', '')}" if inner else "error"
        return BatchResult(line.custom_id, ERRORED, error=one_line(what))
    kind = EXPIRED if result.type == "expired" else CANCELED
    return BatchResult(line.custom_id, kind, error=f"the request {kind} before it was processed")
