"""report.html content: the job's record embedded safely, diffs with real line numbers, low confidence
judged against the threshold each fix was held to."""

from __future__ import annotations

import html as html_lib
import json
import re
from typing import Any

from kantra_ai.report.html import render_report_html
from kantra_ai.report.job import diff_hunks, hunks_for, is_low_confidence


def _record(**incident: Any) -> dict[str, Any]:
    row = {
        "id": "abc", "rule": 0, "file": "A.java", "line": 3, "status": "fixed", "reason": "",
        "confidence": 0.9, "threshold": None, "explanation": "", "message": 0, "phase": None, "run": 1,
    }  # fmt: skip
    row.update(incident)
    return {
        "version": 2, "kind": "remediate", "created_at": "now", "input_dir": "/x", "store": "/x/s.db",
        "provider": "claude", "model": "m", "price": None, "runs": [], "phases": [],
        "confidence": {"enabled": False},
        "not_applicable": [], "informational": 0,
        "totals": {"incidents": 1, "statuses": {"fixed": 1}, "requests": 0, "failed_requests": 0,
                   "tokens": {"input": 0, "cache_write": 0, "cache_read": 0, "output": 0},
                   "cache_hit_ratio": 0.0, "cost": None, "cost_per_fixed": None, "low_confidence": 0},
        "rules": [{"id": "rule-1", "ruleset": "rs", "description": "d", "category": "mandatory",
                   "effort": 1, "complexity": "trivial"}],
        "messages": ["<img src=x> </script><script>alert(2)</script>"],
        "files": [], "incidents": [row],
    }  # fmt: skip


def _embedded(page: str) -> Any:
    found = re.search(r'<script type="application/json" id="job-data">(.*?)</script>', page, re.DOTALL)
    assert found is not None
    return json.loads(found.group(1))


def test_model_and_analyzer_text_cannot_break_out_of_the_embedded_data() -> None:
    record = _record(explanation="</script><script>alert(1)</script>")
    page = render_report_html(record)
    assert "<script>alert(1)" not in page and "<script>alert(2)" not in page
    assert "<img src=x>" not in html_lib.unescape(page.split('id="job-data">', 1)[0])
    data = _embedded(page)  # and the page reads back exactly what was written
    assert data["incidents"][0]["explanation"] == "</script><script>alert(1)</script>"
    assert data["messages"] == record["messages"]


def test_a_diff_hunk_carries_the_real_line_numbers_and_context() -> None:
    before = "".join(f"line {n}\n" for n in range(1, 31))
    after = before.replace("line 12\n", "line twelve\n")
    [hunk] = diff_hunks(before, after)
    assert hunk[:4] == [9, 7, 9, 7]  # three lines of context either side of line 12
    lines = hunk[4].splitlines()
    assert lines[:3] == [" line 9", " line 10", " line 11"]
    assert "-line 12" in lines and "+line twelve" in lines


def test_a_diff_hunk_numbers_the_lines_as_the_file_does_when_a_line_holds_a_form_feed() -> None:
    # str.splitlines() also ends a line at a form feed, U+2028 or U+0085: the hunk then numbered
    # lines past one of them wrongly and showed that line as two.
    before = "page one \x0c page two\nsep \u2028 here\nimport javax.X;\nend\n"
    [hunk] = diff_hunks(before, before.replace("javax", "jakarta"))
    assert hunk[:4] == [1, 4, 1, 4]
    assert hunk[4].split("\n") == [
        " page one \x0c page two",
        " sep \u2028 here",
        "-import javax.X;",
        "+import jakarta.X;",
        " end",
    ]


def test_an_incident_gets_the_hunk_its_edit_made_not_another() -> None:
    before = "".join(f"line {n}\n" for n in range(1, 61))
    after = before.replace("line 5\n", "line five\n").replace("line 50\n", "line fifty\n")
    hunks = diff_hunks(before, after)
    assert len(hunks) == 2
    assert hunks_for(hunks, [(50, 50)], near=None) == [1]
    assert hunks_for(hunks, [], near=6) == [0]  # no edit text found: the hunk at the analyzer's line
    assert hunks_for(hunks, [], near=30) == []  # nothing near: no diff rather than a wrong one


def test_low_confidence_is_judged_against_the_threshold_the_fix_was_held_to() -> None:
    assert is_low_confidence({"status": "fixed", "confidence": 0.85, "threshold": 0.9})
    assert not is_low_confidence({"status": "fixed", "confidence": 0.75, "threshold": 0.7})
    assert is_low_confidence({"status": "fixed", "confidence": 0.75, "threshold": None})  # general bar 0.8
    assert not is_low_confidence({"status": "failed", "confidence": 0.1, "threshold": 0.7})
