"""From a command's parameters to the application's `RunOptions`: the one place the CLI builds them.

Every command that plans or runs requests (`remediate`, `execute`, `plan`, `prompt`) calls
`run_options(ctx, locals())` with its own (already converted) parameter values: not `ctx.params`,
whose values are click's raw ones on some typer versions (a path stays a string). Parameters a
command does not have take the application's defaults, so the same option means the same thing,
with the same default, wherever it appears.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from kantra_ai.app.options import (
    BatchApiOptions,
    BatchRetry,
    LimitOptions,
    ModelOptions,
    OutputOptions,
    RunOptions,
    SelectionOptions,
    VerifyOptions,
)
from kantra_ai.cli.confidence_opts import confidence_policy
from kantra_ai.cli.git_opts import git_options
from kantra_ai.cli.run_options import parse_rate_limits
from kantra_ai.cli.status import history_options
from kantra_ai.config.cli import custom_templates, given
from kantra_ai.engine.confidence import ConfidencePolicy, LowConfidenceAction
from kantra_ai.engine.runner import BatchSettings
from kantra_ai.errors import UserError

_DEFAULT_BATCH = BatchSettings()
_DEFAULT_LIMITS = LimitOptions()
_DEFAULT_BATCH_API = BatchApiOptions()
_DEFAULT_VERIFY = VerifyOptions()


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


def run_options(ctx: typer.Context, values: Mapping[str, Any], *, analysis: Path | None = None) -> RunOptions:
    """The options of this invocation from the command's parameter `values`; `analysis` stands in
    for `--analysis` (execute: the plan)."""
    p: Mapping[str, Any] = values

    def get(name: str, default: Any) -> Any:
        value = p.get(name)
        return default if value is None else value

    input_dir: Path = p["input_dir"]
    selection = SelectionOptions(
        analysis=analysis if analysis is not None else p["analysis"],
        input_dir=input_dir,
        source_root=p.get("source_root"),
        violation_ids=_tuple(p.get("violation_ids")),
        categories=_tuple(p.get("categories")),
        max_effort=p.get("max_effort"),
        include=_tuple(p.get("include")),
        exclude=_tuple(p.get("exclude")),
        include_informational=get("include_informational", False),
        include_generated=get("include_generated", False),
    )
    model = ModelOptions(
        provider=get("provider", ModelOptions.provider),
        model=p.get("model"),
        base_url=p.get("base_url"),
        prices=p.get("prices"),
        text_edits=get("text_edits", False),
    )
    limits = LimitOptions(
        max_cost=p.get("max_cost"),
        max_minutes=p.get("max_minutes"),
        max_retries=get("max_retries", _DEFAULT_LIMITS.max_retries),
        batch=BatchSettings(
            get("max_batch_tokens", _DEFAULT_BATCH.max_batch_tokens),
            get("batch_size", _DEFAULT_BATCH.batch_size),
            get("batch_parallelism", _DEFAULT_BATCH.parallelism),
            dataclasses.replace(
                _DEFAULT_BATCH.packing, max_files=get("pack_files", _DEFAULT_BATCH.packing.max_files)
            ),
        ),
        rate_limits=parse_rate_limits(p.get("rate_limits")),
    )
    output = OutputOptions(
        json=get("json_output", False), progress=get("progress", True), report=p.get("report")
    )
    confidence = ConfidencePolicy()
    if "enable_confidence" in p:
        confidence = confidence_policy(
            ctx,
            input_dir=input_dir,
            enable_confidence=p["enable_confidence"],
            min_confidence=p.get("min_confidence"),
            on_low_confidence=get("on_low_confidence", LowConfidenceAction.SKIP),
            complexity_threshold=p.get("complexity_threshold"),
            review_file=p.get("review_file"),
        )
    history = history_options(
        state=p.get("state"),
        resume=get("resume", False),
        retry_failed=get("retry_failed", False),
        fresh=get("fresh", False),
        wait_lock=get("wait_lock", False),
        store=p.get("store_url"),
    )
    verify = VerifyOptions(
        kind=p.get("verify"),
        command=p.get("verify_command"),
        strategy=p.get("verify_strategy"),
        timeout=get("verify_timeout", _DEFAULT_VERIFY.timeout),
        fail_fast=get("verify_fail_fast", False),
        max_repair_rounds=get("max_repair_rounds", _DEFAULT_VERIFY.max_repair_rounds),
        reanalyze_command=p.get("reanalyze_command"),
    )
    refuse_check_options_without_check(ctx, verify)
    dry_run = bool(get("dry_run", False))
    return RunOptions(
        batch_api=batch_api_options(ctx, p, dry_run=dry_run),
        selection=selection,
        model=model,
        limits=limits,
        output=output,
        confidence=confidence,
        templates=custom_templates(ctx),  # compiled and checked: a broken one fails here
        history=history,
        git=git_options(ctx, p),
        verify=verify,
        dry_run=dry_run,
    )


def batch_api_options(ctx: typer.Context, p: Mapping[str, Any], *, dry_run: bool = False) -> BatchApiOptions:
    """`--batch-api` and the options that only mean something with it (refused without it, and
    `--wait` in a dry run)."""
    enabled = bool(p.get("batch_api"))
    options = BatchApiOptions(
        enabled=enabled,
        wait=bool(p.get("wait")),
        poll_seconds=p.get("poll_interval") or _DEFAULT_BATCH_API.poll_seconds,
        retry=BatchRetry(p.get("batch_retry") or _DEFAULT_BATCH_API.retry),
        max_requests=p.get("batch_max_requests"),
    )
    if not enabled:
        for name in ("wait", "poll_interval", "batch_retry", "batch_max_requests"):
            if given(ctx, name):
                raise UserError(f"--{name.replace('_', '-')} only applies with --batch-api")
    if dry_run and options.wait:
        # A dry run submits nothing, so there would be nothing to wait for (it would end at once).
        where = "--dry-run" if given(ctx, "dry_run") else "dry-run: true in the config"
        raise UserError(
            f"--wait: a dry run ({where}) submits nothing to wait for; drop --wait or the dry run"
        )
    return options


# Options that mean something only with a check to run. `--verify-timeout` also bounds
# `--reanalyze-command`, so with that it stands alone.
_CHECK_ONLY = ("verify_command", "verify_strategy", "verify_timeout", "verify_fail_fast", "max_repair_rounds")


def refuse_check_options_without_check(ctx: typer.Context, verify: VerifyOptions) -> None:
    """An option of the check given on the command line while no check runs (no `--verify`, or
    `--verify off`) is refused: ignored, it would let the user believe the fixes were checked. A
    config file may hold them as defaults for when verification is turned on: only the command line
    counts."""
    if verify.enabled:
        return
    for name in _CHECK_ONLY:
        if name == "verify_timeout" and verify.reanalyze_command is not None:
            continue
        if given(ctx, name):
            raise UserError(f"--{name.replace('_', '-')} only applies with --verify build|test")
