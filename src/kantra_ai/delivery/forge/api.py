"""What kantra-ai asks of a forge (GitHub, GitLab), with no HTTP in it: imported by every run that
delivers through git, while the clients (and their HTTP library) load only when a forge is used."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ForgeError(Exception):
    """A forge refused or failed a request; one line, without secrets."""


@dataclass(frozen=True)
class PullRequest:
    number: int  # GitHub's number, GitLab's iid
    url: str
    head: str
    base: str
    body: str
    head_sha: str = ""


class Forge(Protocol):
    name: str  # "GitHub", "GitLab"
    kind: str  # "pull request", "merge request"

    def find(self, head: str) -> PullRequest | None:
        """The open or closed pull request from branch `head`, if any."""

    def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open one; one that already exists for `head` is returned instead."""

    def update_body(self, pr: PullRequest, body: str) -> None: ...

    def comment_bodies(self, pr: PullRequest) -> list[str]:
        """The bodies of the review comments it has."""

    def comment(self, pr: PullRequest, path: str, line: int, body: str, head_sha: str) -> None:
        """A review comment on `line` of the new version of `path`."""

    def close(self) -> None: ...
