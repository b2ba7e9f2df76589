from __future__ import annotations

import contextlib
import getpass
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.helpers import EXAMPLES

from kantra_ai.simulated.recipes import respond
from testing.fakehub.server import FakeHub
from testing.fakeprovider.server import FakeProviderServer

KANTRA_AI = str(Path(sys.executable).parent / "kantra-ai")  # the console script, as in the image
HUB_TOKEN = "hub-token-0123456789-secret"
PROVIDER_KEY = "sk-ant-test-secret-0000"


def hub_insights(example: str) -> list[dict[str, Any]]:
    """The example's analyzer output as the Hub serves it (api.Insight with its incidents): what the
    Hub makes of an analysis it imported, written from the Hub's types, not from kantra-ai's loader."""
    insights = []
    for ruleset in yaml.safe_load((EXAMPLES / example / "output.yaml").read_text()):
        for section in ("violations", "insights"):
            for rule, v in (ruleset.get(section) or {}).items():
                insights.append(
                    {
                        "ruleset": ruleset["name"], "rule": rule, "name": rule,
                        "description": v.get("description", ""), "category": v.get("category", ""),
                        "effort": v.get("effort", 0) or 0, "labels": v.get("labels", []),
                        "links": v.get("links", []),
                        "incidents": [
                            {"file": i["uri"], "line": i.get("lineNumber", 0),
                             "message": i.get("message", ""), "codeSnip": i.get("codeSnip", ""), "facts": {}}
                            for i in v.get("incidents", [])
                        ],
                    }
                )  # fmt: skip
    return insights


def bare_repository(example: str, where: Path) -> Path:
    """The example's app as a bare git repository (the application's remote)."""
    work = where / f"{example}-work"
    subprocess.run(["cp", "-r", str(EXAMPLES / example / "app"), str(work)], check=True)
    git = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", "-C", str(work)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "app"], check=True)
    bare = where / f"{example}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


@dataclass
class SshServer:
    """Debian's sshd on loopback, serving git over SSH to the holder of one key."""

    port: int
    user: str
    key: str  # the client's private key, as a Hub identity holds it

    def url(self, repository: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repository}"


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    where = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(where / name)], check=True)
    (where / "authorized_keys").write_text((where / "client.pub").read_text())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (where / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {where / 'host'}\n"
        f"AuthorizedKeysFile {where / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {where / 'sshd.pid'}\n"
    )
    with contextlib.suppress(OSError):
        Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation folder, when run as root
    server = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(where / "sshd_config")],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    for line in server.stderr:
        if "Server listening" in line:
            break
    else:
        raise RuntimeError(f"sshd did not start (exit {server.wait()})")
    try:
        yield SshServer(port, getpass.getuser(), (where / "client").read_text())
    finally:
        server.terminate()
        server.wait(timeout=10)


@dataclass
class Pod:
    """One addon pod's process: its exit code and its log."""

    code: int
    log: str


@dataclass
class HubSetup:
    hub: FakeHub
    provider: FakeProviderServer
    shared: Path
    tmp: Path

    def task_for(
        self,
        example: str,
        *,
        analysed: bool = True,
        identity: bool = True,
        one_at_a_time: bool = False,
        git: dict[str, Any] | None = None,
        ssh: SshServer | None = None,
    ) -> int:
        bare = bare_repository(example, self.tmp)
        url = f"file://{bare}" if ssh is None else ssh.url(bare)
        credentials = {"user": "dev", "password": "git-password-secret"} if ssh is None else {"key": ssh.key}
        app = self.hub.add_application(
            example,
            repository={"kind": "git", "url": url, "branch": "main", "tag": "", "path": ""},
            identity={"name": "git", **credentials} if identity else None,
        )
        if analysed:
            self.hub.add_analysis(app, hub_insights(example))
        config: dict[str, Any] = {"provider": {"base-url": self.provider.anthropic_base_url}}
        if one_at_a_time:  # requests in order: a kill lands between two of them
            config["batching"] = {"batch-parallelism": 1}
        if git:
            config["git"] = git
        return self.hub.add_task(app, data={"config": config})

    def pod(self, task: int, *, token: str = HUB_TOKEN, **env: str) -> Pod:
        """The addon's container entrypoint in a process of its own, with the pod's environment."""
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "KANTRA_AI_"))
        }
        environment |= {
            "TASK": str(task), "HUB_BASE_URL": self.hub.url, "TOKEN": token, "SHARED_PATH": str(self.shared),
            "ANTHROPIC_API_KEY": PROVIDER_KEY, **env,
        }  # fmt: skip
        done = subprocess.run(
            [KANTRA_AI, "hub-addon"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return Pod(done.returncode, done.stdout + done.stderr)

    def checkout(self, task: int) -> Path:
        app = self.hub.state.tasks[task]["application"]["id"]
        return self.shared / "kantra-ai" / f"application-{app}" / "tree"


@pytest.fixture
def hub_setup(tmp_path: Path) -> Iterator[HubSetup]:
    with FakeHub(token=HUB_TOKEN) as hub, FakeProviderServer(respond) as provider:
        yield HubSetup(hub, provider, tmp_path / "shared", tmp_path)
