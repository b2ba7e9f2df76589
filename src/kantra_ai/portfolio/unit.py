"""One application of a portfolio: materialise its tree, get its analysis, run the single-app job.

`run_unit` is the per-application unit every portfolio engine (embedded, Ray) and the Hub addon
call (the addon also uses the job's run and options it returns: its exit code, its attachments).
It never raises for a problem of the application (clone error, broken analysis, a build that never
passes): that is a failed `AppResult` with its reason, so one application never stops the others.
The tree lives in `workdir` with its own run store (SQLite inside the tree, or the PostgreSQL
database `store` where the application is `store_key`), so calling it again resumes.

The application's own options are `.kantra-ai.yaml` settings (the same keys, validated by the same
model): a portfolio's defaults with the application's overrides laid over them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kantra_ai._fs import write_atomic
from kantra_ai.app.options import RunOptions
from kantra_ai.app.remediate import RemediateJob, write_job_report_for
from kantra_ai.app.run import JobRun, RunHandle, run_job
from kantra_ai.app.settings_options import options_from_settings
from kantra_ai.app.ui import SilentUi, Ui
from kantra_ai.config.settings import Settings
from kantra_ai.delivery.deliver import GitOptions
from kantra_ai.delivery.layout import CommitStrategy, PrStrategy
from kantra_ai.engine.outcomes import Status
from kantra_ai.engine.ratelimit import RateBuckets
from kantra_ai.errors import UserError
from kantra_ai.redact import redact
from kantra_ai.store.history import HistoryOptions
from kantra_ai.store.queries import store_view
from kantra_ai.store.restore import restore_writes
from kantra_ai.store.schema import MissingStore, StoreError
from kantra_ai.store.session import default_store_path, open_store

RESULT_FILE = "result.json"
TREE_DIR = "tree"
ORIGIN_FILE = "origin.sha256"  # next to the tree: the source and ref it was made from (`_origin`)
ANALYSIS_DIR = "analysis"  # where an analysis command writes ($KANTRA_AI_ANALYSIS_DIR)
VERIFY_TIMEOUT_SECONDS = 1800.0
GIT_TIMEOUT_SECONDS = 600.0


class AppState:
    """What became of an application (strings: they are stored in result.json and shown as is)."""

    DONE = "done"  # every selected incident fixed or not applicable, verified when asked
    PARTIAL = "partial"  # the run finished with incidents left failed (or verification failed)
    FAILED = "failed"  # the application could not be run: `reason` says why
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class AppSpec:
    """One application, with every path already absolute."""

    name: str  # unique in the portfolio; also the folder in the workspace
    source: str  # a git URL, a local git repository, or a plain local folder (copied)
    analysis: Path | None = None  # output.yaml / output.json or a folder holding one
    analysis_command: str | None = None  # run in the tree; writes into $KANTRA_AI_ANALYSIS_DIR
    ref: str | None = None  # branch or tag to check out after cloning
    verify_command: str | None = None  # run in the tree after the fixes; exit 0 means verified
    # .kantra-ai.yaml keys for this app, or settings already loaded (the Hub addon's config files)
    settings: Mapping[str, Any] | Settings = field(default_factory=dict)
    branch: str | None = None  # the job's branch (`--branch`); default PREFIX/RUN
    path: str | None = None  # the application's folder inside the repository (default: its root)


@dataclass
class AppResult:
    """What one application's unit did: small and JSON-serialisable (Ray returns it, status reads it)."""

    name: str
    state: str
    fixed: int = 0
    failed: int = 0  # the model was asked and did not fix them
    skipped: int = 0  # never sent: the budget share ran out, the run was stopped (a rerun sends them)
    not_applicable: int = 0
    verification: str | None = None  # "passed" | "failed" | None (not asked)
    pr_urls: list[str] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)
    cost: float = 0.0
    requests: int = 0
    report: str | None = None  # the application's own report.html
    tree: str | None = None
    reason: str = ""
    seconds: float = 0.0
    budget: float | None = None  # the share of the portfolio's budget this attempt was given

    @property
    def pr_url(self) -> str | None:
        return self.pr_urls[0] if self.pr_urls else None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppResult:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def app_folder(workdir: Path, name: str) -> Path:
    return workdir / name


def read_result(workdir: Path, name: str) -> AppResult | None:
    """The result the last finished attempt left, or None."""
    path = app_folder(workdir, name) / RESULT_FILE
    try:
        return AppResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


@dataclass
class UnitRun:
    """What one call of the unit did: its result, and the job's run and options when it got that
    far (None when the application failed before its job started)."""

    result: AppResult
    run: JobRun | None = None
    options: RunOptions | None = None


def run_unit(
    spec: AppSpec,
    workdir: Path,
    *,
    limiter: RateBuckets | None = None,
    max_cost: float | None = None,
    ui: Ui | None = None,
    spent_since: float | None = None,
    handle: RunHandle | None = None,
    store: str | None = None,
    store_key: str | None = None,
) -> UnitRun:
    """Run one application in `workdir/NAME/tree` (see the module docstring).

    `limiter`: the portfolio's shared rate-limit buckets (None: this run's own); `max_cost`: this
    application's share of the portfolio budget (the run never spends more; None: no limit beyond
    the application's own `limits.max-cost`). `spent_since` (epoch seconds, the portfolio run's
    start): what runs on the tree since then spent (an attempt on a machine that died) counts
    against `max_cost`, and `cost` in the result is all of it. `handle` stops the run from another
    thread as Ctrl-C would. `store`: the run store in PostgreSQL (a `postgresql://` URL; default the
    SQLite file inside the tree), where the application is `store_key` (default: its tree's absolute
    path). The result is also written to `workdir/NAME/result.json`.
    """
    ui = ui or SilentUi()
    folder = app_folder(workdir, spec.name)
    started = time.monotonic()
    result = AppResult(name=spec.name, state=AppState.FAILED, budget=max_cost)
    unit = UnitRun(result)
    history = HistoryOptions(wait_lock=True, store=store, store_key=store_key)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fresh = not (folder / TREE_DIR).is_dir()
        tree = application_tree(spec, materialise(spec, folder / TREE_DIR))
        result.tree = str(tree)
        if fresh and store:
            # An attempt on another machine (a lost node, a new pod) wrote fixes this clone lacks.
            restore_earlier_writes(tree, store, store_key, ui)
        analysis = _analysis(spec, tree, folder / ANALYSIS_DIR)
        earlier = spent_on(tree, spent_since, history) if spent_since is not None else 0.0
        if max_cost is not None:
            max_cost = max(max_cost - earlier, 1e-9)  # never zero: --max-cost must be positive
        options = application_options(
            spec, tree, analysis, limiter=limiter, max_cost=max_cost, history=history
        )
        unit.options = options
        run = run_job(RemediateJob(analysis), options, ui, handle=handle)
        unit.run = run
        _fill(result, run)
        _delivered(result, tree, history)
        if spent_since is not None:
            result.cost = round(spent_on(tree, spent_since, history), 6)
        result.report = str(write_job_report_for(options))
        # An application whose run failed (the provider refused it) was not fixed: nothing to verify.
        if spec.verify_command and result.state not in (AppState.INTERRUPTED, AppState.FAILED):
            result.verification = verify(spec.verify_command, tree)
            if result.verification != "passed" and result.state == AppState.DONE:
                result.state = AppState.PARTIAL
                result.reason = "verification failed"
    except UserError as exc:
        result.state, result.reason = AppState.FAILED, str(exc)
    except KeyboardInterrupt:
        result.state, result.reason = AppState.INTERRUPTED, "interrupted"
        raise
    except Exception as exc:  # one application's bug or broken input never stops the others
        result.state, result.reason = AppState.FAILED, f"{type(exc).__name__}: {exc}"
    finally:
        result.reason = redact(result.reason)  # a URL with its credentials, a key echoed by a tool
        result.seconds = round(time.monotonic() - started, 3)
        keep_result(workdir, result)
    return unit


def keep_result(workdir: Path, result: AppResult) -> None:
    """`workdir/NAME/result.json`: what `portfolio status` and the report read."""
    with contextlib.suppress(OSError):
        write_atomic(
            app_folder(workdir, result.name) / RESULT_FILE, json.dumps(result.as_dict(), indent=2) + "\n"
        )


def lost_result(spec: AppSpec, workdir: Path, since: float, store: str | None, reason: str) -> AppResult:
    """An application whose every attempt was lost (its worker or node died each time): failed, with
    what those attempts spent as its store records it, so that the budget and the report count it."""
    result = AppResult(spec.name, AppState.FAILED, reason=redact(reason))
    folder = app_folder(workdir, spec.name) / TREE_DIR
    if folder.is_dir():
        tree = application_tree(spec, folder)
        result.tree = str(tree)
        with contextlib.suppress(UserError, StoreError, OSError, ValueError):
            result.cost = round(spent_on(tree, since, HistoryOptions(store=store)), 6)
    keep_result(workdir, result)
    return result


def restore_earlier_writes(tree: Path, store_url: str, key: str | None, ui: Ui) -> list[str]:
    """A fresh clone, a shared store: put back what earlier attempts wrote on another machine's
    disk (their bytes are in the store), so that they are neither lost nor asked for again; the
    paths put back. A file someone else changed since is refused (store/restore.py)."""
    try:
        store_handle = open_store(tree, None, create=False, store=store_url, key=key)
    except MissingStore:
        return []  # nothing has run on this application in the database yet
    except StoreError as exc:
        raise UserError(str(exc)) from None
    try:
        restored = restore_writes(store_handle, tree)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    finally:
        store_handle.close()
    if restored:
        ui.say(f"put back {len(restored)} files an earlier attempt fixed (their contents from the run store)")
    return restored


def tree_store_view(tree: Path, history: HistoryOptions) -> dict[str, Any] | None:
    if not history.store and not default_store_path(tree).is_file():
        return None
    try:
        store = open_store(tree, None, create=False, store=history.store, key=history.store_key)
    except MissingStore:
        return None  # nothing has run on this application in the database yet
    try:
        return store_view(store, tree, runs=1_000_000)
    finally:
        store.close()


def every_run_cost(view: Mapping[str, Any]) -> float | None:
    """What every run in a tree's store view cost; None when a run's cost is unknown (no price)."""
    costs = [r["cost_usd"] for r in view["runs"]]
    return None if None in costs else round(sum(float(c) for c in costs), 6)


def spent_on(tree: Path, since: float, history: HistoryOptions) -> float:
    """What the runs on the tree that started at or after `since` (epoch seconds) cost."""
    view = tree_store_view(tree, history)
    runs = view["runs"] if view else []
    return sum(float(r["cost_usd"] or 0.0) for r in runs if float(r["started_at"]) >= since)


def _delivered(result: AppResult, tree: Path, history: HistoryOptions) -> None:
    """Branches and pull requests of every job on the tree (a rerun with nothing left to do, or an
    attempt after a lost one, still names the pull requests an earlier attempt opened)."""
    view = tree_store_view(tree, history)
    for job in view["git"] if view else []:
        # The job's branch holds its commits even when nothing was pushed (commits made locally).
        if job["branch"] and job["commits"] and job["branch"] not in result.branches:
            result.branches.append(str(job["branch"]))
        for branch in job["branches"]:
            if branch["name"] and branch["name"] not in result.branches:
                result.branches.append(str(branch["name"]))
            if branch["pr_url"] and branch["pr_url"] not in result.pr_urls:
                result.pr_urls.append(str(branch["pr_url"]))


def _fill(result: AppResult, run: JobRun) -> None:
    statuses = [run.status_of(i.id) for i in run.selected]
    result.fixed = sum(s is Status.FIXED for s in statuses)
    result.not_applicable = sum(s is Status.NOT_APPLICABLE for s in statuses) + len(run.not_applicable)
    result.failed = sum(s is Status.FAILED for s in statuses)
    result.skipped = sum(s is None or s is Status.SKIPPED for s in statuses)  # budget, stop: not sent
    result.cost = round(run.totals.cost, 6)
    result.requests = run.totals.requests
    delivery = run.delivery or {}
    if run.interrupted:
        result.state, result.reason = AppState.INTERRUPTED, "interrupted"
    elif run.aborted:
        result.state, result.reason = AppState.FAILED, run.aborted
    elif delivery.get("errors"):
        result.state, result.reason = AppState.PARTIAL, "; ".join(map(str, delivery["errors"]))
    elif run.all_settled:
        result.state = AppState.DONE
    else:
        result.state, result.reason = AppState.PARTIAL, _not_fixed(result, run)


def _not_fixed(result: AppResult, run: JobRun) -> str:
    """Why a finished run left incidents: "2 failed; 17 not sent: --max-cost $0.0067 would be ..."."""
    parts = [f"{result.failed} failed"] if result.failed else []
    if result.skipped:
        why = Counter(
            run.outcomes[i.id].reason
            for i in run.selected
            if i.id in run.outcomes and run.outcomes[i.id].status is Status.SKIPPED
        ).most_common(1)
        parts.append(f"{result.skipped} not sent" + (f": {why[0][0]}" if why else ""))
    return "; ".join(parts) or "incidents not fixed"


def _origin(spec: AppSpec) -> str:
    """What a tree was made from, as a hash: the source may carry credentials in its URL."""
    made_from = json.dumps({"source": spec.source, "ref": spec.ref}, sort_keys=True)
    return hashlib.sha256(made_from.encode()).hexdigest()


def materialise(spec: AppSpec, tree: Path, *, env: Mapping[str, str] | None = None) -> Path:
    """The application's working tree: cloned (git URL or local repository) or copied, once; a
    later attempt finds it with its run store and resumes. `env`: git's environment (the Hub
    addon's credentials through GIT_ASKPASS); default this process's."""
    origin = tree.with_name(ORIGIN_FILE)
    made_from = _origin(spec)
    if tree.is_dir():
        try:
            recorded = origin.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            recorded = ""  # made by a version that did not record it: taken as it is
        if recorded and recorded != made_from:
            raise UserError(
                f"its source or ref in the manifest changed since {tree} was made from them, and the "
                f"copy there holds its fixes and run store; remove {tree.parent} to start it again from "
                "the new source (or put the manifest back)"
            )
        if not recorded:
            write_atomic(origin, made_from + "\n")
        return tree
    partial = tree.with_name(tree.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    source = Path(spec.source)
    if source.is_dir() and not (source / ".git").exists():
        shutil.copytree(source, partial, symlinks=True)
    else:
        if not source.exists() and "://" not in spec.source and "@" not in spec.source:
            raise UserError(f"source {spec.source}: no such folder or git URL")
        _git(tree.parent, "clone", "--quiet", "--", spec.source, str(partial), env=env)
        if spec.ref:
            _git(partial, "checkout", "--quiet", spec.ref, env=env)
    write_atomic(origin, made_from + "\n")
    os.replace(partial, tree)  # a clone killed half-way is never mistaken for a tree
    return tree


def application_tree(spec: AppSpec, tree: Path) -> Path:
    """The folder the job runs in: the tree, or the application's `path` inside it."""
    if not spec.path:
        return tree
    folder = (tree / spec.path).resolve()
    if not folder.is_relative_to(tree.resolve()) or not folder.is_dir():
        raise UserError(f"no folder {spec.path!r} in the repository of {spec.name}")
    return folder


def _git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"git {args[0]}: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise UserError(f"git {args[0]}: {last}")


def _analysis(spec: AppSpec, tree: Path, out: Path) -> Path:
    """The analysis file or folder: given, or produced by the application's analysis command."""
    if spec.analysis_command:
        out.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KANTRA_AI_ANALYSIS_DIR": str(out)}
        try:
            done = subprocess.run(
                spec.analysis_command,
                shell=True,
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                timeout=VERIFY_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise UserError("analysis command timed out") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise UserError(f"analysis command failed: {last}")
        return spec.analysis if spec.analysis is not None else out
    if spec.analysis is None:
        raise UserError("no analysis: give analysis or analysis-command")
    if not spec.analysis.exists():
        raise UserError(f"analysis {spec.analysis}: no such file or folder")
    return spec.analysis


def application_options(
    spec: AppSpec,
    tree: Path,
    analysis: Path,
    *,
    limiter: RateBuckets | None = None,
    max_cost: float | None = None,
    history: HistoryOptions | None = None,
) -> RunOptions:
    """The run's options from the application's settings, with the portfolio's share of the
    budget, its shared limiter and the run store (`history`; default SQLite in the tree)."""
    if isinstance(spec.settings, Settings):
        settings = spec.settings
    else:
        try:
            settings = Settings.model_validate(dict(spec.settings))
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise UserError(f"settings: {key}: {first['msg']}") from None
    refuse_unsupported(settings, "settings")
    options = options_from_settings(settings, input_dir=tree, analysis=analysis)
    limits = options.limits
    own = limits.max_cost
    cost = max_cost if own is None else (own if max_cost is None else min(own, max_cost))
    limits = dataclasses.replace(limits, max_cost=cost, shared_buckets=limiter)
    # A retried attempt waits for the store of one that is still dying instead of failing.
    history = history or HistoryOptions(wait_lock=True)
    return dataclasses.replace(
        options, limits=limits, history=history, git=git_options(settings, spec.branch, spec.name)
    )


def refuse_unsupported(settings: Settings, where: str) -> None:
    """Keys of .kantra-ai.yaml an application of a portfolio or a Hub task cannot honour: taken
    silently, a dry run would pay and write, a batch run pay the full price."""
    if settings.dry_run:
        raise UserError(
            f"{where}: dry-run: not for a portfolio application or a Hub task; see what one would "
            "send with `kantra-ai remediate --dry-run` on its tree"
        )
    if settings.batching.batch_api:
        raise UserError(
            f"{where}: batching.batch-api: not for a portfolio application or a Hub task (each runs to "
            "its end); run `kantra-ai remediate --batch-api` on its tree"
        )


def git_options(settings: Settings, branch: str | None, app: str) -> GitOptions:
    """Delivery as the settings' `git` section asks (off unless a commit strategy or create-pr).
    The default branch is PREFIX/APP/RUN: run numbers are per tree, so two applications of one
    repository (the whole application and its mandatory fixes, say) would both push PREFIX/1."""
    git = settings.git
    if git.commit_strategy is None and not git.create_pr:
        return GitOptions()
    return GitOptions(
        commit=CommitStrategy(git.commit_strategy) if git.commit_strategy else None,
        branch=branch,
        branch_prefix=f"{git.branch_prefix or GitOptions.branch_prefix}/{app}",
        create_pr=git.create_pr,
        pr_strategy=PrStrategy(git.pr_strategy),
        pr_base=git.pr_base,
        pr_comment_threshold=git.pr_comment_threshold,
        remote=git.remote,
        forge=git.forge,
        forge_url=git.forge_url,
    )


def verify(command: str, tree: Path) -> str:
    """The manifest's `verify`: an acceptance check of the finished tree, run once after the job
    ("passed" on exit 0, else "failed"). Per-fix verification with repair and revert is the job's
    own (`settings: {verification: {enabled: true, type: build, command: ...}}`, as in
    `.kantra-ai.yaml`): it runs inside the run, before git delivery commits anything."""
    try:
        done = subprocess.run(
            command, shell=True, cwd=tree, capture_output=True, timeout=VERIFY_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return "failed"
    return "passed" if done.returncode == 0 else "failed"
