"""A run with many small files packs them into shared requests, through the real command line and the
real SDK against the fake provider; `--pack-files 1` sends each alone; either way the same tree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.workloads import synthetic
from tests.cli.helpers import run

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer

FILES = 20


def _remediate(app: Path, analysis: Path, fake: FakeProviderServer, *extra: str) -> dict[str, Any]:
    code = run(
        "remediate", "--analysis", analysis, "--input", app, "--base-url", fake.anthropic_base_url,
        "--json", "--no-progress", *extra,
    )  # fmt: skip
    assert code in (0, 1)
    return {"code": code}


def _tree(app: Path) -> dict[str, str]:
    return {str(p.relative_to(app)): p.read_text() for p in sorted(app.rglob("*.java"))}


def test_small_files_share_requests_and_give_the_same_tree_as_alone(
    tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    workload = synthetic(tmp_path / "gen", files=FILES, seed=3, small=True, name="small")
    packed, alone = tmp_path / "packed", tmp_path / "alone"
    shutil.copytree(workload.app, packed)
    shutil.copytree(workload.app, alone)
    with FakeProviderServer(respond) as fake:
        capsys.readouterr()
        _remediate(packed, workload.analysis, fake)
        summary = json.loads(capsys.readouterr().out)
        packed_requests = fake.request_count
        _remediate(alone, workload.analysis, fake, "--pack-files", "1")
        alone_summary = json.loads(capsys.readouterr().out)
        alone_requests = fake.request_count - packed_requests
    assert alone_requests >= FILES  # one (or more) per file
    assert packed_requests < FILES // 2  # several files per request
    assert summary["incidents"]["fixed"] == alone_summary["incidents"]["fixed"] > 0
    assert _tree(packed) == _tree(alone) != _tree(workload.app)
    # Rerun on the packed tree: every incident settled in the store, nothing is asked again.
    with FakeProviderServer(respond) as fake:
        _remediate(packed, workload.analysis, fake)
        assert fake.request_count == 0
