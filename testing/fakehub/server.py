"""A fake Konveyor Hub: a loopback HTTP server speaking the tackle2-hub REST endpoints an addon uses,
with tasks, applications, identities and analyses held in memory, every call recorded.

    with FakeHub(token="hub-test-token") as hub:
        app = hub.add_application("inventory", repository={"kind": "git", "url": "file:///..."})
        hub.add_analysis(app, insights)        # api.Insight documents, incidents included
        task = hub.add_task(app, data={...})
        ... TASK=task HUB_BASE_URL=hub.url TOKEN=hub.token kantra-ai hub-addon ...
        hub.report(task)["status"] == "Succeeded"

Routes (tackle2-hub `shared/api/pkg.go`; shapes from `shared/api/task.go`, `application.go`,
`analysis.go`, `core.go`):

    GET  /tasks/:id                 GET /applications/:id          GET /applications/:id/identities
    GET  /applications/:id/analysis/insights   (404 without an analysis, as gorm's record-not-found)
    POST, PUT, DELETE /tasks/:id/report        (the addon's report; every push is kept)
    POST /files/:name               (multipart, field "file"; 201 with the api.File)
    GET  /files/:id                 PUT /applications/:id/facts/:key

Like the Hub, it answers 401 to a request without the task's bearer token. It shares nothing with
kantra-ai's Hub client: the routes and answers follow the Hub's Go API types.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    token: str
    status: int


@dataclass
class _State:
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    applications: dict[int, dict[str, Any]] = field(default_factory=dict)
    identities: dict[int, dict[str, Any]] = field(default_factory=dict)
    analyses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # application -> insights
    reports: dict[int, dict[str, Any]] = field(default_factory=dict)  # task -> its report now
    pushes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # task -> every push
    files: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    facts: dict[tuple[int, str], Any] = field(default_factory=dict)
    next_id: int = 1


class FakeHub:
    def __init__(self, *, token: str = "hub-test-token") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.state = _State()
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        # (method, path pattern, status, body, answers left: None for every matching call)
        self._scripted: list[list[Any]] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeHub:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._http is not None, "start the fake hub first"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def fail(
        self, method: str, path_pattern: str, status: int, body: Any, *, times: int | None = None
    ) -> None:
        """Answer every call matching (method, regex on the path) with this; "{token}" in the body
        is replaced by the token the client sent (a Hub that echoes it must not make the addon
        print it). `times`: only that many matching calls fail (a Hub that recovers)."""
        self._scripted.append([method, re.compile(path_pattern), status, body, times])

    # -- the Hub's contents ----------------------------------------------------------------------

    def _id(self) -> int:
        self.state.next_id += 1
        return self.state.next_id

    def add_application(
        self, name: str, *, repository: dict[str, Any], identity: dict[str, Any] | None = None
    ) -> int:
        app_id = self._id()
        identities = []
        if identity is not None:
            ident_id = self._id()
            self.state.identities[ident_id] = {"id": ident_id, "kind": "source", **identity}
            identities.append({"id": ident_id, "role": "source", "name": identity.get("name", "")})
        self.state.applications[app_id] = {
            "id": app_id, "name": name, "description": "", "repository": repository, "binary": "",
            "identities": identities, "tags": [], "effort": 0, "comments": "",
        }  # fmt: skip
        return app_id

    def add_analysis(self, app_id: int, insights: list[dict[str, Any]]) -> None:
        analysis = self._id()
        self.state.analyses[app_id] = [{"id": self._id(), "analysis": analysis, **i} for i in insights]

    def add_task(self, app_id: int, *, data: Any = None) -> int:
        task_id = self._id()
        self.state.tasks[task_id] = {
            "id": task_id, "name": f"kantra-ai-{app_id}", "kind": "", "addon": "kantra-ai",
            "state": "Running",
            "application": {"id": app_id, "name": self.state.applications[app_id]["name"]},
            "data": data, "retries": 0, "attached": [],
        }  # fmt: skip
        return task_id

    def requeue(self, task_id: int) -> None:
        """What the Hub does when the task's pod died: the task runs again in a new pod."""
        self.state.tasks[task_id]["retries"] += 1

    def report(self, task_id: int) -> dict[str, Any]:
        return dict(self.state.reports.get(task_id, {}))

    def pushes(self, task_id: int) -> list[dict[str, Any]]:
        return list(self.state.pushes.get(task_id, []))

    def file(self, file_id: int) -> tuple[str, bytes]:
        return self.state.files[file_id]

    def fact(self, app_id: int, key: str) -> Any:
        return self.state.facts.get((app_id, key))

    # -- answering -------------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: dict[str, str], token: str, body: bytes, content_type: str
    ) -> tuple[int, Any]:
        if token != self.token:
            return 401, {"error": "Unauthorized"}
        with self._lock:
            for entry in self._scripted:
                scripted_method, pattern, status, scripted, left = entry
                if scripted_method == method and pattern.search(path) and (left is None or left > 0):
                    if left is not None:
                        entry[4] = left - 1
                    return status, json.loads(json.dumps(scripted).replace("{token}", token))
        parts = path.strip("/").split("/")
        with self._lock:
            if parts[0] == "tasks" and len(parts) >= 2 and parts[1].isdigit():
                return self._task(method, int(parts[1]), parts[2:], body)
            if parts[0] == "applications" and len(parts) >= 2 and parts[1].isdigit():
                return self._application(method, int(parts[1]), parts[2:], query, body)
            if parts[0] == "files" and len(parts) == 2:
                return self._files(method, parts[1], body, content_type)
        return 404, {"error": "not found"}

    def _task(self, method: str, task_id: int, rest: list[str], body: bytes) -> tuple[int, Any]:
        task = self.state.tasks.get(task_id)
        if task is None:
            return 404, {"error": "record not found"}
        if not rest and method == "GET":
            return 200, {**task, **({"activity": self.state.reports.get(task_id, {}).get("activity", [])})}
        if rest == ["report"]:
            if method == "DELETE":
                self.state.reports.pop(task_id, None)
                return 204, None
            if method in ("POST", "PUT"):
                report = json.loads(body)
                if not isinstance(report, dict) or "status" not in report:
                    return 400, {"error": "status: required"}
                if method == "PUT" and task_id not in self.state.reports:
                    return 404, {"error": "record not found"}
                report["id"] = self.state.reports.get(task_id, {}).get("id") or self._id()
                report["task"] = task_id
                self.state.reports[task_id] = report
                self.state.pushes.setdefault(task_id, []).append(report)
                task["attached"] = report.get("attached", [])
                return (201 if method == "POST" else 200), report
        return 404, {"error": "not found"}

    def _application(
        self, method: str, app_id: int, rest: list[str], query: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        app = self.state.applications.get(app_id)
        if app is None:
            return 404, {"error": "record not found"}
        if not rest and method == "GET":
            return 200, app
        if rest == ["identities"] and method == "GET":
            role = re.fullmatch(r"role='?(\w+)'?", query.get("filter", ""))
            found = []
            for ref in app["identities"]:
                if role is None or ref["role"] == role.group(1):
                    identity = dict(self.state.identities[ref["id"]])
                    if query.get("decrypted") != "1":
                        identity["password"] = identity.get("password") and "ENCRYPTED"
                    found.append(identity)
            return 200, found
        if rest == ["analysis", "insights"] and method == "GET":
            if app_id not in self.state.analyses:
                return 404, {"error": "record not found"}
            return 200, self.state.analyses[app_id]
        if len(rest) == 2 and rest[0] == "facts" and method == "PUT":
            self.state.facts[(app_id, unquote(rest[1]))] = json.loads(body)
            return 204, None
        return 404, {"error": "not found"}

    def _files(self, method: str, name: str, body: bytes, content_type: str) -> tuple[int, Any]:
        if method == "POST":
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + body
            )
            for part in message.iter_parts():
                if part.get_param("name", header="content-disposition") == "file":
                    file_id = self._id()
                    content = part.get_payload(decode=True)
                    self.state.files[file_id] = (unquote(name), bytes(content or b""))
                    return 201, {"id": file_id, "name": unquote(name), "path": f"/files/{file_id}"}
            return 400, {"error": "file: required"}
        if method == "GET" and name.isdigit() and int(name) in self.state.files:
            return 200, self.state.files[int(name)][1].decode("utf-8", "replace")
        return 404, {"error": "not found"}


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        try:
            status, answer = self.hub.answer(
                self.command, url.path, query, token, body, self.headers.get("Content-Type", "")
            )
        except (ValueError, KeyError) as exc:
            status, answer = 400, {"error": str(exc)}
        self.hub.calls.append(Call(self.command, url.path, query, token, status))
        data = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _handle
