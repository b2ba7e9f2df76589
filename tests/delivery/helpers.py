"""Real git repositories for the delivery tests: a checkout of a bundled example with a bare remote.

The remote's URL is a forge URL (`https://github.com/acme/inventory.git`), as in a user's clone, and
git's own `url.<base>.insteadOf` sends its pushes to the bare repository in the test's folder: what
kantra-ai reads names the forge, what git pushes lands next door.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.cli.helpers import EXAMPLES

FORGE_URLS = {
    "github": "https://github.com/acme/inventory.git",
    "gitlab": "https://gitlab.com/acme/inventory.git",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Checkout:
    app: Path
    remote: Path
    original: Path  # the example's files as committed


def checkout(tmp_path: Path, example: str = "javaee-inventory", *, forge: str = "github") -> Checkout:
    app = tmp_path / "app"
    remote = tmp_path / "remote.git"
    shutil.copytree(EXAMPLES / example / "app", app)
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(app, "init", "-q", "-b", "main")
    git(app, "config", "user.name", "Dev Eloper")
    git(app, "config", "user.email", "dev@example.com")
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "The application before the migration")
    git(app, "remote", "add", "origin", FORGE_URLS[forge])
    git(app, "config", f"url.{remote}.insteadOf", FORGE_URLS[forge])
    git(app, "push", "-q", "origin", "main")
    return Checkout(app, remote, EXAMPLES / example / "app")


def log(app: Path, revisions: str) -> list[tuple[str, str, list[str]]]:
    """(sha, full message, files) of each commit in `revisions`, oldest first."""
    out = git(app, "log", "--reverse", "--format=%x1e%H%x00%B%x00", "--name-only", revisions)
    found = []
    for record in out.split("\x1e")[1:]:
        sha, message, files = record.split("\x00")
        found.append((sha, message, [f for f in files.split("\n") if f]))
    return found


def files_differing(left: Path, right: Path) -> list[str]:
    """Relative paths whose bytes differ between two trees (.git and .kantra-ai left out)."""

    def walk(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and not {".git", ".kantra-ai"} & set(p.relative_to(root).parts)
        }

    a, b = walk(left), walk(right)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
