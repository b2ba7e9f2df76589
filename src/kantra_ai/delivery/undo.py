"""`undo` of a run whose fixes were committed: the job's own branch takes the undo as a commit.

`undo` restores the working tree from the store's write log (store/revert.py), with or without git.
When the run belongs to a job delivered through git and HEAD is on that job's branch, the restored
files are also committed there ("Revert kantra-ai run #N"), so the checkout is clean again and the
branch says what happened. Nothing else is touched: not history (no reset), not the user's other
branches, not the review branches already pushed or their pull requests (the report names them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kantra_ai.delivery.gitrepo import GitError, GitRepo
from kantra_ai.delivery.messages import trailers
from kantra_ai.store import deliveries as records
from kantra_ai.store.run_store import RunStore


def refuse_busy(store: RunStore, input_dir: Path, run_id: int) -> str:
    """Why an undo of `run_id` must wait ("" when it need not): its job was committed to a branch
    that is checked out, and the repository is in the middle of something (a merge, a rebase, a held
    index lock). The undo's commit would land under the user's operation, or fail after its branch
    moved; so nothing is restored either."""
    row = records.delivery(store, records.job_root(store, run_id))
    if row is None or not records.commits(store, records.job_root(store, run_id)):
        return ""
    repo = GitRepo.find(input_dir)
    head = repo.head() if repo is not None else None
    if repo is None or head is None or head.branch != row.branch:
        return ""
    busy = repo.busy()
    return f"undo commits on {row.branch}, but {busy}; then run undo again" if busy else ""


def commit_undo(
    store: RunStore, input_dir: Path, run_id: int, undo_run: int, restored: Sequence[str]
) -> tuple[str | None, str]:
    """(the revert commit or None, one line saying what happened to git)."""
    if not restored:
        return None, ""
    root = records.job_root(store, run_id)
    row = records.delivery(store, root)
    if row is None or not records.commits(store, root):
        return None, ""
    repo = GitRepo.find(input_dir)
    tip = repo.ref(row.branch) if repo is not None else None
    head = repo.head() if repo is not None else None
    if repo is None or tip is None or head is None or head.branch != row.branch:
        return None, f"the commits on {row.branch} are left as they are (it is not checked out)"
    contents, committed = {}, []
    for path in restored:
        rows = store.query(
            "SELECT after_sha FROM writes WHERE tree=? AND run_id=? AND path=? AND kind='revert'"
            " AND state='written' ORDER BY id DESC LIMIT 1",
            (store.tree, undo_run, path),
        )
        content = store.content(str(rows[0][0])) if rows else None
        if content is not None:
            contents[repo.path(path)] = content
            committed.append(path)
    unit = records.undo_unit(undo_run)
    try:
        tree = repo.tree(tip, contents)
        if tree == repo.run("rev-parse", f"{tip}^{{tree}}").decode().strip():
            return None, ""
        title = f"Revert kantra-ai run #{run_id}"
        message = (
            f"{title}\n\n`kantra-ai undo` (run #{undo_run}) took back what run "
            f"#{run_id} wrote to {len(contents)} file(s):\n"
            + "".join(f"- {p}\n" for p in sorted(contents))
            + f"\n{trailers(root, unit)}\n"
        )
        sha = repo.commit(tree, tip, message)
        repo.move_branch(row.branch, sha, tip, f"kantra-ai: undo of run #{run_id}")
        # Kept with the job's commits, so that `status` and the report say the job was taken back.
        last = max((c.position for c in records.commits(store, root) if c.branch == row.branch), default=-1)
        undo_commit = records.CommitRow(row.branch, unit, sha, title, tuple(sorted(committed)), (), last + 1)
        records.record_commit(store, root, undo_commit)
        updates = []
        for path in contents:
            wanted, before = repo.entry(sha, path), repo.entry(tip, path)
            if wanted is not None and repo.index_entry(path) == before:
                updates.append((wanted[0], wanted[1], path))
        repo.set_index(updates)
    except GitError as exc:
        return None, f"the files are restored, but committing that on {row.branch} failed: {exc}"
    pushed = [b.name for b in records.branches(store, root) if b.pushed]
    note = f"committed the undo on {row.branch} ({sha[:12]})"
    if pushed:
        note += f"; the pushed branches ({', '.join(pushed)}) and their pull requests are left as they are"
    return sha, note
