"""plan.html and report.html: single self-contained files that work offline.

No CDN, no fonts, no images to fetch: CSS and the little JavaScript are inline, charts are inline
SVG drawn here, diffs come from difflib. Everything the model or the analyzer wrote is escaped
(Jinja2 autoescape), so a hostile message cannot inject markup.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from kantra_ai._fs import atomic_writer
from kantra_ai.analysis.uris import KNOWN_ROOTS, detect_source_roots, strip_root, uri_to_path
from kantra_ai.plan.model import RISK_ORDER, Plan
from kantra_ai.redact import redact, value_redactor
from kantra_ai.report.job import LOW_CONFIDENCE

_BAR_COLORS = ("#3b6fb6", "#4c9a6a", "#c98a2b", "#b6453b", "#7a5bb0", "#3b9ab6", "#8a8a8a")
_RISK_COLORS = {"low": "#4c9a6a", "medium": "#c98a2b", "high": "#b6453b"}


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kantra_ai.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_redacted,
    )
    env.filters["money"] = money
    return env


@jinja2.pass_context
def _redacted(context: jinja2.runtime.Context, value: Any) -> Any:
    """Every value a page prints, redacted before it is escaped (kantra_ai.redact): the templates
    hold no secret, so neither does a page, which is then written as it is rendered, never whole in
    memory. With the `redactor` of the render when it passes one (read once, not per value)."""
    if not isinstance(value, str):
        return value  # numbers, dates and the like: printed as they are
    clean = context.get("redactor") or redact
    cleaned = clean(str(value))
    return Markup(cleaned) if isinstance(value, Markup) else cleaned


def money(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def bar_chart(title: str, items: Sequence[tuple[str, int]], colors: dict[str, str] | None = None) -> Markup:
    """A horizontal bar chart as inline SVG (no script, no external resource)."""
    width, label_w, bar_h, gap = 420, 130, 20, 8
    height = 28 + len(items) * (bar_h + gap)
    top = max((n for _, n in items), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<text x="0" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for n, (label, count) in enumerate(items):
        y = 28 + n * (bar_h + gap)
        w = max(2, int((width - label_w - 50) * count / top)) if count else 0
        color = (colors or {}).get(label, _BAR_COLORS[n % len(_BAR_COLORS)])
        parts.append(f'<text x="0" y="{y + 15}" class="chart-label">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{color}" rx="3"/>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 15}" class="chart-value">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _guidance(messages: Sequence[str], limit: int = 3) -> list[str]:
    unique: list[str] = []
    for message in messages:
        text = message.strip()
        if text and text not in unique:
            unique.append(text)
    return unique[:limit]


def tree_paths(uris: Sequence[str]) -> dict[str, str]:
    """Each analyzer URI as a path relative to the analyzed tree (`src/main/...`, not
    `file:///opt/input/source/src/main/...`), with the roots the URI mapping knows or finds."""
    decoded = {uri: uri_to_path(uri) for uri in uris}
    roots = detect_source_roots(decoded.values(), Path(os.devnull)) + list(KNOWN_ROOTS)
    shown: dict[str, str] = {}
    for uri, path in decoded.items():
        rest = next((r for root in roots if (r := strip_root(path, root))), None)
        shown[uri] = rest or path
    return shown


def write_plan_html(plan: Plan, path: Path) -> None:
    """plan.html, atomically, written as it is rendered (a 100,000-incident plan's page is ~25 MB)."""
    with atomic_writer(path) as out:
        for piece in _plan_html_pieces(plan):
            out.write(piece.encode("utf-8"))


def _plan_html_pieces(plan: Plan) -> Iterator[str]:
    phases = plan.ordered_phases()
    violations = [v for p in phases for v in p.violations]
    by_category = Counter(v.category for v in violations)
    by_effort = Counter(v.effort for v in violations)
    by_risk: Counter[str] = Counter()
    for phase in phases:
        by_risk[phase.risk] += phase.incident_count
    charts = [
        bar_chart("Violations by category", sorted(by_category.items())),
        bar_chart(
            "Incidents by phase risk",
            [(r, by_risk.get(r, 0)) for r in sorted(RISK_ORDER, key=RISK_ORDER.__getitem__)],
            _RISK_COLORS,
        ),
        bar_chart("Violations by effort", [(f"effort {e}", n) for e, n in sorted(by_effort.items())]),
    ]
    guidance = {
        (p.id, v.key): _guidance([i.message for i in v.incidents]) for p in phases for v in p.violations
    }
    return (
        _environment()
        .get_template("plan.html.j2")
        .generate(
            redactor=value_redactor(),
            plan=plan,
            phases=phases,
            charts=charts,
            guidance=guidance,
            total_incidents=sum(p.incident_count for p in phases),
            paths=tree_paths([i.uri for v in violations for i in v.incidents]),
            total_cost=sum(p.estimated_cost for p in phases if not p.deferred),
            total_minutes=sum(p.estimated_duration_minutes for p in phases if not p.deferred),
        )
    )


def _embedded_json(data: Any) -> Markup:
    """JSON inside <script type="application/json">, with every "<" written as \\u003c: nothing in it
    can end the script or open a tag, whatever the model or the analyzer wrote."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c"))


def render_report_html(record: dict[str, Any]) -> str:
    """The job's report: the summary is HTML; incidents, filters and diffs are drawn by the page's
    script from the record embedded as JSON (one offline file; only what is opened is drawn)."""
    totals = record["totals"]
    data = {k: record[k] for k in ("rules", "messages", "files", "incidents")}
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            record=record,
            totals=totals,
            statuses=totals["statuses"],
            data=_embedded_json(data),
            low_confidence=LOW_CONFIDENCE,
            missing=sorted({r["file"] for r in record["not_applicable"] if r["reason"] == "missing-file"}),
            not_applicable=Counter(row["reason"] for row in record["not_applicable"]),
        )
    )


def render_portfolio_html(meta: dict[str, Any], apps: Sequence[dict[str, Any]]) -> str:
    """The portfolio's report: one row per application (state, incidents, verification, pull
    requests, cost) linking to the application's own report (`report_link`, relative)."""
    states = Counter(str(a["state"]) for a in apps)
    cards = [
        ("applications", len(apps)),
        ("done", states.get("done", 0)),
        ("partial", states.get("partial", 0)),
        ("failed", states.get("failed", 0)),
        ("incidents fixed", sum(int(a["fixed"]) for a in apps)),
        ("incidents failed", sum(int(a["failed"]) for a in apps)),
        ("incidents not sent", sum(int(a.get("skipped") or 0) for a in apps)),
        ("cost", money(sum(float(a["cost"]) for a in apps))),
    ]
    return _environment().get_template("portfolio.html.j2").render(meta=meta, apps=apps, cards=cards)
