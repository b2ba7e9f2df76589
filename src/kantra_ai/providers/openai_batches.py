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
    BatchUnsupported,
    RemoteBatch,
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

    async def probe(self) -> None:
        try:
            await self._client.batches.list(limit=1)
        except openai.APIStatusError as exc:
            raise _error(exc, "the batch API") from exc
        except openai.OpenAIError as exc:
            raise BatchApiError(f"batch API unreachable: {one_line(str(exc))}") from exc

    async def submit(self, entries: Sequence[BatchEntry], *, tag: str, sending: Callable[[], None]) -> str:
        content = b"".join(self._line(e) for e in entries)
        try:
            file = await self._client.files.create(file=(f"kantra-ai-{tag}.jsonl", content), purpose="batch")
        except openai.APIStatusError as exc:
            raise _error(exc, "uploading the batch file", accepted=False) from exc
        except openai.OpenAIError as exc:
            # An upload whose answer was lost leaves at most a stray file behind, never a batch.
            raise BatchApiError(f"uploading the batch file: {one_line(str(exc))}", accepted=False) from exc
        # Never retried by the SDK: a create whose answer was lost may have been accepted, and a
        # retry would submit every request again (the caller finds it by the tag in its metadata).
        client = self._client.with_options(max_retries=0)
        sending()
        try:
            batch = await client.batches.create(
                input_file_id=file.id, endpoint=ENDPOINT, completion_window="24h", metadata={TAG_KEY: tag}
            )
        except openai.APIStatusError as exc:
            with contextlib.suppress(openai.OpenAIError):
                await self._client.files.delete(file.id)
            raise _error(exc, "submitting a batch", accepted=False) from exc
        except openai.OpenAIError as exc:
            raise BatchApiError(f"submitting a batch: {one_line(str(exc))}", accepted=None) from exc
        return batch.id

    async def retrieve(self, batch_id: str) -> RemoteBatch:
        try:
            batch = await self._client.batches.retrieve(batch_id)
        except openai.APIStatusError as exc:
            raise _error(exc, f"batch {batch_id}") from exc
        except openai.OpenAIError as exc:
            raise BatchApiError(f"batch {batch_id}: {one_line(str(exc))}") from exc
        return _remote(batch)

    async def results(self, batch_id: str) -> AsyncIterator[BatchResult]:
        try:
            batch = await self._client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                content = await self._client.files.content(file_id)
                for raw in content.content.splitlines():
                    if raw.strip():
                        yield _result(json.loads(raw), self._tool_name)
        except openai.APIStatusError as exc:
            raise _error(exc, f"results of batch {batch_id}") from exc
        except openai.OpenAIError as exc:
            raise BatchApiError(f"results of batch {batch_id}: {one_line(str(exc))}") from exc

    async def cancel(self, batch_id: str) -> RemoteBatch:
        try:
            return _remote(await self._client.batches.cancel(batch_id))
        except openai.APIStatusError as exc:
            raise _error(exc, f"cancelling batch {batch_id}") from exc
        except openai.OpenAIError as exc:
            raise BatchApiError(f"cancelling batch {batch_id}: {one_line(str(exc))}") from exc

    async def recent(self, since: float) -> list[RemoteBatch]:
        found: list[RemoteBatch] = []
        try:
            async for batch in self._client.batches.list(limit=LIST_PAGE):  # newest first
                remote = _remote(batch)
                if remote.created_at < since:
                    break
                found.append(remote)
        except openai.APIStatusError as exc:
            raise _error(exc, "listing batches") from exc
        except openai.OpenAIError as exc:
            raise BatchApiError(f"listing batches: {one_line(str(exc))}") from exc
        return found

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


def _error(exc: openai.APIStatusError, what: str, *, accepted: bool | None = None) -> BatchApiError:
    message = f"{what}: HTTP {exc.status_code}: {one_line(str(exc.message))}"
    if exc.status_code in (404, 405):
        return BatchUnsupported(
            f"{message} (this endpoint does not implement the Batch API, /v1/batches)",
            status=exc.status_code,
            accepted=accepted,
        )
    return BatchApiError(message, status=exc.status_code, accepted=accepted)
