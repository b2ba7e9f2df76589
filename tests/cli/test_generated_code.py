"""On a built checkout, the copies in build output are not edited unless asked for."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from tests.cli.helpers import analysis_of, copy_example, run

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"
RESOURCE = "src/main/resources/META-INF/persistence.xml"
COPY = "target/classes/META-INF/persistence.xml"


def _built(tmp_path: Path) -> tuple[Path, Path]:
    """The example after `mvn package`: its resources copied to target/classes, and an analysis (the
    analyzer scans the whole tree) that reports the copy's incidents too."""
    app = copy_example(EXAMPLE, tmp_path)
    (app / COPY).parent.mkdir(parents=True)
    shutil.copy(app / RESOURCE, app / COPY)
    document = yaml.safe_load(analysis_of(EXAMPLE).read_text(encoding="utf-8"))
    for ruleset in document:
        for violation in (ruleset.get("violations") or {}).values():
            incidents = violation.get("incidents") or []
            copies = [
                {**i, "uri": i["uri"].replace(RESOURCE, COPY)} for i in incidents if RESOURCE in i["uri"]
            ]
            violation["incidents"] = incidents + copies
    analysis = tmp_path / "output.yaml"
    analysis.write_text(yaml.safe_dump(document), encoding="utf-8")
    return app, analysis


def _remediate(app: Path, analysis: Path, server: FakeProviderServer, *extra: str) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run("remediate", "--analysis", analysis, "--input", app, "--base-url", server.anthropic_base_url,
            "--json", "--no-progress", *extra)  # fmt: skip
    summary: dict[str, Any] = json.loads(out.getvalue())
    return summary


def test_incidents_in_build_output_are_not_applicable_and_listed(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    app, analysis = _built(tmp_path)
    copy = (app / COPY).read_bytes()
    with FakeProviderServer(respond) as server:
        summary = _remediate(app, analysis, server)
    assert (app / COPY).read_bytes() == copy  # the copy is left alone
    assert (app / RESOURCE).read_bytes() != copy  # the source is fixed
    assert summary["incidents"]["not_applicable_reasons"]["generated"] == 4  # as many as the source has
    assert summary["incidents"]["generated_files"] == [COPY]
    assert all(o["file"] != COPY for o in summary["outcomes"])


def test_include_generated_fixes_build_output_too(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    app, analysis = _built(tmp_path)
    with FakeProviderServer(respond) as server:
        summary = _remediate(app, analysis, server, "--include-generated")
    assert summary["incidents"]["generated_files"] == []
    assert (app / COPY).read_bytes() == (app / RESOURCE).read_bytes()  # both fixed the same way
    assert {o["status"] for o in summary["outcomes"] if o["file"] == COPY} == {"fixed"}
