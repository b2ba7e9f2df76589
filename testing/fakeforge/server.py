"""A fake forge: a loopback HTTP server speaking the GitHub and GitLab REST endpoints kantra-ai uses
for pull (merge) requests, keeping them in memory and recording every call.

    with FakeForge(token="ghp-test", remote=bare_repo) as forge:
        ... kantra-ai --create-pr --forge-url forge.github_api (or forge.gitlab_url) ...
        assert [c.method for c in forge.calls] == [...]

GitHub at `/api/v3` (as GitHub Enterprise): list, create and update pulls, list and create review
comments. GitLab at `/gitlab/api/v4`: list, get, create and update merge requests, list and create
discussions. Like the real forges, it refuses a wrong token (401), a pull request whose head branch
was not pushed (422, read from the bare `remote` repository), and a second open one for the same head
(GitHub 422, GitLab 409). `fail(...)` scripts answers (401, 403, 422, 429 with retry-after, ...) for
the next matching calls; "{token}" in a scripted body is replaced by the token the client sent (a
forge that echoes it must not make kantra-ai print it).

It shares nothing with kantra-ai's clients: the routes and answers follow the forges' API documents.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

GITHUB_PREFIX = "/api/v3"
GITLAB_PREFIX = "/gitlab/api/v4"


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # decoded, without the query
    query: dict[str, str]
    body: Any
    token: str  # the credential the client sent ("" none)
    status: int = 0  # what the fake answered
    at: float = 0.0  # time.time() when it arrived


@dataclass
class Scripted:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class _State:
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # GitHub repo -> pulls
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    merge_requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # GitLab project -> MRs
    discussions: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)


class FakeForge:
    def __init__(self, *, token: str = "forge-test-token", remote: Path | None = None) -> None:
        self.token = token
        self.remote = remote
        self.calls: list[Call] = []
        self.state = _State()
        self._scripted: list[Scripted] = []
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeForge:
        handler = type("Handler", (_Handler,), {"forge": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> FakeForge:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._http is not None, "start the fake forge first"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def github_api(self) -> str:
        return self.url + GITHUB_PREFIX

    @property
    def gitlab_url(self) -> str:
        return self.url + "/gitlab"

    # -- scripting and reading -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls matching (method, regex on the path) with this."""
        with self._lock:
            self._scripted.append(
                Scripted(method, re.compile(path_pattern), status, body, dict(headers or {}), times)
            )

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        return list(self.state.pulls.get(repo, []))

    def merge_requests(self, project: str) -> list[dict[str, Any]]:
        return list(self.state.merge_requests.get(project, []))

    def review_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return list(self.state.comments.get((repo, number), []))

    def discussions(self, project: str, iid: int) -> list[dict[str, Any]]:
        return list(self.state.discussions.get((project, iid), []))

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    # -- the remote ------------------------------------------------------------------------------

    def _branch_sha(self, branch: str) -> str | None:
        if self.remote is None:
            return "0" * 40
        done = subprocess.run(
            ["git", "--git-dir", str(self.remote), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() or None

    # -- answering -------------------------------------------------------------------------------

    def answer(self, call: Call) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            for scripted in self._scripted:
                if (
                    scripted.times > 0
                    and scripted.method == call.method
                    and scripted.pattern.search(call.path)
                ):
                    scripted.times -= 1
                    body = json.loads(json.dumps(scripted.body).replace("{token}", call.token))
                    return scripted.status, body, scripted.headers
            if call.path.startswith(GITHUB_PREFIX):
                if call.token != self.token:
                    return 401, {"message": "Bad credentials"}, {}
                return self._github(call)
            if call.path.startswith(GITLAB_PREFIX):
                if call.token != self.token:
                    return 401, {"message": "401 Unauthorized"}, {}
                return self._gitlab(call)
            return 404, {"message": "Not Found"}, {}

    def _github(self, call: Call) -> tuple[int, Any, dict[str, str]]:
        parts = call.path[len(GITHUB_PREFIX) :].strip("/").split("/")
        if len(parts) < 4 or parts[0] != "repos" or parts[3] != "pulls":
            return 404, {"message": "Not Found"}, {}
        repo = f"{parts[1]}/{parts[2]}"
        pulls = self.state.pulls.setdefault(repo, [])
        rest = parts[4:]
        if not rest and call.method == "GET":
            head = call.query.get("head", "")
            found = [p for p in pulls if not head or f"{parts[1]}:{p['head']['ref']}" == head]
            return 200, found, {}
        if not rest and call.method == "POST":
            body = call.body or {}
            missing = [k for k in ("title", "head", "base") if not body.get(k)]
            if missing:
                return (
                    422,
                    {"message": "Validation Failed", "errors": [{"field": missing[0], "code": "missing"}]},
                    {},
                )
            head_sha = self._branch_sha(body["head"])
            if head_sha is None:
                errors = [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
                return 422, {"message": "Validation Failed", "errors": errors}, {}
            if self._branch_sha(body["base"]) is None:
                errors = [{"resource": "PullRequest", "field": "base", "code": "invalid"}]
                return 422, {"message": "Validation Failed", "errors": errors}, {}
            if any(p["head"]["ref"] == body["head"] and p["state"] == "open" for p in pulls):
                message = f"A pull request already exists for {parts[1]}:{body['head']}."
                return 422, {"message": "Validation Failed", "errors": [{"message": message}]}, {}
            number = len(pulls) + 1
            made: dict[str, Any] = {
                "number": number,
                "state": "open",
                "title": body["title"],
                "body": body.get("body"),
                "html_url": f"https://github.example/{repo}/pull/{number}",
                "head": {"ref": body["head"], "sha": head_sha},
                "base": {"ref": body["base"], "sha": self._branch_sha(body["base"]) or ""},
            }
            pulls.append(made)
            return 201, made, {}
        pull = next((p for p in pulls if rest and str(p["number"]) == rest[0]), None)
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        if len(rest) == 1 and call.method == "PATCH":
            pull.update({k: v for k, v in (call.body or {}).items() if k in ("body", "title", "state")})
            return 200, pull, {}
        if rest[1:] == ["comments"]:
            comments = self.state.comments.setdefault((repo, pull["number"]), [])
            if call.method == "GET":
                return 200, comments, {}
            body = call.body or {}
            if not all(body.get(k) for k in ("body", "commit_id", "path", "line")):
                return 422, {"message": "Validation Failed"}, {}
            comment = {"id": len(comments) + 1, **body}
            comments.append(comment)
            return 201, comment, {}
        return 404, {"message": "Not Found"}, {}

    def _gitlab(self, call: Call) -> tuple[int, Any, dict[str, str]]:
        parts = [unquote(p) for p in call.path[len(GITLAB_PREFIX) :].strip("/").split("/")]
        if len(parts) < 3 or parts[0] != "projects" or parts[2] != "merge_requests":
            return 404, {"message": "404 Project Not Found"}, {}
        project = parts[1]
        mrs = self.state.merge_requests.setdefault(project, [])
        rest = parts[3:]
        if not rest and call.method == "GET":
            source = call.query.get("source_branch")
            return 200, [m for m in mrs if source is None or m["source_branch"] == source], {}
        if not rest and call.method == "POST":
            body = call.body or {}
            if not all(body.get(k) for k in ("source_branch", "target_branch", "title")):
                return (
                    400,
                    {"message": "400 Bad request - source_branch, target_branch, title are missing"},
                    {},
                )
            sha = self._branch_sha(body["source_branch"])
            if sha is None:
                return 422, {"message": ["Source branch does not exist"]}, {}
            if any(m["source_branch"] == body["source_branch"] and m["state"] == "opened" for m in mrs):
                existing = next(m["iid"] for m in mrs if m["source_branch"] == body["source_branch"])
                message = [f"Another open merge request already exists for this source branch: !{existing}"]
                return 409, {"message": message}, {}
            iid = len(mrs) + 1
            target_sha = self._branch_sha(body["target_branch"]) or ""
            new_mr: dict[str, Any] = {
                "iid": iid,
                "state": "opened",
                "title": body["title"],
                "description": body.get("description"),
                "web_url": f"https://gitlab.example/{project}/-/merge_requests/{iid}",
                "source_branch": body["source_branch"],
                "target_branch": body["target_branch"],
                "sha": sha,
                "diff_refs": {"base_sha": target_sha, "head_sha": sha, "start_sha": target_sha},
            }
            mrs.append(new_mr)
            return 201, new_mr, {}
        mr = next((m for m in mrs if rest and str(m["iid"]) == rest[0]), None)
        if mr is None:
            return 404, {"message": "404 Not found"}, {}
        if len(rest) == 1 and call.method == "GET":
            return 200, mr, {}
        if len(rest) == 1 and call.method == "PUT":
            mr.update({k: v for k, v in (call.body or {}).items() if k in ("description", "title")})
            return 200, mr, {}
        if rest[1:] == ["discussions"]:
            discussions = self.state.discussions.setdefault((project, mr["iid"]), [])
            if call.method == "GET":
                return 200, discussions, {}
            body = call.body or {}
            position = body.get("position") or {}
            if not body.get("body") or not position.get("new_path") or not position.get("new_line"):
                return 400, {"message": "400 Bad request"}, {}
            discussion = {
                "id": str(len(discussions) + 1),
                "notes": [{"body": body["body"], "position": position}],
            }
            discussions.append(discussion)
            return 201, discussion, {}
        return 404, {"message": "404 Not found"}, {}


class _Handler(BaseHTTPRequestHandler):
    forge: FakeForge
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _token(self) -> str:
        auth = self.headers.get("Authorization", "")
        for scheme in ("Bearer ", "token "):
            if auth.startswith(scheme):
                return auth[len(scheme) :]
        return self.headers.get("PRIVATE-TOKEN", "")

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        call = Call(self.command, parts.path, query, body, self._token(), 0, time.time())
        status, answer, headers = self.forge.answer(call)
        with self.forge._lock:
            self.forge.calls.append(
                Call(call.method, call.path, call.query, call.body, call.token, status, call.at)
            )
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _handle
    do_POST = _handle
    do_PATCH = _handle
    do_PUT = _handle
