"""`execute` delivers phase by phase (a commit and a pull request after each phase); GitLab merge
requests with inline discussions on low-confidence fixes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tests.cli.helpers import EXAMPLES, analysis_of, run
from tests.delivery.conftest import TOKEN
from tests.delivery.helpers import checkout, files_differing, git, log
from tests.delivery.runs import EXAMPLE, remediate
from tests.store.helpers import store_rows

from testing.fakeforge import FakeForge

SERVICE = "src/main/java/com/example/inventory/service/InventoryService.java"
PHASE_ONE = {"javax-to-jakarta-import-00001"}


def _two_phase_plan(app: Path, out: Path) -> Path:
    assert run("plan", "--analysis", analysis_of(EXAMPLE), "--input", app, "--output", out,
               "--planner", "deterministic") == 0  # fmt: skip
    plan_file = out / "plan.yaml"
    data: dict[str, Any] = yaml.safe_load(plan_file.read_text())
    phase = data["phases"][0]
    second = dict(phase, id="phase-2", name="Descriptors and the rest", order=2)
    second["violations"] = [v for v in phase["violations"] if v["violation_id"] not in PHASE_ONE]
    phase["violations"] = [v for v in phase["violations"] if v["violation_id"] in PHASE_ONE]
    data["phases"].append(second)
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return plan_file


def test_execute_commits_and_opens_a_pull_request_after_each_phase(tmp_path: Path) -> None:
    repo = checkout(tmp_path)
    plan_file = _two_phase_plan(repo.app, tmp_path / "plan")
    first_phase = yaml.safe_load(plan_file.read_text())["phases"][0]["id"]
    with FakeForge(token=TOKEN, remote=repo.remote) as forge:
        code = run(
            "execute", "--plan", plan_file, "--input", repo.app, "--provider", "simulated", "--no-progress",
            "--git-commit", "per-phase", "--create-pr", "--pr-strategy", "per-phase",
            "--forge-url", forge.github_api,
        )  # fmt: skip
        assert code == 0
        pulls = forge.pulls("acme/inventory")
        created = forge.calls_to("POST", r"/pulls$")
    assert [p["head"]["ref"] for p in pulls] == [
        f"kantra-ai/1-phase-{first_phase}",
        "kantra-ai/1-phase-phase-2",
    ]
    assert all(p["base"]["ref"] == "main" for p in pulls)  # the phases touch different lines
    one, two = (log(repo.app, f"main..{p['head']['ref']}") for p in pulls)
    assert len(one) == len(two) == 1
    assert (
        "Kantra-AI-Unit: phase:" + first_phase in one[0][1] and "Kantra-AI-Unit: phase:phase-2" in two[0][1]
    )
    assert all(f.endswith(".java") for f in one[0][2])
    assert "pom.xml" in two[0][2] and SERVICE in two[0][2] and SERVICE in one[0][2]
    # Phase one's pull request was opened before phase two sent its first request.
    db = repo.app / ".kantra-ai" / "state.db"
    phase_two_files = set(two[0][2]) - set(one[0][2])
    (first_request_of_phase_two,) = store_rows(
        db,
        f"SELECT min(started_at) FROM requests WHERE path IN ({','.join(repr(f) for f in phase_two_files)})",
    )[0:1]
    assert created[0].at < first_request_of_phase_two[0] < created[1].at
    # The job's branch holds both phases in order and is what the checkout is on.
    assert [m.splitlines()[0] for _, m, _ in log(repo.app, "main..kantra-ai/1")] == [
        one[0][1].splitlines()[0],
        two[0][1].splitlines()[0],
    ]
    assert files_differing(repo.app, EXAMPLES / EXAMPLE / "expected") == []
    assert git(repo.app, "status", "--porcelain") == ""


def test_gitlab_merge_request_with_discussions_on_low_confidence_fixes(tmp_path: Path) -> None:
    repo = checkout(tmp_path, forge="gitlab")
    with FakeForge(token=TOKEN, remote=repo.remote) as forge:
        code, summary = remediate(
            repo.app, "--git-commit", "per-violation", "--create-pr", "--forge-url", forge.gitlab_url,
            "--pr-comment-threshold", "0.95", "--violation-ids", "eap8-ejb-00001",
        )  # fmt: skip
        assert code == 0, summary
        (mr,) = forge.merge_requests("acme/inventory")
        discussions = forge.discussions("acme/inventory", mr["iid"])
        tokens = {c.token for c in forge.calls}
    assert (mr["source_branch"], mr["target_branch"]) == ("kantra-ai/1", "main")
    assert mr["title"].startswith("fix(konveyor): eap8-ejb-00001 - ")
    assert "### Review checklist" in mr["description"] and "### Confidence" in mr["description"]
    (discussion,) = discussions
    position = discussion["notes"][0]["position"]
    assert (position["new_path"], position["new_line"]) == (SERVICE, 53)
    assert position["head_sha"] == git(repo.app, "rev-parse", "kantra-ai/1").strip()
    assert tokens == {TOKEN}
    assert summary["git"]["pull_requests"] == [
        {"branch": "kantra-ai/1", "number": 1, "url": mr["web_url"], "base": "main"}
    ]
