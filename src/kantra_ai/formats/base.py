"""The edit-format seam: how a model is asked to answer, and how its answer is read.

An edit format owns everything that differs between ways of answering: the protocol text that ends
the system prompt (and follows any user template, so custom text cannot change it), the tool the
model must call (or none), the parser that turns a reply into a validated `ProposedFix`, the input
tokens its definition adds to every request, and a worked example (used to lengthen a run's shared
prefix up to the model's cache minimum). The engine, the prompt builder, the estimator and the
providers only talk to this interface; adding a format (say, whole-file replies for weak local
models) means adding one module here.

Two answer modes: terse (an incident an edit names is fixed; verdicts only for the others) and full
(a verdict with confidence for every incident), which confidence filtering needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import cache
from importlib import resources

from kantra_ai.edits.parse import ParsedReply
from kantra_ai.providers.base import ModelResponse, ToolSpec

# Full-mode protocol texts say this; the scripted model reads it to know which mode it is asked for.
FULL_VERDICTS_MARKER = "one per incident"


@cache
def _text(name: str) -> str:
    return resources.files("kantra_ai.formats").joinpath(name).read_text("utf-8").strip()


class EditFormat(ABC):
    name: str  # as shown to users: "tool-call", "search-replace"
    tool: ToolSpec | None = None  # offered to the model; None: the answer is plain text
    protocol_file: str  # the protocol text, next to this module, with a {verdicts} paragraph
    example_file: str  # a worked example of a request and its answer
    terse_verdicts: str  # the {verdicts} paragraph of each mode
    full_verdicts: str

    def protocol_for(self, *, full_verdicts: bool) -> str:
        """How to answer: the last part of the system prompt (no trailing newline)."""
        verdicts = self.full_verdicts if full_verdicts else self.terse_verdicts
        return _text(self.protocol_file).replace("{verdicts}", verdicts.strip())

    @property
    def protocol(self) -> str:
        """The terse protocol (runs without confidence filtering)."""
        return self.protocol_for(full_verdicts=False)

    @property
    def example(self) -> str:
        """Worked examples of requests and answers in this format."""
        return _text(self.example_file)

    @property
    def overhead_tokens(self) -> int:
        """Estimated input tokens the format adds to every request beyond its text (the tool schema)."""
        return self.tool.tokens if self.tool is not None else 0

    @abstractmethod
    def parse(
        self, response: ModelResponse, handles: Mapping[str, str], *, full_verdicts: bool
    ) -> ParsedReply:
        """The validated reply (in incident ids), or `MalformedReply` (one line) when it is not in
        this format; `handles` maps the numbers the request showed to incident ids."""
