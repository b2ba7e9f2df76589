"""The git delivery flags of `remediate` and `execute` (the predecessor's names), and `GitOptions`
from them and the config (`git.*`: flags given on the command line win, as everywhere)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any

import typer

from kantra_ai.cli import help as panel
from kantra_ai.config.cli import given, loaded_config
from kantra_ai.delivery.deliver import GitOptions
from kantra_ai.delivery.layout import CommitStrategy, PrStrategy
from kantra_ai.errors import UserError

GitCommitOpt = Annotated[
    CommitStrategy | None,
    typer.Option(
        "--git-commit",
        metavar="[per-incident|per-violation|per-file|per-phase|at-end]",
        help="Commit the fixes on a branch of their own: one commit per incident, violation, file, "
        "phase (execute), or one at the end. Only the files kantra-ai changed are committed; a run "
        "that would change a file with uncommitted changes is refused.",
        show_default=False,
        rich_help_panel=panel.GIT,
    ),
]
BranchOpt = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="The branch for the commits (default: kantra-ai/RUN, prefix from git.branch-prefix).",
        rich_help_panel=panel.GIT,
    ),
]
CreatePrOpt = Annotated[
    bool,
    typer.Option(
        "--create-pr/--no-create-pr",
        show_default=False,
        metavar="",
        help="Push and open pull requests (GitHub: GITHUB_TOKEN or GH_TOKEN) or merge requests (GitLab: "
        "GITLAB_TOKEN).",
        rich_help_panel=panel.GIT,
    ),
]
PrStrategyOpt = Annotated[
    PrStrategy,
    typer.Option(
        metavar="[per-violation|per-phase|at-end]",
        help="One pull request per violation or per phase, each on a branch cut from the base with only "
        "its own commits (stacked on another when its fixes touch the same lines), or one at the end.",
        rich_help_panel=panel.GIT,
    ),
]
PrBaseOpt = Annotated[
    str | None,
    typer.Option(
        metavar="BRANCH",
        help="The branch pull requests go into (default: the branch checked out at the start).",
        rich_help_panel=panel.GIT,
    ),
]
PrCommentThresholdOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        max=1.0,
        metavar="X",
        help="Add an inline review comment on each fix whose confidence is below this (0 to 1).",
        show_default=False,
        rich_help_panel=panel.GIT,
    ),
]
RemoteOpt = Annotated[
    str, typer.Option(metavar="NAME", help="The git remote to push to.", rich_help_panel=panel.GIT)
]


class ForgeName(str, Enum):
    GITHUB = "github"
    GITLAB = "gitlab"


ForgeOpt = Annotated[
    ForgeName | None,
    typer.Option(
        metavar="[github|gitlab]",
        help="The forge hosting the remote (default: told by the remote's URL).",
        show_default=False,
        rich_help_panel=panel.GIT,
    ),
]
ForgeUrlOpt = Annotated[
    str | None,
    typer.Option(
        help="The forge's API: https://HOST/api/v3 for GitHub Enterprise, https://HOST for a "
        "self-hosted GitLab (default: github.com / gitlab.com, or the remote's host).",
        metavar="URL",
        show_default=False,
        rich_help_panel=panel.GIT,
    ),
]


def git_options(ctx: typer.Context, values: Mapping[str, Any]) -> GitOptions:
    """The delivery options of a command's parameter `values` (defaults for a command without them)."""
    if "git_commit" not in values:
        return GitOptions()
    settings = loaded_config(ctx).settings.git
    refuse_delivery_options_without_delivery(ctx, values)
    forge = values.get("forge")
    return GitOptions(
        commit=values.get("git_commit"),
        branch=values.get("branch"),
        branch_prefix=settings.branch_prefix or GitOptions.branch_prefix,
        create_pr=bool(values.get("create_pr")),
        pr_strategy=values.get("pr_strategy") or PrStrategy.AT_END,
        pr_base=values.get("pr_base"),
        pr_comment_threshold=values.get("pr_comment_threshold"),
        remote=values.get("remote") or "origin",
        forge=forge.value if isinstance(forge, ForgeName) else forge,
        forge_url=values.get("forge_url"),
    )


# Options that mean something only with delivery through git, and what turns it on. A config file
# may hold them as defaults for when delivery is on: only the command line counts.
_DELIVERY_ONLY = {
    "branch": "--git-commit or --create-pr",
    "pr_strategy": "--create-pr",
    "pr_base": "--create-pr",
    "pr_comment_threshold": "--create-pr",
    "remote": "--create-pr",
    "forge": "--create-pr",
    "forge_url": "--create-pr",
}


def refuse_delivery_options_without_delivery(ctx: typer.Context, values: Mapping[str, Any]) -> None:
    """A git option given on the command line while nothing is committed or pushed is refused:
    ignored, `--branch NAME` would let the user believe the fixes were committed there."""
    commit, create_pr = values.get("git_commit") is not None, bool(values.get("create_pr"))
    for name, needs in _DELIVERY_ONLY.items():
        on = create_pr or (commit and needs.startswith("--git-commit"))
        if not on and given(ctx, name):
            raise UserError(f"--{name.replace('_', '-')} only applies with {needs}")
