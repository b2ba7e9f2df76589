"""No write leaves the tree: not through a file or folder swapped for a symbolic link while its
request is in flight (the outside copy has the same bytes, so a content check alone passes), not
through a `.kantra-ai` folder, store, log or lock file that is a link to somewhere else.

The swap is made by the fake provider's server thread, in this test process, while a real
`kantra-ai` process (a fresh interpreter running the console entry point) waits for the reply: a
second process racing the run, as a user's editor or a hostile script would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.helpers import EXAMPLES, analysis_of, copy_example, run

from kantra_ai.simulated.contract import FakeReply, FakeRequest
from kantra_ai.simulated.recipes import respond
from kantra_ai.store.schema import StoreError, connect
from kantra_ai.store.session import tool_dir
from testing.fakeprovider.server import FakeProviderServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")

EXAMPLE = "javaee-inventory"
TARGET = "src/main/java/com/example/inventory/model/Product.java"


def _swap_file(app: Path, outside: Path) -> None:
    """Replace TARGET by a link to an identical copy outside the tree, in one rename."""
    copy = outside / "Product.java"
    shutil.copy2(app / TARGET, copy)
    link = app / (TARGET + ".swap")
    link.symlink_to(copy)
    os.replace(link, app / TARGET)


def _swap_folder(app: Path, outside: Path) -> None:
    """Replace TARGET's folder by a link to an identical copy outside the tree."""
    folder = (app / TARGET).parent
    copy = outside / "model"
    shutil.copytree(folder, copy)
    folder.rename(outside / "model-moved-away")
    folder.symlink_to(copy, target_is_directory=True)


def _swapping_responder(
    app: Path, outside: Path, swap: Callable[[Path, Path], None]
) -> Callable[..., FakeReply]:
    done = threading.Event()

    def respond_after_swap(request: FakeRequest) -> FakeReply:
        if TARGET in request.last_user_text() and not done.is_set():
            swap(app, outside)  # while this very request is in flight
            done.set()
        return respond(request)

    return respond_after_swap


def _kantra(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "KANTRA_AI_"))}
    env["ANTHROPIC_API_KEY"] = "sk-ant-test-secret-0000"
    return subprocess.run(
        [sys.executable, "-m", "kantra_ai.cli.app", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("swap", [_swap_file, _swap_folder], ids=["file", "folder"])
def test_a_link_swapped_in_during_the_request_is_never_written_through(
    swap: Callable[[Path, Path], None], tmp_path: Path
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    original = (app / TARGET).read_bytes()
    with FakeProviderServer(_swapping_responder(app, outside, swap)) as server:
        result = _kantra(
            [
                "remediate", "--analysis", str(analysis_of(EXAMPLE)), "--input", str(app),
                "--base-url", server.anthropic_base_url, "--no-progress", "--json",
            ]
        )  # fmt: skip
    assert (
        outside / ("Product.java" if swap is _swap_file else "model/Product.java")
    ).read_bytes() == original
    assert sorted(p.name for p in outside.rglob("*.kantra-tmp")) == []
    summary = json.loads(result.stdout)
    refused = [o for o in summary["outcomes"] if o["file"] == TARGET]
    assert refused and all(o["status"] == "failed" for o in refused), refused
    assert all("symbolic link" in o["reason"] for o in refused), refused
    # Everything else was fixed as usual: only the swapped file was refused.
    others = [o for o in summary["outcomes"] if o["file"] != TARGET]
    assert {o["status"] for o in others} <= {"fixed", "not_applicable"}
    assert result.returncode == 1, result.stderr


def _remediate(app: Path, server: FakeProviderServer, *extra: str) -> int:
    return run(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app,
        "--base-url", server.anthropic_base_url, "--no-progress", *extra,
    )  # fmt: skip


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("kantra-ai: error:"), err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_a_kantra_ai_folder_that_is_a_link_out_of_the_tree_is_refused(
    dry_run: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (app / ".kantra-ai").symlink_to(outside, target_is_directory=True)
    with FakeProviderServer(respond) as server:
        code = _remediate(app, server, *(["--dry-run"] if dry_run else []))
        requests = server.request_count
    assert code == 2
    assert ".kantra-ai" in _one_line_error(capsys)
    assert list(outside.iterdir()) == []  # no store, lock, report or run.json out there
    assert requests == 0


@pytest.mark.parametrize("name", ["state.db", "state.db (a store)", "state.db-wal", "state.db-shm", "lock"])
def test_a_store_or_lock_file_that_is_a_link_is_refused_and_its_target_untouched(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    victim = tmp_path / "victim"
    if name == "state.db (a store)":  # a whole kantra-ai store elsewhere, someone else's
        connect(victim).close()
        name = "state.db"
    else:
        victim.write_bytes(b"" if name == "state.db" else b"someone's file\n")
    before = victim.read_bytes()
    (app / ".kantra-ai").mkdir()
    (app / ".kantra-ai" / name).symlink_to(victim)
    with FakeProviderServer(respond) as server:
        code = _remediate(app, server)
        requests = server.request_count
    assert code == 2
    assert name in _one_line_error(capsys)
    assert victim.read_bytes() == before
    assert requests == 0


def test_a_link_inside_the_tree_to_a_file_inside_it_is_edited_through(tmp_path: Path) -> None:
    """Links that stay in the tree are fine: the file they point to is fixed, the link stays."""
    app = copy_example(EXAMPLE, tmp_path)
    real = app / "shared" / "Product.java"
    real.parent.mkdir()
    (app / TARGET).rename(real)
    (app / TARGET).symlink_to(os.path.relpath(real, (app / TARGET).parent))
    with FakeProviderServer(respond) as server:
        assert _remediate(app, server) == 0
    assert (app / TARGET).is_symlink()
    assert real.read_bytes() == (EXAMPLES / EXAMPLE / "expected" / TARGET).read_bytes()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("empty", "is empty (0 bytes)"),
        ("garbage-wal", "is not a write-ahead log"),
        ("corrupt-page", "malformed"),  # quick_check's "is damaged (...)" for damage deeper in
        ("not-a-database", "not a usable kantra-ai run store"),
    ],
)
def test_a_damaged_store_is_refused_in_one_line_and_never_used(
    damage: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    store = app / ".kantra-ai" / "state.db"
    if damage == "empty":
        store.parent.mkdir()
        store.write_bytes(b"")
    else:
        with FakeProviderServer(respond) as server:
            assert _remediate(app, server, "--fresh") == 0
        shutil.rmtree(app / "src")
        shutil.copytree(EXAMPLES / EXAMPLE / "app" / "src", app / "src")
        _damage(store, damage)
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in store.parent.iterdir() if p.name.startswith("state.db")}
    with FakeProviderServer(respond) as server:
        code = _remediate(app, server)
        requests = server.request_count
    assert code == 2
    err = _one_line_error(capsys)
    assert expected in err and str(store) in err
    assert requests == 0
    after = {p.name: p.read_bytes() for p in store.parent.iterdir() if p.name.startswith("state.db")}
    assert after == before  # refused, not repaired or rewritten


def _damage(store: Path, damage: str) -> None:
    data = bytearray(store.read_bytes())
    if damage == "garbage-wal":
        Path(f"{store}-wal").write_bytes(os.urandom(4096))
        return
    if damage == "not-a-database":
        data[:16] = b"definitely not!!"
    else:  # corrupt-page: the b-tree page header of page 2 (a table's root)
        page = int.from_bytes(data[16:18], "big")
        data[page : page + 8] = b"\xff" * 8
    store.write_bytes(bytes(data))


def test_damage_deep_in_the_store_is_reported_in_one_line(tmp_path: Path) -> None:
    """quick_check lists every bad page on lines of their own; the error keeps the first."""
    store = tmp_path / "state.db"
    db = connect(store)
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO runs (tree, state, mode, analysis, provider, model, pid, started_at, note)"
        " VALUES ('.', 'finished', 'm', 'a', 'p', 'm', 1, 0, ?)",
        [("x" * 300,) for _ in range(2000)],
    )
    db.execute("COMMIT")
    db.close()
    data = bytearray(store.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : page + 8] = b"A" * 8  # page 2: the runs table's root, now no b-tree page at all
    store.write_bytes(bytes(data))
    with pytest.raises(StoreError) as refused:
        connect(store)
    message = str(refused.value)
    assert "is damaged" in message and "more problems" in message
    assert len(message.splitlines()) == 1


def test_a_link_swapped_in_before_the_file_is_read_is_never_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between loading the analysis (which refuses links out of the tree) and reading the file for
    its request, the file becomes a link to something else outside: its content is not sent."""
    import kantra_ai.app.run as app_run

    app = copy_example(EXAMPLE, tmp_path)
    private = tmp_path / "private.java"
    private.write_text('class Private { String password = "TOP SECRET"; }\n')
    real_execute = app_run.execute_batches

    async def swap_then_execute(*args: object, **kwargs: object) -> object:
        (app / TARGET).unlink()
        (app / TARGET).symlink_to(private)
        return await real_execute(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app_run, "execute_batches", swap_then_execute)
    with FakeProviderServer(respond) as server:
        code = _remediate(app, server)
        sent = [r.last_user_text() for r in server.requests]
    assert code == 1
    assert sent and not any("TOP SECRET" in text for text in sent)
    assert private.read_text() == 'class Private { String password = "TOP SECRET"; }\n'


def test_the_tool_folder_must_be_a_real_folder_of_the_tree(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (app / ".kantra-ai").symlink_to(elsewhere, target_is_directory=True)
    for create in (True, False):
        with pytest.raises(StoreError, match="symbolic link"):
            tool_dir(app, create=create)
    assert list(elsewhere.iterdir()) == []
