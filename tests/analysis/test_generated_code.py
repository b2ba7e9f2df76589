"""Build output and vendored code are not applicable by default: counted, listed, fixed only when asked."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
import yaml

from kantra_ai.analysis.ignore import GitIgnored
from kantra_ai.analysis.loader import load_analysis
from kantra_ai.analysis.model import Applicability
from kantra_ai.analysis.selection import select_incidents
from kantra_ai.analysis.uris import generated_path


@pytest.mark.parametrize(
    "path, generated",
    [
        ("target/classes/META-INF/persistence.xml", True),
        ("module-a/target/classes/App.class", True),
        ("build/generated/Foo.java", True),
        ("web/node_modules/lib/index.js", True),
        ("src/main/webapp/bower_components/angular/angular.js", True),  # vendored, even under src
        (".git/config", True),
        ("src/main/java/com/acme/build/Builder.java", False),  # a package called build
        ("src/main/java/com/acme/target/Target.java", False),
        ("src/main/resources/META-INF/persistence.xml", False),
        ("target.xml", False),
        ("pom.xml", False),
    ],
)
def test_which_paths_are_build_output_or_vendored(path: str, generated: bool) -> None:
    assert generated_path(PurePosixPath(path)) is generated


def test_what_gitignore_ignores_is_generated(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("out/\n*.gen.java\n")
    ignored = GitIgnored(tmp_path)
    assert generated_path(PurePosixPath("out/App.java"), ignored)
    assert generated_path(PurePosixPath("src/Foo.gen.java"), ignored)
    assert not generated_path(PurePosixPath("src/Foo.java"), ignored)


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    app = tmp_path / "app"
    files = {
        "src/main/resources/META-INF/persistence.xml": "<persistence/>\n",
        "target/classes/META-INF/persistence.xml": "<persistence/>\n",
        "src/main/webapp/bower_components/x/x.js": "var x;\n",
        "dist/app.js": "var y;\n",
        ".gitignore": "dist/\n",
    }
    for name, text in files.items():
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text(text)
    incidents = [
        {"uri": f"file:///opt/input/source/{name}", "message": "m", "lineNumber": 1}
        for name in files
        if name != ".gitignore"
    ]
    document = [
        {
            "name": "rules",
            "violations": {
                "r": {"description": "d", "category": "mandatory", "effort": 1, "incidents": incidents}
            },
        }
    ]
    analysis = tmp_path / "output.yaml"
    analysis.write_text(yaml.safe_dump(document))
    return analysis, app


def test_incidents_in_generated_files_are_counted_as_not_applicable(tmp_path: Path) -> None:
    analysis, app = _tree(tmp_path)
    selection = select_incidents(load_analysis(analysis, app))
    assert [str(i.path) for i in selection.selected] == ["src/main/resources/META-INF/persistence.xml"]
    assert sorted(str(i.path) for i in selection.not_applicable) == [
        "dist/app.js",
        "src/main/webapp/bower_components/x/x.js",
        "target/classes/META-INF/persistence.xml",
    ]
    assert selection.not_applicable_by_reason[Applicability.GENERATED] == 3


def test_include_generated_fixes_them_too(tmp_path: Path) -> None:
    analysis, app = _tree(tmp_path)
    selection = select_incidents(load_analysis(analysis, app, include_generated=True))
    assert len(selection.selected) == 4
    assert selection.not_applicable == []
