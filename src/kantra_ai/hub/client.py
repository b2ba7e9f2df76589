"""The Konveyor Hub's REST API, the few endpoints the addon uses (tackle2-hub `shared/api`):

    GET    /tasks/:id                            the task: its application, data, state
    GET    /applications/:id                     name, repository (kind, url, branch, path)
    GET    /applications/:id/identities          the application's identities (?filter=role='source')
    GET    /applications/:id/analysis/insights   the latest analysis' insights with their incidents
    DELETE /tasks/:id/report, POST/PUT /tasks/:id/report   the task report: status, activity, progress
    POST   /files/:name                          upload an attachment (multipart field "file")
    PUT    /applications/:id/facts/:source:key   a fact about the application

Authorization is the addon's bearer token (`TOKEN` in its pod). The token is never printed: every
error message goes through `masked`, and the token is held only by the HTTP client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kantra_ai.delivery.forge.rest import error_message, masked

TIMEOUT_SECONDS = 60.0
ATTEMPTS = 3


class HubError(Exception):
    """The Hub refused or could not be reached; one line without the token."""


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Ref(Model):
    id: int
    name: str = ""


class Task(Model):
    id: int
    name: str = ""
    addon: str = ""
    state: str = ""
    application: Ref | None = None
    data: Any = None
    retries: int = 0


class Repository(Model):
    kind: str = ""
    url: str = ""
    branch: str = ""
    tag: str = ""
    path: str = ""


class IdentityRef(Model):
    id: int
    role: str = ""
    name: str = ""


class Application(Model):
    id: int
    name: str
    repository: Repository | None = None
    identities: list[IdentityRef] = Field(default_factory=list)


class Identity(Model):
    id: int
    kind: str = ""
    name: str = ""
    user: str = ""
    password: str = ""
    key: str = ""


class HubIncident(Model):
    file: str = ""
    line: int = 0
    message: str = ""
    code_snip: str = Field("", alias="codeSnip")


class Link(Model):
    url: str = ""
    title: str = ""


class Insight(Model):
    ruleset: str
    rule: str
    name: str = ""
    description: str = ""
    category: str = ""
    effort: int = 0
    incidents: list[HubIncident] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    labels: list[str] | None = None


class NoAnalysis(HubError):
    """The application has no analysis on the Hub."""


class HubClient:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self._secrets = (token,)
        self._http = httpx2.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "kantra-ai"},
            timeout=TIMEOUT_SECONDS,
        )

    def close(self) -> None:
        self._http.close()

    def _fail(self, text: str) -> HubError:
        return HubError(masked(" ".join(text.split()), self._secrets))

    def _request(
        self, method: str, path: str, action: str, *, accept: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx2.Response:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx2.HTTPError as exc:
                if attempt < ATTEMPTS:
                    time.sleep(attempt)
                    continue
                raise self._fail(f"the Hub at {self.url} cannot be reached to {action}: {exc}") from None
            status = response.status_code
            if status < 300 or status in accept:
                return response
            if status in (429, 502, 503, 504) and attempt < ATTEMPTS:
                time.sleep(attempt)
                continue
            if status == 401:
                raise self._fail(f"the Hub refused the addon's token (401) to {action}: wrong or expired")
            if status == 403:
                raise self._fail(f"the Hub's token may not {action} (403)")
            raise self._fail(f"the Hub answered {status} to {action}: {error_message(response)}")
        raise AssertionError("unreachable")

    def _model(self, response: httpx2.Response, kind: type[Any], action: str) -> Any:
        try:
            data = response.json()
            if isinstance(data, list):
                return [kind.model_validate(item) for item in data]
            return kind.model_validate(data)
        except (ValueError, ValidationError) as exc:
            raise self._fail(
                f"unexpected answer from the Hub to {action}: {str(exc).splitlines()[0]}"
            ) from None

    # -- reading ---------------------------------------------------------------------------------

    def task(self, task_id: int) -> Task:
        action = f"read task {task_id}"
        result: Task = self._model(self._request("GET", f"/tasks/{task_id}", action), Task, action)
        return result

    def application(self, app_id: int) -> Application:
        action = f"read application {app_id}"
        result: Application = self._model(
            self._request("GET", f"/applications/{app_id}", action), Application, action
        )
        return result

    def source_identity(self, app_id: int) -> Identity | None:
        """The application's identity for its source repository (role `source`), decrypted."""
        action = f"read the identities of application {app_id}"
        response = self._request(
            "GET",
            f"/applications/{app_id}/identities",
            action,
            params={"filter": "role='source'", "decrypted": "1"},
        )
        found: list[Identity] = self._model(response, Identity, action)
        return found[0] if found else None

    def latest_insights(self, app_id: int) -> list[Insight]:
        """The latest analysis' insights, incidents included; NoAnalysis when there is none."""
        action = f"read the latest analysis of application {app_id}"
        response = self._request("GET", f"/applications/{app_id}/analysis/insights", action, accept=(404,))
        if response.status_code == 404:
            raise NoAnalysis(f"application {app_id} has no analysis on the Hub: analyze it first")
        found: list[Insight] = self._model(response, Insight, action)
        return found

    # -- writing ---------------------------------------------------------------------------------

    def report(self, task_id: int, report: Mapping[str, Any], *, create: bool) -> None:
        method = "POST" if create else "PUT"
        self._request(method, f"/tasks/{task_id}/report", f"report on task {task_id}", json=dict(report))

    def delete_report(self, task_id: int) -> None:
        self._request("DELETE", f"/tasks/{task_id}/report", f"reset task {task_id}'s report", accept=(404,))

    def upload(self, path: Path, name: str) -> Ref:
        action = f"upload {name}"
        with path.open("rb") as handle:
            response = self._request("POST", f"/files/{name}", action, files={"file": (name, handle)})
        result: Ref = self._model(response, Ref, action)
        return result

    def put_fact(self, app_id: int, key: str, value: Any) -> None:
        self._request(
            "PUT",
            f"/applications/{app_id}/facts/{key}",
            f"record the fact {key}",
            content=json.dumps(value),
            headers={"Content-Type": "application/json"},
        )
