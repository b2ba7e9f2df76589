"""GitHub (and GitHub Enterprise at `https://HOST/api/v3`): pull requests over the REST API."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from kantra_ai.delivery.forge.api import PullRequest
from kantra_ai.delivery.forge.rest import Http, Reply, error_message

API_VERSION = "2022-11-28"


class _Ref(Reply):
    ref: str
    sha: str = ""


class _Pull(Reply):
    number: int
    html_url: str
    body: str | None = None
    head: _Ref
    base: _Ref


class _Comment(Reply):
    body: str = ""


def _pr(pull: _Pull) -> PullRequest:
    return PullRequest(
        pull.number, pull.html_url, pull.head.ref, pull.base.ref, pull.body or "", pull.head.sha
    )


class GitHub:
    name = "GitHub"
    kind = "pull request"

    def __init__(
        self,
        api: str,
        repository: str,
        token: str,
        token_hint: str,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.owner, _, self.repo = repository.partition("/")
        self.repository = repository
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }
        kwargs = {"sleep": sleep} if sleep is not None else {}
        self.http = Http("GitHub", api, headers, (token,), token_hint, **kwargs)
        self.base_path = f"/repos/{quote(self.owner, safe='')}/{quote(self.repo, safe='')}"

    def close(self) -> None:
        self.http.close()

    def find(self, head: str) -> PullRequest | None:
        action = f"look up the pull request of {head} in {self.repository}"
        response = self.http.request(
            "GET",
            f"{self.base_path}/pulls",
            action=action,
            params={"head": f"{self.owner}:{head}", "state": "all", "per_page": "100"},
        )
        pulls = [p for p in self.http.models(response, _Pull, action) if p.head.ref == head]
        return _pr(pulls[0]) if pulls else None

    def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        action = f"open a pull request from {head} into {base} in {self.repository}"
        response = self.http.request(
            "POST",
            f"{self.base_path}/pulls",
            action=action,
            json={"title": title, "head": head, "base": base, "body": body},
            accept=(422,),
        )
        if response.status_code == 422:
            existing = self.find(head)  # "A pull request already exists for owner:head."
            if existing is not None:
                return existing
            raise self.http.fail(f"422 to {action}: {error_message(response)}")
        return _pr(self.http.model(response, _Pull, action))

    def update_body(self, pr: PullRequest, body: str) -> None:
        self.http.request(
            "PATCH",
            f"{self.base_path}/pulls/{pr.number}",
            action=f"update the description of pull request #{pr.number}",
            json={"body": body},
        )

    def comment_bodies(self, pr: PullRequest) -> list[str]:
        action = f"read the review comments of pull request #{pr.number}"
        response = self.http.request(
            "GET", f"{self.base_path}/pulls/{pr.number}/comments", action=action, params={"per_page": "100"}
        )
        return [c.body for c in self.http.models(response, _Comment, action)]

    def comment(self, pr: PullRequest, path: str, line: int, body: str, head_sha: str) -> None:
        self.http.request(
            "POST",
            f"{self.base_path}/pulls/{pr.number}/comments",
            action=f"comment on {path}:{line} in pull request #{pr.number}",
            json={"body": body, "commit_id": head_sha, "path": path, "line": line, "side": "RIGHT"},
        )
