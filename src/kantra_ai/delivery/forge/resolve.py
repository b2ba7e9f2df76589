"""Which forge hosts a remote, where its API is, which repository, and the token for it.

The forge is named by `--forge`, else told by the remote URL's host (github.com and hosts with
"github" in their name are GitHub; gitlab.com and hosts with "gitlab" are GitLab), else by the
path of `--forge-url` (`/api/v3` GitHub Enterprise, `/api/v4` GitLab). Tokens come only from the
environment: GITHUB_TOKEN or GH_TOKEN, GITLAB_TOKEN.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from kantra_ai.bounds import http_url_problem
from kantra_ai.delivery.forge.api import Forge

TOKEN_VARIABLES = {"github": ("GITHUB_TOKEN", "GH_TOKEN"), "gitlab": ("GITLAB_TOKEN",)}
FORGES = ("github", "gitlab")


class ForgeConfigError(Exception):
    """The forge cannot be told, reached or authenticated to from the options; one line."""


@dataclass(frozen=True)
class ForgeTarget:
    kind: str  # github | gitlab
    api: str
    repository: str  # owner/name; GitLab: namespace/.../project
    token: str
    token_variable: str

    def open(self, *, sleep: Callable[[float], None] | None = None) -> Forge:
        # Imported here: the HTTP client loads only in a run that talks to a forge.
        from kantra_ai.delivery.forge.github import GitHub
        from kantra_ai.delivery.forge.gitlab import GitLab

        if self.kind == "github":
            return GitHub(self.api, self.repository, self.token, self.token_variable, sleep=sleep)
        return GitLab(self.api, self.repository, self.token, self.token_variable, sleep=sleep)


def split_remote(url: str) -> tuple[str, str]:
    """(host, repository path without .git) of a remote URL: https://, ssh://, or scp-like git@host:path."""
    scp = re.match(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$", url)
    if "://" not in url and scp:
        host, path = scp.group(1), scp.group(2)
    else:
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
    path = path.strip("/")
    path = path.removesuffix(".git")
    return host.lower(), path


def _kind_of(host: str, forge_url: str | None) -> str | None:
    if host == "github.com" or "github" in host:
        return "github"
    if host == "gitlab.com" or "gitlab" in host:
        return "gitlab"
    if forge_url:
        path = urlsplit(forge_url).path.rstrip("/")
        if path.endswith("/api/v3"):
            return "github"
        if path.endswith("/api/v4"):
            return "gitlab"
    return None


def _api(kind: str, host: str, forge_url: str | None) -> str:
    if forge_url:
        url = forge_url.rstrip("/")
        if kind == "gitlab" and not urlsplit(url).path.rstrip("/").endswith("/api/v4"):
            url += "/api/v4"  # a GitLab instance's address given, not its API's
        return url
    if kind == "github":
        return "https://api.github.com" if host == "github.com" else f"https://{host}/api/v3"
    return f"https://{host}/api/v4"


def resolve_forge(
    remote: str, url: str | None, forge: str | None, forge_url: str | None, env: Mapping[str, str]
) -> ForgeTarget:
    if url is None:
        raise ForgeConfigError(
            f"--create-pr: the repository has no remote {remote!r} "
            "(add it with `git remote add`, or pass --remote)"
        )
    problem = http_url_problem(forge_url) if forge_url else None
    if problem:
        raise ForgeConfigError(f"--forge-url {forge_url}: {problem}")
    host, repository = split_remote(url)
    kind = forge or _kind_of(host, forge_url)
    if kind not in FORGES:
        raise ForgeConfigError(
            f"--create-pr: cannot tell which forge hosts remote {remote!r} ({host or url}); "
            "pass --forge github or --forge gitlab (and --forge-url for a self-hosted one)"
        )
    if not repository or (kind == "github" and repository.count("/") != 1):
        raise ForgeConfigError(
            f"--create-pr: remote {remote!r} ({url}) does not name a {kind} repository as owner/name"
        )
    variables = TOKEN_VARIABLES[kind]
    token_variable = next((v for v in variables if env.get(v)), None)
    if token_variable is None:
        raise ForgeConfigError(
            f"--create-pr: set {' or '.join(variables)} to open "
            f"{'pull' if kind == 'github' else 'merge'} requests on {host or kind}"
        )
    return ForgeTarget(kind, _api(kind, host, forge_url), repository, env[token_variable], token_variable)
