"""An in-process scripted provider for engine tests: it answers each request with the next scripted
reply (or a function of the request), records what it was asked, and can do something while "the
model is thinking" (change the file on disk, for the stale-file gate).

Requests name incidents by numbers (#1, #2: their place in the batch; `PromptBuilder.handles`).
The scripts here name them by their ids, which reads better in a test: `context` gives the engine
a builder whose requests show each incident by its id (`IdHandles`), everything else as sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import Batch
from kantra_ai.engine.batch_runner import RunContext
from kantra_ai.engine.budget import CostGuard
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.base import ModelRequest, ModelResponse, ProgressCallback, ProviderError
from kantra_ai.providers.pricing import Usage

Reply = ModelResponse | ProviderError | Callable[[ModelRequest], ModelResponse]


class ScriptedProvider:
    """The `Provider` protocol, answering from a script, one entry per request in order."""

    name = "scripted"
    model = "scripted-model"
    local = True

    def __init__(self, *script: Reply, during: Callable[[int], None] | None = None) -> None:
        self.script = list(script)
        self.requests: list[ModelRequest] = []
        self.during = during  # called with the request's number (1-based) before it is answered

    async def complete(
        self, request: ModelRequest, on_progress: ProgressCallback | None = None
    ) -> ModelResponse:
        self.requests.append(request)
        if self.during is not None:
            self.during(len(self.requests))
        if not self.script:
            raise AssertionError(f"request {len(self.requests)} was not scripted:\n{request.prompt}")
        reply = self.script.pop(0)
        if isinstance(reply, ProviderError):
            raise reply
        return reply(request) if callable(reply) else reply

    async def aclose(self) -> None:
        pass


def tool_reply(
    edits: Sequence[tuple[str, str, Sequence[str]]] = (),
    verdicts: Sequence[tuple[str, str, float]] = (),
    *,
    stop_reason: str = "tool_use",
) -> ModelResponse:
    """An `apply_fixes` call: edits as (old, new, incident ids), verdicts as (id, status, confidence)."""
    tool_input: dict[str, Any] = {
        "edits": [{"old_text": o, "new_text": n, "incident_ids": list(ids)} for o, n, ids in edits],
        "incidents": [
            {"id": i, "status": s, "confidence": c, "explanation": f"{s} by the script"}
            for i, s, c in verdicts
        ],
    }
    return ModelResponse(text="", tool_input=tool_input, stop_reason=stop_reason, usage=Usage(100, 50))


def text_reply(text: str) -> ModelResponse:
    """A reply with no tool call at all (a model that answered in prose)."""
    return ModelResponse(text=text, tool_input=None, stop_reason="end_turn", usage=Usage(100, 50))


RULE = Violation(
    "rules",
    "javax-to-jakarta-import-00001",
    "javax is now jakarta",
    Category.MANDATORY,
    1,
)


def incident(
    incident_id: str,
    path: str,
    line: int,
    text: str = "",
    *,
    message: str = "Replace the `javax.ejb` import statement with `jakarta.ejb`",
    violation: Violation = RULE,
) -> Incident:
    """An incident at `line`; `text` is the analyzer's snippet line for it (its codeSnip)."""
    snip = f"{line}  {text}" if text else ""
    return Incident(incident_id, violation, f"file:///src/{path}", PurePosixPath(path), line, message, snip)


def batch(
    path: str, *incidents: Incident, window: tuple[int, int] | None = None, max_tokens: int = 1000
) -> Batch:
    return Batch(PurePosixPath(path), tuple(incidents), window, 500, max_tokens)


@dataclass
class Recorder(RunObserver):
    """Remembers the events the engine reports."""

    rejected: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    done: list[IncidentOutcome] = field(default_factory=list)

    def reply_rejected(self, path: str, fingerprint: str, reason: str) -> None:
        self.rejected.append(reason)

    def file_written(self, path: str, before_sha: str, after_sha: str, edits: list[Any]) -> None:
        self.written.append(path)

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        self.done.append(outcome)


class IdHandles(PromptBuilder):
    """The request builder, with incidents shown (and answered) by their ids instead of numbers."""

    @staticmethod
    def handles(batch: Batch, incidents: Sequence[Incident] | None = None) -> dict[str, str]:
        chosen = batch.incidents if incidents is None else incidents
        return {i.id: i.id for i in chosen}


def context(provider: ScriptedProvider, root: Path, **options: Any) -> RunContext:
    options.setdefault("prompts", IdHandles())
    options.setdefault("observer", Recorder())
    options.setdefault("price", None)
    options.setdefault("guard", CostGuard(None, options["price"]))
    return RunContext(provider=provider, input_dir=root, **options)
