"""What `.kantra-ai.yaml` may hold: sections, keys (kebab-case, as the predecessor spelled them),
types, allowed values, defaults, and the command-line parameter each key gives a default to.

API keys are never read from a config file: they come from the environment variables the SDKs
define (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from kantra_ai import bounds
from kantra_ai.analysis.complexity import Complexity
from kantra_ai.analysis.model import Category
from kantra_ai.bounds import Bound, http_url_problem
from kantra_ai.engine.confidence import DEFAULT_THRESHOLDS
from kantra_ai.engine.ratelimit import checked_rate_limits


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=_kebab,
        validate_by_alias=True,
        validate_by_name=True,
        frozen=True,
        allow_inf_nan=False,  # `max-cost: .nan` would switch the budget off (bounds.py)
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML's `true` is not a number: pydantic would read `max-cost: true` as a $1 budget and
        `batch-size: true` as 1."""
        if isinstance(value, bool) and info.field_name in cls.model_fields:
            annotation = cls.model_fields[info.field_name].annotation
            kinds = set(typing.get_args(annotation) or (annotation,))
            if bool not in kinds and {int, float} & kinds:
                raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


def _split_list(value: Any) -> Any:
    """A list, or one comma-separated string ("mandatory,optional") as on the command line."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ProviderSettings(Section):
    name: str = "claude"
    model: str | None = None
    base_url: str | None = None
    text_edits: bool = False

    @field_validator("name")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        from kantra_ai.providers.registry import ProviderConfigError, resolve_preset

        try:
            resolve_preset(value)
        except ProviderConfigError as exc:
            raise ValueError(str(exc).split("; ", 1)[-1]) from None
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        problem = None if value is None else http_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class PathSettings(Section):
    analysis: Path | None = None
    input: Path | None = None
    source_root: str | None = None


def _in(bound: Bound, default: Any) -> Any:
    """A field limited to `bound` (bounds.py): the command line's limits, for the same setting."""
    if bound.low_open:
        return Field(default=default, gt=bound.low, le=bound.high)
    return Field(default=default, ge=bound.low, le=bound.high)


class LimitSettings(Section):
    max_cost: float | None = _in(bounds.MAX_COST_USD, None)
    max_minutes: float | None = _in(bounds.MAX_MINUTES, None)
    max_effort: int | None = _in(bounds.EFFORT, None)
    max_retries: int = _in(bounds.RETRIES, 1)
    # Your tier's limits, as for --rate-limits: "rpm=1000,itpm=450k,otpm=90k".
    rate_limits: str | None = None

    @field_validator("rate_limits")
    @classmethod
    def _rate_limits(cls, value: str | None) -> str | None:
        if value is not None:
            checked_rate_limits(value)  # its ValueError names what is wrong; the loader adds file and key
        return value


class FilterSettings(Section):
    categories: list[Category] = Field(default_factory=list)
    violation_ids: list[str] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    include_informational: bool = False
    include_generated: bool = False

    @field_validator("categories", "violation_ids", "include", "exclude", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)


class GitSettings(Section):
    """Delivery through git (`--git-commit`, `--create-pr` and their companions)."""

    commit_strategy: Literal["per-incident", "per-violation", "per-file", "per-phase", "at-end"] | None = None
    create_pr: bool = False
    branch_prefix: str | None = None  # the job's branch is PREFIX/RUN unless --branch names it
    pr_strategy: Literal["per-violation", "per-phase", "at-end"] = "at-end"
    pr_base: str | None = None
    pr_comment_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    remote: str = "origin"
    forge: Literal["github", "gitlab"] | None = None
    forge_url: str | None = None

    @field_validator("forge_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        problem = None if value is None else http_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class VerificationSettings(Section):
    """`--verify` and its options (`enabled: true` with `type` is `--verify TYPE`)."""

    enabled: bool = False
    type: Literal["build", "test"] = "build"
    # None: per-file for remediate, per-phase for execute; per-fix is the predecessor's per-file.
    strategy: Literal["per-file", "per-fix", "per-violation", "per-phase", "at-end"] | None = None
    command: str | None = None
    timeout: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    fail_fast: bool = False
    max_repair_rounds: int = Field(default=2, ge=0, le=10)
    reanalyze_command: str | None = None


class ThresholdSettings(Section):
    trivial: float = Field(default=DEFAULT_THRESHOLDS[Complexity.TRIVIAL], ge=0.0, le=1.0)
    low: float = Field(default=DEFAULT_THRESHOLDS[Complexity.LOW], ge=0.0, le=1.0)
    medium: float = Field(default=DEFAULT_THRESHOLDS[Complexity.MEDIUM], ge=0.0, le=1.0)
    high: float = Field(default=DEFAULT_THRESHOLDS[Complexity.HIGH], ge=0.0, le=1.0)
    expert: float = Field(default=DEFAULT_THRESHOLDS[Complexity.EXPERT], ge=0.0, le=1.0)


class ConfidenceSettings(Section):
    enabled: bool = False
    min_confidence: float | None = _in(bounds.CONFIDENCE, None)
    on_low_confidence: Literal["skip", "warn-and-apply", "manual-review-file"] = "skip"
    complexity_thresholds: ThresholdSettings = Field(default_factory=ThresholdSettings)
    review_file: Path | None = None  # default: INPUT/.kantra-ai/manual-review.yaml


# What `prompts.language-templates` and each of its entries may be, as their errors say: a plain
# "expected a mapping" would hide that a path is the usual value.
LANGUAGE_TEMPLATE_VALUE = (
    "expected a template path (for both kinds of request) or a mapping with"
    " single-fix-template and/or batch-fix-template"
)
LANGUAGE_TEMPLATES_VALUE = (
    "expected a mapping of language to a template path or to a mapping with"
    " single-fix-template and/or batch-fix-template ({java: java.j2})"
)


class LanguageTemplate(Section):
    """Per-language user templates; a plain path stands for both kinds of request."""

    single_fix_template: Path | None = None
    batch_fix_template: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            return {"single-fix-template": value, "batch-fix-template": value}
        if not isinstance(value, dict):  # else "expected a mapping": as if a path were not allowed
            raise ValueError(LANGUAGE_TEMPLATE_VALUE)
        return value


class RuleTemplate(Section):
    match: str = Field(min_length=1)  # glob on a violation's rule id or on one of its labels
    template: Path


# The names `prompts.language-templates` accepts (what `prompts.builder.template_language` yields).
LANGUAGES = (
    "java",
    "xml",
    "pom",
    "jsp",
    "properties",
    "yaml",
    "javascript",
    "typescript",
    "python",
    "go",
    "csharp",
    "groovy",
    "kotlin",
    "json",
    "sql",
)
LANGUAGE_ALIASES = {
    "maven": "pom",
    "js": "javascript",
    "ts": "typescript",
    "yml": "yaml",
    "golang": "go",
    "cs": "csharp",
    "c#": "csharp",
    "py": "python",
}


class PromptSettings(Section):
    single_fix_template: Path | None = None  # requests for one incident (else batch-fix-template)
    batch_fix_template: Path | None = None  # every request (one file, its incidents)
    language_templates: dict[str, LanguageTemplate] = Field(default_factory=dict)
    rule_templates: list[RuleTemplate] = Field(default_factory=list)

    @field_validator("language_templates", mode="before")
    @classmethod
    def _languages(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(LANGUAGE_TEMPLATES_VALUE)
        result = {}
        for name, template in value.items():
            key = LANGUAGE_ALIASES.get(str(name).lower(), str(name).lower())
            if key not in LANGUAGES:
                raise ValueError(f"unknown language {name!r}; expected one of {', '.join(LANGUAGES)}")
            result[key] = template
        return result


class BatchingSettings(Section):
    batch_size: int = _in(bounds.BATCH_SIZE, 25)
    pack_files: int = _in(bounds.PACK_FILES, 8)  # --pack-files: small files per request
    batch_parallelism: int = _in(bounds.PARALLELISM, 32)  # remediate's ceiling for the adaptive limiter
    max_batch_tokens: int = _in(bounds.BATCH_TOKENS, 24_000)
    batch_api: bool = False  # --batch-api: the provider's batch API, half the price, within 24 h
    batch_retry: Literal["batch", "sync"] = "batch"  # --batch-retry
    poll_interval: float = _in(bounds.POLL_SECONDS, 60.0)  # --poll-interval (with --wait)


class PricingSettings(Section):
    file: Path | None = None  # YAML price overrides, as for --prices


class PlanSettings(Section):
    output: Path = Path(".kantra-ai-plan")
    planner: Literal["ai", "deterministic"] = "ai"
    max_phases: int | None = _in(bounds.PHASES, None)
    risk_tolerance: Literal["conservative", "balanced", "aggressive"] = "balanced"


class Settings(Section):
    provider: ProviderSettings = Field(default_factory=ProviderSettings)
    paths: PathSettings = Field(default_factory=PathSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    filters: FilterSettings = Field(default_factory=FilterSettings)
    git: GitSettings = Field(default_factory=GitSettings)
    verification: VerificationSettings = Field(default_factory=VerificationSettings)
    confidence: ConfidenceSettings = Field(default_factory=ConfidenceSettings)
    prompts: PromptSettings = Field(default_factory=PromptSettings)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    pricing: PricingSettings = Field(default_factory=PricingSettings)
    plan: PlanSettings = Field(default_factory=PlanSettings)
    dry_run: bool = False


@dataclass(frozen=True)
class Binding:
    """A config key that gives a command-line parameter its default."""

    param: str  # the parameter's Python name in the command function
    commands: frozenset[str] = frozenset()  # only these commands; empty: every command that has it


def _b(param: str, *commands: str) -> Binding:
    return Binding(param, frozenset(commands))


# Keys that feed parameters. Every command with a parameter of that name honours the key, so
# `remediate`, `plan`, `execute` and `prompt` all see the same provider, filters and limits.
BINDINGS: dict[str, Binding] = {
    "provider.name": _b("provider"),
    "provider.model": _b("model"),
    "provider.base-url": _b("base_url"),
    "provider.text-edits": _b("text_edits"),
    "paths.analysis": _b("analysis", "remediate", "plan", "prompt"),  # execute: --analysis is a check
    "paths.input": _b("input_dir"),
    "paths.source-root": _b("source_root"),
    "limits.max-cost": _b("max_cost"),
    "limits.max-minutes": _b("max_minutes"),
    "limits.max-effort": _b("max_effort"),
    "limits.max-retries": _b("max_retries"),
    "limits.rate-limits": _b("rate_limits"),
    "filters.categories": _b("categories"),
    "filters.violation-ids": _b("violation_ids"),
    "filters.include": _b("include"),
    "filters.exclude": _b("exclude"),
    "filters.include-informational": _b("include_informational"),
    "filters.include-generated": _b("include_generated"),
    "confidence.enabled": _b("enable_confidence"),
    "confidence.min-confidence": _b("min_confidence"),
    "confidence.on-low-confidence": _b("on_low_confidence"),
    "confidence.review-file": _b("review_file"),
    "batching.batch-size": _b("batch_size"),
    "batching.pack-files": _b("pack_files"),
    "batching.batch-parallelism": _b("batch_parallelism"),
    "batching.max-batch-tokens": _b("max_batch_tokens"),
    "batching.batch-api": _b("batch_api", "remediate", "execute"),
    "batching.batch-retry": _b("batch_retry", "remediate", "execute"),
    "batching.poll-interval": _b("poll_interval", "remediate", "execute"),
    "pricing.file": _b("prices"),
    "git.commit-strategy": _b("git_commit"),
    "git.create-pr": _b("create_pr"),
    "git.pr-strategy": _b("pr_strategy"),
    "git.pr-base": _b("pr_base"),
    "git.pr-comment-threshold": _b("pr_comment_threshold"),
    "git.remote": _b("remote"),
    "git.forge": _b("forge"),
    "git.forge-url": _b("forge_url"),
    # verification.enabled and .type together give --verify its default (see LoadedConfig.default_map)
    "verification.command": _b("verify_command"),
    "verification.strategy": _b("verify_strategy"),
    "verification.timeout": _b("verify_timeout"),
    "verification.fail-fast": _b("verify_fail_fast"),
    "verification.max-repair-rounds": _b("max_repair_rounds"),
    "verification.reanalyze-command": _b("reanalyze_command"),
    "plan.output": _b("output", "plan"),
    "plan.planner": _b("planner", "plan"),
    "plan.max-phases": _b("max_phases", "plan"),
    "plan.risk-tolerance": _b("risk_tolerance", "plan"),
    "dry-run": _b("dry_run"),
}

# Sections accepted for compatibility whose settings nothing acts on yet.
NOT_USED_YET: tuple[str, ...] = ()
