"""Prompt caching: what each model caches, which TTL a run should use, and how requests group.

Every request is laid out so that what is shared comes first: the tool definition and the static
instructions (identical for the whole run), then the guidance of the rules involved (shared by the
files that hit the same rule set), then the file and its incidents (never shared). On Anthropic the
adapter puts an explicit `cache_control` breakpoint after the instructions and after the guidance;
OpenAI-compatible servers cache stable prefixes automatically and are steered with
`prompt_cache_key`.

A prefix shorter than the model's minimum cacheable length is silently not cached by the API, so
the scheduler only holds back followers of a prefix (to let its first request write the cache) when
the prefix can actually be cached.
"""

from __future__ import annotations

import hashlib

from kantra_ai.providers.base import ModelRequest
from kantra_ai.tokens import estimate_tokens

# Minimum cacheable prefix (tokens) per Anthropic model, by id prefix; the longest prefix wins.
# Sources: Anthropic's prompt-caching documentation as mirrored by gateways (late 2026). Models not
# listed fall back to DEFAULT_MIN_CACHEABLE_TOKENS, the most common value.
ANTHROPIC_MIN_CACHEABLE_TOKENS: dict[str, int] = {
    "claude-opus-5": 512,
    "claude-sonnet-5": 1024,
    "claude-opus-4-8": 1024,
    "claude-opus-4-7": 4096,
    "claude-opus-4-6": 4096,
    "claude-opus-4-5": 4096,
    "claude-sonnet-4-6": 2048,
    "claude-sonnet-4": 1024,
    "claude-opus-4": 1024,
    "claude-haiku-4-5": 4096,
    "claude-haiku-5": 4096,
    "claude-3-5-haiku": 2048,
    "claude-3-haiku": 2048,
    "claude-3": 1024,
}
DEFAULT_MIN_CACHEABLE_TOKENS = 1024
OPENAI_MIN_CACHEABLE_TOKENS = 1024  # automatic caching starts at 1024 tokens, in 128-token steps

# A run expected to last longer than this gets the 1 h TTL: a 5 m entry of a rule set whose files
# come back later would expire and be written again (1 h writes cost 2x input instead of 1.25x, so
# they pay off as soon as one 5 m entry would have had to be rewritten).
ONE_HOUR_TTL_AFTER_SECONDS = 240.0


def min_cacheable_tokens(model: str, *, protocol: str = "anthropic") -> int:
    """The shortest prefix `model` caches; prefixes below it are processed (and billed) in full."""
    if protocol != "anthropic":
        return OPENAI_MIN_CACHEABLE_TOKENS
    best = max((k for k in ANTHROPIC_MIN_CACHEABLE_TOKENS if model.startswith(k)), key=len, default=None)
    return ANTHROPIC_MIN_CACHEABLE_TOKENS[best] if best else DEFAULT_MIN_CACHEABLE_TOKENS


def choose_ttl(expected_seconds: float) -> str:
    """The cache TTL for a run expected to take `expected_seconds` (5 m for short runs, else 1 h)."""
    return "1h" if expected_seconds > ONE_HOUR_TTL_AFTER_SECONDS else "5m"


def static_prefix_tokens(request: ModelRequest) -> int:
    """Estimated tokens of the run-wide prefix: tool definition and instructions."""
    return estimate_tokens(request.system) + (request.tool.tokens if request.tool is not None else 0)


def prefix_tokens(request: ModelRequest) -> int:
    """Estimated tokens of everything shared with other requests (instructions and rule guidance)."""
    return static_prefix_tokens(request) + estimate_tokens(request.guidance)


def prefix_key(request: ModelRequest, model: str = "") -> str:
    """Identifies the cacheable prefix of a request: equal keys mean an identical shared prefix."""
    digest = hashlib.sha256()
    for part in (model, request.tool.as_json() if request.tool else "text", request.system, request.guidance):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def cacheable(request: ModelRequest, model: str, *, protocol: str = "anthropic") -> bool:
    """Whether the shared prefix of `request` is long enough to be cached at all."""
    return prefix_tokens(request) >= min_cacheable_tokens(model, protocol=protocol)
