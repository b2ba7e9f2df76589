"""`kantra-ai hub-addon` as the Hub runs it: a process per pod, its task in the environment, the Hub's
REST API (the fake Hub), the application's real git repository, the fake model server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import expected_of, tree_differences
from tests.hub.conftest import HUB_TOKEN, PROVIDER_KEY, HubSetup, SshServer, bare_repository, hub_insights

from kantra_ai.app.ui import SilentUi
from kantra_ai.engine.ratelimit import RateLimitConfig
from kantra_ai.errors import UserError
from kantra_ai.hub.addon import SSH_KEY_FILE, AddonSettings, every_attempt, share
from kantra_ai.simulated.recipes import respond
from kantra_ai.store.history import HistoryOptions
from testing.fakeforge.server import FakeForge
from testing.fakeprovider.faults import Fault, FaultPlan
from testing.fakeprovider.server import FakeProviderServer
from testing.githttp import GitHttpServer

EXAMPLE = "javaee-inventory"
SECRETS = (HUB_TOKEN, PROVIDER_KEY, "git-password-secret")


def _no_secret_in(setup: HubSetup, task: int, *texts: str) -> None:
    shown = "\n".join(texts) + json.dumps(setup.hub.pushes(task))
    shown += "".join(content.decode("utf-8", "replace") for _, content in setup.hub.state.files.values())
    for secret in SECRETS:
        assert secret not in shown


def _delivered(
    setup: HubSetup, task: int, checkout: Path, log_format: str
) -> tuple[dict[str, Any], list[str]]:
    """The delivery the task's fact reports, and its branch's commits in `checkout` (git log format)."""
    app = setup.hub.state.tasks[task]["application"]["id"]
    delivered: dict[str, Any] = setup.hub.fact(app, "kantra-ai:remediation")["git"]
    log = subprocess.run(
        ["git", "-C", str(checkout), "log", f"--format={log_format}", f"main..{delivered['branch']}"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    return delivered, log


def _differences(checkout: Path) -> list[str]:
    return [d for d in tree_differences(checkout, expected_of(EXAMPLE)) if not d.startswith(".git")]


def test_a_task_fixes_the_application_reports_progress_and_attaches_the_report(hub_setup: HubSetup) -> None:
    task = hub_setup.task_for(EXAMPLE)
    pod = hub_setup.pod(task)
    assert pod.code == 0, pod.log
    assert _differences(hub_setup.checkout(task)) == []
    report = hub_setup.hub.report(task)
    assert report["status"] == "Succeeded" and report["total"] == report["completed"] == 19
    assert any("latest analysis: " in line for line in report["activity"])
    pushes = hub_setup.hub.pushes(task)
    assert pushes[0]["status"] == "Running" and 0 < len(pushes) < 60  # progress, not a flood
    assert any(0 < p["completed"] < 19 for p in pushes)  # seen while it ran
    names = sorted(a["name"].rsplit("-", 1)[-1] for a in report["attached"])
    assert names == ["report.html", "run.json"]
    record = next(
        json.loads(hub_setup.hub.file(a["id"])[1]) for a in report["attached"] if a["name"].endswith(".json")
    )
    assert sum(1 for i in record["incidents"] if i["status"] == "fixed") == 19
    app = hub_setup.hub.state.tasks[task]["application"]["id"]
    assert hub_setup.hub.fact(app, "kantra-ai:remediation")["fixed"] == 19
    _no_secret_in(hub_setup, task, pod.log)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_killed_pod_requeued_resumes_without_repeating_a_paid_request(
    hub_setup: HubSetup, store: str, request: pytest.FixtureRequest
) -> None:
    env = {"KANTRA_AI_STORE": request.getfixturevalue("postgres_url")} if store == "postgresql" else {}
    task = hub_setup.task_for(EXAMPLE, one_at_a_time=True)
    # Killed with the third reply paid for and stored, not yet applied.
    killed = hub_setup.pod(task, KANTRA_AI_TEST_KILL_AT="response-saved:3", **env)
    assert killed.code == -9, killed.log  # SIGKILL: the pod's exit 137
    assert hub_setup.hub.report(task)["status"] == "Running"
    assert hub_setup.provider.request_count == 3
    hub_setup.hub.requeue(task)
    resumed = hub_setup.pod(task, **env)
    assert resumed.code == 0, resumed.log
    assert hub_setup.provider.request_count == 7  # a clean run's requests: none paid twice
    assert _differences(hub_setup.checkout(task)) == []
    report = hub_setup.hub.report(task)
    assert report["status"] == "Succeeded"
    assert any("attempt 2: continuing from the run store" in line for line in report["activity"])
    assert any("skipping" in line and "settled by earlier runs" in line for line in report["activity"])
    # The fact is the application's: every attempt's requests and cost, this attempt's apart.
    app = hub_setup.hub.state.tasks[task]["application"]["id"]
    fact = hub_setup.hub.fact(app, "kantra-ai:remediation")
    assert (fact["requests"], fact["attempt"]["requests"]) == (7, 4), fact
    assert fact["cost_usd"] > fact["attempt"]["cost_usd"] > 0
    assert report["total"] == 19
    _no_secret_in(hub_setup, task, killed.log, resumed.log)


def test_a_pod_requeued_onto_an_empty_volume_gets_the_earlier_fixes_back_from_the_database(
    hub_setup: HubSetup, postgres_url: str
) -> None:
    task = hub_setup.task_for(EXAMPLE, one_at_a_time=True)
    killed = hub_setup.pod(task, KANTRA_AI_TEST_KILL_AT="batch-saved:4", KANTRA_AI_STORE=postgres_url)
    assert killed.code == -9, killed.log
    shutil.rmtree(hub_setup.shared)  # the new pod's volume: nothing of the killed one's
    hub_setup.hub.requeue(task)
    resumed = hub_setup.pod(task, KANTRA_AI_STORE=postgres_url)
    assert resumed.code == 0, resumed.log
    assert _differences(hub_setup.checkout(task)) == []  # the 4 files it wrote, too
    assert hub_setup.provider.request_count == 7
    assert "put back 4 files an earlier attempt fixed" in resumed.log


def test_a_pod_killed_between_commits_resumes_without_repeating_a_commit(hub_setup: HubSetup) -> None:
    task = hub_setup.task_for(EXAMPLE, git={"commit-strategy": "per-violation"})
    killed = hub_setup.pod(task, KANTRA_AI_TEST_KILL_AT="git-committed:2")
    assert killed.code == -9, killed.log
    hub_setup.hub.requeue(task)
    resumed = hub_setup.pod(task)
    assert resumed.code == 0, resumed.log
    assert hub_setup.provider.request_count == 7
    checkout = hub_setup.checkout(task)
    assert _differences(checkout) == []
    delivered, log = _delivered(hub_setup, task, checkout, "%s")
    assert len(log) == len(delivered["commits"]) >= 5
    assert len(set(log)) == len(log)  # each violation's commit once, the two before the kill included


def test_a_pod_killed_between_commits_requeued_onto_an_empty_volume_makes_each_commit_once(
    hub_setup: HubSetup, postgres_url: str
) -> None:
    task = hub_setup.task_for(EXAMPLE, git={"commit-strategy": "per-violation"})
    killed = hub_setup.pod(task, KANTRA_AI_TEST_KILL_AT="git-committed:2", KANTRA_AI_STORE=postgres_url)
    assert killed.code == -9, killed.log
    shutil.rmtree(hub_setup.shared)  # the commits and fixes of the killed pod are gone with its volume
    hub_setup.hub.requeue(task)
    resumed = hub_setup.pod(task, KANTRA_AI_STORE=postgres_url)
    assert resumed.code == 0, resumed.log
    assert hub_setup.provider.request_count == 7  # nothing asked again
    checkout = hub_setup.checkout(task)
    assert _differences(checkout) == []
    delivered, log = _delivered(hub_setup, task, checkout, "%H %s")
    assert [line.split(" ", 1)[0] for line in log][::-1] == [c["sha"] for c in delivered["commits"]]
    subjects = [line.split(" ", 1)[1] for line in log]
    assert len(subjects) == len(set(subjects)) >= 5  # each violation's commit once


def test_a_repository_behind_ssh_is_cloned_with_the_identitys_key_which_leaves_no_trace(
    hub_setup: HubSetup, ssh_server: SshServer
) -> None:
    task = hub_setup.task_for(EXAMPLE, ssh=ssh_server)
    pod = hub_setup.pod(task)
    assert pod.code == 0, pod.log
    assert f"cloning ssh://{ssh_server.user}@127.0.0.1:{ssh_server.port}/" in pod.log
    assert _differences(hub_setup.checkout(task)) == []
    # The key was on disk for the clone only; no line of it in the log, the report or the volume.
    assert not list(hub_setup.shared.rglob(SSH_KEY_FILE))
    body = ssh_server.key.strip().splitlines()[1]
    assert body not in pod.log and body not in json.dumps(hub_setup.hub.state.tasks[task])
    for path in hub_setup.shared.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert body.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("given_in", ["the repository URL", "the source identity"])
def test_a_password_for_the_repository_is_in_no_file_of_the_volume_and_the_branch_is_still_pushed(
    given_in: str, hub_setup: HubSetup, tmp_path: Path
) -> None:
    password = "http-pass/w0rd-424242"  # a "/" percent-encoded in the URL, as a Hub user writes it
    forge_token = "ghp-forge-token-0123456789"
    (tmp_path / "served" / "org").mkdir(parents=True)
    bare = bare_repository(EXAMPLE, tmp_path / "served" / "org")
    with (
        GitHttpServer(tmp_path / "served", user="deploy", password=password) as server,
        FakeForge(token=forge_token, remote=bare) as forge,
    ):
        url = server.url(f"org/{bare.name}")
        in_url = given_in == "the repository URL"
        app = hub_setup.hub.add_application(
            EXAMPLE,
            repository={
                "kind": "git", "branch": "main", "tag": "", "path": "",
                "url": url.replace("http://", "http://deploy:http-pass%2Fw0rd-424242@") if in_url else url,
            },
            identity=None if in_url else {"name": "git", "user": "deploy", "password": password},
        )  # fmt: skip
        hub_setup.hub.add_analysis(app, hub_insights(EXAMPLE))
        config = {
            "provider": {"base-url": hub_setup.provider.anthropic_base_url},
            "git": {
                "commit-strategy": "at-end",
                "create-pr": True,
                "forge": "github",
                "forge-url": forge.github_api,
            },
        }
        task = hub_setup.hub.add_task(app, data={"config": config})
        pod = hub_setup.pod(task, GITHUB_TOKEN=forge_token)
        assert pod.code == 0, pod.log
        assert password not in pod.log
        for secret in (password.encode(), b"http-pass%2Fw0rd-424242"):
            for path in hub_setup.shared.rglob("*"):  # .git/config, the store, the report, every file
                if path.is_file() and not path.is_symlink():
                    assert secret not in path.read_bytes(), path
        assert server.pushes >= 1  # pushed with the password, through the askpass
        assert [p["state"] for p in forge.pulls(f"org/{EXAMPLE}")] == ["open"]
        checkout = hub_setup.checkout(task)
        remote = subprocess.run(
            ["git", "-C", str(checkout), "config", "remote.origin.url"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert remote == (url.replace("http://", "http://deploy@") if in_url else url)


def test_a_bad_token_stops_the_pod_with_one_line_and_touches_nothing(hub_setup: HubSetup) -> None:
    task = hub_setup.task_for(EXAMPLE)
    pod = hub_setup.pod(task, token="not-the-task-token-9999")
    assert pod.code == 2
    assert pod.log.strip().count("\n") == 0 and "token (401)" in pod.log, pod.log
    assert "not-the-task-token-9999" not in pod.log
    assert hub_setup.hub.pushes(task) == [] and hub_setup.provider.request_count == 0
    assert not hub_setup.shared.exists()


def test_a_hub_error_that_echoes_the_token_is_reported_without_it(hub_setup: HubSetup) -> None:
    task = hub_setup.task_for(EXAMPLE)
    hub_setup.hub.fail("POST", r"^/files/", 500, {"error": "storage full; request had Bearer {token}"})
    pod = hub_setup.pod(task)
    assert pod.code == 2
    line = pod.log.strip().splitlines()[-1]
    assert "answered 500 to upload" in line and "storage full" in line, pod.log
    report = hub_setup.hub.report(task)
    assert report["status"] == "Failed" and "storage full" in report["errors"][0]["description"]
    _no_secret_in(hub_setup, task, pod.log)


def test_an_application_without_analysis_fails_its_task_with_the_reason(hub_setup: HubSetup) -> None:
    task = hub_setup.task_for(EXAMPLE, analysed=False)
    pod = hub_setup.pod(task)
    assert pod.code == 2
    line = pod.log.strip().splitlines()[-1]
    assert line.startswith("kantra-ai: error:") and "has no analysis on the Hub" in line, pod.log
    report = hub_setup.hub.report(task)
    assert report["status"] == "Failed"
    assert "has no analysis on the Hub" in report["errors"][0]["description"]
    assert hub_setup.provider.request_count == 0


def test_a_config_file_committed_in_the_repository_is_never_read_by_the_pod(
    hub_setup: HubSetup, tmp_path: Path
) -> None:
    # Whoever can commit to the application's repository would otherwise choose where the pod's
    # API key goes (a file wins over ANTHROPIC_BASE_URL), and which files go into its prompts. The
    # re-queued attempt finds the clone, the file in it, already there.
    task = hub_setup.task_for(EXAMPLE, one_at_a_time=True)
    del hub_setup.hub.state.tasks[task]["data"]["config"]["provider"]  # the usual case: set by the pod
    work = tmp_path / f"{EXAMPLE}-work"
    (work / ".kantra-ai.yaml").write_text("provider: {base-url: http://127.0.0.1:9}\n")
    git = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", "-C", str(work)]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "a config of the repository's own"], check=True)
    subprocess.run([*git, "push", "-q", str(tmp_path / f"{EXAMPLE}.git"), "main"], check=True)
    env = {"ANTHROPIC_BASE_URL": hub_setup.provider.anthropic_base_url}
    killed = hub_setup.pod(task, KANTRA_AI_TEST_KILL_AT="response-saved:3", **env)
    assert killed.code == -9, killed.log
    assert (hub_setup.checkout(task) / ".kantra-ai.yaml").is_file()
    hub_setup.hub.requeue(task)
    pod = hub_setup.pod(task, **env)
    assert pod.code == 0, pod.log
    assert hub_setup.provider.request_count == 7
    assert hub_setup.hub.report(task)["status"] == "Succeeded"


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"config": {"provider": {"name": "nosuch"}}}, "data.config: provider.name: invalid value 'nosuch'"),
        ({"config": {"limits": {"max-cost": float("nan")}}}, "data.config: limits.max-cost"),
        ('{"config": {"limits": {"max-cost": 0.001}}}', "data must be a mapping"),
        ({"config": {"dry-run": True}}, "data.config: dry-run: not for a portfolio application or a Hub"),
    ],
    ids=["unknown-provider", "nan-budget", "data-a-string", "dry-run"],
)
def test_a_task_whose_data_cannot_be_used_fails_with_one_line_before_anything_is_cloned(
    hub_setup: HubSetup, data: Any, said: str
) -> None:
    task = hub_setup.task_for(EXAMPLE)
    hub_setup.hub.state.tasks[task]["data"] = data
    pod = hub_setup.pod(task)
    assert pod.code == 2, pod.log
    line = pod.log.strip().splitlines()[-1]
    assert line.startswith("kantra-ai: error: ") and said in line and "Traceback" not in pod.log, pod.log
    report = hub_setup.hub.report(task)
    assert report["status"] == "Failed" and said in report["errors"][0]["description"]
    assert hub_setup.provider.request_count == 0 and not hub_setup.checkout(task).exists()


def test_a_misspelt_key_of_the_task_is_said_and_its_config_is_not_left_on_the_volume(
    hub_setup: HubSetup,
) -> None:
    task = hub_setup.task_for(EXAMPLE)
    hub_setup.hub.state.tasks[task]["data"]["config"]["limits"] = {"max-cots": 1}
    pod = hub_setup.pod(task)
    assert pod.code == 0, pod.log
    assert "warning: data.config: unknown key 'limits.max-cots'" in pod.log, pod.log
    assert any("max-cots" in line for line in hub_setup.hub.report(task)["activity"])
    assert not list(hub_setup.shared.rglob("task-config.yaml"))


def test_a_progress_report_the_hub_fails_to_take_does_not_stop_the_paid_run(hub_setup: HubSetup) -> None:
    task = hub_setup.task_for(EXAMPLE)
    hub_setup.hub.fail("PUT", r"^/tasks/\d+/report", 500, {"error": "database is locked"}, times=1)
    pod = hub_setup.pod(task)
    assert pod.code == 0, pod.log
    assert _differences(hub_setup.checkout(task)) == []
    assert hub_setup.hub.report(task)["status"] == "Succeeded"


def test_the_report_the_hub_is_sent_is_redacted_as_the_log_is(hub_setup: HubSetup, tmp_path: Path) -> None:
    task = hub_setup.task_for(EXAMPLE)
    app = hub_setup.hub.state.tasks[task]["application"]["id"]
    secret = "repo-url-password-998877"
    hub_setup.hub.state.applications[app]["repository"]["url"] = (
        f"https://deploy:{secret}@127.0.0.1:9/org/app.git"
    )
    pod = hub_setup.pod(task)
    assert pod.code == 2  # nothing listens there: the clone fails
    assert secret not in pod.log
    assert secret not in json.dumps(hub_setup.hub.pushes(task))
    assert "https://deploy:***@127.0.0.1:9/org/app.git" in json.dumps(hub_setup.hub.report(task))


def test_a_run_the_provider_refused_says_why_in_the_pods_log(hub_setup: HubSetup) -> None:
    task = hub_setup.task_for(EXAMPLE)
    with FakeProviderServer(respond, faults=FaultPlan.every_request(Fault.status(401), 1000)) as refusing:
        hub_setup.hub.state.tasks[task]["data"]["config"]["provider"]["base-url"] = (
            refusing.anthropic_base_url
        )
        pod = hub_setup.pod(task)
    assert pod.code == 3
    line = pod.log.strip().splitlines()[-1]
    assert line.startswith("kantra-ai: error: run aborted: ") and "401" in line, pod.log
    assert hub_setup.hub.report(task)["status"] == "Failed"
    _no_secret_in(hub_setup, task, pod.log)


def test_each_pod_runs_with_its_share_of_the_organisations_rate_limit(hub_setup: HubSetup) -> None:
    task = hub_setup.task_for(EXAMPLE)
    hub_setup.hub.state.tasks[task]["data"]["config"]["limits"] = {"rate-limits": "rpm=1200,otpm=400k"}
    pod = hub_setup.pod(task, KANTRA_AI_POD_QUOTA="4")
    assert pod.code == 0, pod.log
    assert "rate limits of this pod: rpm=300,otpm=100000 (1/4 of limits.rate-limits)" in pod.log


def test_the_rate_limit_is_shared_by_the_pod_quota() -> None:
    org = RateLimitConfig(requests_per_minute=100, input_tokens_per_minute=90_000)
    assert share(org, 4) == RateLimitConfig(25, 22_500, None)
    assert share(RateLimitConfig(requests_per_minute=3), 8) == RateLimitConfig(1, None, None)
    env = {"TASK": "7", "KANTRA_AI_POD_QUOTA": "4"}
    assert AddonSettings.from_env(env).pod_quota == 4
    with pytest.raises(UserError, match="KANTRA_AI_POD_QUOTA"):
        AddonSettings.from_env({"TASK": "7", "KANTRA_AI_POD_QUOTA": "zero"})
    with pytest.raises(UserError, match="TASK: not set"):
        AddonSettings.from_env({})


def test_a_run_store_gone_after_the_run_leaves_the_fact_with_this_attempts_figures(tmp_path: Path) -> None:
    # Nothing listens on the port: the database went away between the run and the fact.
    said: list[str] = []
    fact: dict[str, Any] = {"requests": 3, "cost_usd": 0.25}
    history = HistoryOptions(store="postgresql://kantra@127.0.0.1:1/kantra", store_key="hub/application/1")
    every_attempt(fact, tmp_path, history, _Said(said))
    assert fact == {"requests": 3, "cost_usd": 0.25}
    assert len(said) == 1 and said[0].startswith(
        "warning: the run store cannot say what earlier attempts cost: "
    )


class _Said(SilentUi):
    def __init__(self, said: list[str]) -> None:
        super().__init__()
        self.said = said

    def say(self, text: str, *, emphasis: bool = False) -> None:
        self.said.append(text)
