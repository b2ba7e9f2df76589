"""How `--help` is laid out: option panels, examples, environment variables and exit codes; and the
predecessor's flags that are not built yet.

Every option names its panel with `rich_help_panel=` one of the constants below, so `--help` groups
them the same way on every command.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

from kantra_ai.errors import TOLD, Interrupted

INPUT = "Input"
MODEL = "Model"
SELECTION = "Selection"
BUDGET = "Budget and batching"
HISTORY = "History"
CONFIDENCE = "Confidence"
VERIFICATION = "Verification"
GIT = "Git"
OUTPUT = "Output"
WEB = "Web app"

ENVIRONMENT = (
    "[bold]Environment[/]: ANTHROPIC_API_KEY, OPENAI_API_KEY, GROQ_API_KEY, TOGETHER_API_KEY, "
    "OPENROUTER_API_KEY (API keys, never read from a file); ANTHROPIC_BASE_URL, OPENAI_BASE_URL "
    "(endpoints); GITHUB_TOKEN or GH_TOKEN, GITLAB_TOKEN (--create-pr); KANTRA_AI_STORE (--store); "
    "NO_COLOR (plain output)."
)
EXIT_CODES = (
    "[bold]Exit codes[/]: 0 every selected incident fixed (or does not apply) · 1 some failed or were "
    "skipped, or git delivery could not finish · 2 bad flag or input, nothing changed · 3 the "
    "provider refused the run · 75 --batch-api: requests still with the provider (run the same "
    "command again) · 130 interrupted (run the same command again to continue)."
)


# The commands that run no job have exit codes of their own.
READ_EXIT_CODES = (
    "[bold]Exit codes[/]: 0 done · 2 bad flag or input (such as nothing having run there yet), "
    "nothing changed."
)
UNDO_EXIT_CODES = (
    "[bold]Exit codes[/]: 0 the run's writes were undone (or there was nothing to undo) · 1 some "
    "files were changed since the run wrote them and are left as they are (named) · 2 bad flag or "
    "input (an unknown --run, another run holds the tree), nothing changed."
)
PORTFOLIO_EXIT_CODES = (
    "[bold]Exit codes[/]: 0 every application ended done · 1 some application ended partial or "
    "failed (its reason in the table) · 2 bad flag or manifest, nothing ran · 130 interrupted (run "
    "the same command again to continue)."
)


def epilog(*examples: str, exit_codes: str = EXIT_CODES) -> str:
    """Examples, environment variables and exit codes, for a command's `--help`."""
    lines = ["[bold]Examples[/]:", ""]
    lines += [f"  {example}" for example in examples]
    return "\n\n".join(["\n".join(lines).replace("\n\n  ", "\n  "), ENVIRONMENT, exit_codes])


def _plain_help_option(option: Any) -> Any:
    if option is not None:
        option.metavar = ""  # `-h, --help` takes no value: no `<bool>` next to it
    return option


class Command(TyperCommand):
    """Every command: `-h` as well as `--help`, shown without a type."""

    def get_help_option(self, ctx: Any) -> Any:
        return _plain_help_option(super().get_help_option(ctx))


class Group(TyperGroup):
    def get_help_option(self, ctx: Any) -> Any:
        return _plain_help_option(super().get_help_option(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # past typer, which would exit 130 without a word
            raise Interrupted(told=getattr(exc, TOLD, False)) from None
