"""The job's record built from the run store: which diff hunks an incident's row points at."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.edits.model import Edit
from kantra_ai.engine.outcomes import IncidentOutcome, Status
from kantra_ai.report.job import job_record
from kantra_ai.store.codec import Decided
from kantra_ai.store.run_store import RunStore

RULE = Violation("rs", "ejb-remote", "Remove the remote interface", Category.MANDATORY, 3)


def _write(
    store: RunStore, run: int, path: str, before: str, after: str, edits: list[Edit], encoding: str = "utf-8"
) -> None:
    old, new = before.encode(encoding), after.encode(encoding)
    sha = (hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest())
    decided = [Decided(IncidentOutcome(i, Status.FIXED), True) for e in edits for i in e.incident_ids]
    write = store.write_intent(run, path, *sha, decided, [], contents=(old, new), edits=edits)
    store.finish_batch(run, decided, [], write, edits)


def test_an_incident_points_at_the_hunk_its_edit_made_across_two_writes_of_its_file(tmp_path: Path) -> None:
    """The analyzer reports both incidents at the class line; their edits changed lines far from it,
    one in the file's first write and one in its second: each row points at its own edit's hunk."""
    lines = [f"    int field{n} = {n};\n" for n in range(1, 61)]
    lines[0] = "public class Cart implements Remote {\n"
    original = "".join(lines)
    first = original.replace("    int field20 = 20;\n", "    long field20 = 20;\n")
    second = first.replace("    int field50 = 50;\n", "    long field50 = 50;\n")
    store = RunStore.open(tmp_path / "state.db", ".")
    try:
        run = store.begin_run(
            mode="remediate", analysis="output.yaml", provider="p", model="m", resumes=None,
            selected=2, planned=2, skipped_done=0,
        )  # fmt: skip
        incidents = [
            Incident(f"i{n}", RULE, "file:///Cart.java", PurePosixPath("Cart.java"), 1, "msg") for n in (1, 2)
        ]
        store.register(run, incidents)
        _write(
            store,
            run,
            "Cart.java",
            original,
            first,
            [Edit("    int field20 = 20;\n", "    long field20 = 20;\n", ("i1",))],
        )
        _write(
            store,
            run,
            "Cart.java",
            first,
            second,
            [Edit("    int field50 = 50;\n", "    long field50 = 50;\n", ("i2",))],
        )
        record = job_record(store, tmp_path)
    finally:
        store.close()
    (file,) = record["files"]
    starts = [hunk[0] for hunk in file["hunks"]]
    assert len(starts) == 2
    rows = {row["id"]: row for row in record["incidents"]}
    assert [starts[n] for n in rows["i1"]["hunks"]] == [starts[0]]  # line 20's hunk
    assert [starts[n] for n in rows["i2"]["hunks"]] == [starts[1]]  # line 50's, found in the original


def test_the_diff_of_a_legacy_encoded_file_shows_its_accents(tmp_path: Path) -> None:
    # The report decodes a write's bytes as the run read the file (cp1252 here), not as UTF-8 with
    # every accent of the file turned into U+FFFD.
    original = "// Grüße – café\nimport javax.ejb.Remote;\n"
    store = RunStore.open(tmp_path / "state.db", ".")
    try:
        run = store.begin_run(
            mode="remediate", analysis="output.yaml", provider="p", model="m", resumes=None,
            selected=1, planned=1, skipped_done=0,
        )  # fmt: skip
        store.register(run, [Incident("i1", RULE, "file:///Cart.java", PurePosixPath("Cart.java"), 2, "msg")])
        edit = Edit("import javax.ejb.Remote;\n", "import jakarta.ejb.Remote;\n", ("i1",))
        _write(store, run, "Cart.java", original, original.replace("javax", "jakarta"), [edit], "cp1252")
        record = job_record(store, tmp_path)
    finally:
        store.close()
    ((*_, text),) = record["files"][0]["hunks"]
    assert text.split("\n") == [
        " // Grüße – café",
        "-import javax.ejb.Remote;",
        "+import jakarta.ejb.Remote;",
    ]
