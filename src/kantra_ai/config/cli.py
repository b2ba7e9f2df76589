"""How commands take their settings from config files without losing to them.

Every command declares `config_file: ConfigOpt = None`. The option is eager: click processes it
before any other parameter, and its callback loads the config files and hands the values they set
to click as the command's `default_map`. Click then fills each parameter from, in order: the
command line, the default map (config files), the parameter's own default. So a flag given on the
command line always wins, even when it equals the default, and every command that has a parameter
bound to a config key (see `settings.BINDINGS`) honours that key. `ctx.get_parameter_source` tells
afterwards where each value came from.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kantra_ai.config.loader import ConfigError, LoadedConfig, load_config
from kantra_ai.config.templates import load_custom_templates
from kantra_ai.errors import UserError
from kantra_ai.prompts.custom import CustomTemplates

CONFIG_META_KEY = "kantra_ai.config"
_GIVEN = {"COMMANDLINE", "ENVIRONMENT", "PROMPT"}  # click ParameterSource names a user chose


def warn(message: str) -> None:
    sys.stderr.write(f"kantra-ai: warning: {message}\n")


def _apply_config(ctx: typer.Context, value: Path | None) -> Path | None:
    if ctx.resilient_parsing:
        return value
    try:
        loaded = load_config(value)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    for message in loaded.warnings:
        warn(message)
    ctx.meta[CONFIG_META_KEY] = loaded
    params = {p.name for p in ctx.command.params if p.name}
    defaults = loaded.default_map(ctx.info_name or "", params)
    if defaults:
        ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        is_eager=True,
        callback=_apply_config,
        metavar="PATH",
        show_default=False,
        rich_help_panel="Input",
        help="Config file (YAML) read over ./.kantra-ai.yaml and ~/.kantra-ai.yaml; "
        "flags given on the command line still win.",
    ),
]


def loaded_config(ctx: typer.Context) -> LoadedConfig:
    """The config files of this invocation (defaults when the command has no --config)."""
    found = ctx.meta.get(CONFIG_META_KEY)
    return found if isinstance(found, LoadedConfig) else LoadedConfig()


def given(ctx: typer.Context, param: str) -> bool:
    """Whether the user gave this parameter on the command line (not a default, not a file)."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name in _GIVEN


def custom_templates(ctx: typer.Context) -> CustomTemplates:
    """The user templates the config names, compiled and test-rendered (TemplateError, a
    UserError, otherwise)."""
    return load_custom_templates(loaded_config(ctx).settings.prompts)
