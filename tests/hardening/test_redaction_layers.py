"""Each place where text leaves the process masks secrets on its own, so that no one of them relies
on another having done it: provider errors, the run store, the console, run.json and report.html,
the review file, plan.yaml and plan.html. (test_secrets_never_leave.py runs them all end to end.)"""

from __future__ import annotations

import html
import io
import json
import sqlite3
from pathlib import Path

import markupsafe
import pytest
from tests.cli.helpers import analysis_of, copy_example, run

from kantra_ai.app.options import RunOptions, SelectionOptions
from kantra_ai.app.plan_editor import PlanEditor
from kantra_ai.engine.outcomes import RequestRecord
from kantra_ai.engine.review_file import append_review_entries
from kantra_ai.plan.model import Phase, Plan, PlanIncident, PlanMetadata, PlannedViolation
from kantra_ai.providers.base import ModelResponse, ProviderError, one_line, status_error
from kantra_ai.providers.pricing import Usage
from kantra_ai.redact import redact
from kantra_ai.report.record import load_record, write_report
from kantra_ai.store.run_store import RunStore

CONFIGURED = "configured-Secret-value-9f3k2"  # no known shape: masked because the environment holds it
SHAPED = "sk-ant-api03-Zx9vQ2mN7pL4kR8tY1wE5uI0oP3aS6dF"  # masked by its shape alone


@pytest.fixture(autouse=True)
def _configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", CONFIGURED)


def _clean(data: bytes) -> bool:
    return CONFIGURED.encode() not in data and SHAPED.encode() not in data


def test_provider_errors_are_masked_where_they_are_made() -> None:
    error = status_error("m", 401, f"Incorrect API key provided: {SHAPED}, also {CONFIGURED}", {}, Usage())
    assert _clean(str(error).encode())
    assert "sk-ant-***" in str(error)
    # Every ProviderError, whoever raises it (the pacing layer re-raises with its own text), and
    # every one-line SDK message are masked too.
    assert _clean(str(ProviderError(f"gave up: {SHAPED} {CONFIGURED}")).encode())
    assert _clean(one_line(f"body:\n{SHAPED}\n{CONFIGURED}").encode())


def test_the_run_store_masks_every_text_it_is_given(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = RunStore.open(db, ".")
    run_id = store.begin_run(
        mode="incremental", analysis=f"/tmp/{CONFIGURED}.yaml", provider="claude", model="m",
        resumes=None, selected=0, planned=0, skipped_done=0,
    )  # fmt: skip
    request = store.request_started(run_id, "src/A.java", [])
    store.request_failed(
        request, RequestRecord("src/A.java", (), 0, Usage(), None, "", f"HTTP 401: {SHAPED}")
    )
    reply = ModelResponse(f"the key is {CONFIGURED}", None, "end_turn", Usage())
    second = store.request_started(run_id, "src/B.java", [])
    store.keep_reply(second, "fp", reply)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert _clean(raw)
    # The masked copy of a reply is never applied (it would write "***" into a file).
    rows = sqlite3.connect(db).execute("SELECT state FROM replies").fetchall()
    assert rows == [("masked",)]
    assert RunStore.open(db, ".").stored_reply("fp") is None


def test_a_reply_cut_off_inside_a_configured_secret_keeps_neither_part(tmp_path: Path) -> None:
    """A reply stopped at max_tokens in the middle of the secret, and the continuation that wrote
    its rest: each part, which alone is not the configured value, is masked where the text is cut."""
    cut = 17
    db = tmp_path / "state.db"
    store = RunStore.open(db, ".")
    run_id = store.begin_run(
        mode="incremental", analysis="a.yaml", provider="claude", model="m",
        resumes=None, selected=0, planned=0, skipped_done=0,
    )  # fmt: skip
    for n, text in enumerate((f'{{"new": "password = {CONFIGURED[:cut]}', f'{CONFIGURED[cut:]}"}}')):
        request = store.request_started(run_id, f"src/F{n}.java", [])
        store.keep_reply(request, f"fp{n}", ModelResponse(text, None, "max_tokens", Usage()))
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert CONFIGURED[:cut].encode() not in raw and CONFIGURED[cut:].encode() not in raw
    # Text that shares fewer than a piece's characters with it is left alone.
    assert redact("the configured- value, and value-9f3k2") == "the configured- value, and value-9f3k2"


def test_the_console_masks_what_is_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / f"{SHAPED}-{CONFIGURED}.yaml"
    assert run("remediate", "--analysis", missing, "--input", tmp_path) == 2
    captured = capsys.readouterr()
    assert "analysis file not found" in captured.err
    assert _clean((captured.out + captured.err).encode())


def test_run_json_and_report_html_are_masked(tmp_path: Path) -> None:
    """A real job record (from a simulated run), with secrets put into its texts, written again."""
    app = copy_example("javaee-inventory", tmp_path)
    assert run("remediate", "--analysis", analysis_of("javaee-inventory"), "--input", app,
               "--provider", "simulated", "--no-progress") == 0  # fmt: skip
    record = load_record(app / ".kantra-ai" / "run.json")
    planted = 0

    def plant(value: object) -> object:
        nonlocal planted
        if isinstance(value, str) and len(value) > 20:
            planted += 1
            return f"{value} {SHAPED} {CONFIGURED}"
        if isinstance(value, dict):
            return {k: plant(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plant(v) for v in value]
        return value

    tainted = plant(record)
    assert planted > 10 and isinstance(tainted, dict)
    report = write_report(tainted, tmp_path / "out" / "report.html")
    assert _clean(report.read_bytes())
    assert _clean((report.parent / "run.json").read_bytes())


def test_the_review_file_is_masked(tmp_path: Path) -> None:
    path = tmp_path / "review.yaml"
    append_review_entries(path, [{"file": "A.java", "explanation": f"uses {SHAPED} and {CONFIGURED}"}])
    assert _clean(path.read_bytes())


def test_plan_files_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule's description ends up in plan.yaml and plan.html; so would a secret in it."""
    monkeypatch.chdir(tmp_path)
    app = copy_example("javaee-inventory", tmp_path)
    text = analysis_of("javaee-inventory").read_text()
    analysis = tmp_path / "output.yaml"
    analysis.write_text(text.replace("description: ", f"description: {SHAPED} {CONFIGURED} "))
    output = tmp_path / "plan-out"
    code = run(
        "plan", "--analysis", analysis, "--input", app, "--planner", "deterministic", "--output", output,
    )  # fmt: skip
    assert code == 0
    assert (output / "plan.yaml").exists() and (output / "plan.html").exists()
    assert _clean((output / "plan.yaml").read_bytes())
    assert _clean((output / "plan.html").read_bytes())
    assert "sk-ant-***" in (output / "plan.yaml").read_text()


def test_a_plan_the_planner_page_saves_is_masked_in_both_files(tmp_path: Path) -> None:
    """A phase renamed on the planner page, a hand-edited message: plan.yaml and plan.html are
    written value by value, each value masked, whoever saves them."""
    plan = Plan(
        version="1.0",
        metadata=PlanMetadata(total_violations=1, notes=[f"note {CONFIGURED}"]),
        phases=[
            Phase(
                id="phase-1",
                name=f"renamed {SHAPED}",
                violations=[
                    PlannedViolation(
                        violation_id="rule-1",
                        description=f"about {CONFIGURED}",
                        incident_count=1,
                        incidents=[PlanIncident(uri="file:///src/A.java", message=f"uses {SHAPED}")],
                    )
                ],
            )
        ],
    )
    options = RunOptions(SelectionOptions(analysis=tmp_path / "plan.yaml", input_dir=tmp_path))
    PlanEditor(tmp_path / "plan.yaml", options).save(plan)
    for name in ("plan.yaml", "plan.html"):
        written = (tmp_path / name).read_bytes()
        assert _clean(written), name
        assert b"renamed sk-ant-***" in written, name


def test_a_stream_wrapper_passes_through_what_holds_no_secret() -> None:
    from kantra_ai.redact import RedactingStream

    inner = io.StringIO()
    stream = RedactingStream(inner)
    stream.write("plain line\n")
    stream.write(f"key {CONFIGURED}\n")
    assert inner.getvalue() == "plain line\nkey ***\n"


def test_a_secret_is_masked_also_as_json_and_html_escape_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # `--json`, run.json and the web app's answers escape what they carry; a redaction after the
    # escaping must still find the secret. Its tail `rd-42` reads the same in every escaping.
    odd = 'pä&ss"<w>\\rd-42'
    monkeypatch.setenv("PROXY_PASSWORD", odd)
    document = {"error": f"proxy refused {odd}"}
    escaped = [
        json.dumps(document),
        json.dumps(document, ensure_ascii=False),
        html.escape(document["error"]),
        str(markupsafe.escape(document["error"])),
        odd,
    ]
    assert all("rd-42" in text for text in escaped)  # the case is real
    assert [("rd-42" in redact(text)) for text in escaped] == [False] * len(escaped)
    assert json.loads(redact(json.dumps(document))) == {"error": "proxy refused ***"}  # still JSON
