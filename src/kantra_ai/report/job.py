"""The job's record: everything the run store knows about one tree, across runs, as one JSON document.

report.html is rendered from it and `run.json` next to it is a copy of it, so a rerun that does
nothing, a resume, or `kantra-ai report` days later all show the whole job: every incident any run
worked on with its latest status, explanation, confidence and threshold, and the history of its
outcomes; each run's requests, tokens and cost; each changed file's diff from before the first run
that wrote it to now, with real line numbers; and, per incident, the hunks of that diff its edits
made.

The document is compact on purpose (10,000 files must stay one offline file that a browser opens
in a few seconds): rules and files are listed once and referred to by index, messages once each.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kantra_ai.edits.files import decode_text
from kantra_ai.edits.linediff import LineMatcher
from kantra_ai.edits.lines import split_content
from kantra_ai.engine.outcomes import Status
from kantra_ai.plan.state import phase_status
from kantra_ai.store.checks import checks_of, repair_costs, repair_rounds_by_path
from kantra_ai.store.queries import died_runs, selection_left_out, shown_status, store_view
from kantra_ai.store.run_store import RunStore
from kantra_ai.verify.loop import describe

RECORD_VERSION = 2
_DECIDED = frozenset(s.value for s in Status)  # an incident's statuses once a run decided it
CONTEXT_LINES = 3


def _iso(stamp: float | None) -> str | None:
    if not stamp:
        return None
    return datetime.fromtimestamp(stamp, tz=UTC).isoformat(timespec="seconds")


Hunk = list[Any]  # [old_start, old_length, new_start, new_length, "lines, each with its +/-/space"]


def diff_hunks(before: str, after: str, context: int = CONTEXT_LINES) -> list[Hunk]:
    """The unified diff of two texts as hunks with real line numbers (1-based, as `diff -u`): lines
    as the file has them, ended by "\n" only (a form feed or U+2028 inside a line does not end it)."""
    a, b = split_content(before)[0], split_content(after)[0]
    hunks: list[Hunk] = []
    matcher = LineMatcher(a, b)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        lines: list[str] = []
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                lines += [" " + line for line in a[a1:a2]]
                continue
            lines += ["-" + line for line in a[a1:a2]]
            lines += ["+" + line for line in b[b1:b2]]
        hunks.append([i1 + 1, i2 - i1, j1 + 1, j2 - j1, "\n".join(lines)])
    return hunks


def _line_span(text: str, needle: str) -> tuple[int, int] | None:
    """1-based first and last line of `needle`'s first occurrence in `text`, or None."""
    if not needle.strip():
        return None
    at = text.find(needle)
    if at < 0:
        return None
    first = text.count("\n", 0, at) + 1
    return first, first + max(needle.count("\n") - (1 if needle.endswith("\n") else 0), 0)


def hunks_for(hunks: Sequence[Hunk], spans: Iterable[tuple[int, int]], near: int | None) -> list[int]:
    """Indexes of the hunks whose old side overlaps one of `spans` (lines of the original file);
    with no span, the hunk nearest to line `near` (the analyzer's line), within a few lines."""
    found = [
        n
        for n, (start, length, *_rest) in enumerate(hunks)
        for first, last in spans
        if start <= last and first <= start + max(length, 1) - 1
    ]
    if found:
        return sorted(set(found))
    if near is None or not hunks:
        return []
    distance, best = min(
        (min(abs(near - h[0]), abs(near - (h[0] + max(h[1], 1) - 1))), n) for n, h in enumerate(hunks)
    )
    return [best] if distance <= 5 else []


def job_record(store: RunStore, input_dir: Path) -> dict[str, Any]:
    """The job's record for report.html and run.json, from the store alone."""
    tree = store.tree
    died = died_runs(store, input_dir)
    view = store_view(store, input_dir, runs=1_000_000, died=died)
    runs = sorted(view["runs"], key=lambda r: r["run"])
    details = {
        int(run_id): json.loads(str(text or "{}"))
        for run_id, text in store.query("SELECT id, details FROM runs WHERE tree=?", (tree,))
    }
    rules: list[dict[str, Any]] = []
    rule_index: dict[tuple[str, str], int] = {}
    for ruleset, rule, description, category, effort, complexity in store.query(
        "SELECT ruleset, rule, description, category, effort, complexity FROM violations WHERE tree=?"
        " ORDER BY rule, ruleset",
        (tree,),
    ):
        rule_index[(str(ruleset), str(rule))] = len(rules)
        rules.append(
            {
                "id": rule,
                "ruleset": ruleset,
                "description": description,
                "category": category,
                "effort": effort,
                "complexity": complexity,
            }
        )

    files, file_index = _changed_files(store, tree)
    spans_of = _edited_spans(store, tree)
    history: dict[str, list[list[Any]]] = {}
    for run_id, incident_id, status, reason in store.query(
        "SELECT o.run_id, o.incident_id, o.status, o.reason FROM outcomes o JOIN runs r ON r.id = o.run_id"
        " WHERE r.tree=? ORDER BY o.at, o.rowid",
        (tree,),
    ):
        history.setdefault(str(incident_id), []).append([run_id, status, reason])

    messages: list[str] = []
    message_index: dict[str, int] = {}
    incidents: list[dict[str, Any]] = []
    for row in store.query(
        "SELECT id, ruleset, rule, path, line, status, reason, confidence, threshold, explanation, message,"
        " stage, run_id, verification, repair_rounds, verification_detail FROM incidents WHERE tree=?"
        " ORDER BY path, line, rule, id",
        (tree,),
    ):
        incident_id, ruleset, rule, path, line, status, reason, confidence, threshold = row[:9]
        explanation, message, stage, run_id, verification, rounds, detail = row[9:]
        key = (str(ruleset), str(rule))
        if key not in rule_index:  # a store written before the rules were kept
            rule_index[key] = len(rules)
            rules.append({"id": rule, "ruleset": ruleset, "description": "", "category": "",
                          "effort": None, "complexity": "medium"})  # fmt: skip
        message_no = message_index.setdefault(str(message), len(messages))
        if message_no == len(messages):
            messages.append(str(message))
        entry: dict[str, Any] = {
            "id": incident_id,
            "rule": rule_index[key],
            "file": str(path),
            "line": line,
            "status": shown_status(str(status), died),  # as `status` shows it
            "reason": reason,
            "confidence": confidence,
            "threshold": threshold,
            "explanation": explanation,
            "message": message_no,
            "phase": stage or None,
            "run": run_id,
        }
        changed = file_index.get(str(path))
        if changed is not None:
            file = files[changed]
            spans = spans_of.get(str(incident_id), [])
            found = hunks_for(file["hunks"], spans, line if status == "fixed" else None)
            if found:
                entry["hunks"] = found
        if verification:  # what its build or test check decided (--verify)
            entry["verification"] = describe(str(verification), int(rounds), str(detail))
        if len(history.get(str(incident_id), [])) > 1:
            entry["history"] = history[str(incident_id)]
        incidents.append(entry)

    latest = runs[-1] if runs else {}
    last_details = details.get(int(latest["run"]), {}) if latest else {}
    return {
        "version": RECORD_VERSION,
        "kind": last_details.get("kind", "remediate"),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_dir": str(input_dir.resolve()),
        "store": str(store.path),
        "provider": latest.get("provider", ""),
        "price": last_details.get("price"),
        "model": latest.get("model", ""),
        "runs": [
            {
                **r,
                "started_at": _iso(r["started_at"]),
                "finished_at": _iso(r["finished_at"]),
                "kind": details.get(int(r["run"]), {}).get("kind", ""),
            }
            for r in runs
        ],
        "totals": _totals(incidents, runs),
        "phases": _phases(incidents, [details.get(int(r["run"]), {}) for r in runs]),
        "confidence": _confidence(incidents, rules, last_details.get("confidence") or {}),
        **selection_left_out(store),  # not_applicable (not sent) and informational, as status says
        "rules": rules,
        "messages": messages,
        "files": files,
        "incidents": incidents,
        "git": view.get("git", []),  # jobs delivered through git: commits, branches, pull requests
        "verification": _verification(store, view, [int(r["run"]) for r in runs]),
    }


def _verification(store: RunStore, view: dict[str, Any], runs: list[int]) -> dict[str, Any] | None:
    """What the checks of the job's runs decided (--verify): None when no run verified."""
    checks = checks_of(store, runs) if runs else []
    baseline = next((c for c in reversed(checks) if c.kind == "baseline"), None)
    if baseline is None:
        return None
    costs = repair_costs(store, runs)
    rounds = repair_rounds_by_path(store)
    return {
        "command": baseline.command,
        "baseline_passed": baseline.exit_code == 0,
        "checks": len(checks),  # every check run: the baselines, the tree's, bisection's probes
        "incidents": view.get("verification", {}).get("incidents", {}),
        "files": [
            {
                "path": path,
                "rounds": rounds.get(path, 0),
                "repair_requests": costs.get(path, (0, 0.0))[0],
                "repair_cost_usd": costs.get(path, (0, 0.0))[1],
            }
            for path in sorted(set(costs) | set(rounds))
        ],
    }


def _changed_files(store: RunStore, tree: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every file a run wrote: its diff from before the first write to after the last one."""
    span: dict[str, list[str]] = {}
    for path, before, after in store.query(
        "SELECT path, before_sha, after_sha FROM writes WHERE tree=? AND state='written' ORDER BY id",
        (tree,),
    ):
        first_last = span.setdefault(str(path), [str(before), str(after)])
        first_last[1] = str(after)
    stats: dict[str, tuple[Any, ...]] = {
        str(r[0]): r[1:]
        for r in store.query(
            "SELECT q.path, count(*), sum(q.input_tokens + q.cache_write_tokens), sum(q.cache_read_tokens),"
            " sum(q.output_tokens), sum(coalesce(q.cost, 0)) FROM requests q JOIN runs r ON r.id = q.run_id"
            " WHERE r.tree=? GROUP BY q.path",
            (tree,),
        )
    }
    files: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for path in sorted(span):
        before, after = (_text(store, sha) for sha in span[path])
        hunks = diff_hunks(before, after) if before is not None and after is not None else []
        s = stats.get(path, (0, 0, 0, 0, 0.0))
        index[path] = len(files)
        files.append(
            {
                "path": path,
                "hunks": hunks,
                "diff_known": before is not None and after is not None,
                "requests": int(s[0] or 0),
                "input": int(s[1] or 0),
                "cache_read": int(s[2] or 0),
                "output": int(s[3] or 0),
                "cost": round(float(s[4] or 0.0), 6),
            }
        )
    return files, index


def _text(store: RunStore, sha: str) -> str | None:
    """A file's content as a write recorded it (the store keeps the bytes by hash), as text: decoded
    as the run read it (a legacy encoding's accents, not U+FFFD; "\n" newlines, no BOM)."""
    content = store.content(sha)
    if content is None:
        return None
    return decode_text(content)


def _edited_spans(store: RunStore, tree: str) -> dict[str, list[tuple[int, int]]]:
    """incident id -> the lines of the original file each edit naming it replaced, for every write.
    Found write by write: no file's text is held beyond its own write (a run of thousands of files
    would hold them all)."""
    found: dict[str, list[tuple[int, int]]] = {}
    first_before: dict[str, str] = {}
    for path, before_sha, edits in store.query(
        "SELECT path, before_sha, edits FROM writes WHERE tree=? AND state='written' ORDER BY id", (tree,)
    ):
        first_before.setdefault(str(path), str(before_sha))
        # Line numbers are those of the original file: an edit of a later write is found in it when
        # it can be (earlier edits elsewhere in the file do not move it much), else in its own text.
        original = _text(store, first_before[str(path)]) or ""
        own = (
            original if first_before[str(path)] == str(before_sha) else (_text(store, str(before_sha)) or "")
        )
        for edit in json.loads(str(edits or "[]")):
            old = str(edit.get("old_text", ""))
            span = _line_span(original if old and old in original else own, old)
            if span is None:
                continue
            for incident_id in edit.get("incident_ids", []):
                found.setdefault(str(incident_id), []).append(span)
    return found


def _totals(incidents: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    statuses = Counter(i["status"] for i in incidents)
    costs = [r["cost_usd"] for r in runs]
    cost = None if any(c is None for c in costs) else round(sum(costs), 6)
    tokens = {k: sum(r["tokens"][k] for r in runs) for k in ("input", "cache_write", "cache_read", "output")}
    cacheable = tokens["input"] + tokens["cache_write"] + tokens["cache_read"]
    fixed = statuses.get("fixed", 0)
    return {
        "incidents": len(incidents),
        "statuses": dict(statuses),
        "requests": sum(r["requests"] for r in runs),
        "failed_requests": sum(r["failed_requests"] for r in runs),
        "lost_requests": sum(r["lost_requests"] for r in runs),  # never answered: cost unknown, not in cost
        "tokens": tokens,
        "cache_hit_ratio": round(tokens["cache_read"] / cacheable, 4) if cacheable else 0.0,
        "cost": cost,
        "cost_per_fixed": round(cost / fixed, 6) if cost is not None and fixed else None,
        "low_confidence": sum(1 for i in incidents if is_low_confidence(i)),
    }


def _phases(incidents: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job's phases: every phase an `execute` run of the job ran (`runs`: each run's details,
    oldest first), in the order they first ran, under their latest name, with their incidents'
    latest statuses. A later run of other phases, or a `remediate`, leaves them in the report."""
    names: dict[str, str] = {}
    for details in runs:
        if details.get("kind") == "execute":
            for stage in details.get("stages", []):
                names[str(stage["id"])] = str(stage["name"])
    by_phase: dict[str, Counter[str]] = {}
    for incident in incidents:
        if incident["phase"]:
            by_phase.setdefault(incident["phase"], Counter())[incident["status"]] += 1
    rows = []
    for phase_id, name in names.items():
        counts = by_phase.get(phase_id, Counter())
        # Pending or in flight (None): the phase's run stopped before deciding them.
        statuses = [Status(s) if s in _DECIDED else None for s in counts.elements()]
        status = phase_status(statuses, interrupted=None in statuses)
        rows.append({"id": phase_id, "name": name, "status": status, "counts": dict(counts)})
    return rows


# A fix is flagged "low confidence" below the threshold it was held to, else below this general bar.
LOW_CONFIDENCE = 0.8


def is_low_confidence(row: dict[str, Any]) -> bool:
    if row["status"] != "fixed" or row.get("confidence") is None:
        return False
    threshold = row.get("threshold")
    return float(row["confidence"]) < (LOW_CONFIDENCE if threshold is None else float(threshold))


def _confidence(
    incidents: Sequence[dict[str, Any]], rules: Sequence[dict[str, Any]], settings: dict[str, Any]
) -> dict[str, Any]:
    """Per migration complexity: the threshold, incidents, fixed, and fixes below the threshold."""
    if not settings.get("enabled"):
        return {"enabled": False}
    rows: dict[str, dict[str, Any]] = {}
    thresholds = settings.get("thresholds", {})
    for incident in incidents:
        complexity = rules[incident["rule"]]["complexity"]
        row = rows.setdefault(
            complexity,
            {"threshold": thresholds.get(complexity), "incidents": 0, "fixed": 0, "below_threshold": 0},
        )
        row["incidents"] += 1
        row["fixed"] += incident["status"] == "fixed"
        threshold = incident["threshold"] if incident["threshold"] is not None else row["threshold"]
        confident = incident["confidence"]
        if incident["status"] in ("fixed", "skipped") and confident is not None and threshold is not None:
            row["below_threshold"] += confident < threshold
    order = ["trivial", "low", "medium", "high", "expert"]
    return {
        "enabled": True,
        "action": settings.get("action"),
        "review_file": settings.get("review_file")
        if settings.get("action") == "manual-review-file"
        else None,
        "by_complexity": {name: rows[name] for name in order if name in rows},
    }
