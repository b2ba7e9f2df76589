"""The Hub's insights of an application's latest analysis as the analyzer's own output file, which
the analysis loader reads like any other: rule sets with their `violations` (effort > 0) and
`insights` (informational), each incident with its URI, line, message and code snippet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from kantra_ai._fs import write_atomic
from kantra_ai.hub.client import Insight


def analysis_document(insights: Sequence[Insight]) -> list[dict[str, Any]]:
    rulesets: dict[str, dict[str, Any]] = {}
    for insight in insights:
        ruleset = rulesets.setdefault(insight.ruleset, {"name": insight.ruleset})
        section = ruleset.setdefault("violations" if insight.effort > 0 else "insights", {})
        entry: dict[str, Any] = {
            "description": insight.description or insight.name,
            "category": insight.category or "potential",
            "labels": list(insight.labels or []),
            "incidents": [
                {"uri": i.file, "message": i.message, "codeSnip": i.code_snip}
                | ({"lineNumber": i.line} if i.line > 0 else {})
                for i in insight.incidents
            ],
            "links": [{"url": link.url, "title": link.title} for link in insight.links],
        }
        if insight.effort > 0:
            entry["effort"] = insight.effort
        section[insight.rule] = entry
    return list(rulesets.values())


def write_analysis(insights: Sequence[Insight], path: Path) -> Path:
    write_atomic(path, yaml.safe_dump(analysis_document(insights), sort_keys=False, allow_unicode=True))
    return path
