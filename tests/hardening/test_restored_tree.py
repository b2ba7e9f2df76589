"""A rerun after the user restored the original files fixes them again: an incident the store calls
fixed is settled only while its fix is still in the file. Edits the user made on top of the fixes
(a comment, a re-indent) do not make kantra-ai ask again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.cli.helpers import EXAMPLES, copy_example, expected_of, run, tree_differences
from tests.store.helpers import remediate

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"
PRODUCT = "src/main/java/com/example/inventory/model/Product.java"


def _restore(app: Path, *paths: str) -> None:
    """`git checkout` of these files (all of them when none is named); the run store stays."""
    original = EXAMPLES / EXAMPLE / "app"
    for path in paths or [str(p.relative_to(original)) for p in original.rglob("*") if p.is_file()]:
        shutil.copy2(original / path, app / path)


def test_a_rerun_after_the_tree_was_restored_fixes_everything_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond) as server:
        assert remediate(EXAMPLE, app, server)[0] == 0
        first = server.request_count
        _restore(app)
        capsys.readouterr()
        code, summary = remediate(EXAMPLE, app, server)
        again = server.request_count - first
    assert code == 0
    assert tree_differences(app, expected_of(EXAMPLE)) == []
    assert again == first  # every file asked again: the fixes were gone
    assert summary["store"]["reopened"] == 19
    assert "19 incidents recorded as fixed are no longer fixed in their files" in capsys.readouterr().err


def test_only_the_restored_file_is_asked_again(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond) as server:
        remediate(EXAMPLE, app, server)
        first = server.request_count
        _restore(app, PRODUCT)
        code, plan = remediate(EXAMPLE, app, server, "--dry-run")
        assert code == 0 and plan["totals"]["requests"] == 1  # the dry run sees it too
        code, summary = remediate(EXAMPLE, app, server)
        assert (code, server.request_count - first) == (0, 1)
    assert summary["store"]["reopened"] == len([o for o in summary["outcomes"] if o["file"] == PRODUCT])
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_the_users_own_edits_on_top_of_the_fixes_are_not_a_reason_to_ask_again(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond) as server:
        remediate(EXAMPLE, app, server)
        first = server.request_count
        product = app / PRODUCT
        # A comment added and the whole file re-indented by the user's formatter: fixes intact.
        text = product.read_text()
        product.write_text("// reviewed\n" + text.replace("    ", "  "))
        code, summary = remediate(EXAMPLE, app, server)
        assert (code, server.request_count) == (0, first)
    assert summary["store"]["reopened"] == 0
    assert summary["store"]["skipped"]["fixed"] == 19


def test_a_fix_the_user_undid_by_hand_is_made_again(tmp_path: Path) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond) as server:
        remediate(EXAMPLE, app, server)
        first = server.request_count
        product = app / PRODUCT
        # One import put back by hand, and an unrelated change elsewhere in the file.
        text = product.read_text().replace("import jakarta.persistence.*;", "import javax.persistence.*;")
        product.write_text(text + "\n// touched\n")
        code, summary = remediate(EXAMPLE, app, server)
        assert server.request_count == first + 1
    assert code == 0
    assert summary["store"]["reopened"] >= 1
    assert tree_differences(app, expected_of(EXAMPLE)) == [PRODUCT]  # fixed again; the comment stays
    assert product.read_text().endswith("\n// touched\n")


def test_status_says_which_fixes_a_restored_file_lost_before_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond) as server:
        remediate(EXAMPLE, app, server)
    capsys.readouterr()
    assert run("status", "--input", app, "--json") == 0
    assert json.loads(capsys.readouterr().out)["fixes_gone"] == {}
    _restore(app, PRODUCT)
    assert run("status", "--input", app, "--json") == 0
    gone = json.loads(capsys.readouterr().out)["fixes_gone"]
    assert list(gone) == [PRODUCT] and gone[PRODUCT] > 0
    assert run("status", "--input", app) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f"{gone[PRODUCT]} of the fixed incidents are no longer fixed in their files" in said
