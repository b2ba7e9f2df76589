"""map_uri / detect_source_root: every root style lands in the checkout, nothing escapes it."""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest

from kantra_ai.analysis.model import Applicability
from kantra_ai.analysis.uris import (
    KNOWN_ROOTS,
    TreeLocator,
    detect_source_root,
    detect_source_roots,
    is_dependency_path,
    map_uri,
    mapping_roots,
    misplaced_input,
    uri_to_path,
)

APP = "src/main/java/com/acme/App.java"


@pytest.fixture
def checkout(make_checkout: Callable[..., Path]) -> Path:
    return make_checkout([APP, "pom.xml", "src/main/resources/My File.properties", "src/main/Ünï.java"])


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///opt/input/source/pom.xml", "/opt/input/source/pom.xml"),
        ("file://localhost/opt/x.java", "/opt/x.java"),
        ("file:/opt/x.java", "/opt/x.java"),
        ("src/main/A.java", "src/main/A.java"),
        ("file:///a/My%20File.java", "/a/My File.java"),
        ("file:///a/%C3%9Cn%C3%AF.java", "/a/Ünï.java"),
        ("file:///a/100%2525.txt", "/a/100%25.txt"),  # decoded exactly once
    ],
)
def test_uri_to_path_strips_scheme_and_decodes_once(uri: str, expected: str) -> None:
    assert uri_to_path(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        f"file:///opt/input/source/{APP}",  # kantra container
        f"file:///shared/source/{APP}",  # Konveyor Hub
        f"file:///source/{APP}",  # test harnesses (koncur)
        APP,  # relative
        f"./{APP}",
        f"file://localhost/opt/input/source/{APP}",
    ],
)
def test_known_roots_and_relative_paths_map_to_the_checkout_file(uri: str, checkout: Path) -> None:
    mapped = map_uri(uri, checkout)

    assert mapped.applicability is Applicability.SOURCE
    assert mapped.path == PurePosixPath(APP)


def test_host_absolute_path_maps_through_the_detected_root(checkout: Path) -> None:
    uris = [f"file:///home/dev/work/app/{APP}", "file:///home/dev/work/app/pom.xml"]
    roots = mapping_roots([uri_to_path(u) for u in uris], checkout)

    assert roots[0] == "/home/dev/work/app"
    for uri in uris:
        assert map_uri(uri, checkout, roots).applicability is Applicability.SOURCE
    assert map_uri(uris[0], checkout, roots).path == PurePosixPath(APP)


@pytest.mark.parametrize(
    ("uri", "rel"),
    [
        (
            "file:///opt/input/source/src/main/resources/My%20File.properties",
            "src/main/resources/My File.properties",
        ),
        ("file:///opt/input/source/src/main/%C3%9Cn%C3%AF.java", "src/main/Ünï.java"),
        ("src/main/resources/My%20File.properties", "src/main/resources/My File.properties"),
    ],
)
def test_percent_encoded_names_map_to_the_decoded_file(uri: str, rel: str, checkout: Path) -> None:
    mapped = map_uri(uri, checkout)

    assert mapped.applicability is Applicability.SOURCE
    assert mapped.path == PurePosixPath(rel)


def test_a_file_in_a_folder_this_user_may_not_enter_is_missing_not_an_error(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chmod 000 src/main/java/com`: `Path.is_file` raises PermissionError there."""
    denied = str(checkout / "src/main/java/com") + os.sep
    real_is_file, real_lstat = Path.is_file, os.lstat

    def refuse(path: str | os.PathLike[str]) -> None:
        if os.fspath(path).startswith(denied):
            raise PermissionError(13, "Permission denied", os.fspath(path))

    def is_file(path: Path) -> bool:
        refuse(path)
        return real_is_file(path)

    def lstat(path: str | os.PathLike[str]) -> os.stat_result:
        refuse(path)
        return real_lstat(path)

    monkeypatch.setattr(Path, "is_file", is_file)
    monkeypatch.setattr(os, "lstat", lstat)
    uris = [f"file:///home/dev/work/app/{APP}", "file:///home/dev/work/app/pom.xml"]
    roots = mapping_roots([uri_to_path(u) for u in uris], checkout)
    assert roots[0] == "/home/dev/work/app"  # found through the file it can see
    assert map_uri(uris[0], checkout, roots).applicability is Applicability.MISSING_FILE
    assert map_uri(uris[1], checkout, roots).applicability is Applicability.SOURCE


@pytest.mark.parametrize(
    "uri",
    [
        "file:///opt/input/source/../../etc/passwd",
        "file:///opt/input/source/src/../../../etc/passwd",
        "../x",
        "../../etc/passwd",
        "src/../../outside.txt",
        "file:///opt/input/source/%2e%2e/%2e%2e/etc/passwd",  # traversal hidden by encoding
        "file:///etc/passwd",  # absolute, under no root
        "/etc/passwd",
        "file:///opt/input/source/src/a%00b.java",  # NUL smuggled in
    ],
)
def test_traversal_attempts_are_refused_as_outside_input(uri: str, checkout: Path) -> None:
    mapped = map_uri(uri, checkout)

    assert mapped.applicability is Applicability.OUTSIDE_INPUT
    assert mapped.path is None


def test_traversal_is_refused_even_when_the_target_exists_inside(tmp_path: Path) -> None:
    # `src/../pom.xml` would land inside the tree, but `..` never comes from a real analyzer.
    (tmp_path / "src").mkdir()
    (tmp_path / "pom.xml").write_text("<project/>")
    assert map_uri("src/../pom.xml", tmp_path).applicability is Applicability.OUTSIDE_INPUT


def test_symlinked_directory_escaping_the_tree_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    os.symlink(outside, checkout / "link")

    mapped = map_uri("file:///opt/input/source/link/secret.txt", checkout)

    assert mapped.applicability is Applicability.OUTSIDE_INPUT
    assert mapped.path is None


def test_symlinked_file_escaping_the_tree_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.java"
    target.write_text("class X {}")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    os.symlink(target, checkout / "App.java")
    os.symlink(tmp_path / "does-not-exist.java", checkout / "Dangling.java")

    assert map_uri("App.java", checkout).applicability is Applicability.OUTSIDE_INPUT
    assert map_uri("Dangling.java", checkout).applicability is Applicability.OUTSIDE_INPUT


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    assert map_uri("a/x.java", tmp_path).path is None


def test_symlink_staying_inside_the_tree_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "A.java").write_text("class A {}")
    os.symlink(tmp_path / "real", tmp_path / "alias")

    mapped = map_uri("alias/A.java", tmp_path)

    assert mapped.applicability is Applicability.SOURCE
    assert mapped.path == PurePosixPath("alias/A.java")


def test_checkout_reached_through_a_symlink_still_maps(tmp_path: Path) -> None:
    (tmp_path / "real" / "src").mkdir(parents=True)
    (tmp_path / "real" / "src" / "A.java").write_text("class A {}")
    os.symlink(tmp_path / "real", tmp_path / "checkout")

    assert map_uri("file:///source/src/A.java", tmp_path / "checkout").applicability is Applicability.SOURCE


def test_no_combination_of_segments_yields_a_path_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("x")
    checkout = tmp_path / "checkout"
    (checkout / "d").mkdir(parents=True)
    (checkout / "f").write_text("x")
    (checkout / "d" / "f").write_text("x")
    os.symlink(outside, checkout / "out")
    os.symlink(checkout / "d", checkout / "in")
    segments = ["..", ".", "d", "f", "out", "in", "%2e%2e", "", "outside"]
    real_root = checkout.resolve()

    for depth in range(1, 5):
        for combo in itertools.product(segments, repeat=depth):
            for prefix in ("", "file:///opt/input/source/", "/"):
                mapped = map_uri(prefix + "/".join(combo), checkout)
                if mapped.path is not None:
                    resolved = (checkout / mapped.path).resolve()
                    assert resolved == real_root or real_root in resolved.parents, combo
                if mapped.applicability is Applicability.SOURCE:
                    assert mapped.path is not None and (checkout / mapped.path).is_file()


@pytest.mark.parametrize(
    "uri",
    [
        "file:///root/.m2/repository/org/acme/lib/1.0/lib-1.0/A.java",
        "file:///addon/.m2/repository/io/konveyor/X.java",
        "file:///cache/m2/org/acme/A.java",
        "file:///tmp/java-bin-1234567/com/acme/A.java",
        "file:///home/u/.m2/repository/a/B.java",
        ".m2/repository/a/B.java",
    ],
)
def test_dependency_sources_are_recognised(uri: str, checkout: Path) -> None:
    mapped = map_uri(uri, checkout)

    assert mapped.applicability is Applicability.DEPENDENCY
    assert mapped.path is None


@pytest.mark.parametrize(
    "path", ["/opt/input/source/src/m2/A.java", "/source/java-bin-tools/A.java", "/x/my.m2/A"]
)
def test_look_alike_directories_are_not_dependencies(path: str) -> None:
    assert not is_dependency_path(path)


def test_analyzer_dependency_flag_wins_even_for_a_checkout_file(checkout: Path) -> None:
    assert map_uri(APP, checkout, dependency=True).applicability is Applicability.DEPENDENCY


@pytest.mark.parametrize("uri", ["", "   ", "file:///opt/input/source", "file:///opt/input/source/"])
def test_uri_naming_no_file_is_no_file(uri: str, checkout: Path) -> None:
    mapped = map_uri(uri, checkout)

    assert mapped.applicability is Applicability.NO_FILE
    assert mapped.path is None


def test_mapped_but_absent_file_is_missing_with_its_relative_path(checkout: Path) -> None:
    mapped = map_uri("file:///opt/input/source/src/Gone.java", checkout)

    assert mapped.applicability is Applicability.MISSING_FILE
    assert mapped.path == PurePosixPath("src/Gone.java")


def test_directory_is_not_an_editable_file(checkout: Path) -> None:
    assert map_uri("file:///source/src/main", checkout).applicability is Applicability.MISSING_FILE


def test_forced_source_root_is_the_only_root(checkout: Path) -> None:
    roots = mapping_roots([f"/opt/input/source/{APP}"], checkout, source_root="file:///build/app/")

    assert roots == ["/build/app"]
    assert map_uri(f"file:///build/app/{APP}", checkout, roots).applicability is Applicability.SOURCE
    # The container path no longer matches any root: it is not in the tree the user named.
    assert (
        map_uri(f"file:///opt/input/source/{APP}", checkout, roots).applicability
        is Applicability.OUTSIDE_INPUT
    )
    assert map_uri(APP, checkout, roots).applicability is Applicability.SOURCE


def test_root_is_detected_from_files_that_exist(checkout: Path) -> None:
    paths = [f"/ci/builds/42/app/{APP}", "/ci/builds/42/app/pom.xml", "/ci/builds/42/app/src/Gone.java"]

    assert detect_source_root(paths, checkout) == "/ci/builds/42/app"


def test_detection_ignores_dependencies_and_prefers_the_root_most_files_agree_on(
    make_checkout: Callable[..., Path],
) -> None:
    checkout = make_checkout([APP, "pom.xml", "A.java"])
    paths = [
        f"/w/app/{APP}",
        "/w/app/pom.xml",
        "/w/app/src/main/java/com/acme/A.java",  # only `A.java` exists: weak evidence for a deep root
        "/root/.m2/repository/pom.xml",
    ]

    assert detect_source_roots(paths, checkout)[0] == "/w/app"


def test_detection_is_independent_of_input_order(make_checkout: Callable[..., Path]) -> None:
    checkout = make_checkout([APP, "pom.xml", "lib/B.java"])
    paths = [f"/a/{APP}", "/a/pom.xml", "/b/x/lib/B.java", "/b/x/pom.xml", "/c/README"]
    expected = detect_source_roots(paths, checkout)

    rng = random.Random(7)
    for _ in range(20):
        shuffled = paths[:]
        rng.shuffle(shuffled)
        assert detect_source_roots(shuffled, checkout) == expected
    assert expected[0] == "/a"
    assert "/b/x" in expected


def test_equal_evidence_prefers_the_shorter_root(make_checkout: Callable[..., Path]) -> None:
    # Both /w/app (rest src/A.java) and /w/app/src (rest A.java) exist on disk: the longer
    # match is the stronger evidence.
    checkout = make_checkout(["src/A.java", "A.java"])
    assert detect_source_root(["/w/app/src/A.java"], checkout) == "/w/app"


def test_known_root_wins_a_tie(make_checkout: Callable[..., Path]) -> None:
    checkout = make_checkout(["input/source/A.java", "A.java"])
    # /opt (rest input/source/A.java) and /opt/input/source (rest A.java): one vote each.
    assert detect_source_root(["/opt/input/source/A.java"], checkout) == "/opt/input/source"


def test_without_a_checkout_detection_falls_back_to_known_and_common_roots(tmp_path: Path) -> None:
    paths = ["/opt/input/source/a/B.java", "/work/app/src/C.java", "/work/app/pom.xml"]

    roots = detect_source_roots(paths, tmp_path / "missing")

    assert roots == ["/opt/input/source", "/work/app"]


def test_unrelated_absolute_paths_get_no_catch_all_root(tmp_path: Path) -> None:
    assert detect_source_roots(["/a/x.java", "/b/y.java"], tmp_path) == []
    assert detect_source_root(["src/x.java"], tmp_path) is None


def test_known_roots_stay_available_after_detection(make_checkout: Callable[..., Path]) -> None:
    checkout = make_checkout(["pom.xml"])
    roots = mapping_roots(["/home/u/app/pom.xml"], checkout)

    assert roots[0] == "/home/u/app"
    assert roots[1:] == list(KNOWN_ROOTS)


def test_an_input_below_a_host_root_is_found_by_a_file_of_the_analysis_outside_it(
    make_checkout: Callable[..., Path],
) -> None:
    """A host analysis (no known mount point): `--input` is `src`, and the analysis's pom.xml sits in
    the folder above it, so that folder is the application."""
    app = make_checkout([APP, "pom.xml"], name="app")
    paths = ["/home/ci/work/app/" + APP, "/home/ci/work/app/pom.xml"]
    root = detect_source_root(paths, app / "src")
    assert root == "/home/ci/work/app/src"
    found = misplaced_input(paths, root, app / "src")
    assert found is not None and (found.expected, found.levels) == (app.resolve(), 1)


def test_an_input_below_a_host_root_without_evidence_above_is_left_alone(
    make_checkout: Callable[..., Path],
) -> None:
    """Nothing of the analysis lies outside `src`, and its root is no analyzer's mount point: the
    analysis may well have been made of `src` alone."""
    app = make_checkout([APP, "pom.xml"], name="app")
    paths = ["/home/ci/work/app/" + APP]
    assert misplaced_input(paths, detect_source_root(paths, app / "src"), app / "src") is None


def test_the_right_input_is_not_misplaced(checkout: Path) -> None:
    paths = ["/opt/input/source/" + APP, "/opt/input/source/pom.xml"]
    assert misplaced_input(paths, detect_source_root(paths, checkout), checkout) is None


def test_a_link_escaping_the_tree_is_refused_in_a_folder_already_resolved(tmp_path: Path) -> None:
    # One locator for the whole analysis: the folder is resolved for A.java, and B.java (a link out
    # of the tree) next to it must still be followed.
    (tmp_path / "secret.java").write_text("class S {}")
    checkout = tmp_path / "checkout"
    (checkout / "src").mkdir(parents=True)
    (checkout / "src" / "A.java").write_text("class A {}")
    os.symlink(tmp_path / "secret.java", checkout / "src" / "B.java")
    os.symlink(checkout / "src" / "A.java", checkout / "src" / "C.java")
    locator = TreeLocator(checkout)

    assert map_uri("src/A.java", checkout, locator=locator).applicability is Applicability.SOURCE
    assert map_uri("src/B.java", checkout, locator=locator).applicability is Applicability.OUTSIDE_INPUT
    assert map_uri("src/C.java", checkout, locator=locator).applicability is Applicability.SOURCE
    assert map_uri("src/D.java", checkout, locator=locator).applicability is Applicability.MISSING_FILE
