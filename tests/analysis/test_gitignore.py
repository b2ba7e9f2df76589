"""`GitIgnored` agrees with git itself on which files of a tree are ignored."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import pytest

from kantra_ai.analysis.ignore import GitIgnored

GITIGNORES = {
    ".gitignore": "build/\n*.log\n!keep.log\n/top.txt\nvendor/\n\\#hash\n# a comment\n\ndocs/*.html\n",
    "src/.gitignore": "generated/\n!important.log\n*.bak\n",
    "src/main/.gitignore": "!again.bak\n",
    "vendor/.gitignore": "!lib.js\n",  # cannot re-include: its folder is ignored
}
FILES = [
    "top.txt", "sub/top.txt", "app.log", "keep.log", "src/x.log", "src/important.log",
    "build/out.class", "src/build/Foo.class", "src/generated/Gen.java", "src/main/Gen.java",
    "src/a.bak", "src/main/again.bak", "src/main/other.bak", "vendor/lib.js", "vendor/x/y.js",
    "#hash", "docs/index.html", "docs/api/index.html", "pom.xml", "build.gradle",
]  # fmt: skip


def _tree(root: Path) -> None:
    for name, text in GITIGNORES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x\n")


def _git_ignored(root: Path) -> set[str]:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--others", "--ignored", "--exclude-standard"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return set(out.splitlines())


def test_ignored_files_are_exactly_the_ones_git_ignores(tmp_path: Path) -> None:
    _tree(tmp_path)
    ignored = GitIgnored(tmp_path)
    ours = {name for name in FILES if ignored.is_ignored(name)}
    assert ours == _git_ignored(tmp_path) & set(FILES)
    assert "vendor/lib.js" in ours and "keep.log" not in ours  # sanity: the rules that matter do act


def test_info_exclude_applies_and_gitignore_beats_it(tmp_path: Path) -> None:
    _tree(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("pom.xml\nkeep.log\n")
    ignored = GitIgnored(tmp_path)
    assert ignored.is_ignored("pom.xml")
    assert not ignored.is_ignored("keep.log")  # the root .gitignore's "!keep.log" wins
    assert {n for n in FILES if ignored.is_ignored(n)} == _git_ignored(tmp_path) & set(FILES)


def test_folder_only_patterns_need_to_know_a_folder(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("out/\n")
    ignored = GitIgnored(tmp_path)
    assert ignored.is_ignored(PurePosixPath("out"), is_dir=True)
    assert not ignored.is_ignored("out", is_dir=False)
    assert ignored.is_ignored("out/a.txt", is_dir=False)


def test_a_tree_without_gitignore_ignores_nothing(tmp_path: Path) -> None:
    assert not GitIgnored(tmp_path).is_ignored("build/out.class")


def test_paths_outside_the_tree_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        GitIgnored(tmp_path).is_ignored("../etc/passwd")
