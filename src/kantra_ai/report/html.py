"""plan.html and report.html: single self-contained files that work offline.

No CDN, no fonts, no images to fetch: CSS and the little JavaScript are inline, charts are inline
SVG drawn here, diffs come from difflib. Everything the model or the analyzer wrote is escaped
(Jinja2 autoescape), so a hostile message cannot inject markup.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup, escape

from kantra_ai.plan.model import RISK_ORDER, Plan

# A fix is flagged "low confidence" below the threshold it was held to (confidence filtering on),
# else below this general bar.
LOW_CONFIDENCE = 0.8


def is_low_confidence(row: dict[str, Any]) -> bool:
    if row["status"] != "fixed" or row.get("confidence") is None:
        return False
    threshold = row.get("threshold")
    return float(row["confidence"]) < (LOW_CONFIDENCE if threshold is None else float(threshold))


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
    )
    env.filters["money"] = money
    return env


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


def diff_rows(before: str, after: str, context: int = 3) -> list[tuple[str, str]]:
    """A unified diff as (kind, text) rows; kind is hunk, add, del or ctx."""
    rows: list[tuple[str, str]] = []
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=context)
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            rows.append(("hunk", line))
        elif line.startswith("+"):
            rows.append(("add", line))
        elif line.startswith("-"):
            rows.append(("del", line))
        else:
            rows.append(("ctx", line))
    return rows


def _guidance(messages: Sequence[str], limit: int = 3) -> list[str]:
    unique: list[str] = []
    for message in messages:
        text = message.strip()
        if text and text not in unique:
            unique.append(text)
    return unique[:limit]


def render_plan_html(plan: Plan) -> str:
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
        .render(
            plan=plan,
            phases=phases,
            charts=charts,
            guidance=guidance,
            total_incidents=sum(p.incident_count for p in phases),
            total_cost=sum(p.estimated_cost for p in phases if not p.deferred),
            total_minutes=sum(p.estimated_duration_minutes for p in phases if not p.deferred),
        )
    )


def report_totals(record: dict[str, Any]) -> dict[str, Any]:
    """Counts from the incident rows, tokens and cost from the request rows (merge-safe)."""
    statuses = Counter(row["status"] for row in record["incidents"])
    requests = record.get("requests", [])
    tokens = {
        key: sum(int(r.get(f"{key}_tokens", 0) or 0) for r in requests)
        for key in ("input", "output", "cache_write", "cache_read")
    }
    costs = [r.get("cost") for r in requests]
    cost = None if any(c is None for c in costs) else sum(float(c) for c in costs if c is not None)
    cacheable = tokens["input"] + tokens["cache_write"] + tokens["cache_read"]
    low = [r for r in record["incidents"] if is_low_confidence(r)]
    return {
        "incidents": len(record["incidents"]),
        "statuses": dict(statuses),
        "fixed": statuses.get("fixed", 0),
        "failed": statuses.get("failed", 0),
        "skipped": statuses.get("skipped", 0),
        "not_applicable": statuses.get("not_applicable", 0),
        "low_confidence": len(low),
        "requests": len(requests),
        "failed_requests": sum(1 for r in requests if r.get("error")),
        "tokens": tokens,
        "cost": cost,
        "cost_per_fixed": (cost / statuses["fixed"]) if cost is not None and statuses.get("fixed") else None,
        "cache_hit_ratio": (tokens["cache_read"] / cacheable) if cacheable else 0.0,
    }


def render_report_html(record: dict[str, Any]) -> str:
    by_violation: dict[str, list[dict[str, Any]]] = {}
    for row in record["incidents"]:
        by_violation.setdefault(row["violation"], []).append(row)
    per_file: dict[str, dict[str, Any]] = {}
    for r in record.get("requests", []):
        stats = per_file.setdefault(r["path"], {"requests": 0, "input": 0, "output": 0, "cache_read": 0})
        stats["requests"] += 1
        stats["input"] += r["input_tokens"] + r["cache_write_tokens"]
        stats["output"] += r["output_tokens"]
        stats["cache_read"] += r["cache_read_tokens"]
    edit_diffs = {
        row["id"]: [diff_rows(e["old"], e["new"], context=2) for e in row["edits"]]
        for row in record["incidents"]
    }
    summary = record.get("summary", {})
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            record=record,
            totals=report_totals(record),
            provider=summary.get("provider", ""),
            model=summary.get("model", ""),
            price=summary.get("price"),  # the rates and their source (providers/pricing.py)
            by_violation=by_violation,
            edit_diffs=edit_diffs,
            file_diffs={f["path"]: diff_rows(f["before"], f["after"]) for f in record.get("files", [])},
            per_file=per_file,
            low_confidence=LOW_CONFIDENCE,
            is_low_confidence=is_low_confidence,
            confidence=summary.get("confidence") or {},  # per-complexity counts (engine/confidence.py)
        )
    )
