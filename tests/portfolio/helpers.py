"""A portfolio of the bundled examples as real git repositories: each application a bare remote
reached under a forge URL (`https://github.com/acme/NAME.git`, sent to the bare repository by git's
own `insteadOf` in the test's global git config), its own fake forge, the fake model server."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.cli.helpers import tree_differences as cli_tree_differences

from testing.fakeforge import FakeForge
from testing.fakeprovider.server import FakeProviderServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "ghp-portfolio-secret-7c2e"
API_KEY = "sk-ant-portfolio-test-0000"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def write_git_config(path: Path) -> None:
    """The global git config the tests (and the Ray workers they start) use."""
    path.write_text("[user]\n\tname = Dev Eloper\n\temail = dev@example.com\n")


@dataclass
class App:
    name: str
    example: str
    remote: Path
    url: str
    forge: FakeForge


def make_app(root: Path, name: str, example: str, git_config: Path) -> App:
    """A bare remote holding the example's app, reachable as https://github.com/acme/NAME.git."""
    work = root / f"{name}-seed"
    remote = root / f"{name}.git"
    shutil.copytree(EXAMPLES / example / "app", work)
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "The application before the migration")
    git(work, "push", "-q", str(remote), "main")
    url = f"https://github.com/acme/{name}.git"
    with git_config.open("a") as config:
        config.write(f'[url "{remote}"]\n\tinsteadOf = {url}\n')
    forge = FakeForge(token=TOKEN, remote=remote).start()
    return App(name, example, remote, url, forge)


def write_manifest(
    path: Path,
    apps: list[App],
    server: FakeProviderServer,
    *,
    verify: str | None = None,
    settings: dict[str, Any] | None = None,
    **top: Any,
) -> Path:
    """The manifest of `apps`; `settings`: more .kantra-ai.yaml keys for every application."""
    manifest = {
        "workspace": "work",
        "settings": {
            "provider": {"name": "claude", "base-url": server.anthropic_base_url},
            "batching": {"batch-parallelism": 2},
            **(settings or {}),
        },
        "apps": [
            {
                "name": app.name,
                "source": app.url,
                "analysis": str(EXAMPLES / app.example / "output.yaml"),
                **({"verify": verify} if verify else {}),
                "settings": {
                    "git": {
                        "commit-strategy": "per-violation",
                        "create-pr": True,
                        "pr-strategy": "at-end",
                        "forge-url": app.forge.github_api,
                    }
                },
            }
            for app in apps
        ],
        **top,
    }
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def tree_differences(tree: Path, expected: Path) -> list[str]:
    """Relative paths that differ between a fixed tree (a clone: its .git left out) and another."""
    return cli_tree_differences(tree, expected, ignore=(".kantra-ai", ".git"))
