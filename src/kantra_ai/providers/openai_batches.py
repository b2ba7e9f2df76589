"""OpenAI's Batch API through the official SDK, and every OpenAI-compatible server implementing it.

A batch is a JSONL file of requests (`{"custom_id", "method": "POST", "url": "/v1/chat/completions",
"body": {...}}` per line) uploaded with `files.create(purpose="batch")`, then `batches.create` on it
with a 24 h completion window. Results are an output file (the requests answered) and an error file
(the others). Up to 50,000 requests / 200 MB per batch, at half the normal price.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletion

from kantra_ai.providers.base import one_line
from kantra_ai.providers.batch_api import (
    CANCELED,
    ERRORED,
    EXPIRED,
    SUCCEEDED,
    BatchApiError,
    BatchEntry,
    BatchResult,
    RemoteBatch,
    newest_since,
    sdk_errors,
)
from kantra_ai.providers.openai_provider import OpenAIProvider, response_from_completion

MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024
ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
TAG_KEY = "kantra_ai"  # the metadata key our batches carry their tag under
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
LIST_PAGE = 100


class OpenAIBatchClient:
    protocol = "openai"
    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES

    def __init__(
        self,
        name: str,
        model: str,
        *,
        api_key: str,
        base_url: str | None,
        supports_tools: bool = True,
        max_tokens_field: str = "max_tokens",
        tool_name: str | None = None,
    ) -> None:
        # The synchronous adapter builds the bodies: a batch request is the request it would send.
        self._bodies = OpenAIProvider(
            name,
            model,
            api_key=api_key,
            base_url=base_url,
            supports_tools=supports_tools,
            max_tokens_field=max_tokens_field,
        )
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=4)
        self._tool_name = tool_name if supports_tools else None

    def _line(self, entry: BatchEntry) -> bytes:
        line = {
            "custom_id": entry.custom_id,
            "method": "POST",
            "url": ENDPOINT,
            "body": self._bodies.build_params(entry.request),
        }
        return json.dumps(line, ensure_ascii=False).encode() + b"\n"

    def entry_bytes(self, entry: BatchEntry) -> int:
        return len(self._line(entry))

    def _calls(
        self, what: str, *, submitting: bool = False, uploading: bool = False, one_batch: bool = False
    ) -> contextlib.AbstractContextManager[None]:
        return sdk_errors(
            what,
            status_error=openai.APIStatusError,
            sdk_error=openai.OpenAIError,
            unsupported="this endpoint does not implement the Batch API, /v1/batches",
            refused_if_answered=submitting or uploading,
            # An upload whose answer was lost leaves at most a stray file behind, never a batch.
            refused_if_silent=uploading,
            one_batch=one_batch,
        )

    async def probe(self) -> None:
        with self._calls("the batch API"):
            await self._client.batches.list(limit=1)

    async def submit(self, entries: Sequence[BatchEntry], *, tag: str, sending: Callable[[], None]) -> str:
        content = b"".join(self._line(e) for e in entries)
        with self._calls("uploading the batch file", uploading=True):
            file = await self._client.files.create(file=(f"kantra-ai-{tag}.jsonl", content), purpose="batch")
        # Never retried by the SDK: a create whose answer was lost may have been accepted, and a
        # retry would submit every request again (the caller finds it by the tag in its metadata).
        client = self._client.with_options(max_retries=0)
        sending()
        try:
            with self._calls("submitting a batch", submitting=True):
                batch = await client.batches.create(
                    input_file_id=file.id, endpoint=ENDPOINT, completion_window="24h", metadata={TAG_KEY: tag}
                )
        except BatchApiError as exc:
            if exc.accepted is False:  # refused: its file is of no use
                with contextlib.suppress(openai.OpenAIError):
                    await self._client.files.delete(file.id)
            raise
        return batch.id

    async def retrieve(self, batch_id: str) -> RemoteBatch:
        with self._calls(f"batch {batch_id}", one_batch=True):
            return _remote(await self._client.batches.retrieve(batch_id))

    async def results(self, batch_id: str) -> AsyncIterator[BatchResult]:
        with self._calls(f"results of batch {batch_id}", one_batch=True):
            batch = await self._client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                content = await self._client.files.content(file_id)
                for raw in content.content.splitlines():
                    if raw.strip():
                        yield _result(json.loads(raw), self._tool_name)

    async def cancel(self, batch_id: str) -> RemoteBatch:
        with self._calls(f"cancelling batch {batch_id}", one_batch=True):
            return _remote(await self._client.batches.cancel(batch_id))

    async def recent(self, since: float) -> list[RemoteBatch]:
        with self._calls("listing batches"):
            return await newest_since(self._client.batches.list(limit=LIST_PAGE), _remote, since)

    async def aclose(self) -> None:
        await self._client.close()
        await self._bodies.aclose()


def _remote(batch: Any) -> RemoteBatch:
    counts = batch.request_counts
    total = counts.total if counts is not None else 0
    done = (counts.completed + counts.failed) if counts is not None else 0
    by_state = {
        "processing": max(total - done, 0),
        SUCCEEDED: counts.completed if counts is not None else 0,
        "failed": counts.failed if counts is not None else 0,
    }
    errors = batch.errors.data if batch.errors is not None and batch.errors.data else []
    error = "; ".join(f"line {e.line}: {e.message}" if e.line else str(e.message) for e in errors[:3])
    return RemoteBatch(
        id=batch.id,
        status=batch.status,
        ended=batch.status in ENDED,
        counts=by_state,
        created_at=float(batch.created_at),
        tag=str((batch.metadata or {}).get(TAG_KEY, "")),
        total=total,
        error=one_line(error),
    )


def _result(line: dict[str, Any], tool_name: str | None) -> BatchResult:
    custom_id = str(line.get("custom_id", ""))
    response = line.get("response")
    error = line.get("error")
    if isinstance(response, dict) and response.get("status_code") == 200:
        completion = ChatCompletion.model_validate(response.get("body") or {})
        return BatchResult(custom_id, SUCCEEDED, response_from_completion(completion, tool_name))
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        kind = EXPIRED if code == "batch_expired" else CANCELED if code == "batch_cancelled" else ERRORED
        return BatchResult(custom_id, kind, error=one_line(f"{code}: {error.get('message', '')}"))
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    inner = body.get("error") if isinstance(body, dict) else None
    detail = inner.get("message", "") if isinstance(inner, dict) else ""
    return BatchResult(custom_id, ERRORED, error=one_line(f"HTTP {status}: {detail}"))
