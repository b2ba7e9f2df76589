"""GitLab (gitlab.com or self-hosted, API v4): merge requests."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from pydantic import Field

from kantra_ai.delivery.forge.api import PullRequest
from kantra_ai.delivery.forge.rest import Http, Reply, error_message


class _DiffRefs(Reply):
    base_sha: str | None = None
    head_sha: str | None = None
    start_sha: str | None = None


class _MergeRequest(Reply):
    iid: int
    web_url: str
    description: str | None = None
    source_branch: str
    target_branch: str
    sha: str | None = None
    diff_refs: _DiffRefs | None = None


class _Note(Reply):
    body: str = ""


class _Discussion(Reply):
    notes: list[_Note] = Field(default_factory=list)


def _pr(mr: _MergeRequest) -> PullRequest:
    return PullRequest(
        mr.iid, mr.web_url, mr.source_branch, mr.target_branch, mr.description or "", mr.sha or ""
    )


class GitLab:
    name = "GitLab"
    kind = "merge request"

    def __init__(
        self,
        api: str,
        repository: str,
        token: str,
        token_hint: str,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.repository = repository
        kwargs = {"sleep": sleep} if sleep is not None else {}
        self.http = Http("GitLab", api, {"PRIVATE-TOKEN": token}, (token,), token_hint, **kwargs)
        self.base_path = f"/projects/{quote(repository, safe='')}"

    def close(self) -> None:
        self.http.close()

    def find(self, head: str) -> PullRequest | None:
        action = f"look up the merge request of {head} in {self.repository}"
        response = self.http.request(
            "GET",
            f"{self.base_path}/merge_requests",
            action=action,
            params={"source_branch": head, "state": "all", "per_page": "100"},
        )
        found = [m for m in self.http.models(response, _MergeRequest, action) if m.source_branch == head]
        return _pr(found[0]) if found else None

    def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        action = f"open a merge request from {head} into {base} in {self.repository}"
        response = self.http.request(
            "POST",
            f"{self.base_path}/merge_requests",
            action=action,
            json={"source_branch": head, "target_branch": base, "title": title, "description": body},
            accept=(409, 422),
        )
        if response.status_code in (409, 422):
            existing = self.find(head)  # "Another open merge request already exists for this source branch"
            if existing is not None:
                return existing
            raise self.http.fail(f"{response.status_code} to {action}: {error_message(response)}")
        return _pr(self.http.model(response, _MergeRequest, action))

    def update_body(self, pr: PullRequest, body: str) -> None:
        self.http.request(
            "PUT",
            f"{self.base_path}/merge_requests/{pr.number}",
            action=f"update the description of merge request !{pr.number}",
            json={"description": body},
        )

    def comment_bodies(self, pr: PullRequest) -> list[str]:
        action = f"read the discussions of merge request !{pr.number}"
        response = self.http.request(
            "GET",
            f"{self.base_path}/merge_requests/{pr.number}/discussions",
            action=action,
            params={"per_page": "100"},
        )
        return [n.body for d in self.http.models(response, _Discussion, action) for n in d.notes]

    def comment(self, pr: PullRequest, path: str, line: int, body: str, head_sha: str) -> None:
        action = f"read merge request !{pr.number}"
        response = self.http.request("GET", f"{self.base_path}/merge_requests/{pr.number}", action=action)
        refs = self.http.model(response, _MergeRequest, action).diff_refs or _DiffRefs()
        position = {
            "position_type": "text",
            "base_sha": refs.base_sha,
            "start_sha": refs.start_sha,
            "head_sha": refs.head_sha or head_sha,
            "old_path": path,
            "new_path": path,
            "new_line": line,
        }
        self.http.request(
            "POST",
            f"{self.base_path}/merge_requests/{pr.number}/discussions",
            action=f"comment on {path}:{line} in merge request !{pr.number}",
            json={"body": body, "position": position},
        )
