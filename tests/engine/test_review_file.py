"""The manual-review file: appended atomically, never clobbered, readable by people and by YAML."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from kantra_ai._fs import TEMP_SUFFIX
from kantra_ai.engine.review_file import ReviewFileError, append_review_entries, read_review_file


def _entry(n: int) -> dict[str, object]:
    return {"file": f"F{n}.java", "edits": [{"old": "import javax.a;\nimport javax.b;\n", "new": "x\n"}]}


def test_entries_are_appended_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "review.yaml"
    append_review_entries(path, [_entry(1)])
    append_review_entries(path, [_entry(2), _entry(3)])
    entries = read_review_file(path)
    assert [e["file"] for e in entries] == ["F1.java", "F2.java", "F3.java"]
    assert all("recorded_at" in e for e in entries)


def test_code_is_written_as_literal_blocks_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "review.yaml"
    append_review_entries(path, [_entry(1)])
    text = path.read_text()
    assert "old: |\n" in text
    assert text.startswith("# kantra-ai manual review")
    assert yaml.safe_load(text)["entries"][0]["edits"][0]["old"] == "import javax.a;\nimport javax.b;\n"


def test_concurrent_appends_lose_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "review.yaml"
    threads = [threading.Thread(target=append_review_entries, args=(path, [_entry(n)])) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e["file"] for e in read_review_file(path)) == sorted(f"F{n}.java" for n in range(20))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)] == []


_APPEND = """
import sys
from pathlib import Path
from kantra_ai._fs import TEMP_SUFFIX
from kantra_ai.engine.review_file import append_review_entries
for n in range(int(sys.argv[3])):
    append_review_entries(Path(sys.argv[1]), [{"file": f"P{sys.argv[2]}-{n}.java"}])
"""


def test_appends_from_several_processes_lose_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "review.yaml"
    workers, each = 4, 15
    commands = [[sys.executable, "-c", _APPEND, str(path), str(w), str(each)] for w in range(workers)]
    procs = [subprocess.Popen(command) for command in commands]
    assert [p.wait(timeout=120) for p in procs] == [0] * workers
    files = sorted(e["file"] for e in read_review_file(path))
    assert files == sorted(f"P{w}-{n}.java" for w in range(workers) for n in range(each))


def test_a_file_that_is_not_a_review_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "review.yaml"
    path.write_text("precious: [unclosed\n")
    with pytest.raises(ReviewFileError, match="not overwritten"):
        append_review_entries(path, [_entry(1)])
    assert path.read_text() == "precious: [unclosed\n"
