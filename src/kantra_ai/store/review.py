"""The review's view of a tree from the run store: files with their incidents and fixes, a page at a
time, and the decisions people made about them.

Read-only queries (no lock), so the review can be browsed while a run works on the tree. Filters,
search and paging happen in SQL, through indexes: an unfiltered page of 10,000 files costs what a page
of 50 does; a filtered one makes one indexed pass over the tree (bench/review_bench.py measures both).
A file's review decision holds for the content it was made about: a later write of ours reopens it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from kantra_ai.store.run_store import RunStore

# A fix is "low confidence" below this (as report.html flags it when no threshold was set).
LOW_CONFIDENCE = 0.8
STATUS_FILTERS = ("any", "fixed", "failed", "skipped", "not_applicable", "open")
REVIEW_FILTERS = ("any", "to_review", "accepted", "rejected")
ACCEPTED, REJECTED = "accepted", "rejected"


@dataclass(frozen=True)
class FileQuery:
    status: str = "any"  # files with at least one incident in this state (open: pending, in flight)
    review: str = "any"  # to_review: fixes of ours not decided on for the file's current content
    low_confidence: bool = False  # a fix below LOW_CONFIDENCE
    search: str = ""  # in the path or a rule id
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if self.status not in STATUS_FILTERS:
            raise ValueError(f"status filter: one of {', '.join(STATUS_FILTERS)}")
        if self.review not in REVIEW_FILTERS:
            raise ValueError(f"review filter: one of {', '.join(REVIEW_FILTERS)}")
        if self.page < 1 or not 1 <= self.per_page <= 500:
            raise ValueError("page from 1, 1 to 500 files per page")


@dataclass(frozen=True)
class FileRow:
    path: str
    incidents: int
    counts: dict[str, int]  # by status
    lowest_confidence: float | None  # among its fixes
    live_writes: int  # fixes of ours in the file that are not undone
    decision: str  # accepted, rejected, or "" (none for the file's current content)


@dataclass
class FilePage:
    rows: list[FileRow]
    total: int  # files matching the query
    query: FileQuery

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


@dataclass
class IncidentRow:
    id: str
    rule: str
    line: int | None
    status: str
    reason: str
    confidence: float | None
    explanation: str
    message: str = ""  # the analyzer's
    edits: list[dict[str, str]] = field(default_factory=list)  # old/new text of the edits made for it
    # What its build or test check decided (--verify): state ("" when no check ran), rounds, diagnostic.
    verification: tuple[str, int, str] = ("", 0, "")


@dataclass
class FileDetail:
    path: str
    incidents: list[IncidentRow]
    write_ids: list[int]  # the live fix writes, oldest first
    before: bytes | None  # the file before the first of them (None: not recorded, or no write)
    current_sha: str | None  # what our last write left (None: never written)
    decision: str


# Per file: incident counts by status, the lowest confidence of a fix, the live fix writes, the
# after-hash of the last write of any kind, and the decision if it is about that content. The
# per-file lookups go through the (tree, path) indexes: one pass over the tree's incidents.
_FILES = """
SELECT * FROM (
    SELECT f.path, f.incidents, f.fixed, f.failed, f.skipped, f.not_applicable, f.open, f.lowest,
        (SELECT count(*) FROM writes w WHERE w.tree=:tree AND w.path=f.path AND w.state='written'
            AND w.kind='fix' AND w.reverted_by IS NULL) AS live,
        (SELECT w.after_sha FROM writes w WHERE w.tree=:tree AND w.path=f.path AND w.state='written'
            ORDER BY w.id DESC LIMIT 1) AS last_sha,
        r.decision AS decided, r.after_sha AS decided_sha
    FROM (
        SELECT i.path AS path, count(*) AS incidents,
            sum(CASE WHEN i.status='fixed' THEN 1 ELSE 0 END) AS fixed,
            sum(CASE WHEN i.status='failed' THEN 1 ELSE 0 END) AS failed,
            sum(CASE WHEN i.status='skipped' THEN 1 ELSE 0 END) AS skipped,
            sum(CASE WHEN i.status='not_applicable' THEN 1 ELSE 0 END) AS not_applicable,
            sum(CASE WHEN i.status IN ('pending','in_flight') THEN 1 ELSE 0 END) AS open,
            min(CASE WHEN i.status='fixed' THEN i.confidence END) AS lowest,
            max(CASE WHEN :search = '' OR instr(lower(i.rule), :search) > 0 THEN 1 ELSE 0 END) AS rule_hit
        FROM incidents i WHERE i.tree=:tree{paths} GROUP BY i.path
    ) f
    LEFT JOIN reviews r ON r.tree = :tree AND r.path = f.path
    WHERE (:search = '' OR instr(lower(f.path), :search) > 0 OR f.rule_hit = 1)
) f WHERE 1 = 1
"""
_COLUMNS = (
    "f.path, f.incidents, f.fixed, f.failed, f.skipped, f.not_applicable, f.open, f.lowest, f.live,"
    " CASE WHEN f.decided_sha = f.last_sha THEN f.decided ELSE '' END"
)

_STATUS_WHERE = {
    "any": "",
    "fixed": " AND f.fixed > 0",
    "failed": " AND f.failed > 0",
    "skipped": " AND f.skipped > 0",
    "not_applicable": " AND f.not_applicable > 0",
    "open": " AND f.open > 0",
}
_REVIEW_WHERE = {
    "any": "",
    "to_review": " AND f.live > 0 AND (f.decided_sha IS NULL OR f.decided_sha <> f.last_sha)",
    "accepted": f" AND f.decided = '{ACCEPTED}' AND f.decided_sha = f.last_sha",
    "rejected": f" AND f.decided = '{REJECTED}' AND f.decided_sha = f.last_sha",
}


# The unfiltered listing pages the tree's paths from the (tree, path) index first and aggregates only
# that page's files: its cost does not grow with the tree (bench/review_bench.py). A filter has to
# look at every file to know which match, so a filtered page costs one pass over the tree.
_PATHS = "SELECT DISTINCT i.path FROM incidents i WHERE i.tree=:tree"


def _only_paths(paths: list[str], params: dict[str, Any]) -> str:
    """`AND i.path IN (...)` for this page's paths, one parameter each (SQLite and PostgreSQL alike)."""
    names = [f"path{n}" for n in range(len(paths))]
    params.update(zip(names, paths, strict=True))
    return f" AND i.path IN ({', '.join(':' + name for name in names)})" if paths else " AND 1 = 0"


def list_files(store: RunStore, query: FileQuery) -> FilePage:
    where = _STATUS_WHERE[query.status] + _REVIEW_WHERE[query.review]
    if query.low_confidence:
        where += f" AND f.lowest < {LOW_CONFIDENCE}"
    search = query.search.strip().lower()
    params: dict[str, Any] = {"tree": store.tree, "search": search}
    page = {"limit": query.per_page, "offset": (query.page - 1) * query.per_page}
    sql = _FILES.replace("SELECT * FROM (", f"SELECT {_COLUMNS} FROM (", 1)
    if not where and not search:
        total = int(store.query(f"SELECT count(*) FROM ({_PATHS}) AS page", params)[0][0])
        paths = [
            r[0] for r in store.query(f"{_PATHS} ORDER BY i.path LIMIT :limit OFFSET :offset", params | page)
        ]
        only = _only_paths(paths, params)
        rows = store.query(f"{sql.format(paths=only)} ORDER BY f.path", params)
    else:
        counted = f"SELECT count(*) FROM ({_FILES.format(paths='')}{where}) AS page"
        total = int(store.query(counted, params)[0][0])
        rows = store.query(
            f"{sql.format(paths='')}{where} ORDER BY f.path LIMIT :limit OFFSET :offset", params | page
        )
    return FilePage(
        [
            FileRow(
                path=str(r[0]),
                incidents=int(r[1]),
                counts={
                    name: int(r[n] or 0)
                    for n, name in enumerate(("fixed", "failed", "skipped", "not_applicable", "open"), 2)
                },
                lowest_confidence=None if r[7] is None else float(r[7]),
                live_writes=int(r[8]),
                decision=str(r[9] or ""),
            )
            for r in rows
        ],
        total,
        query,
    )


def file_detail(store: RunStore, path: str) -> FileDetail | None:
    """Everything the review shows about one file; None when the store knows nothing of it."""
    incidents = store.query(
        "SELECT id, rule, line, status, reason, confidence, explanation, message, verification,"
        " repair_rounds, verification_detail FROM incidents WHERE tree=? AND path=? ORDER BY line, id",
        (store.tree, path),
    )
    writes = store.query(
        "SELECT id, before_sha, edits FROM writes WHERE tree=? AND path=? AND state='written'"
        " AND kind='fix' AND reverted_by IS NULL ORDER BY id",
        (store.tree, path),
    )
    if not incidents and not writes:
        return None
    edits_of: dict[str, list[dict[str, str]]] = {}
    for _, _, edits in writes:
        for edit in json.loads(str(edits)):
            shown = {"old": edit["old_text"], "new": edit["new_text"]}
            for incident_id in edit.get("incident_ids", []):
                edits_of.setdefault(incident_id, []).append(shown)
    rows = [
        IncidentRow(
            id=str(r[0]),
            rule=str(r[1]),
            line=None if r[2] is None else int(r[2]),
            status=str(r[3]),
            reason=str(r[4]),
            confidence=None if r[5] is None else float(r[5]),
            explanation=str(r[6]),
            message=str(r[7] or ""),
            edits=edits_of.get(str(r[0]), []),
            verification=(str(r[8] or ""), int(r[9] or 0), str(r[10] or "")),
        )
        for r in incidents
    ]
    last = store.query(
        "SELECT after_sha FROM writes WHERE tree=? AND path=? AND state='written' ORDER BY id DESC LIMIT 1",
        (store.tree, path),
    )
    current = str(last[0][0]) if last else None
    return FileDetail(
        path=path,
        incidents=rows,
        write_ids=[int(w[0]) for w in writes],
        before=store.content(str(writes[0][1])) if writes else None,
        current_sha=current,
        decision=decision_of(store, path, current),
    )


def decision_of(store: RunStore, path: str, current_sha: str | None) -> str:
    rows = store.query("SELECT decision, after_sha FROM reviews WHERE tree=? AND path=?", (store.tree, path))
    if not rows or current_sha is None or str(rows[0][1]) != current_sha:
        return ""
    return str(rows[0][0])


def record_decision(store: RunStore, path: str, decision: str, after_sha: str, note: str = "") -> None:
    if decision not in (ACCEPTED, REJECTED):
        raise ValueError(f"unknown review decision {decision!r}")
    with store.tx() as db:
        db.execute(
            "INSERT OR REPLACE INTO reviews (tree, path, decision, after_sha, note, at) VALUES (?,?,?,?,?,?)",
            (store.tree, path, decision, after_sha, note, time.time()),
        )
