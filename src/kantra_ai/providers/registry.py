"""Provider presets: which SDK, which endpoint, which key, which default model."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kantra_ai.providers.base import Provider
from kantra_ai.redact import add_secret, url_password, watch_env


@dataclass(frozen=True)
class Preset:
    name: str
    protocol: str  # "anthropic" or "openai"
    default_model: str
    base_url: str | None  # None: the SDK's own default (or its *_BASE_URL environment variable)
    key_env: str | None  # None: no key needed (local servers)
    local: bool = False
    supports_tools: bool = True
    max_tokens_field: str = "max_tokens"
    batch_api: bool = False  # offers a batch API (half price, answers within 24 h): --batch-api


SIMULATED = "simulated"

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("claude", "anthropic", "claude-sonnet-5-5", None, "ANTHROPIC_API_KEY", batch_api=True),
        Preset(
            "openai",
            "openai",
            "gpt-5.5",
            None,
            "OPENAI_API_KEY",
            max_tokens_field="max_completion_tokens",
            batch_api=True,
        ),
        # Groq's Batch API speaks OpenAI's (Files upload, /batches, 24 h window) at half price.
        Preset(
            "groq",
            "openai",
            "llama-3.3-70b-versatile",
            "https://api.groq.com/openai/v1",
            "GROQ_API_KEY",
            batch_api=True,
        ),
        # A default the price database knows for this provider (tests/providers/test_pricing.py):
        # a run on a preset's default model always has a cost and can be held to --max-cost.
        Preset(
            "together", "openai", "openai/gpt-oss-120b", "https://api.together.xyz/v1", "TOGETHER_API_KEY"
        ),
        Preset(
            "openrouter",
            "openai",
            "anthropic/claude-sonnet-5.5",
            "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY",
        ),
        # Local servers: free, and many local models follow a plain-text edit format better than tools.
        Preset("ollama", "openai", "qwen2.5-coder:14b", "http://localhost:11434/v1", None, True, False),
        Preset(
            "lmstudio", "openai", "qwen2.5-coder-14b-instruct", "http://localhost:1234/v1", None, True, False
        ),
        Preset(
            "vllm", "openai", "Qwen/Qwen2.5-Coder-14B-Instruct", "http://localhost:8000/v1", None, True, False
        ),
        # The scripted model (kantra_ai.simulated), answering in process: knows the bundled examples'
        # fixes and lets the whole pipeline run with no API key. Always labelled as simulated in the
        # output. Its requests are laid out like the Anthropic adapter's, hence that protocol.
        Preset(SIMULATED, "anthropic", "simulated-model", None, None, True),
        Preset("llama.cpp", "openai", "default", "http://localhost:8080/v1", None, True, False),
    ]
}
# Every preset's key is a secret wherever it shows up (redact.py masks it in all output).
watch_env(p.key_env for p in PRESETS.values())
ALIASES = {"anthropic": "claude", "llamacpp": "llama.cpp", "llama-cpp": "llama.cpp"}
BASE_URL_ENV = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"}


class ProviderConfigError(ValueError):
    pass


def resolve_preset(name: str) -> Preset:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in PRESETS:
        known = ", ".join(sorted(PRESETS))
        raise ProviderConfigError(f"unknown provider {name!r}; choose one of: {known}")
    return PRESETS[key]


def _keys_set_elsewhere(preset: Preset) -> str:
    """The key a user exported under another name (`CLAUDE_API_KEY`, `ANTHROPIC_KEY`) or for
    another provider (`OPENAI_API_KEY` with the default `--provider claude`), said next to the
    missing variable's name (no colon: the text before the first one is kept as the reason)."""
    wanted = preset.key_env or ""
    stems = {wanted.removesuffix("_API_KEY"), preset.name.upper().replace(".", "")}
    misnamed = sorted(
        name
        for name, value in os.environ.items()
        if value and name != wanted and "KEY" in name and any(stem and stem in name for stem in stems)
    )
    if misnamed:
        return f" ({', '.join(misnamed)} is set, but {wanted} is the name read)"
    others = [p for p in PRESETS.values() if p.key_env and p.key_env != wanted and os.environ.get(p.key_env)]
    if others:
        return f" ({others[0].key_env} is set, which --provider {others[0].name} reads)"
    return ""


def api_key_for(preset: Preset) -> str | None:
    return os.environ.get(preset.key_env) if preset.key_env else None


def missing_key(preset: Preset) -> str | None:
    """Why no request can be made with `preset` (its key variable is not set), in one line; None
    when nothing is missing."""
    if preset.key_env and not api_key_for(preset):
        return (
            f"{preset.key_env} is not set{_keys_set_elsewhere(preset)}: export it, or use --dry-run to "
            "see what would be sent without calling a model"
        )
    return None


def create_provider(
    preset: Preset,
    model: str | None,
    *,
    base_url: str | None = None,
    max_retries: int = 8,
    cache_ttl: str = "5m",
    tools: bool | None = None,
) -> Provider:
    """Build the provider, failing with one line when it cannot possibly work (no key)."""
    key = api_key_for(preset)
    url = base_url or preset.base_url
    add_secret(url_password(url))  # https://user:password@proxy/...: the password is a secret too
    problem = missing_key(preset)
    if problem:
        raise ProviderConfigError(problem)
    chosen_model = model or preset.default_model
    if preset.name == SIMULATED:
        from kantra_ai.providers.simulated import SimulatedProvider

        return SimulatedProvider(chosen_model)
    # The SDKs are imported here, not at module load: they take seconds to import, and runs that
    # send nothing (dry runs, a rerun of a finished job, status) should not pay for them.
    if preset.protocol == "anthropic":
        from kantra_ai.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(
            chosen_model,
            api_key=key or ("not-needed" if preset.local else None),
            base_url=url,
            max_retries=max_retries,
            cache_ttl=cache_ttl,
            local=preset.local,
        )
    from kantra_ai.providers.openai_provider import OpenAIProvider

    return OpenAIProvider(
        preset.name,
        chosen_model,
        # The SDK refuses to start without a key, even for local servers that ignore it.
        api_key=key or "not-needed",
        base_url=url,
        max_retries=max_retries,
        local=preset.local,
        supports_tools=preset.supports_tools if tools is None else tools,
        max_tokens_field=preset.max_tokens_field,
    )
