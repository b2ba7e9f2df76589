"""A fix that wrote something credential-shaped is recorded masked (the store keeps every text
through the redaction layer); the incremental check must still find that fix in the file, or every
rerun after the user touched the file would ask for it again."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path, PurePosixPath

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.store.run_store import RunStore
from kantra_ai.store.settled import no_longer_fixed

RULE = Violation("rules", "r", "d", Category.MANDATORY, 1)
KEY = "sk-proj-" + "0a1b2c3d4e5f6a7b8c9d0e1f2a3b"
FIXED_LINE = f'    String key = System.getenv().getOrDefault("OPENAI_KEY", "{KEY}");'


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_fix_recorded_masked_is_still_found_in_the_file_the_user_edited(tmp_path: Path) -> None:
    before = "class A {\n    String key = null;\n}\n"
    after = f"class A {{\n{FIXED_LINE}\n}}\n"
    incident = Incident("id1", RULE, "u", PurePosixPath("A.java"), 2, "m")
    store = RunStore.open(tmp_path / "state.db", ".")
    with store.tx() as db:
        db.execute(
            "INSERT INTO writes (run_id, tree, path, before_sha, after_sha, state, outcomes, fingerprints,"
            " edits, created_at) VALUES (1, ?, 'A.java', ?, ?, 'written', ?, '[]', ?, ?)",
            (
                store.tree, _sha(before), _sha(after),
                json.dumps([{"id": "id1", "status": "fixed"}]),
                json.dumps([{"new_text": FIXED_LINE, "incident_ids": ["id1"]}]),
                time.time(),
            ),
        )  # fmt: skip
    (stored,) = store.query("SELECT edits FROM writes")
    assert KEY not in str(stored[0]) and "sk-proj-***" in str(stored[0])  # the store kept it masked
    # The user added a comment on top of the fix: the file is neither what we wrote nor restored.
    (tmp_path / "A.java").write_text("// reviewed\n" + after, encoding="utf-8")
    assert no_longer_fixed(store, tmp_path, [incident]) == set()
    # Undone by hand: the fix is gone, masked or not.
    (tmp_path / "A.java").write_text("// reviewed\n" + before, encoding="utf-8")
    assert no_longer_fixed(store, tmp_path, [incident]) == {"id1"}
    store.close()
