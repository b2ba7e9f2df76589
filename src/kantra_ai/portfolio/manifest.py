"""The portfolio manifest (YAML): the applications, where each comes from, its analysis, delivery,
verification and option overrides. Validated with pydantic; a bad manifest is one line naming the
key (`UserError`, exit 2) and nothing runs.

    workspace: .kantra-ai-portfolio     # relative to the manifest: one folder per application
    max-apps: 2                         # applications at a time (--max-apps)
    max-cost: 10.0                      # the whole portfolio (--max-cost)
    max-cost-per-app: 2.0               # each application (--max-cost-per-app)
    rate-limits: "rpm=1000,itpm=450k,otpm=90k"   # shared by every application (--rate-limits)
    store: postgresql://kantra@db/kantra         # every application's run store (--store; default SQLite)
    settings: {provider: {name: claude}}         # .kantra-ai.yaml keys for every application
    apps:
      - name: inventory
        source: https://github.com/acme/inventory.git   # or a local path (relative to the manifest)
        ref: main
        analysis: analyses/inventory/output.yaml        # or analysis-command: "kantra analyze ..."
        branch: kantra-ai/jakarta
        verify: mvn -q -o compile
        cpus: 2                                         # the build's parallelism (Ray's CPU request)
        settings: {git: {create-pr: true}, filters: {categories: [mandatory]}}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kantra_ai._fs import folder_problem
from kantra_ai.config.settings import Settings
from kantra_ai.errors import UserError
from kantra_ai.portfolio.unit import AppSpec, refuse_unsupported
from kantra_ai.redact import url_password
from kantra_ai.store.postgres import display_url, is_postgres_url

DEFAULT_WORKSPACE = ".kantra-ai-portfolio"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=_kebab, validate_by_alias=True, validate_by_name=True, frozen=True
    )


class AppEntry(_Model):
    name: str
    source: str
    ref: str | None = None
    analysis: str | None = None
    analysis_command: str | None = None
    branch: str | None = None
    verify: str | None = None
    cpus: float = Field(default=1.0, gt=0)
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        if not _NAME.match(value) or value in (".", ".."):
            raise ValueError("letters, digits, '.', '_' and '-' only (it names the application's folder)")
        return value

    @field_validator("source")
    @classmethod
    def _no_password(cls, value: str) -> str:
        # Cloned with it, git keeps the URL as the copy's remote: the password would sit in the
        # workspace's .git/config as well as in a manifest that is shared and committed.
        if url_password(value):
            raise ValueError("no password in the manifest: let git ask a credential helper (or GIT_ASKPASS)")
        return value

    @model_validator(mode="after")
    def _has_analysis(self) -> AppEntry:
        if self.analysis is None and self.analysis_command is None:
            raise ValueError("give analysis (a file or folder) or analysis-command")
        return self


class Manifest(_Model):
    workspace: str = DEFAULT_WORKSPACE
    max_apps: int = Field(default=2, ge=1)
    max_cost: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_cost_per_app: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    rate_limits: str | None = None
    store: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    apps: list[AppEntry] = Field(min_length=1)

    @field_validator("store")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not is_postgres_url(value):
            raise ValueError("a postgresql:// URL (the default, SQLite inside each tree, needs no key)")
        if display_url(value) != value:  # a manifest is shared and committed: no password in it
            raise ValueError("no password in the manifest: give it in PGPASSWORD or ~/.pgpass")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        seen: set[str] = set()
        for app in self.apps:
            if app.name in seen:
                raise ValueError(f"two applications are named {app.name!r}")
            seen.add(app.name)
        return self


class LoadedManifest:
    """The manifest with its paths resolved and every application's settings merged and checked."""

    def __init__(self, path: Path, manifest: Manifest, overrides: dict[str, Any] | None = None) -> None:
        self.path = path
        self.manifest = manifest
        self.overrides = overrides or {}
        self.base = path.parent
        self.workspace = (self.base / manifest.workspace).resolve()
        self.apps = [self._spec(app) for app in manifest.apps]
        self.cpus = {app.name: app.cpus for app in manifest.apps}
        self._check_workspace()

    def _check_workspace(self) -> None:
        """The workspace holds a copy of every application's source: inside a source (or holding
        one) it would copy that folder into itself, without end, in the user's tree."""
        where = f"{self.path}: workspace {self.workspace}"
        problem = folder_problem(self.workspace)  # a file there, or a folder it cannot write into
        if problem:
            raise UserError(f"{where}: cannot be written: {problem}")
        for app in self.apps:
            if "://" in app.source or not Path(app.source).is_absolute():
                continue  # a git address: cloned into the workspace, nothing of the user's
            source = Path(app.source)
            if self.workspace.is_relative_to(source):  # the source itself included
                raise UserError(
                    f"{where}: inside the source of {app.name} ({source}); put it outside every source"
                )
            if source.is_relative_to(self.workspace):
                raise UserError(
                    f"{where}: holds the source of {app.name} ({source}); put it outside every source"
                )

    def _spec(self, app: AppEntry) -> AppSpec:
        settings = merge(merge(self.manifest.settings, app.settings), self.overrides)
        try:
            checked = Settings.model_validate(settings)
        except ValidationError as exc:
            raise UserError(f"{self.path}: apps.{app.name}.settings: {_first(exc)}") from None
        refuse_unsupported(checked, f"{self.path}: apps.{app.name}.settings")
        return AppSpec(
            name=app.name,
            source=self._source(app.source),
            analysis=(self.base / app.analysis).resolve() if app.analysis else None,
            analysis_command=app.analysis_command,
            ref=app.ref,
            verify_command=app.verify,
            settings=settings,
            branch=app.branch,
        )

    def _source(self, source: str) -> str:
        if "://" in source or re.match(r"^[\w.-]+@[\w.-]+:", source):
            return source  # a URL or scp-like git address
        return str((self.base / source).resolve())


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid over `base` key by key (sections merge, values replace)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(p) for p in error["loc"])
    return f"{key}: {error['msg']}" if key else str(error["msg"])


def load_manifest(path: Path, overrides: dict[str, Any] | None = None) -> LoadedManifest:
    """Read and check the manifest (`UserError`, one line, on any problem); `overrides` (settings
    from the command line) win over every application's."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the manifest: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: cannot read the manifest: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UserError(f"{path}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a manifest is a mapping with an `apps` list")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"{path}: {_first(exc)}") from None
    return LoadedManifest(path.resolve(), manifest, overrides)
