"""What the scripted model is asked and what it answers, whoever carries the conversation.

Two carriers hand a `FakeRequest` to a responder (such as `recipes.respond`) and turn its `FakeReply`
into a model response: the in-process `--provider simulated` (`providers/simulated.py`), and the HTTP
fake provider used by tests and benchmarks (`testing/fakeprovider/`), which decodes both wire
protocols (Anthropic Messages, OpenAI Chat Completions) into a `FakeRequest` and encodes the reply
back into the protocol the client spoke, as JSON or as SSE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Protocol = Literal["anthropic", "openai"]
StopReason = Literal["end_turn", "max_tokens", "tool_use", "stop_sequence"]


@dataclass
class FakeRequest:
    protocol: Protocol
    model: str
    system: str  # all system text joined with "\n\n" (Anthropic system blocks or OpenAI system messages)
    messages: list[dict[str, Any]]  # the conversation as sent, minus OpenAI system messages
    tools: list[dict[str, Any]]  # tool definitions as sent
    max_tokens: int
    stream: bool
    raw: dict[str, Any]  # the decoded request body

    def last_user_text(self) -> str:
        """The text of the last user turn (string content or the text blocks of a block list)."""
        for message in reversed(self.messages):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = []
                for block in content:
                    if isinstance(block, dict):
                        if block.get("type") == "text":
                            parts.append(str(block.get("text", "")))
                        elif block.get("type") == "tool_result":
                            inner = block.get("content")
                            if isinstance(inner, str):
                                parts.append(inner)
                            elif isinstance(inner, list):
                                parts.extend(str(b.get("text", "")) for b in inner if isinstance(b, dict))
                return "\n".join(parts)
        return ""


@dataclass
class ToolCall:
    name: str
    input: dict[str, Any]


@dataclass
class FakeReply:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    # None: "tool_use" when there are tool calls, else "end_turn".
    stop_reason: StopReason | None = None


Responder = Callable[[FakeRequest], FakeReply]
