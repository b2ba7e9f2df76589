"""The web app: Starlette routes over the application layer, pages rendered on the server.

Every page is plain HTML that works without JavaScript (forms post, the server redirects back);
`static/app.js` adds drag and drop, keyboard moves and the live run view on top. Nothing is loaded
from anywhere but this server. The routes only call what the CLI calls: `app/plan.py` to make a
plan, `app/plan_editor.py` to change it, `app/execute.py` through `runs.py` to run it,
`app/review.py` to review what runs changed, `config/` to read and write `.kantra-ai.yaml`.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from markupsafe import escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from kantra_ai import __version__, bounds
from kantra_ai._fs import OutsideTreeError, open_inside
from kantra_ai.app.options import RunOptions
from kantra_ai.app.plan import PlanRequest, make_plan
from kantra_ai.app.plan_editor import LoadedPlan, PlanConflict, PlanEditor
from kantra_ai.app.review import Review
from kantra_ai.app.settings_options import options_from_settings
from kantra_ai.app.ui import SilentUi
from kantra_ai.config.loader import ConfigError, LoadedConfig, load_config, update_config_file
from kantra_ai.errors import UserError
from kantra_ai.plan import edits
from kantra_ai.plan.model import RISK_ORDER, Plan, PlanError
from kantra_ai.plan.state import load_state
from kantra_ai.providers.registry import ProviderConfigError, resolve_preset
from kantra_ai.report.html import bar_chart, money
from kantra_ai.report.record import default_report_path
from kantra_ai.store.queries import store_view
from kantra_ai.store.review import LOW_CONFIDENCE, REVIEW_FILTERS, STATUS_FILTERS, FileQuery
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import another_run, default_store_path, open_store
from kantra_ai.web.redaction import RedactResponses
from kantra_ai.web.runs import RunManager
from kantra_ai.web.security import TOKEN_FIELD
from kantra_ai.web.settings_form import changed_keys, settings_sections

CONFIG_NAME = ".kantra-ai.yaml"
EVENT_POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
_RISK_COLORS = {"low": "#4c9a6a", "medium": "#c98a2b", "high": "#b6453b"}


class UnknownAction(UserError):
    """An action no page of ours posts (a typo in a script): a bad request (400), not a conflict
    with the tree's state (409), which waiting or reloading could resolve."""


@dataclass
class WebContext:
    """What the server was started on, and what lives as long as it does."""

    input_dir: Path
    plan_path: Path
    token: str
    analysis: Path | None = None  # to make a plan (else paths.analysis of the config)
    state: Path | None = None  # the run store (default INPUT/.kantra-ai/state.db)
    config: Path | None = None  # --config
    cwd: Path = field(default_factory=Path.cwd)
    runs: RunManager = field(default_factory=RunManager)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    _editor: PlanEditor | None = None

    def loaded(self) -> LoadedConfig:
        try:
            return load_config(self.config, cwd=self.cwd)
        except ConfigError as exc:
            raise UserError(str(exc)) from None

    def options(self, analysis: Path | None = None) -> RunOptions:
        return options_from_settings(
            self.loaded().settings,
            input_dir=self.input_dir,
            analysis=analysis or self.plan_path,
            state=self.state,
        )

    def editor(self) -> PlanEditor:
        """One editor for the server (its lock serialises changes); options as the config says now."""
        if self._editor is None:
            self._editor = PlanEditor(self.plan_path, self.options())
        else:
            self._editor.options = self.options()
        return self._editor

    def analysis_path(self) -> Path | None:
        return self.analysis or self.loaded().settings.paths.analysis

    def config_target(self) -> Path:
        """The file the settings page writes: --config, else ./.kantra-ai.yaml where it started."""
        return self.config or self.cwd / CONFIG_NAME

    def review(self) -> Review:
        return Review(self.input_dir, self.state)

    def report_path(self) -> Path:
        return default_report_path(self.input_dir)


# -- rendering ---------------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kantra_ai.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["confidence"] = lambda c: "" if c is None else f"{float(c):.2f}"
    return env


ENV = _environment()


def page(request: Request, template: str, ctx: WebContext, code: int = 200, **values: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(
        token=ctx.token,
        token_field=TOKEN_FIELD,
        version=__version__,
        input_dir=str(ctx.input_dir),
        nav=request.url.path.split("/")[1] or "plan",
        notice=request.query_params.get("notice", ""),
        error=values.pop("error", ""),
        has_report=ctx.report_path().is_file(),
        run_state=ctx.runs.progress.snapshot()["state"],
        **values,
    )
    return HTMLResponse(html, status_code=code)


def back(path: str, notice: str = "", anchor: str = "") -> RedirectResponse:
    query = f"?{urlencode({'notice': notice})}" if notice else ""
    return RedirectResponse(f"{path}{query}{'#' + anchor if anchor else ''}", status_code=303)


async def form_of(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def one(form: dict[str, list[str]], name: str, default: str = "") -> str:
    return form.get(name, [default])[-1]


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


# -- plan --------------------------------------------------------------------------------------------


def _phase_status(ctx: WebContext) -> dict[str, str]:
    path = ctx.plan_path.parent / "state.yaml" if not ctx.plan_path.is_dir() else ctx.plan_path / "state.yaml"
    if not path.is_file():
        return {}
    try:
        return {p.phase_id: p.status for p in load_state(path).phases}
    except PlanError:
        return {}


def _plan_view(ctx: WebContext) -> dict[str, Any]:
    editor = ctx.editor()
    if not editor.exists():
        return {"loaded": None, "analysis": str(ctx.analysis_path() or ""), "file_sha": ""}
    loaded = editor.load()
    plan = loaded.plan
    phases = plan.ordered_phases()
    by_category = Counter(v.category for p in phases for v in p.violations)
    by_risk: Counter[str] = Counter()
    for phase in phases:
        by_risk[phase.risk] += phase.incident_count
    charts = [
        bar_chart("Incidents by phase", [(p.id, p.incident_count) for p in phases]),
        bar_chart(
            "Incidents by phase risk",
            [(r, by_risk.get(r, 0)) for r in sorted(RISK_ORDER, key=RISK_ORDER.__getitem__)],
            _RISK_COLORS,
        ),
        bar_chart("Violations by category", sorted(by_category.items())),
    ]
    approved = [p for p in phases if not p.deferred]
    return {
        "loaded": loaded,
        "plan": plan,
        "phases": phases,
        "charts": charts,
        "status": _phase_status(ctx),
        "totals": {
            "phases": len(phases),
            "approved": len(approved),
            "incidents": sum(p.incident_count for p in phases),
            "cost": sum(p.estimated_cost for p in approved),
            "minutes": sum(p.estimated_duration_minutes for p in approved),
        },
        "analysis": str(ctx.analysis_path() or ""),
    }


async def plan_page(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    try:
        view = await run_in_threadpool(_plan_view, ctx)
    except UserError as exc:
        return page(request, "plan.html.j2", ctx, 400, loaded=None, analysis="", error=str(exc))
    return page(request, "plan.html.j2", ctx, **view)


def _edit(form: dict[str, list[str]]) -> Callable[[Plan], list[str]]:
    """The change a form asks for; returns the phases whose estimates it makes stale."""
    op = one(form, "op")
    phase = one(form, "phase")

    def approve(plan: Plan) -> list[str]:
        edits.set_deferred(plan, phase, False)
        return []

    def defer(plan: Plan) -> list[str]:
        edits.set_deferred(plan, phase, True)
        return []

    def move(steps: int) -> Callable[[Plan], list[str]]:
        def run(plan: Plan) -> list[str]:
            edits.move_phase(plan, phase, steps)
            return []

        return run

    def reorder(plan: Plan) -> list[str]:
        edits.reorder(plan, [p for p in one(form, "order").split(",") if p])
        return []

    def rename(plan: Plan) -> list[str]:
        edits.rename(plan, phase, one(form, "name"))
        return []

    def move_violation(plan: Plan) -> list[str]:
        return list(edits.move_violation(plan, one(form, "violation"), one(form, "to")))

    def split(plan: Plan) -> list[str]:
        new = edits.split(plan, phase, form.get("violation", []))
        return [phase, new]

    def merge(plan: Plan) -> list[str]:
        edits.merge(plan, phase, one(form, "with"))
        return [phase]

    ops: dict[str, Callable[[Plan], list[str]]] = {
        "approve": approve,
        "defer": defer,
        "up": move(-1),
        "down": move(1),
        "reorder": reorder,
        "rename": rename,
        "move-violation": move_violation,
        "split": split,
        "merge": merge,
    }
    if op not in ops:
        raise UserError(f"unknown change {op!r}")
    return ops[op]


def _checked(change: Callable[[Plan], list[str]]) -> Callable[[Plan], list[str]]:
    """Operations raise PlanError; the page shows it as one line."""

    def run(plan: Plan) -> list[str]:
        try:
            return change(plan)
        except PlanError as exc:
            raise UserError(str(exc)) from exc

    return run


async def plan_edit(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    form = await form_of(request)
    try:
        if ctx.runs.active:
            raise UserError("a run is executing this plan: pause or wait for it before changing the plan")
        _refuse_another_run(ctx, "changing the plan")
        change = _checked(_edit(form))
        if not one(form, "sha"):  # not a page of ours (a script): it never read the plan
            raise UserError("a plan change must name the plan it was made against (sha): reload the page")
        loaded: LoadedPlan = await run_in_threadpool(lambda: ctx.editor().change(one(form, "sha"), change))
    except UserError as exc:
        code = 409 if isinstance(exc, PlanConflict) else 400
        if wants_json(request):
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=code)
        view = await run_in_threadpool(_safe_plan_view, ctx)
        return page(request, "plan.html.j2", ctx, code, error=str(exc), **view)
    if wants_json(request):
        return JSONResponse({"ok": True, "sha": loaded.sha256})
    return back("/plan", "plan saved", one(form, "phase"))


def _refuse_another_run(ctx: WebContext, doing: str) -> None:
    """A run of another process (`kantra-ai execute` in a terminal) holds the tree: it read the plan
    when it started and goes on by it, so a change now would say one thing and the run do another."""
    holder = another_run(ctx.input_dir)
    if holder is not None:
        raise UserError(
            f"another kantra-ai run ({holder}) is working on this tree: wait for it before {doing}"
        )


def _safe_plan_view(ctx: WebContext) -> dict[str, Any]:
    try:
        return _plan_view(ctx)
    except UserError:  # a plan file that cannot be used: a new plan may replace it
        try:
            seen = ctx.editor().file_sha()
        except UserError:
            seen = ""
        return {"loaded": None, "analysis": "", "file_sha": seen}


async def plan_make(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    form = await form_of(request)

    def make() -> None:
        analysis = ctx.analysis_path()
        if analysis is None:
            raise UserError("no analysis to plan from: start with --analysis, or set paths.analysis")
        typed = one(form, "max_phases").strip()
        max_phases = _count(typed)
        if typed and max_phases is None:
            raise UserError(f"most phases: {typed[:20]!r} is not a whole number")
        problem = bounds.PHASES.problem(max_phases) if max_phases else None
        if problem:
            raise UserError(f"most phases: {problem}")
        plan_request = PlanRequest(
            planner=one(form, "planner", "deterministic"),
            risk_tolerance=one(form, "risk_tolerance", "balanced"),
            max_phases=max_phases or None,
        )
        if ctx.runs.active:
            raise UserError("a run is executing the current plan: wait for it before making a new one")
        _refuse_another_run(ctx, "making a new plan")
        plan = make_plan(ctx.options(analysis), plan_request, SilentUi())
        ctx.editor().replace(one(form, "sha"), plan)

    try:
        await run_in_threadpool(make)
    except UserError as exc:
        view = await run_in_threadpool(_safe_plan_view, ctx)
        code = 409 if isinstance(exc, PlanConflict) else 400
        return page(request, "plan.html.j2", ctx, code, error=str(exc), **view)
    return back("/plan", "new plan made and saved")


# -- run ---------------------------------------------------------------------------------------------


def _store_view(ctx: WebContext) -> dict[str, Any] | None:
    if not (ctx.state or default_store_path(ctx.input_dir)).is_file():
        return None
    store = open_store(ctx.input_dir, ctx.state, create=False)
    try:
        return store_view(store, ctx.input_dir, runs=10)
    finally:
        store.close()


def _run_view(ctx: WebContext) -> dict[str, Any]:
    phases: list[Any] = []
    error = ""
    try:
        editor = ctx.editor()
        if editor.exists():
            phases = editor.load().plan.ordered_phases()
    except UserError as exc:
        error = str(exc)
    try:
        store = _store_view(ctx)
    except StoreError as exc:
        store, error = None, str(exc)
    return {
        "phases": phases,
        "status": _phase_status(ctx),
        "store": store,
        "progress": ctx.runs.progress.snapshot(),
        "error": error,
    }


async def run_page(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    view = await run_in_threadpool(_run_view, ctx)
    return page(request, "run.html.j2", ctx, **view)


async def run_action(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    form = await form_of(request)
    action = request.path_params["action"]
    try:
        if action == "start":
            phase = one(form, "phase") or None
            editor = ctx.editor()
            retry = one(form, "retry_failed") in ("on", "1", "true")
            await run_in_threadpool(
                lambda: ctx.runs.start(editor.path, phase, ctx.options, retry_failed=retry)
            )
            notice = f"started {'phase ' + phase if phase else 'the whole plan'}"
        elif action == "pause":
            notice = ctx.runs.stop()
        elif action == "cancel":
            notice = ctx.runs.cancel()
        else:
            raise UnknownAction(f"unknown action {action!r}")
    except UserError as exc:
        code = 400 if isinstance(exc, UnknownAction) else 409
        if wants_json(request):
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=code)
        view = await run_in_threadpool(_run_view, ctx)
        view["error"] = str(exc)
        return page(request, "run.html.j2", ctx, code, **view)
    if wants_json(request):
        return JSONResponse({"ok": True, "notice": notice})
    return back("/run", notice)


async def events(request: Request) -> Response:
    """Server-sent events: the run's snapshot whenever it changes (and a comment now and then so
    proxies keep the connection). Closing the page closes this stream, never the run."""
    ctx: WebContext = request.app.state.ctx

    async def stream() -> AsyncIterator[str]:
        seen = -1
        quiet = 0.0
        while not ctx.closing.is_set():
            snapshot = ctx.runs.progress.snapshot()
            if snapshot["version"] != seen:
                seen = snapshot["version"]
                quiet = 0.0
                yield f"event: progress\ndata: {json.dumps(snapshot)}\n\n"
            elif quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield ": keepalive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_SECONDS)
            quiet += EVENT_POLL_SECONDS

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})


async def progress_json(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    return JSONResponse(ctx.runs.progress.snapshot())


# -- review ------------------------------------------------------------------------------------------


MAX_PAGE = 1_000_000  # of 50 files: far past any tree, and within SQLite's integers


def _count(text: str) -> int | None:
    """A whole number typed in a form or a link (None: empty or not one). ASCII digits only:
    `str.isdigit` also takes "²", which `int` refuses; at most 18 of them (within SQLite's integers)."""
    text = text.strip()
    if not text or len(text) > 18 or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def _query(request: Request) -> FileQuery:
    params = request.query_params
    page_text = params.get("page", "1")
    try:
        return FileQuery(
            status=params.get("status", "any"),
            review=params.get("review", "any"),
            low_confidence=params.get("low") == "1",
            search=params.get("q", "")[:200],
            page=min(_count(page_text) or 1, MAX_PAGE),
            per_page=50,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None


async def review_page(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    try:
        query = _query(request)
        files = await run_in_threadpool(ctx.review().files, query)
    except UserError as exc:
        query = FileQuery()
        return page(
            request, "review.html.j2", ctx, 400, error=str(exc), files=None, query=query, **_filters()
        )
    base = {
        k: v
        for k, v in (("status", query.status), ("review", query.review), ("q", query.search))
        if v not in ("", "any")
    }
    if query.low_confidence:
        base["low"] = "1"
    return page(
        request,
        "review.html.j2",
        ctx,
        files=files,
        query=query,
        page_link=lambda n: "/review?" + urlencode({**base, "page": n}),
        file_link=lambda path: "/review/file?" + urlencode({"path": path}),
        **_filters(),
    )


def _filters() -> dict[str, Any]:
    return {"status_filters": STATUS_FILTERS, "review_filters": REVIEW_FILTERS, "low_bar": LOW_CONFIDENCE}


async def review_file(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    path = request.query_params.get("path", "")
    try:
        found = await run_in_threadpool(ctx.review().file, path)
    except UserError as exc:
        return page(request, "file.html.j2", ctx, 400, error=str(exc), path=path, review=None)
    if found is None:
        return page(
            request, "file.html.j2", ctx, 404, error=f"{path}: no run knows this file", path=path, review=None
        )
    return page(request, "file.html.j2", ctx, path=path, review=found, low_bar=LOW_CONFIDENCE)


async def review_action(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    form = await form_of(request)
    path = one(form, "path")
    action = request.path_params["action"]
    review = ctx.review()
    try:
        if action not in ("accept", "reject"):  # a bad request whatever the tree is doing
            raise UnknownAction(f"unknown action {action!r}")
        if ctx.runs.active:
            raise UserError("a run is working on this tree: wait for it before accepting or rejecting")
        if action == "accept":
            await run_in_threadpool(review.accept, path, one(form, "sha"))
            notice = f"accepted the fixes in {path}"
        elif action == "reject":
            undone = await run_in_threadpool(partial(review.reject, path, say=lambda text: None))
            notice = f"rejected {path}: {len(undone)} write(s) of kantra-ai taken back"
    except UserError as exc:
        code = 400 if isinstance(exc, UnknownAction) else 409
        found = await run_in_threadpool(_safe_file, review, path)
        return page(
            request,
            "file.html.j2",
            ctx,
            code,
            error=str(exc),
            path=path,
            review=found,
            low_bar=LOW_CONFIDENCE,
        )
    return RedirectResponse("/review/file?" + urlencode({"path": path, "notice": notice}), status_code=303)


def _safe_file(review: Review, path: str) -> Any:
    try:
        return review.file(path)
    except UserError:
        return None


# -- settings ----------------------------------------------------------------------------------------


def _api_key(loaded: LoadedConfig) -> dict[str, str]:
    """Whether the provider's key is set, never its value."""
    try:
        preset = resolve_preset(loaded.settings.provider.name)
    except ProviderConfigError:
        return {"variable": "", "state": "unknown provider"}
    if preset.key_env is None:
        return {"variable": "", "state": "not needed (local provider)"}
    return {
        "variable": preset.key_env,
        "state": "set (hidden)" if os.environ.get(preset.key_env) else "NOT SET",
    }


def _settings_view(ctx: WebContext) -> dict[str, Any]:
    loaded = ctx.loaded()
    return {
        "sections": settings_sections(loaded),
        "target": str(ctx.config_target()),
        "files": [f.label for f in reversed(loaded.files)],
        "warnings": loaded.warnings,
        "api_key": _api_key(loaded),
    }


async def settings_page(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    try:
        view = await run_in_threadpool(_settings_view, ctx)
    except UserError as exc:
        return HTMLResponse(f"<p>{escape(str(exc))}</p>", status_code=400)
    return page(request, "settings.html.j2", ctx, **view)


async def settings_save(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    form = await form_of(request)

    def save() -> int:
        changes = changed_keys(settings_sections(ctx.loaded()), form)
        if changes:
            try:
                update_config_file(ctx.config_target(), changes)
            except ConfigError as exc:
                raise UserError(str(exc)) from None
        return len(changes)

    try:
        count = await run_in_threadpool(save)
    except UserError as exc:
        view = await run_in_threadpool(_settings_view, ctx)
        return page(request, "settings.html.j2", ctx, 400, error=str(exc), **view)
    return back(
        "/settings", f"saved {count} setting(s) to {ctx.config_target()}" if count else "nothing changed"
    )


# -- the rest ----------------------------------------------------------------------------------------


async def report_page(request: Request) -> Response:
    """The tree's report.html as `kantra-ai report` writes it (self-contained, its own inline script)."""
    ctx: WebContext = request.app.state.ctx
    text = await run_in_threadpool(_read_report, ctx)
    if text is None:
        return back("/run", "no report yet: it is written when a run ends")
    # The file is in the user's tree, where a repository can plant one of its own: served as is on
    # this origin, its script could open a page of the app, read the token and post settings (a
    # check command runs). `sandbox` gives it an origin of its own: no popups, no same-origin
    # access, no cookies; the report's own script (filters) still runs.
    csp = (
        "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
    )
    return HTMLResponse(text, headers={"content-security-policy": csp})


def _read_report(ctx: WebContext) -> str | None:
    """The report's text, never through a link (one in the tree could name any file)."""
    root = Path(os.path.realpath(ctx.input_dir))
    try:
        fd = open_inside(root, ctx.report_path().relative_to(ctx.input_dir))
    except (OSError, OutsideTreeError):
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return None
        return file.read().decode("utf-8", errors="replace")


async def home(request: Request) -> Response:
    return RedirectResponse("/plan", status_code=303)


def build_app(ctx: WebContext) -> Starlette:
    static = StaticFiles(packages=[("kantra_ai.web", "static")])
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/plan", plan_page),
            Route("/plan/edit", plan_edit, methods=["POST"]),
            Route("/plan/make", plan_make, methods=["POST"]),
            Route("/run", run_page),
            Route("/run/{action}", run_action, methods=["POST"]),
            Route("/events", events),
            Route("/progress", progress_json),
            Route("/review", review_page),
            Route("/review/file", review_file),
            Route("/review/{action}", review_action, methods=["POST"]),
            Route("/settings", settings_page),
            Route("/settings", settings_save, methods=["POST"]),
            Route("/report", report_page),
            Mount("/static", app=static, name="static"),
        ],
        # Every page, JSON answer, event and error page passes through the redaction layer.
        middleware=[Middleware(RedactResponses)],
    )
    app.state.ctx = ctx
    return app
