"""The real `git`, run as a subprocess: the one place kantra-ai talks to a repository.

Why a subprocess and not a library: the user's own git (their config, hooks stay out of plumbing,
credential helpers for `push`, `url.<base>.insteadOf`) is what must see our commits, and git's
plumbing does exactly the few things delivery needs without a working tree: hash a blob, build a
tree in a temporary index, write a commit, move a ref only if it still points where we saw it.

What is never run here: `reset`, `checkout`, `clean`, `stash`, a forced push or a forced ref move.
The user's index is changed in one way only (`set_index`: an entry kantra-ai committed, and only
when the entry was still the one the branch had before).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kantra_ai.scratch import scratch_folder

ZERO = "0" * 40
REGULAR = "100644"
SYMLINK = "120000"  # git's mode of a symbolic link


class GitError(Exception):
    """A git command failed; one line (the command and git's own first error line)."""


@dataclass(frozen=True)
class Head:
    sha: str
    branch: str | None  # the branch HEAD is on; None when detached


def _first_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("fatal:", "error:"))]
    return (errors or lines or ["no message"])[0]


class GitRepo:
    """A working tree's repository; paths given to it are relative to the repository's root."""

    def __init__(self, root: Path, prefix: str, git: str) -> None:
        self.root = root
        self.prefix = prefix  # --input relative to the repository root ("" or "sub/dir/")
        self.git = git

    @classmethod
    def find(cls, path: Path) -> GitRepo | None:
        """The repository `path` is in (None: not in one, or git is not installed)."""
        git = shutil.which("git")
        if git is None:
            return None
        done = subprocess.run(
            [git, "-C", str(path), "rev-parse", "--show-toplevel", "--show-prefix"],
            capture_output=True,
            check=False,
            env=_environment(),
        )
        if done.returncode != 0:
            return None
        lines = done.stdout.decode("utf-8", "surrogateescape").splitlines()
        if len(lines) < 1 or not lines[0]:
            return None  # a bare repository or the inside of .git
        return cls(Path(lines[0]), lines[1] if len(lines) > 1 else "", git)

    def path(self, relative_to_input: str) -> str:
        """A path of the --input tree as a path of the repository."""
        return self.prefix + relative_to_input

    def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> bytes:
        done = self.call(*args, stdin=stdin, env=env)
        if check and done.returncode != 0:
            raise GitError(f"git {args[0]}: {_first_line(done.stderr)}")
        return done.stdout

    def call(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """git with `args` in the repository's root, its outputs captured; the caller reads the exit
        status (for commands whose failure is an answer, such as `merge-base --is-ancestor`)."""
        return subprocess.run(
            [self.git, *args],
            cwd=self.root,
            input=stdin,
            capture_output=True,
            check=False,
            env=_environment(env),
        )

    def _text(self, *args: str, check: bool = True) -> str:
        return self.run(*args, check=check).decode("utf-8", "surrogateescape").strip()

    # -- reading ---------------------------------------------------------------------------------

    def head(self) -> Head | None:
        """Where HEAD is; None on an unborn branch (a repository without a commit)."""
        sha = self._text("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        if not sha:
            return None
        branch = self._text("symbolic-ref", "-q", "--short", "HEAD", check=False)
        return Head(sha, branch or None)

    def ref(self, branch: str) -> str | None:
        """The commit a local branch points to, or None."""
        return (
            self._text("rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False) or None
        )

    def valid_branch_name(self, name: str) -> bool:
        done = self.call("check-ref-format", "--branch", name)
        return done.returncode == 0 and not name.startswith("-")

    def busy(self) -> str | None:
        """What the repository is in the middle of, as a phrase with its way out (None: nothing).
        Moving HEAD to a job's branch during a merge or a rebase hands the user's operation to that
        branch (their merge commit lands there, `rebase --continue` rewrites it), and a held index
        lock fails a commit after its branch has moved."""
        states = (
            ("MERGE_HEAD", "a merge is in progress (git merge --continue, or --abort)"),
            ("rebase-merge", "a rebase is in progress (git rebase --continue, or --abort)"),
            ("rebase-apply", "a rebase or `git am` is in progress (--continue, or --abort)"),
            ("CHERRY_PICK_HEAD", "a cherry-pick is in progress (git cherry-pick --continue, or --abort)"),
            ("REVERT_HEAD", "a revert is in progress (git revert --continue, or --abort)"),
            ("BISECT_LOG", "a bisect is in progress (git bisect reset)"),
            (
                "index.lock",
                "another git command holds the index (.git/index.lock); if none is running, remove it",
            ),
        )
        paths = self._text(
            "rev-parse", *(arg for name, _ in states for arg in ("--git-path", name)), check=False
        )
        found = paths.splitlines()
        for (_, phrase), path in zip(states, found, strict=False):
            if os.path.lexists(self.root / path):
                return phrase
        if self._text("ls-files", "--unmerged", check=False):
            return "the index has unmerged paths (resolve them and commit, or abort the merge)"
        return None

    def dirty(self) -> dict[str, str]:
        """Paths with changes git would show (modified, staged, untracked, conflicted), each with
        its two-letter `git status --porcelain` code. Ignored files are not listed."""
        raw = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
        found: dict[str, str] = {}
        for entry in raw.split(b"\0"):
            if len(entry) > 3:
                found[entry[3:].decode("utf-8", "surrogateescape")] = entry[:2].decode()
        return found

    def entry(self, treeish: str, path: str) -> tuple[str, str] | None:
        """(mode, blob sha) of a path in a commit or tree, or None."""
        raw = self.run("ls-tree", "-z", treeish, "--", path)
        for item in raw.split(b"\0"):
            if item:
                meta, _, _name = item.partition(b"\t")
                mode, _kind, sha = meta.decode().split()
                return mode, sha
        return None

    def index_entry(self, path: str) -> tuple[str, str] | None:
        """(mode, blob sha) of a path in the user's index (stage 0), or None."""
        raw = self.run("ls-files", "-s", "-z", "--", path)
        for item in raw.split(b"\0"):
            if item:
                meta, _, _name = item.partition(b"\t")
                mode, sha, stage = meta.decode().split()
                if stage == "0":
                    return mode, sha
        return None

    def blob(self, sha: str) -> bytes:
        return self.run("cat-file", "blob", sha)

    def checked_out(self, sha: str, path: str, like: bytes | None = None) -> bytes:
        """A blob's bytes as the working tree has them at `path`: `like` (the bytes the run found
        there) when git stores them as that very blob (a CRLF file of a repository that keeps LF),
        else as a checkout writes the blob, with the conversions the repository asks for there (end
        of line: `core.autocrlf`, `text`/`eol` attributes; filters). `tree` stores content back the
        other way."""
        if like is not None:
            stored = self.run("hash-object", "--stdin", f"--path={path}", stdin=like).decode().strip()
            if stored == sha:
                return like
        return self.run("cat-file", "--filters", f"--path={path}", sha)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        done = self.call("merge-base", "--is-ancestor", ancestor, descendant)
        return done.returncode == 0

    def messages(self, tip: str, stop: str) -> list[tuple[str, str]]:
        """(sha, full message) of the commits in stop..tip, oldest first."""
        raw = self.run("log", "--reverse", "--format=%H%x00%B%x1e", f"{stop}..{tip}")
        found = []
        for record in raw.decode("utf-8", "replace").split("\x1e"):
            sha, sep, message = record.strip("\n").partition("\x00")
            if sep:
                found.append((sha.strip(), message))
        return found

    def changed(self, old: str, new: str) -> list[str]:
        """Paths whose content differs between two commits."""
        raw = self.run("diff-tree", "-r", "-z", "--name-only", "--no-renames", old, new)
        return [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p]

    def config(self, key: str) -> str | None:
        return self._text("config", "--get", key, check=False) or None

    # -- writing objects and refs ----------------------------------------------------------------

    def tree(self, parent: str, files: Mapping[str, bytes]) -> str:
        """The tree of commit `parent` with `files` (repository paths, their content as the working
        tree has it) replaced, built in a temporary index: the user's index and working tree are not
        touched. Each file is stored as `git add` stores it (a CRLF checkout's file as LF, when the
        repository converts line endings), not byte for byte."""
        with scratch_folder("index") as tmp:
            env = {"GIT_INDEX_FILE": str(tmp / "index")}
            self.run("read-tree", parent, env=env)
            lines = []
            for path, content in sorted(files.items()):
                old = self.entry(parent, path)
                mode = old[0] if old is not None else REGULAR
                sha = self._hash(content, path)
                lines.append(f"{mode} {sha}\t{path}".encode("utf-8", "surrogateescape") + b"\0")
            self.run("update-index", "-z", "--index-info", stdin=b"".join(lines), env=env)
            return self.run("write-tree", env=env).decode().strip()

    def _hash(self, content: bytes, path: str) -> str:
        return self.run("hash-object", "-w", "--stdin", f"--path={path}", stdin=content).decode().strip()

    def commit(self, tree: str, parent: str, message: str) -> str:
        env = {} if self._has_identity() else _FALLBACK_IDENTITY
        return (
            self.run("commit-tree", tree, "-p", parent, "-F", "-", stdin=message.encode(), env=env)
            .decode()
            .strip()
        )

    def _has_identity(self) -> bool:
        done = self.call("var", "GIT_COMMITTER_IDENT")
        return done.returncode == 0 and self.config("user.email") is not None

    def move_branch(self, branch: str, new: str, old: str | None, reason: str) -> None:
        """Point `branch` at `new` only if it still points at `old` (None: only if it does not
        exist yet); git refuses otherwise, so a branch someone moved meanwhile is never overwritten."""
        self.run("update-ref", "-m", reason, f"refs/heads/{branch}", new, old or ZERO)

    def switch_head(self, branch: str) -> None:
        """HEAD onto `branch` (which must hold the tree HEAD had, plus commits of ours)."""
        self.run("symbolic-ref", "-m", "kantra-ai: switch to its branch", "HEAD", f"refs/heads/{branch}")

    def set_index(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """Set entries (mode, sha, path) of the user's index."""
        data = b"".join(
            f"{mode} {sha}\t{path}".encode("utf-8", "surrogateescape") + b"\0" for mode, sha, path in entries
        )
        if data:
            self.run("update-index", "-z", "--index-info", stdin=data)

    # -- remotes ---------------------------------------------------------------------------------

    def remote_url(self, remote: str) -> str | None:
        """The URL as configured (before `insteadOf` rewriting: the one that names the forge)."""
        return self.config(f"remote.{remote}.url")

    def remote_branch(self, remote: str, branch: str) -> str | None:
        """The commit `branch` points to on the remote (asks the remote), or None."""
        raw = self._text("ls-remote", "--heads", remote, f"refs/heads/{branch}")
        for line in raw.splitlines():
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{branch}":
                return sha
        return None

    def push(self, remote: str, branch: str) -> None:
        """Push a branch under the same name; never forced (a remote branch that moved elsewhere
        is refused by the remote, and the error says so)."""
        done = self.call("push", "--porcelain", remote, f"refs/heads/{branch}:refs/heads/{branch}")
        if done.returncode != 0:
            raise GitError(f"git push: {_push_problem(done.stdout, done.stderr)}")


def _push_problem(stdout: bytes, stderr: bytes) -> str:
    """git's error line, with why the ref was rejected (`--porcelain`'s "!" line) and what the
    remote itself said ("remote: ..." lines: a hook's or a protected branch's reason)."""
    problem = _first_line(stderr)
    rejected = [
        line.split("\t")[-1].strip()
        for line in stdout.decode("utf-8", "replace").splitlines()
        if line.startswith("!") and "\t" in line
    ]
    remote = [
        line[len("remote:") :].strip()
        for line in stderr.decode("utf-8", "replace").splitlines()
        if line.startswith("remote:") and line[len("remote:") :].strip()
    ]
    if rejected:
        problem += f": {rejected[0]}"
    if remote:
        problem += f"; the remote says: {' / '.join(remote[:3])[:300]}"
    return problem


_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "kantra-ai",
    "GIT_AUTHOR_EMAIL": "kantra-ai@localhost",
    "GIT_COMMITTER_NAME": "kantra-ai",
    "GIT_COMMITTER_EMAIL": "kantra-ai@localhost",
}


def _environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Never wait for a password prompt in a batch run; messages in one language, for one-liners.
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"})
    env.pop("GIT_INDEX_FILE", None)
    env.update(extra or {})
    return env
