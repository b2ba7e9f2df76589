"""The check for a tree, found by its marker files: the first ecosystem found wins, offline modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kantra_ai.verify.detect import DetectionError, detect_command


def tree_with(tmp_path: Path, *files: str, package: dict[str, object] | None = None) -> Path:
    for name in files:
        (tmp_path / name).write_text("")
    if package is not None:
        (tmp_path / "package.json").write_text(json.dumps(package))
    return tmp_path


@pytest.mark.parametrize(
    ("files", "build", "test"),
    [
        (("pom.xml",), "mvn -q -o compile", "mvn -q -o test"),
        (("pom.xml", "mvnw"), "./mvnw -q -o compile", "./mvnw -q -o test"),
        (("build.gradle.kts",), "gradle --offline -q assemble", "gradle --offline -q test"),
        (("settings.gradle", "gradlew"), "./gradlew --offline -q assemble", "./gradlew --offline -q test"),
        (("go.mod",), "go build ./...", "go test ./..."),
        (("shop.sln", "web.csproj"), "dotnet build", "dotnet test"),
        (("pom.xml", "package.json", "pyproject.toml"), "mvn -q -o compile", "mvn -q -o test"),
    ],
)
def test_marker_files_choose_the_command(
    tmp_path: Path, files: tuple[str, ...], build: str, test: str
) -> None:
    tree = tree_with(tmp_path, *files)
    assert detect_command(tree, "build").command == build
    assert detect_command(tree, "test").command == test


@pytest.mark.parametrize(
    ("lock", "runner"), [(None, "npm"), ("yarn.lock", "yarn"), ("pnpm-lock.yaml", "pnpm")]
)
def test_package_json_scripts_run_with_the_package_manager_its_lock_file_names(
    tmp_path: Path, lock: str | None, runner: str
) -> None:
    tree = tree_with(
        tmp_path, *([lock] if lock else []), package={"scripts": {"build": "tsc", "test": "jest"}}
    )
    found = detect_command(tree, "build")
    assert (found.command, found.marker) == (f"{runner} run build", "package.json")
    assert detect_command(tree, "test").command == f"{runner} run test"


def test_typescript_without_a_build_script_is_type_checked(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, "tsconfig.json", package={"scripts": {}})
    assert detect_command(tree, "build").command == "npx --no-install tsc --noEmit"
    with pytest.raises(DetectionError, match="no `test` script"):
        detect_command(tree, "test")


def test_python_builds_with_compileall_outside_caches_and_tests_with_pytest(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, "pyproject.toml")
    build = detect_command(tree, "build").command
    assert " -m compileall -q -x " in build and build.endswith(" .")
    assert "-m pytest -q -p no:cacheprovider" in detect_command(tree, "test").command


def test_no_marker_is_a_one_line_error_that_names_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(DetectionError) as caught:
        detect_command(tmp_path, "build")
    message = str(caught.value)
    assert "--verify-command" in message and "\n" not in message
