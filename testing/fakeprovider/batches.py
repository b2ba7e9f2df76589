"""The batch APIs of both protocols as the fake provider keeps them: Anthropic's Message Batches and
OpenAI's Batch API (with the part of its Files API that batches use).

A batch is created "in progress" and ends on the `BatchPlan.polls_to_end`-th retrieve (a real batch
takes minutes to hours; tests count polls instead). Its requests are answered only then, one after
the other, by the server's responder with the same prompt caching and usage accounting as
synchronous requests. Results come back in a shuffled order (the real APIs promise no order), and
the plan can make chosen requests fail ("errored") or run out of time ("expired"), let whole
batches expire part-way, and a cancelled batch ends with its unprocessed requests cancelled.

Every request ever submitted is logged (`BatchBook.log`) with its `custom_id` and a hash of its
body, so tests can check that a client never submitted the same request twice.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from kantra_ai.simulated.contract import Protocol
from testing.fakeprovider import anthropic_wire, openai_wire
from testing.fakeprovider.handler import _CODECS as CODECS  # the synchronous endpoints' codecs
from testing.fakeprovider.reply import shape_reply
from testing.fakeprovider.wire import Usage, WireError, canonical

if TYPE_CHECKING:
    from testing.fakeprovider.server import FakeProviderServer

ItemFault = Literal["errored", "expired"]
DAY_SECONDS = 24 * 3600
ANTHROPIC_CUSTOM_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass
class BatchPlan:
    """How the fake's batches behave; change it between steps of a test (`server.batches.plan`)."""

    polls_to_end: int = 1  # retrieves answered "in progress" before the batch ends (0: ends at once)
    # Batch numbers (1-based) -> their own `polls_to_end` (batches of one submission end apart).
    polls_to_end_of: dict[int, int] = field(default_factory=dict)
    # Submission-order number of a request over the server's life (1-based) -> its fate.
    item_faults: dict[int, ItemFault] = field(default_factory=dict)
    expire_batches: set[int] = field(default_factory=set)  # batch numbers (1-based) that expire
    expired_share: float = 0.5  # of an expiring batch: the share answered before it expired
    shuffle: bool = True  # results in a random (seeded) order
    seed: int = 0
    enabled: bool = True  # False: a server without batch endpoints (every batch route answers 404)
    # Batch numbers whose create is carried out but whose answer is lost (the connection drops).
    drop_create_answers: set[int] = field(default_factory=set)
    # Create calls (1-based, both protocols) lost on the way: nothing is created, no answer comes.
    lose_creates: set[int] = field(default_factory=set)
    # Batch numbers the provider no longer knows (deleted, or lost in a restart): every call about
    # them answers 404, as the real APIs do for an unknown id.
    forgotten: set[int] = field(default_factory=set)
    # The results download answers a body that is not JSON Lines (a proxy's error page).
    garbled_results: bool = False
    # The results download leaves out its first this many lines (a download cut short) while the
    # batch's counts still report every answer, as the provider billed them.
    short_results: int = 0


GARBLED = b"<html><body>502 Bad Gateway</body></html>\n"  # what a proxy in the way answers


@dataclass(frozen=True)
class LoggedItem:
    """One request as submitted in a batch."""

    protocol: Protocol
    batch_id: str
    custom_id: str
    body_sha256: str  # of the request body (Anthropic `params`, OpenAI `body`), canonical JSON
    number: int  # submission order over the server's life, 1-based


@dataclass
class _Item:
    custom_id: str
    body: dict[str, Any]
    number: int
    result: dict[str, Any] | None = None  # the protocol's result line, once processed
    outcome: str = "processing"  # succeeded, errored, expired, canceled


@dataclass
class _Batch:
    id: str
    protocol: Protocol
    number: int
    items: list[_Item]
    created_at: float
    polls_left: int
    metadata: dict[str, str] = field(default_factory=dict)
    input_file_id: str = ""
    endpoint: str = ""
    status: str = "in_progress"  # the protocol's word; "ended" / a final OpenAI status once over
    cancel_at: float | None = None
    ended_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)  # OpenAI validation errors


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: float


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def body_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(dict(body)).encode()).hexdigest()


class BatchBook:
    """The batches and files of one fake server; every method is called from handler threads."""

    def __init__(self, owner: FakeProviderServer, plan: BatchPlan | None = None) -> None:
        self.owner = owner
        self.plan = plan or BatchPlan()
        self._lock = threading.RLock()
        self._batches: dict[str, _Batch] = {}
        self._files: dict[str, _File] = {}
        self._log: list[LoggedItem] = []
        self._polls = 0
        self._creates = 0
        self._rng = random.Random(self.plan.seed)

    # -- observability ---------------------------------------------------------------------------

    @property
    def log(self) -> list[LoggedItem]:
        with self._lock:
            return list(self._log)

    @property
    def batch_ids(self) -> list[str]:
        with self._lock:
            return list(self._batches)

    def loses_create(self) -> bool:
        """Count a create call; whether it is to be lost on the way (`lose_creates`)."""
        with self._lock:
            self._creates += 1
            return self._creates in self.plan.lose_creates

    def drops_answer(self, batch_id: str) -> bool:
        """Whether the answer to the create of `batch_id` is to be lost (`drop_create_answers`)."""
        with self._lock:
            batch = self._batches.get(batch_id)
            return batch is not None and batch.number in self.plan.drop_create_answers

    @property
    def polls(self) -> int:
        """Retrieve calls answered, over both protocols."""
        with self._lock:
            return self._polls

    def status_of(self, batch_id: str) -> str:
        with self._lock:
            return self._batches[batch_id].status

    # -- Anthropic Message Batches ---------------------------------------------------------------

    def anthropic_create(self, body: dict[str, Any]) -> dict[str, Any]:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise WireError(400, "requests: at least one request is required")
        seen: set[str] = set()
        entries: list[tuple[str, dict[str, Any]]] = []
        for position, entry in enumerate(requests):
            if not isinstance(entry, dict):
                raise WireError(400, f"requests.{position}: Input should be a valid dictionary")
            custom_id = entry.get("custom_id")
            if (
                not isinstance(custom_id, str)
                or not 1 <= len(custom_id) <= 64
                or not set(custom_id) <= ANTHROPIC_CUSTOM_ID_CHARS
            ):
                raise WireError(
                    400, f"requests.{position}.custom_id: String should match '^[a-zA-Z0-9_-]{{1,64}}$'"
                )
            if custom_id in seen:
                raise WireError(400, f"Duplicate custom_id in batch: {custom_id}")
            seen.add(custom_id)
            params = entry.get("params")
            if not isinstance(params, dict):
                raise WireError(400, f"requests.{position}.params: Field required")
            try:
                anthropic_wire.parse_request(params)
            except WireError as exc:
                raise WireError(400, f"requests.{position}.params: {exc.message}") from None
            if params.get("stream"):
                raise WireError(
                    400, f"requests.{position}.params.stream: streaming is not supported in batches"
                )
            entries.append((custom_id, params))
        with self._lock:
            batch = self._new_batch("anthropic", "msgbatch_fake_", entries)
            self._end_now_if_planned(batch)
            return self._anthropic_json(batch)

    def anthropic_retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._anthropic_json(self._poll("anthropic", batch_id))

    def anthropic_cancel(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            batch = self._get("anthropic", batch_id)
            if batch.status == "in_progress":
                batch.status = "canceling"
                batch.cancel_at = time.time()
            return self._anthropic_json(batch)

    def anthropic_results(self, batch_id: str) -> bytes:
        with self._lock:
            batch = self._get("anthropic", batch_id)
            if batch.status != "ended":
                raise WireError(400, f"Batch {batch_id} has not finished processing; no results yet")
            lines = [item.result for item in self._ordered(batch.items)]
        if self.plan.garbled_results:
            return GARBLED
        kept = [line for line in lines if line is not None][self.plan.short_results :]
        return b"".join(json.dumps(line).encode() + b"\n" for line in kept)

    def anthropic_list(self, query: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            batches = [b for b in reversed(self._batches.values()) if b.protocol == "anthropic"]
            page = _page(batches, query.get("after_id"), int(query.get("limit", "20")))
            data = [self._anthropic_json(b) for b in page]
            more = bool(page) and batches.index(page[-1]) < len(batches) - 1
        first = data[0]["id"] if data else None
        last = data[-1]["id"] if data else None
        return {"data": data, "has_more": more, "first_id": first, "last_id": last}

    def _anthropic_json(self, batch: _Batch) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for item in batch.items:
            # Like the real API: every request counts as processing until the whole batch ended.
            counts[item.outcome if batch.status == "ended" else "processing"] += 1
        results_url = None
        if batch.status == "ended":
            results_url = f"{self.owner.anthropic_base_url}/v1/messages/batches/{batch.id}/results"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": batch.status,
            "request_counts": counts,
            "ended_at": _iso(batch.ended_at),
            "created_at": _iso(batch.created_at),
            "expires_at": _iso(batch.created_at + DAY_SECONDS),
            "archived_at": None,
            "cancel_initiated_at": _iso(batch.cancel_at),
            "results_url": results_url,
        }

    # -- OpenAI Files and Batches ----------------------------------------------------------------

    def upload_file(self, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        if purpose not in ("batch", "assistants", "fine-tune", "vision", "user_data", "evals"):
            raise WireError(400, f"Invalid value for 'purpose': {purpose!r}")
        file = _File(f"file-fake{uuid.uuid4().hex[:20]}", filename, purpose, content, time.time())
        with self._lock:
            self._files[file.id] = file
        return self._file_json(file)

    def file_json(self, file_id: str) -> dict[str, Any]:
        with self._lock:
            return self._file_json(self._file(file_id))

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            file = self._file(file_id)
            if file.purpose != "batch_output":
                return file.content
            if self.plan.garbled_results:
                return GARBLED
            return b"".join(file.content.splitlines(keepends=True)[self.plan.short_results :])

    def delete_file(self, file_id: str) -> dict[str, Any]:
        with self._lock:
            self._file(file_id)
            del self._files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def openai_create(self, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = body.get("endpoint")
        if endpoint != "/v1/chat/completions":
            raise WireError(
                400, f"Invalid value for 'endpoint': {endpoint!r} (the fake serves /v1/chat/completions)"
            )
        if body.get("completion_window") != "24h":
            raise WireError(400, "Invalid value for 'completion_window': only '24h' is supported")
        file_id = body.get("input_file_id")
        with self._lock:
            file = self._files.get(str(file_id))
        if file is None:
            raise WireError(404, f"No such File object: {file_id}")
        if file.purpose != "batch":
            raise WireError(400, f"File {file_id} was not uploaded with purpose 'batch'")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise WireError(400, "metadata: Input should be an object")
        entries, errors = _openai_lines(file.content)
        batch = self._new_batch("openai", "batch_fake_", entries if not errors else [])
        with self._lock:
            batch.metadata = {str(k): str(v) for k, v in metadata.items()}
            batch.input_file_id = file.id
            batch.endpoint = endpoint
            if errors:
                batch.status = "failed"
                batch.errors = errors
                batch.ended_at = time.time()
            else:
                batch.status = "validating"
                self._end_now_if_planned(batch)
            return self._openai_json(batch)

    def openai_retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._openai_json(self._poll("openai", batch_id))

    def openai_cancel(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            batch = self._get("openai", batch_id)
            if batch.status in ("validating", "in_progress", "finalizing"):
                batch.status = "cancelling"
                batch.cancel_at = time.time()
            elif batch.status not in ("cancelling", "cancelled"):
                raise WireError(409, f"Cannot cancel a batch with status {batch.status!r}")
            return self._openai_json(batch)

    def openai_list(self, query: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            batches = [b for b in reversed(self._batches.values()) if b.protocol == "openai"]
            page = _page(batches, query.get("after"), int(query.get("limit", "20")))
            data = [self._openai_json(b) for b in page]
            more = bool(page) and batches.index(page[-1]) < len(batches) - 1
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }

    def _openai_json(self, batch: _Batch) -> dict[str, Any]:
        done = [i for i in batch.items if i.outcome != "processing"]
        stamp = int(batch.created_at)
        final = batch.status in ("completed", "failed", "expired", "cancelled")
        ended = int(batch.ended_at) if batch.ended_at is not None else None
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "model": None,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": stamp,
            "in_progress_at": stamp if batch.status != "validating" else None,
            "expires_at": stamp + DAY_SECONDS,
            "finalizing_at": ended if final else None,
            "completed_at": ended if batch.status == "completed" else None,
            "failed_at": ended if batch.status == "failed" else None,
            "expired_at": ended if batch.status == "expired" else None,
            "cancelling_at": int(batch.cancel_at) if batch.cancel_at is not None else None,
            "cancelled_at": ended if batch.status == "cancelled" else None,
            "request_counts": {
                "total": len(batch.items),
                "completed": sum(1 for i in done if i.outcome == "succeeded"),
                "failed": sum(1 for i in done if i.outcome != "succeeded"),
            },
            "metadata": batch.metadata or None,
        }

    def _file_json(self, file: _File) -> dict[str, Any]:
        return {
            "id": file.id,
            "object": "file",
            "bytes": len(file.content),
            "created_at": int(file.created_at),
            "filename": file.filename,
            "purpose": file.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }

    def _file(self, file_id: str) -> _File:
        file = self._files.get(file_id)
        if file is None:
            raise WireError(404, f"No such File object: {file_id}")
        return file

    # -- shared ----------------------------------------------------------------------------------

    def _new_batch(
        self, protocol: Protocol, prefix: str, entries: list[tuple[str, dict[str, Any]]]
    ) -> _Batch:
        with self._lock:
            number = len(self._batches) + 1
            batch_id = f"{prefix}{number:04d}{uuid.uuid4().hex[:8]}"
            items = []
            for custom_id, body in entries:
                item = _Item(custom_id, body, len(self._log) + 1)
                items.append(item)
                self._log.append(LoggedItem(protocol, batch_id, custom_id, body_hash(body), item.number))
            polls = self.plan.polls_to_end_of.get(number, self.plan.polls_to_end)
            batch = _Batch(batch_id, protocol, number, items, time.time(), polls)
            self._batches[batch_id] = batch
            return batch

    def _end_now_if_planned(self, batch: _Batch) -> None:
        """`polls_to_end` 0: the batch is answered as soon as it is created."""
        if batch.polls_left <= 0 and batch.items and batch.ended_at is None:
            self._end(batch)

    def _get(self, protocol: Protocol, batch_id: str) -> _Batch:
        batch = self._batches.get(batch_id)
        if batch is None or batch.protocol != protocol or batch.number in self.plan.forgotten:
            raise WireError(404, f"No batch with id {batch_id}")
        return batch

    def _poll(self, protocol: Protocol, batch_id: str) -> _Batch:
        with self._lock:
            batch = self._get(protocol, batch_id)
            self._polls += 1
            if batch.status in ("ended", "completed", "failed", "expired", "cancelled"):
                return batch
            if batch.status == "validating":
                batch.status = "in_progress"
            if batch.cancel_at is not None:
                self._end(batch, cancelled=True)
                return batch
            batch.polls_left -= 1
            if batch.polls_left <= 0:
                self._end(batch)
            return batch

    def _end(self, batch: _Batch, *, cancelled: bool = False) -> None:
        """Answer the batch's requests (or what of them the plan lets through) and close it."""
        expires = batch.number in self.plan.expire_batches
        answered = len(batch.items)
        if expires:
            answered = int(len(batch.items) * self.plan.expired_share)
        elif cancelled:
            answered = 0
        for position, item in enumerate(batch.items):
            fault = self.plan.item_faults.get(item.number)
            if position >= answered:
                item.outcome = "expired" if expires else "canceled"
            elif fault == "expired":
                item.outcome = "expired"
            elif fault == "errored":
                item.outcome = "errored"
                item.result = None
            else:
                item.outcome, item.result = self._answer(batch.protocol, item)
            if item.result is None:
                item.result = _failed_line(batch.protocol, item)
        batch.ended_at = time.time()
        if batch.protocol == "anthropic":
            batch.status = "ended"
            return
        batch.status = "expired" if expires else "cancelled" if cancelled else "completed"
        good = [i.result for i in self._ordered(batch.items) if i.outcome == "succeeded"]
        bad = [i.result for i in self._ordered(batch.items) if i.outcome != "succeeded"]
        if good:
            batch.output_file_id = self._store_output(batch, "output", good)
        if bad:
            batch.error_file_id = self._store_output(batch, "error", bad)

    def _store_output(self, batch: _Batch, kind: str, lines: list[dict[str, Any] | None]) -> str:
        content = b"".join(json.dumps(line).encode() + b"\n" for line in lines if line is not None)
        file = _File(
            f"file-fake{uuid.uuid4().hex[:20]}",
            f"{batch.id}_{kind}.jsonl",
            "batch_output",
            content,
            time.time(),
        )
        self._files[file.id] = file
        return file.id

    def _ordered(self, items: list[_Item]) -> list[_Item]:
        if not self.plan.shuffle:
            return list(items)
        shuffled = list(items)
        self._rng.shuffle(shuffled)
        return shuffled

    def _answer(self, protocol: Protocol, item: _Item) -> tuple[str, dict[str, Any]]:
        """The request answered as a synchronous, non-streamed one would be: (outcome, result line)."""
        owner = self.owner
        codec = CODECS[protocol]  # what a synchronous request of the protocol goes through
        message_id = f"{codec.id_prefix}batch_{item.number:06d}"
        try:
            request = codec.parse(item.body)
            lookup = codec.lookup(owner.cache, request.model, codec.segments(request))
        except WireError as exc:
            return "errored", _error_line(protocol, item, exc.status, exc.message)
        try:
            reply = owner.responder(request)
        except Exception:
            owner._note_responder_error(traceback.format_exc())
            return "errored", _error_line(protocol, item, 500, "The fake provider's responder raised")
        shaped = shape_reply(
            reply,
            max_tokens=request.max_tokens,
            fault=None,
            stop_sequences=codec.stop_sequences(request),
            allow_tools=codec.tools_allowed(request),
            tool_id_prefix=f"{codec.tool_id_prefix}batch_{item.number:06d}_",
        )
        lookup.commit()
        body = codec.body(shaped, request, Usage(lookup, shaped.output_tokens), message_id)
        if protocol == "anthropic":
            return "succeeded", {
                "custom_id": item.custom_id,
                "result": {"type": "succeeded", "message": body},
            }
        response = {"status_code": 200, "request_id": f"req_fake_batch_{item.number:06d}", "body": body}
        return "succeeded", {
            "id": f"batch_req_fake_{item.number:06d}",
            "custom_id": item.custom_id,
            "response": response,
            "error": None,
        }


def _error_line(protocol: Protocol, item: _Item, status: int, message: str) -> dict[str, Any]:
    if protocol == "anthropic":
        error = anthropic_wire.error_json(status, message, f"req_fake_batch_{item.number:06d}")
        return {"custom_id": item.custom_id, "result": {"type": "errored", "error": error}}
    response = {
        "status_code": status,
        "request_id": f"req_fake_batch_{item.number:06d}",
        "body": openai_wire.error_json(status, message),
    }
    return {
        "id": f"batch_req_fake_{item.number:06d}",
        "custom_id": item.custom_id,
        "response": response,
        "error": None,
    }


def _failed_line(protocol: Protocol, item: _Item) -> dict[str, Any]:
    """The result line of a request that was not answered: errored (a server error), expired, canceled."""
    if item.outcome == "errored":
        return _error_line(protocol, item, 500, "Internal server error")
    if protocol == "anthropic":
        return {"custom_id": item.custom_id, "result": {"type": item.outcome}}
    code, message = {
        "expired": (
            "batch_expired",
            "This request could not be executed before the completion window expired.",
        ),
        "canceled": ("batch_cancelled", "This request was not executed because the batch was cancelled."),
    }[item.outcome]
    return {
        "id": f"batch_req_fake_{item.number:06d}",
        "custom_id": item.custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


def _openai_lines(content: bytes) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """The requests of an OpenAI batch input file, or the validation errors that fail the batch."""
    entries: list[tuple[str, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()

    def refuse(code: str, message: str, line: int | None) -> None:
        errors.append({"code": code, "message": message, "line": line})

    for number, raw in enumerate(content.decode("utf-8", errors="replace").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            refuse("invalid_json_line", "This line is not parseable as valid JSON.", number)
            continue
        custom_id = line.get("custom_id") if isinstance(line, dict) else None
        body = line.get("body") if isinstance(line, dict) else None
        if not isinstance(custom_id, str) or not custom_id:
            refuse("missing_required_parameter", "custom_id is required", number)
        elif custom_id in seen:
            refuse("duplicate_custom_id", f"The custom_id {custom_id!r} is used twice.", number)
        elif line.get("method") != "POST" or line.get("url") != "/v1/chat/completions":
            refuse("invalid_url", "The URL must match the batch's endpoint.", number)
        elif not isinstance(body, dict):
            refuse("invalid_request", "body must be an object", number)
        elif body.get("stream"):
            refuse("invalid_request", "stream is not supported in batches", number)
        else:
            seen.add(custom_id)
            entries.append((custom_id, body))
    if not entries and not errors:
        refuse("empty_file", "The input file is empty.", None)
    return entries, errors


def _page(batches: list[_Batch], after: str | None, limit: int) -> list[_Batch]:
    start = 0
    if after:
        ids = [b.id for b in batches]
        start = ids.index(after) + 1 if after in ids else len(batches)
    return batches[start : start + max(1, min(limit, 100))]
