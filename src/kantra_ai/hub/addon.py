"""`kantra-ai hub-addon`: one Konveyor Hub task (one application) in one pod.

The Hub starts the addon's container with its task in the environment (tackle2-hub
`shared/settings/addon.go`): `TASK` (the task's id), `HUB_BASE_URL`, `TOKEN` (a bearer token scoped
to the task) and `SHARED_PATH` (a volume shared with the pod's extensions). The addon then

1. reads the task and its application (name, repository) and the application's `source` identity;
2. reads the latest analysis' insights and writes them as the analyzer's output file;
3. clones the repository (credentials through GIT_ASKPASS from the environment, never on disk: a
   password in the repository's URL too is taken out of it, and the clone's remote is the URL
   without it);
4. runs the portfolio's per-application unit (`portfolio/unit.py`, what `portfolio run` runs for
   each application) with settings from the config files and the task's `data.config` (the same
   keys as `.kantra-ai.yaml`), the run store on `KANTRA_AI_STORE` (PostgreSQL, keyed by the
   application) or, by default, SQLite inside the checkout on the shared volume;
5. reports on the task as it goes (status, activity, total/completed incidents), attaches
   report.html and run.json, records a fact on the application, and exits.

A pod killed mid-run (exit 137) and re-queued by the Hub runs the same command again: the store
skips what is settled, reuses the replies already paid for, and repeats no commit.

The provider rate limit is shared statically: the limits the config gives (`limits.rate-limits`, the
organisation's) are divided by `KANTRA_AI_POD_QUOTA`, the number of addon pods the Hub's quota lets
run at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from kantra_ai._fs import write_atomic
from kantra_ai.analysis.model import Incident
from kantra_ai.app.run import JobRun, exit_code
from kantra_ai.app.ui import Ui
from kantra_ai.config.loader import ConfigError, load_config
from kantra_ai.config.settings import Settings
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome
from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.errors import ExitCode, UserError
from kantra_ai.hub.client import Application, HubClient, HubError, Identity, Task
from kantra_ai.hub.insights import write_analysis
from kantra_ai.portfolio.unit import (
    TREE_DIR,
    AppSpec,
    AppState,
    app_folder,
    application_tree,
    every_run_cost,
    materialise,
    refuse_unsupported,
    restore_earlier_writes,
    run_unit,
    tree_store_view,
)
from kantra_ai.redact import add_secret, redact
from kantra_ai.report.record import RUN_RECORD_NAME
from kantra_ai.store.history import HistoryOptions
from kantra_ai.store.schema import StoreError

PUSH_EVERY_SECONDS = 2.0  # progress reaches the Hub at most this often (and at every activity line)
FACT_KEY = "kantra-ai:remediation"
SSH_KEY_FILE = "ssh-identity"  # in the application's work folder, while the clone runs


@dataclass(frozen=True)
class AddonSettings:
    """What the Hub (and the Addon resource) put in the pod's environment."""

    task: int
    hub_url: str
    token: str
    shared: Path
    store: str | None = None  # KANTRA_AI_STORE: the PostgreSQL run store
    pod_quota: int = 1  # KANTRA_AI_POD_QUOTA: addon pods running at once, sharing the rate limit

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AddonSettings:
        raw_task = env.get("TASK", "")
        if not raw_task.strip().isdigit() or int(raw_task) <= 0:
            raise UserError("TASK: not set to a task id (the Hub sets it when it starts the addon's pod)")
        raw_quota = env.get("KANTRA_AI_POD_QUOTA", "1").strip() or "1"
        if not raw_quota.isdigit() or int(raw_quota) <= 0:
            raise UserError(f"KANTRA_AI_POD_QUOTA: expected a positive number of pods, got {raw_quota!r}")
        return cls(
            task=int(raw_task),
            hub_url=env.get("HUB_BASE_URL", "http://localhost:8080"),
            token=env.get("TOKEN", ""),
            shared=Path(env.get("SHARED_PATH", "/shared")),
            store=env.get("KANTRA_AI_STORE") or None,
            pod_quota=int(raw_quota),
        )


@dataclass
class TaskReport:
    """The task's report as the Hub keeps it (api.TaskReport), pushed as it changes."""

    hub: HubClient
    task: int
    status: str = "Running"
    total: int = 0
    completed: int = 0
    activity: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    attached: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    _created: bool = False
    _pushed_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def document(self) -> dict[str, Any]:
        """What the Hub is sent: every line through the redaction layer, as the pod's log is (a
        repository URL with its password, a key a tool echoed)."""
        doc: dict[str, Any] = {
            "status": self.status,
            "total": self.total,
            "completed": self.completed,
            "activity": [redact(line) for line in self.activity],
            "errors": [{k: redact(v) for k, v in error.items()} for error in self.errors],
            "attached": list(self.attached),
            "task": self.task,
        }
        if self.result:
            doc["result"] = self.result
        return doc

    def started(self) -> None:
        self.hub.delete_report(self.task)  # a re-queued pod starts a fresh report, as the Go adapter
        self.push(force=True)

    def say(self, line: str) -> None:
        with self._lock:
            self.activity.extend(line.splitlines() or [""])
        self.progress(force=True)

    def push(self, *, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._pushed_at < PUSH_EVERY_SECONDS:
                return
            self._pushed_at = now
            self.hub.report(self.task, self.document(), create=not self._created)
            self._created = True

    def progress(self, *, force: bool = False) -> None:
        """A push while the run goes on: the Hub failing to take one (a 500, a restart) must not
        stop a paid run; the next push (and the final one) carries the same report again."""
        try:
            self.push(force=force)
        except HubError:
            self._pushed_at = 0.0  # the next progress pushes again at once

    def attach(self, file_id: int, name: str) -> None:
        self.attached.append({"id": file_id, "name": name, "activity": len(self.activity)})
        self.push(force=True)

    def finish(self, status: str, error: str = "") -> None:
        self.status = status
        if error:
            self.errors.append({"severity": "Error", "description": error})
        if status == "Succeeded":
            self.completed = self.total
        self.push(force=True)


class HubProgress(RunObserver):
    """The run's progress as the task's total/completed incidents."""

    def __init__(self, report: TaskReport) -> None:
        self.report = report

    def run_planned(self, requests: int, incidents: int) -> None:
        self.report.total = self.report.completed + incidents
        self.report.progress(force=True)

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        self.report.completed += 1
        self.report.progress()

    def batch_finished(self, path: str, outcomes: list[IncidentOutcome]) -> None:
        self.report.progress(force=True)  # a file done: one push per request at most, whatever the pace


class HubUi:
    """The application layer's Ui, shown on the task: lines become activity, progress the counts;
    the same lines go to the pod's log (stderr)."""

    def __init__(self, report: TaskReport, log: Any) -> None:
        self.report = report
        self.log = log

    def say(self, text: str, *, emphasis: bool = False) -> None:
        self.log(text)
        self.report.say(text)

    def status(self, text: str) -> None:
        self.log(text)

    @contextlib.contextmanager
    def progress(self) -> Iterator[RunObserver]:
        yield HubProgress(self.report)


def run_addon(env: Mapping[str, str], log: Any) -> int:
    """The addon, start to end; its exit code (a one-line reason raised as UserError)."""
    settings = AddonSettings.from_env(env)
    # The Hub's variable is TOKEN (no _TOKEN suffix the redaction layer watches): registered here,
    # it is masked in everything kantra-ai shows or keeps (the log, the store, report, attachments).
    add_secret(settings.token)
    hub = HubClient(settings.hub_url, settings.token)
    try:
        try:
            task = hub.task(settings.task)  # a wrong token stops here, before anything else
        except HubError as exc:
            raise UserError(str(exc)) from None
        report = TaskReport(hub, task.id)
        try:
            report.started()
            return _run_task(settings, hub, task, report, log)
        except (HubError, UserError) as exc:
            with contextlib.suppress(HubError):
                report.finish("Failed", str(exc))
            raise UserError(str(exc)) from None
    finally:
        hub.close()


def _run_task(settings: AddonSettings, hub: HubClient, task: Task, report: TaskReport, log: Any) -> int:
    ui = HubUi(report, log)
    if task.application is None:
        raise UserError(f"task {task.id} names no application")
    app = hub.application(task.application.id)
    ui.say(f"application {app.name} (id {app.id})")
    insights = hub.latest_insights(app.id)
    incidents = sum(len(i.incidents) for i in insights)
    ui.say(f"latest analysis: {len(insights)} insights, {incidents} incidents")
    # The unit's folder for the application: SHARED_PATH/kantra-ai/application-ID/{tree,analysis}.
    workdir = settings.shared / "kantra-ai"
    spec, password = _spec(app)
    work = app_folder(workdir, spec.name)
    analysis = write_analysis(insights, work / "analysis" / "output.yaml")
    configured = _settings(settings, task, work, ui)  # a bad data.config: refused before cloning
    source, fresh = _checkout(spec, _Credentials(hub.source_identity(app.id), password), work, ui)
    spec = dataclasses.replace(spec, analysis=analysis, settings=configured)
    key = f"hub/application/{app.id}"
    if fresh and settings.store:
        restore_earlier_writes(source, settings.store, key, ui)
    limits = _rate_limits(spec.settings)
    if limits is not None and not limits.empty:
        share_of = f"1/{settings.pod_quota} of limits.rate-limits"
        ui.say(f"rate limits of this pod: {describe_limits(limits)} ({share_of})")
    if task.retries:
        ui.say(f"attempt {task.retries + 1}: continuing from the run store")
    unit = run_unit(spec, workdir, ui=ui, store=settings.store, store_key=key)
    run, result = unit.run, unit.result
    if run is None or (result.state == AppState.FAILED and not run.aborted):
        raise UserError(result.reason or "the run did not start")
    code = exit_code(run)
    if result.report:
        _attach(hub, report, Path(result.report), app)
    fact = _result(run, code)
    every_attempt(fact, source, HistoryOptions(store=settings.store, store_key=key), ui)
    report.total = max(report.total, fact["incidents"])
    report.result = fact
    with contextlib.suppress(HubError):  # a fact is a convenience; the report holds the same
        hub.put_fact(app.id, FACT_KEY, fact)
    if code in (ExitCode.OK, ExitCode.SOME_FAILED):
        ui.say(
            f"done: {fact['fixed']} fixed, {fact['failed']} failed, {fact['skipped']} skipped"
            f" (cost ${fact['cost_usd']:.4f})"
        )
        report.finish("Succeeded")
        return int(ExitCode.OK)
    reason = run.aborted or ("interrupted" if run.interrupted else f"exit {int(code)}")
    log(f"error: {reason}")  # the pod's log says why, as for every other failure
    report.finish("Failed", reason)
    return int(code)


def every_attempt(fact: dict[str, Any], tree: Path, history: HistoryOptions, ui: Ui) -> None:
    """A re-queued task's attempts are one job: what the application cost is every attempt's (the
    store has them all), this attempt's under `attempt`. A store that cannot be read now (the
    database went away after the run) leaves the fact with this attempt's figures, and says so."""
    try:
        view = tree_store_view(tree, history)
    except StoreError as exc:
        ui.say(f"warning: the run store cannot say what earlier attempts cost: {exc}")
        return
    runs = view["runs"] if view else []
    cost = every_run_cost(view) if view else None
    if runs and cost is not None:
        fact["attempt"] = {"requests": fact["requests"], "cost_usd": fact["cost_usd"]}
        fact["requests"] = sum(int(r["requests"]) for r in runs)
        fact["cost_usd"] = cost


def _spec(app: Application) -> tuple[AppSpec, str | None]:
    """The application as the per-application unit takes it (its analysis and settings come later),
    its repository's URL without the password it may carry, and that password (None: none)."""
    repo = app.repository
    if repo is None or not repo.url:
        raise UserError(f"application {app.name} has no source repository on the Hub")
    if repo.kind and repo.kind != "git":
        raise UserError(f"application {app.name}: {repo.kind} repositories are not supported (git only)")
    url, password = _without_password(repo.url)
    spec = AppSpec(
        name=f"application-{app.id}",
        source=url,
        ref=repo.branch or repo.tag or None,
        path=repo.path or None,
    )
    return spec, password


def _without_password(url: str) -> tuple[str, str | None]:
    """`scheme://user:password@host/...` as `scheme://user@host/...` and the password (decoded, as
    git decodes it), or the URL as it is and None. Cloned with its password, git keeps the URL as
    the clone's remote in .git/config: a secret in a file on the shared volume. Without it (the
    user kept, so git asks only the password) and the password through GIT_ASKPASS, no file holds
    it; and a password changed on the Hub is the same source, not a checkout to start again."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc or parts.password is None:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    password = unquote(parts.password)
    add_secret(parts.password)  # as written in the URL, and as git sends it
    add_secret(password)
    return parts._replace(netloc=f"{user}@{host}" if user else host).geturl(), password


@dataclass(frozen=True)
class _Credentials:
    """What git authenticates with: the application's `source` identity, and the password its
    repository's URL carried (which wins over the identity's, as git itself would use it)."""

    identity: Identity | None
    url_password: str | None = None

    @property
    def user(self) -> str:
        return self.identity.user if self.identity is not None else ""

    @property
    def password(self) -> str:
        if self.url_password is not None:
            return self.url_password
        return self.identity.password if self.identity is not None else ""


def _checkout(spec: AppSpec, credentials: _Credentials, work: Path, ui: HubUi) -> tuple[Path, bool]:
    """The application's folder in its checkout, and whether it was cloned just now: cloned once onto
    the shared volume (a pod re-queued onto the same volume finds it there, with the fixes already
    written) by the unit's own `materialise`, with the user and password handed over by an askpass
    program that reads them from git's environment: they are never written to disk or into the
    clone's config. The same askpass stays in this process's environment for the rest of the pod,
    so that the delivery's later git commands (ls-remote, the push of the job's branches) are
    authenticated the same way. An identity with an SSH key (a repository at an ssh:// or
    scp-style address) has its key in a file only the pod's user can read, for the clone only,
    removed after it. The unit then finds the tree and runs in it."""
    checkout = work / TREE_DIR
    fresh = not checkout.is_dir()
    askpass = _askpass_env(credentials, work)
    os.environ.update(askpass)  # the pod is this task's: its git commands are the task's
    if fresh:
        shown = spec.source if credentials.url_password is None else _shown_with_password(spec.source)
        ui.say(f"cloning {shown}" + (f" ({spec.ref})" if spec.ref else ""))
        key_file = work / SSH_KEY_FILE
        try:
            env = dict(os.environ, GIT_TERMINAL_PROMPT="0") | _ssh_env(credentials.identity, work)
            materialise(spec, checkout, env=env)
        except UserError as exc:
            raise UserError(redact(str(exc))) from None  # the identity's password is a known secret
        finally:
            key_file.unlink(missing_ok=True)  # the key is on disk for the clone only
    else:
        ui.say("the checkout of an earlier attempt is on the shared volume: continuing in it")
    return application_tree(spec, checkout), fresh


def _shown_with_password(url: str) -> str:
    """The URL as the Hub gave it, its password masked: the log says one was used."""
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{userinfo}:***@{host}").geturl()


def _askpass_env(credentials: _Credentials, work: Path) -> dict[str, str]:
    """GIT_ASKPASS and the variables it reads: the program holds no secret, the environment does."""
    if not (credentials.user or credentials.password):
        return {}
    add_secret(credentials.password)
    askpass = work / "askpass.sh"
    write_atomic(
        askpass,
        '#!/bin/sh\ncase "$1" in\n  Username*) printf "%s\\n" "$KANTRA_AI_GIT_USER" ;;\n'
        '  *) printf "%s\\n" "$KANTRA_AI_GIT_PASSWORD" ;;\nesac\n',
    )
    askpass.chmod(askpass.stat().st_mode | stat.S_IXUSR)
    return {
        "GIT_ASKPASS": str(askpass),
        "KANTRA_AI_GIT_USER": credentials.user,
        "KANTRA_AI_GIT_PASSWORD": credentials.password,
    }


def _ssh_env(identity: Identity | None, work: Path) -> dict[str, str]:
    """GIT_SSH_COMMAND with the identity's key, for the clone only (the key file is removed after)."""
    env: dict[str, str] = {}
    if identity is not None and identity.key.strip():
        key = identity.key.strip()
        add_secret(key)
        for line in key.splitlines()[1:-1]:  # the key's body, should a tool print part of it
            add_secret(line.strip())
        key_file = work / SSH_KEY_FILE
        write_atomic(key_file, key + "\n")  # a new file: mode 0600, as ssh insists
        known_hosts = work / "known_hosts"
        # The Hub holds no host keys: the one the server shows is accepted and kept beside the
        # key (trust on first use) rather than a prompt a pod cannot answer.
        env["GIT_SSH_COMMAND"] = " ".join(
            shlex.quote(part)
            for part in (
                "ssh", "-i", str(key_file), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known_hosts}",
            )
        )  # fmt: skip
    return env


def _settings(settings: AddonSettings, task: Task, work: Path, ui: HubUi) -> Settings:
    """The pod's own config file (its HOME's .kantra-ai.yaml) under the task's `data.config`;
    `limits.rate-limits` cut to this pod's share. Never a file inside the checkout: whoever can
    commit to the application's repository would choose where the pod's API key is sent."""
    explicit = None
    if task.data is None:
        data: dict[str, Any] = {}
    elif isinstance(task.data, dict):
        data = task.data
    else:  # a JSON string or a list: its budget and settings would be ignored without a word
        raise UserError(f"task {task.id}: data must be a mapping (with config: .kantra-ai.yaml keys)")
    config = data.get("config")
    if config is not None:
        if not isinstance(config, dict):
            raise UserError(f"task {task.id}: data.config must be a mapping of .kantra-ai.yaml keys")
        explicit = work / "task-config.yaml"
        write_atomic(explicit, yaml.safe_dump(config, sort_keys=False))
    try:
        home = Path.home()
        loaded = load_config(explicit, cwd=home, home=home)
    except ConfigError as exc:
        message = str(exc).replace(str(explicit), f"task {task.id}: data.config") if explicit else str(exc)
        raise UserError(message) from None
    finally:
        if explicit is not None:  # it may hold what the task should not have put there (a key)
            explicit.unlink(missing_ok=True)
    for warning in loaded.warnings:
        ui.say(f"warning: {warning.replace(str(explicit), 'data.config') if explicit else warning}")
    refuse_unsupported(loaded.settings, f"task {task.id}: data.config")
    return _pod_share(settings, loaded.settings)


def _pod_share(settings: AddonSettings, loaded: Settings) -> Settings:
    limits = _rate_limits(loaded)
    if limits is None or settings.pod_quota <= 1:
        return loaded
    ours = describe_limits(share(limits, settings.pod_quota))
    return loaded.model_copy(update={"limits": loaded.limits.model_copy(update={"rate_limits": ours})})


def _rate_limits(settings: Settings | Any) -> RateLimitConfig | None:
    text = settings.limits.rate_limits if isinstance(settings, Settings) else None
    if not text:
        return None
    try:
        return RateLimitConfig.parse(text)
    except ValueError as exc:
        raise UserError(f"limits.rate-limits: {exc}") from None


def share(limits: RateLimitConfig, pods: int) -> RateLimitConfig:
    """One pod's part of the organisation's limits: the Hub runs up to `pods` at once."""

    def part(value: int | None) -> int | None:
        return None if value is None else max(value // pods, 1)

    return RateLimitConfig(
        part(limits.requests_per_minute),
        part(limits.input_tokens_per_minute),
        part(limits.output_tokens_per_minute),
    )


def describe_limits(limits: RateLimitConfig) -> str:
    named = (
        ("rpm", limits.requests_per_minute),
        ("itpm", limits.input_tokens_per_minute),
        ("otpm", limits.output_tokens_per_minute),
    )
    return ",".join(f"{name}={value}" for name, value in named if value is not None)


def _attach(hub: HubClient, report: TaskReport, html: Path, app: Application) -> None:
    """The job's report (every attempt on the application, from the store) and its run data."""
    for path in (html, html.parent / RUN_RECORD_NAME):
        if path.is_file():
            name = f"kantra-ai-application-{app.id}-{path.name}"
            ref = hub.upload(path, name)
            report.attach(ref.id, name)


def _result(run: JobRun, code: ExitCode) -> dict[str, Any]:
    statuses = [run.status_of(i.id) for i in run.selected]
    count = {
        s: sum(1 for x in statuses if x is not None and x.value == s) for s in ("fixed", "failed", "skipped")
    }
    cost = sum((r.cost or 0.0) for r in run.records)
    return {
        "fixed": count["fixed"],
        "failed": count["failed"],
        "skipped": count["skipped"],
        "incidents": len(statuses),
        "requests": len(run.records),
        "cost_usd": round(cost, 6),
        "exit": int(code),
        "git": run.delivery or {},
    }
