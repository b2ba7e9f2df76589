"""report.html and plan.html content: escaping, diffs, totals."""

from __future__ import annotations

from typing import Any

from kantra_ai.report.html import diff_rows, render_report_html, report_totals


def _record(**incident: Any) -> dict[str, Any]:
    row = {
        "id": "abc",
        "violation": "rs/rule-1",
        "rule_id": "rule-1",
        "description": "d",
        "category": "mandatory",
        "effort": 1,
        "file": "A.java",
        "line": 3,
        "message": "m",
        "status": "fixed",
        "reason": "",
        "confidence": 0.9,
        "explanation": "",
        "edits": [],
        "phase": None,
    }
    row.update(incident)
    return {
        "version": 1,
        "kind": "remediate",
        "created_at": "now",
        "input_dir": "/x",
        "summary": {},
        "incidents": [row],
        "files": [],
        "requests": [],
        "phases": [],
    }


def test_model_and_analyzer_text_is_escaped_never_markup() -> None:
    html = render_report_html(_record(explanation="<script>alert(1)</script>", message="<img src=x>"))
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x>" not in html


def test_diff_rows_mark_added_and_removed_lines() -> None:
    rows = diff_rows("import javax.a;\nclass A {}\n", "import jakarta.a;\nclass A {}\n")
    assert ("del", "-import javax.a;") in rows and ("add", "+import jakarta.a;") in rows


def test_totals_flag_low_confidence_fixes_and_unknown_cost() -> None:
    record = _record(confidence=0.5)
    record["requests"] = [
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_write_tokens": 0,
            "cache_read_tokens": 30,
            "cost": None,
            "error": "",
        }
    ]
    totals = report_totals(record)
    assert totals["low_confidence"] == 1
    assert totals["cost"] is None
    assert totals["cache_hit_ratio"] == 0.75


def test_low_confidence_is_judged_against_the_threshold_the_fix_was_held_to() -> None:
    held_high = _record(confidence=0.85)
    held_high["incidents"][0]["threshold"] = 0.9  # an expert-complexity fix held to 0.9
    held_low = _record(confidence=0.75)
    held_low["incidents"][0]["threshold"] = 0.7  # a trivial fix held to 0.7
    assert report_totals(held_high)["low_confidence"] == 1
    assert report_totals(held_low)["low_confidence"] == 0
