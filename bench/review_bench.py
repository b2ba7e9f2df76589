"""How the review's file listing scales: `list_files` on run stores of 50, 1,000 and 10,000 files.

The web app's review pages through a tree's files in SQL (`store/review.py`); a page, a filter or a
search must cost about what it costs on a small tree. Each size gets a run store shaped as a finished
run leaves it (three incidents and one write per file; some failures, some low-confidence fixes),
made here with plain SQL inserts rather than by the product's recording code, then every query the
review page makes is timed (median of `--repeats`) and reported as a ratio to the 50-file store.

    .venv/bin/python -m bench.review_bench            # 50, 1,000, 10,000 files; docs/web-performance.md
    .venv/bin/python -m bench.review_bench --files 50 2000 --no-write

Timings live here, never in tests: `tests/web/test_review.py` checks the query plans instead (no
statement of the listing scans a whole table), which holds on any machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.store_bench import machine
from kantra_ai.store.review import FileQuery, list_files
from kantra_ai.store.run_store import RunStore

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "web-performance.md"
SECTION = "## The review's file listing"
SIZES = (50, 1_000, 10_000)


def build_review_store(path: Path, files: int) -> RunStore:
    """A store as `files` files with three incidents each and one write each would leave it: every
    tenth file has a failed incident, every 250th a fix at confidence 0.5, 40 rules, 97 folders."""
    store = RunStore.open(path, ".")
    run_id = store.begin_run(
        mode="incremental", analysis="a", provider="p", model="m", resumes=None,
        selected=files * 3, planned=files * 3, skipped_done=0,
    )  # fmt: skip
    now = time.time()
    incidents, writes = [], []
    for n in range(files):
        file = f"src/module{n % 97}/File{n:05d}.java"
        for k in range(3):
            status = "failed" if (n % 10 == 0 and k == 2) else "fixed"
            confidence = 0.5 if n % 250 == 0 else 0.95
            rule = f"rule-{(n + k) % 40:02d}"
            incidents.append(
                (".", f"{n}-{k}", "rs", rule, file, k + 1, status, "", 1, 1, run_id, confidence, "", now)
            )
        edits = json.dumps([{"old_text": "a", "new_text": "b", "incident_ids": [f"{n}-0"]}])
        writes.append((run_id, ".", file, f"b{n}", f"a{n}", "written", "[]", "[]", edits, now))
    with store.tx() as db:
        db.executemany(
            "INSERT INTO incidents (tree, id, ruleset, rule, path, line, status, reason, answered, attempts,"
            " run_id, confidence, explanation, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            incidents,
        )
        db.executemany(
            "INSERT INTO writes (run_id, tree, path, before_sha, after_sha, state, outcomes, fingerprints,"
            " edits, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            writes,
        )
    return store


def queries(files: int) -> dict[str, FileQuery]:
    """What the review page asks for: the first and the last page, each filter, a search."""
    last = max(1, -(-files // 50))
    return {
        "first page": FileQuery(),
        "last page": FileQuery(page=last),
        "failed": FileQuery(status="failed"),
        "to review": FileQuery(review="to_review"),
        "low confidence": FileQuery(low_confidence=True),
        "search a path": FileQuery(search="module3/"),
        "search a rule + failed": FileQuery(search="rule-12", status="failed"),
    }


def measure(store: RunStore, files: int, repeats: int) -> dict[str, float]:
    """Median seconds per query; each query runs once first (SQLite's page cache warm, as on a page
    someone is using), then `repeats` times."""
    times: dict[str, float] = {}
    for name, query in queries(files).items():
        list_files(store, query)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            page = list_files(store, query)
            samples.append(time.perf_counter() - start)
        assert page.total > 0, f"{name}: the workload should match something"
        times[name] = statistics.median(samples)
    return times


def render(rows: list[dict[str, Any]], command: str, where: str) -> str:
    base = rows[0]
    names = list(base["times"])
    lines = [
        SECTION,
        "",
        f"Measured with `{command}` on {where}. Each store is made with plain SQL inserts (three",
        "incidents and one write per file, every tenth file with a failure, every 250th with a",
        "low-confidence fix), then each query the review page makes is run once to warm the page",
        f"cache and timed {base['repeats']} times (median); in brackets the ratio to the "
        f"{base['files']:,}-file store.",
        "",
        "| files | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for row in rows:
        cells = []
        for name in names:
            ms = row["times"][name] * 1000
            ratio = row["times"][name] / base["times"][name] if base["times"][name] else float("nan")
            cells.append(f"{ms:.1f} ms ({ratio:.1f}x)")
        lines.append(f"| {row['files']:,} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "The unfiltered listing (first and last page) takes the page's paths from the (tree, path) index",
        "and aggregates only those files: the part that grows with the tree is counting its paths in",
        "the index. A filter or a search has to look at every file's incidents to know which files",
        "match and how many (the pager shows the count): one indexed pass, about linear in the tree",
        "(`tests/web/test_review.py` checks that no statement scans a whole table). Flat filtered pages",
        "would need per-file counts kept by the store as runs record them; not built.",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace this benchmark's section of `doc` (or add it), leaving any other section as it is."""
    old = doc.read_text(encoding="utf-8") if doc.is_file() else "# Web app performance\n\n"
    start = old.find(SECTION)
    if start < 0:
        doc.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        return
    end = old.find("\n## ", start + len(SECTION))
    rest = old[end + 1 :] if end >= 0 else ""
    doc.write_text(old[:start] + text + ("\n" + rest if rest else ""), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.review_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {DOC.name}")
    args = parser.parse_args(argv)
    command = "python -m bench.review_bench" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]) if a != "--no-write"
    )
    rows = []
    for files in sorted(args.files):
        with tempfile.TemporaryDirectory(prefix="review-bench-") as tmp:
            store = build_review_store(Path(tmp) / "state.db", files)
            try:
                times = measure(store, files, args.repeats)
            finally:
                store.close()
        rows.append({"files": files, "repeats": args.repeats, "times": times})
        print(json.dumps(rows[-1]), flush=True)
    text = render(rows, command, machine())
    if not args.no_write:
        write_section(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
