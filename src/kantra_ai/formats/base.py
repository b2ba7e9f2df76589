"""The edit-format seam: how a model is asked to answer, and how its answer is read.

An edit format owns everything that differs between ways of answering: the protocol text that ends
the system prompt (and follows any user template, so custom text cannot change it), the tool the
model must call (or none), the parser that turns a reply into a validated `ProposedFix`, and the
input tokens its definition adds to every request. The engine, the prompt builder, the estimator
and the providers only talk to this interface; adding a format (say, whole-file replies for weak
local models) means adding one module here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from functools import cached_property
from importlib import resources

from kantra_ai.edits.parse import ParsedReply
from kantra_ai.providers.base import ModelResponse, ToolSpec


class EditFormat(ABC):
    name: str  # as shown to users: "tool-call", "search-replace"
    tool: ToolSpec | None = None  # offered to the model; None: the answer is plain text
    protocol_file: str  # the protocol text, next to this module

    @cached_property
    def protocol(self) -> str:
        """How to answer: the last part of the system prompt (no trailing newline)."""
        return resources.files("kantra_ai.formats").joinpath(self.protocol_file).read_text("utf-8").strip()

    @property
    def overhead_tokens(self) -> int:
        """Estimated input tokens the format adds to every request beyond its text (the tool schema)."""
        return self.tool.tokens if self.tool is not None else 0

    @abstractmethod
    def parse(self, response: ModelResponse, expected_ids: Collection[str]) -> ParsedReply:
        """The validated reply, or `MalformedReply` (one line) when it is not in this format."""
