"""Deliver a job's fixes through git: commits on the job's branch, review branches, pushes, pull
requests; crash-safe and resumable.

Order of a delivery (after each stage for the units it finished, and at the end):

1. the job's branch (`--branch`, default `PREFIX/RUN`) gets one commit per unit, built from the run
   store's write log (`changes.py`) with git's plumbing, and moved with a compare-and-swap;
2. HEAD follows it when HEAD is still where the job started (or already on it), and the entries of
   the user's index that still hold a version kantra-ai knows are set to the new commit's: the
   working tree is never touched, and anything the user staged stays staged;
3. with `--create-pr`: a branch per group (violation, phase) cut from the base, or stacked on the
   branch it depends on, holding only that group's commits (`--pr-strategy at-end`: the job's
   branch itself); each is pushed (never forced) and gets a pull request, looked up before it is
   created; low-confidence hunks get inline comments; finally each description links the others.

Every step looks before it makes: commits are found again by their trailers (`Kantra-AI-Run`,
`Kantra-AI-Unit`), pushes of a branch the remote has are no-ops, pull requests and comments are
looked up on the forge. A run killed at any point therefore finishes on the next run without
duplicates. Forge and git errors end delivery with one line; what was made locally stays.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kantra_ai._fs import OutsideTreeError, resolve_inside
from kantra_ai.analysis.model import Incident
from kantra_ai.delivery.changes import Picks, WriteChange, file_content, job_writes, union
from kantra_ai.delivery.forge.api import Forge, ForgeError, PullRequest
from kantra_ai.delivery.forge.resolve import ForgeConfigError, ForgeTarget, resolve_forge
from kantra_ai.delivery.gitrepo import SYMLINK, GitError, GitRepo, Head
from kantra_ai.delivery.hunks import new_line_of
from kantra_ai.delivery.layout import (
    CommitStrategy,
    Group,
    IncidentInfo,
    Layout,
    PrStrategy,
    Unit,
    branch_suffix,
    build_layout,
)
from kantra_ai.delivery.messages import (
    Facts,
    PrLink,
    by_id,
    comment_marker,
    commit_message,
    parse_trailers,
    pr_body,
    pr_title,
    review_comment,
)
from kantra_ai.edits.files import sha256_file
from kantra_ai.killpoints import killpoint
from kantra_ai.store import deliveries as records
from kantra_ai.store.revert import merge_file
from kantra_ai.store.run_store import RunStore
from kantra_ai.verify.loop import REPAIRED, VERIFIED

# The verdicts of --verify's check that let a write be committed (not reverted, not failing).
ACCEPTED_BY_VERIFICATION = (VERIFIED, REPAIRED)


class DeliveryConfigError(Exception):
    """The git options cannot work on this tree; one line, found before the run starts."""


class DeliveryError(Exception):
    """Delivery cannot go on; one line. What was committed stays."""


@dataclass(frozen=True)
class GitOptions:
    commit: CommitStrategy | None = None  # --git-commit; None: no commits (unless --create-pr)
    branch: str | None = None  # --branch; default PREFIX/RUN
    branch_prefix: str = "kantra-ai"  # git.branch-prefix
    create_pr: bool = False
    pr_strategy: PrStrategy = PrStrategy.AT_END
    pr_base: str | None = None  # default: the branch HEAD was on when the job started
    pr_comment_threshold: float | None = None  # inline comments on fixes below this confidence
    remote: str = "origin"
    forge: str | None = None  # github | gitlab; default: told by the remote's URL
    forge_url: str | None = None  # API URL (GitHub Enterprise, self-hosted GitLab)

    @property
    def enabled(self) -> bool:
        return self.commit is not None or self.create_pr

    @property
    def commit_strategy(self) -> CommitStrategy:
        if self.commit is not None:
            return self.commit
        if self.pr_strategy is PrStrategy.PER_VIOLATION:
            return CommitStrategy.PER_VIOLATION
        if self.pr_strategy is PrStrategy.PER_PHASE:
            return CommitStrategy.PER_PHASE
        return CommitStrategy.AT_END


@dataclass(frozen=True)
class StagedIncident:
    incident: Incident
    stage: str
    stage_name: str


@dataclass
class _Branch:
    name: str
    group: Group | None  # None: the job's branch
    tip: str
    pr_base: str
    stacked_on: str = ""
    pr: PullRequest | None = None


@dataclass
class DeliveryReport:
    branch: str = ""
    base: dict[str, str] = field(default_factory=dict)
    head: str = ""  # where HEAD ended: the job's branch, or why it was left alone
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    earlier: list[dict[str, Any]] = field(default_factory=list)  # earlier jobs' deliveries finished now

    def as_dict(self, store: RunStore | None, root: int | None) -> dict[str, Any]:
        view = next((v for v in records.git_view(store) if v["run"] == root), None) if store else None
        return {
            "run": root,
            "branch": self.branch,
            "base": self.base,
            "head": self.head,
            "commits": view["commits"] if view else [],
            "branches": view["branches"] if view else [],
            "pull_requests": [
                {"branch": b["name"], "number": b["pr_number"], "url": b["pr_url"], "base": b["pr_base"]}
                for b in (view["branches"] if view else [])
                if b["pr_url"]
            ],
            "errors": self.errors,
            "notes": self.notes,
            **({"finished_earlier": self.earlier} if self.earlier else {}),
        }


class GitDelivery:
    def __init__(
        self,
        options: GitOptions,
        input_dir: Path,
        env: Mapping[str, str],
        say: Callable[[str], None],
        *,
        sleep: Callable[[float], None] | None = None,
        verify_check: str | None = None,
    ) -> None:
        self.options = options
        # --verify's check ("build check `CMD`"): only writes it accepted are committed, and every
        # message says what it decided. None: verification is off, every live write is committed.
        self.verify_check = verify_check
        self.input_dir = input_dir
        self.env = env
        self.say = say
        self.sleep = sleep
        self.repo: GitRepo | None = None
        self.target: ForgeTarget | None = None
        self.root: int | None = None
        self.report = DeliveryReport()
        self._forge: Forge | None = None

    # -- before the run ----------------------------------------------------------------------------

    def check(self) -> None:
        """Everything that can be checked before the tree is locked (DeliveryConfigError)."""
        flag = "--git-commit" if self.options.commit is not None else "--create-pr"
        repo = GitRepo.find(self.input_dir)
        if repo is None:
            raise DeliveryConfigError(
                f"{flag}: --input {self.input_dir} is not in a git repository (or git is not installed)"
            )
        if repo.head() is None:
            raise DeliveryConfigError(
                f"{flag}: the repository has no commit yet; commit once, then run again"
            )
        busy = repo.busy()
        if busy:
            raise DeliveryConfigError(f"{flag}: {busy}; then run again")
        for option, name in (("--branch", self.options.branch), ("--pr-base", self.options.pr_base)):
            if name is not None and not repo.valid_branch_name(name):
                raise DeliveryConfigError(f"{option} {name!r}: not a valid branch name")
        if not repo.valid_branch_name(f"{self.options.branch_prefix}/1"):
            raise DeliveryConfigError(
                f"git.branch-prefix {self.options.branch_prefix!r}: not a valid branch name"
            )
        if self.options.create_pr:
            head = repo.head()
            if self.options.pr_base is None and head is not None and head.branch is None:
                raise DeliveryConfigError(
                    "--create-pr: HEAD is detached; name the branch pull requests go into with --pr-base"
                )
            try:
                self.target = resolve_forge(
                    self.options.remote,
                    repo.remote_url(self.options.remote),
                    self.options.forge,
                    self.options.forge_url,
                    self.env,
                )
            except ForgeConfigError as exc:
                raise DeliveryConfigError(str(exc)) from None
        self.repo = repo

    def refuse_dirty(self, store: RunStore, continues: int | None, touched: Iterable[str]) -> None:
        """Refuse (DeliveryConfigError) when the run would change a file with uncommitted changes,
        other than changes kantra-ai itself made in the job this run continues."""
        repo = self._repo()
        dirty = repo.dirty()
        ours = self._ours(store, continues) if continues is not None else set()
        blocked = sorted(path for path in set(touched) if repo.path(path) in dirty and path not in ours)
        if blocked:
            shown = ", ".join(blocked[:5]) + (f" and {len(blocked) - 5} more" if len(blocked) > 5 else "")
            raise DeliveryConfigError(
                f"uncommitted changes in files this run would fix: {shown}; commit or stash them first "
                "(git stash), or leave those files out with --exclude"
            )

    def refuse_taken_branch(self, store: RunStore, continues: int | None, next_run: int | None) -> None:
        """Refuse (DeliveryConfigError) before anything is sent when the job's branch exists and does
        not start from where the job's commits go (a branch left by an earlier store, `--branch`
        naming another line of work): found after the run, the fixes were paid for and left
        uncommitted. `next_run`: the id the run will get (None: not known before, PostgreSQL)."""
        repo = self._repo()
        head = repo.head()
        assert head is not None
        root = records.job_root(store, continues) if continues is not None else next_run
        row = records.delivery(store, root) if root is not None else None
        if row is not None:  # the job's branch was chosen on its first run
            branch: str | None = row.branch
            base = row.base_sha
        else:
            default = f"{self.options.branch_prefix}/{root}" if root is not None else None
            branch, base = self.options.branch or default, head.sha
        tip = repo.ref(branch) if branch else None
        if branch and tip is not None and not repo.is_ancestor(base, tip):
            way_out = f"rename it (git branch -m {branch} {branch}-old)"
            if row is None:
                way_out += ", or pass --branch NAME"
            raise DeliveryConfigError(
                f"branch {branch} exists and does not start from {base[:12]}, where this job's commits "
                f"go: {way_out}"
            )

    def _ours(self, store: RunStore, continues: int) -> set[str]:
        """Files still exactly as the job's last write of them left them."""
        runs = records.job_runs(store, records.job_root(store, continues))
        marks = ",".join("?" * len(runs))
        rows = store.query(
            "SELECT path, after_sha FROM writes WHERE tree=? AND state='written'"
            f" AND run_id IN ({marks}) ORDER BY id",
            (store.tree, *runs),
        )
        last = {str(path): str(sha) for path, sha in rows}
        ours = set()
        for path, sha in last.items():
            try:
                if sha256_file(self.input_dir / path) == sha:
                    ours.add(path)
            except OSError:
                continue
        return ours

    def begin(self, store: RunStore, run_id: int) -> None:
        """The run is recorded: the job's delivery row (its base: where HEAD is now) exists."""
        repo = self._repo()
        self.root = records.job_root(store, run_id)
        head = repo.head()
        assert head is not None
        branch = self.options.branch or f"{self.options.branch_prefix}/{self.root}"
        row = records.start_delivery(store, self.root, head.sha, head.branch or "", branch)
        self.report.branch = row.branch
        self.report.base = {"sha": row.base_sha, "branch": row.base_branch}

    def finish_earlier(
        self, store: RunStore, incidents: Mapping[str, StagedIncident], stage_order: Sequence[str]
    ) -> None:
        """Deliver what earlier jobs left undelivered (a forge error, a kill after the run closed)."""
        current = self.root
        report = self.report
        for root in records.unfinished_deliveries(store, but=current or 0):
            self.root, self.report = root, DeliveryReport()
            self.say(f"git: finishing the delivery of run #{root}")
            self.deliver(store, incidents, stage_order, set(stage_order), final=True, close=False)
            report.errors += self.report.errors
            report.notes += self.report.notes
            report.earlier.append(self.report.as_dict(store, root))
        self.root, self.report = current, report

    # -- delivering --------------------------------------------------------------------------------

    def deliver(
        self,
        store: RunStore,
        incidents: Mapping[str, StagedIncident],
        stage_order: Sequence[str],
        done: set[str],
        *,
        final: bool,
        close: bool = True,
    ) -> None:
        """Commit (and open pull requests for) what the finished stages `done` made; errors become
        one line in the report, never an exception."""
        try:
            self._deliver(store, incidents, stage_order, done, final=final)
        except (GitError, ForgeError, DeliveryError) as exc:
            message = str(exc)
            if message not in self.report.errors:
                self.report.errors.append(message)
            if self.root is not None:
                records.set_delivery_state(store, self.root, "failed", message)
            kept = (
                "what was committed is kept"
                if self.root is not None and records.commits(store, self.root)
                else "nothing was committed: the fixes are in the working tree"
            )
            self.say(f"git: {message}; {kept}: run the same command again to finish")
        finally:
            if final and close and self._forge is not None:
                self._forge.close()
                self._forge = None

    def _repo(self) -> GitRepo:
        if self.repo is None:
            self.check()
        assert self.repo is not None
        return self.repo

    def _deliver(
        self,
        store: RunStore,
        incidents: Mapping[str, StagedIncident],
        stage_order: Sequence[str],
        done: set[str],
        *,
        final: bool,
    ) -> None:
        repo = self._repo()
        assert self.root is not None
        row = records.delivery(store, self.root)
        assert row is not None
        self.report.branch = row.branch
        self.report.base = {"sha": row.base_sha, "branch": row.base_branch}
        runs = records.job_runs(store, self.root)
        stage_of = {i: s.stage for i, s in incidents.items()}
        writes, notes = job_writes(
            store,
            runs,
            stage_of,
            stage_order[-1] if stage_order else "all",
            accepted=ACCEPTED_BY_VERIFICATION if self.verify_check is not None else None,
        )
        for note in notes:
            if note not in self.report.notes:
                self.report.notes.append(note)
        writes = self._not_through_links(writes, row.base_sha)
        infos = _infos(store, runs, incidents, stage_order[-1] if stage_order else "all")
        base_of = {w.path: self._base_content(row.base_sha, w) for w in writes}
        writes = self._separable(writes, base_of)
        layout = build_layout(
            writes, infos, stage_order, self.options.commit_strategy, self.options.pr_strategy, base_of
        )
        facts = Facts(self.root, _model(store, runs), self.verify_check)
        ready = [u for u in layout.units if self._ready(u, infos, done, final)]
        job = _Branch(row.branch, None, row.base_sha, self.options.pr_base or row.base_branch)
        job.tip = self._build(
            store, job.name, row.base_sha, ready, {}, layout, infos, facts, base_of, kind="job"
        )
        self._follow_head(repo, row, job.tip, layout)
        if not self.options.create_pr:
            if final:
                records.set_delivery_state(store, self.root, "delivered")
            return
        published = self._review_branches(store, layout, ready, infos, facts, base_of, row, job, final)
        forge = self._open_forge()
        for branch in published:
            repo.push(self.options.remote, branch.name)
            killpoint("git-pushed")
            self._record_branch(store, branch, pushed=branch.tip)
        for branch in published:
            self._pull_request(store, forge, branch, layout, infos, facts, published)
        if final:
            self._link(store, forge, layout, infos, facts)
            records.set_delivery_state(store, self.root, "delivered")

    def _ready(self, unit: Unit, infos: Mapping[str, IncidentInfo], done: set[str], final: bool) -> bool:
        if final:
            return True
        if self.options.commit_strategy is CommitStrategy.AT_END:
            return False
        return all(infos[i].stage in done for i in unit.incidents if i in infos)

    def _not_through_links(self, writes: Sequence[WriteChange], base_sha: str) -> list[WriteChange]:
        """The writes to files of the tree as git holds them, each other left out with a note: an
        edit follows a link that stays inside the tree and rewrites the file it points to
        (`edits/files.py`), but committed at the link's path that content would replace the link
        itself (or land under a folder git holds as a link), and at the file's own path it would
        be a change no incident of the run names. So the fix stays in the working tree, as written,
        and the note says where; every other file is still committed."""
        kept: list[WriteChange] = []
        for write in writes:
            target = self._linked_to(write.path, base_sha)
            if target is None:
                kept.append(write)
                continue
            self._note(
                f"{write.path}: a symbolic link (or under one) to {target}: not committed, its fix"
                f" is in {target} in the working tree; kantra-ai commits no change through a link"
            )
        return kept

    def _separable(self, writes: Sequence[WriteChange], base_of: Mapping[str, bytes]) -> list[WriteChange]:
        """The writes whose changes can be committed alone, each other file's left out with a note.
        A file changed outside kantra-ai while its request was in flight, on or next to the lines
        its fix then changed, was written from content holding that change: the fix cannot be
        taken onto the base without it (the three-way merge conflicts), and the change is not ours
        to commit. So both stay in the working tree, uncommitted, and every other file is still
        committed (before: the delivery stopped at that file, and every run after it again)."""
        by_path: dict[str, list[WriteChange]] = {}
        for write in writes:
            by_path.setdefault(write.path, []).append(write)
        stuck: set[str] = set()
        for path, chain in by_path.items():
            whole = {w.id: frozenset(h.index for h in w.hunks) for w in chain}
            if file_content(base_of[path], chain, whole) is None:
                stuck.add(path)
                self._note(
                    f"{path}: changed outside kantra-ai during the run on or next to the lines its fix"
                    " changes: not committed; the fix and that change are in the working tree,"
                    " uncommitted (commit them yourself)"
                )
        return [w for w in writes if w.path not in stuck]

    def _linked_to(self, path: str, base_sha: str) -> str | None:
        """Where `path` (relative to --input) leads when a link is on its way, now or in the base
        commit, or None when it is a plain file of the tree."""
        repo = self._repo()
        entry = repo.entry(base_sha, repo.path(path))
        try:
            _, real = resolve_inside(self.input_dir, self.input_dir / path)
        except OutsideTreeError:
            return "outside --input"
        target = PurePosixPath(real).as_posix()
        if target != path:
            return target
        if entry is not None and entry[0] == SYMLINK:  # swapped for a file since: still the link's
            return repo.blob(entry[1]).decode("utf-8", "replace")
        return None

    def _base_content(self, base_sha: str, write: WriteChange) -> bytes:
        repo = self._repo()
        entry = repo.entry(base_sha, repo.path(write.path))
        if entry is None:
            return write.before
        return repo.checked_out(entry[1], repo.path(write.path), like=write.before)

    # -- commits -----------------------------------------------------------------------------------

    def _build(
        self,
        store: RunStore,
        branch: str,
        start: str,
        units: Sequence[Unit],
        below: Picks,
        layout: Layout,
        infos: Mapping[str, IncidentInfo],
        facts: Facts,
        base_of: Mapping[str, bytes],
        *,
        kind: str,
    ) -> str:
        """`branch` holding `units` (in order) on top of commit `start`, whose files hold `below`.
        Commits the branch has already (found by their trailers) are kept; the rest are added."""
        repo = self._repo()
        assert self.root is not None
        tip = repo.ref(branch)
        found: dict[str, str] = {}
        if tip is not None:
            if not repo.is_ancestor(start, tip):
                raise DeliveryError(
                    f"branch {branch} exists and does not start from {start[:12]}: delete or rename it, "
                    "or pass --branch NAME"
                )
            for sha, message in repo.messages(tip, start):
                run_of, unit_key = parse_trailers(message)
                if run_of == self.root and unit_key is not None:
                    found[unit_key] = sha
        current = tip or start
        on_branch: list[Unit] = [u for u in units if u.key in found]
        by_key = {u.key: u for u in units}
        for position, unit in enumerate(units):
            files = layout.paths(unit.picks)
            message_infos = by_id(infos, unit.incidents)
            if unit.key in found:
                sha = found[unit.key]
            else:
                previous = union(below, *(u.picks for u in on_branch))
                contents = self._contents(
                    current, files, previous, union(previous, unit.picks), layout, base_of
                )
                tree = repo.tree(current, contents)
                if tree == repo.run("rev-parse", f"{current}^{{tree}}").decode().strip():
                    self._note(f"{unit.key}: its changes are already on {branch}; no commit made")
                    on_branch.append(unit)
                    continue
                sha = repo.commit(tree, current, commit_message(unit.key, message_infos, files, facts))
                repo.move_branch(branch, sha, tip, f"kantra-ai: {unit.key}")
                killpoint("git-committed")
                tip = current = sha
                on_branch.append(by_key[unit.key])
            records.record_commit(
                store,
                self.root,
                records.CommitRow(
                    branch,
                    unit.key,
                    sha,
                    commit_message(unit.key, message_infos, files, facts).splitlines()[0],
                    tuple(files),
                    tuple(unit.incidents),
                    position,
                ),
            )
        return tip or start

    def _contents(
        self,
        parent: str,
        paths: Sequence[str],
        previous: Picks,
        wanted: Picks,
        layout: Layout,
        base_of: Mapping[str, bytes],
    ) -> dict[str, bytes]:
        """The new content of each path: the base with `wanted` hunks; when the parent commit does
        not hold exactly the base with `previous` hunks (someone committed on the branch too), the
        difference is merged onto what the parent holds."""
        repo = self._repo()
        contents: dict[str, bytes] = {}
        for path in paths:
            writes = layout.writes_of(path)
            base = base_of[path]
            before = file_content(base, writes, previous)
            after = file_content(base, writes, wanted)
            if before is None or after is None:
                raise DeliveryError(f"{path}: the changes of this commit cannot be separated from others")
            entry = repo.entry(parent, repo.path(path))
            actual = repo.checked_out(entry[1], repo.path(path), like=before) if entry is not None else base
            if actual != before:
                merged = merge_file(actual, before, after)
                if merged is None:
                    raise DeliveryError(
                        f"{path}: changed on the branch in a way kantra-ai's commit conflicts with"
                    )
                after = merged
            contents[repo.path(path)] = after
        return contents

    def _follow_head(self, repo: GitRepo, row: records.DeliveryRow, tip: str, layout: Layout) -> None:
        """HEAD onto the job's branch (when it still is where the job started), and the index
        entries of our files that hold a version we know set to the tip's."""
        if tip == row.base_sha:
            return  # nothing committed
        head = repo.head()
        if head is None:
            return
        at_base = head.sha == row.base_sha and (head.branch or "") == row.base_branch
        if head.branch != row.branch and not at_base:
            where = head.branch or f"detached at {head.sha[:12]}"
            self.report.head = f"left on {where} (it moved during the run)"
            self._note(
                f"HEAD moved during the run ({where}): the commits are on {row.branch}; "
                "your checkout was left as it is"
            )
            return
        if head.branch != row.branch:
            repo.switch_head(row.branch)
        self.report.head = row.branch
        self._sync_index(repo, row, tip, layout)

    def _sync_index(self, repo: GitRepo, row: records.DeliveryRow, tip: str, layout: Layout) -> None:
        versions_at = [row.base_sha, *(sha for sha, _ in repo.messages(tip, row.base_sha))]
        updates = []
        for path in sorted({w.path for w in layout.writes}):
            repo_path = repo.path(path)
            wanted = repo.entry(tip, repo_path)
            current = repo.index_entry(repo_path)
            if wanted is None or current == wanted:
                continue
            known = {repo.entry(sha, repo_path) for sha in versions_at}
            if current in known:  # a version of ours or the base's: not something the user staged
                updates.append((wanted[0], wanted[1], repo_path))
        repo.set_index(updates)

    # -- review branches and pull requests ------------------------------------------------------------

    def _review_branches(
        self,
        store: RunStore,
        layout: Layout,
        ready: Sequence[Unit],
        infos: Mapping[str, IncidentInfo],
        facts: Facts,
        base_of: Mapping[str, bytes],
        row: records.DeliveryRow,
        job: _Branch,
        final: bool,
    ) -> list[_Branch]:
        """The branches to push now, each with its pull request base."""
        ready_keys = {u.key for u in ready}
        pr_base = self.options.pr_base or row.base_branch
        if self.options.pr_strategy is PrStrategy.AT_END:
            if not final or job.tip == row.base_sha:
                return []
            return [_Branch(row.branch, layout.groups[0] if layout.groups else None, job.tip, pr_base)]
        made: dict[str, _Branch] = {}
        for group in layout.groups:
            if not all(u.key in ready_keys for u in group.units):
                continue
            below = made.get(group.stacked_on) if group.stacked_on else None
            if group.stacked_on and below is None:
                continue  # the branch it stacks on is not ready yet
            name = f"{row.branch}-{branch_suffix(group.key)}"
            start = below.tip if below is not None else row.base_sha
            chain_below = union(*(g.picks for g in layout.chain(group)[:-1]))
            tip = self._build(
                store, name, start, group.units, chain_below, layout, infos, facts, base_of, kind="review"
            )
            branch = _Branch(
                name, group, tip, below.name if below is not None else pr_base, below.name if below else ""
            )
            made[group.key] = branch
            self._record_branch(store, branch)
        return list(made.values())

    def _record_branch(self, store: RunStore, branch: _Branch, *, pushed: str = "") -> None:
        assert self.root is not None
        existing = next((b for b in records.branches(store, self.root) if b.name == branch.name), None)
        records.record_branch(
            store,
            self.root,
            records.BranchRow(
                branch.name,
                "review" if branch.group is not None and branch.name != self.report.branch else "job",
                branch.group.key if branch.group is not None else "all",
                branch.pr_base,
                branch.stacked_on,
                branch.tip,
                self.options.remote,
                pushed or (existing.pushed if existing else ""),
                branch.pr.number if branch.pr else (existing.pr_number if existing else None),
                branch.pr.url if branch.pr else (existing.pr_url if existing else ""),
            ),
        )

    def _open_forge(self) -> Forge:
        if self._forge is None:
            assert self.target is not None
            self._forge = self.target.open(sleep=self.sleep)
        return self._forge

    def _pull_request(
        self,
        store: RunStore,
        forge: Forge,
        branch: _Branch,
        layout: Layout,
        infos: Mapping[str, IncidentInfo],
        facts: Facts,
        published: Sequence[_Branch],
    ) -> None:
        units = (
            branch.group.units
            if branch.group is not None and branch.name != self.report.branch
            else layout.units
        )
        ids = [i for u in units for i in u.incidents]
        files = layout.paths(union(*(u.picks for u in units)))
        group_key = branch.group.key if branch.group is not None else "all"
        pr = forge.find(branch.name)
        if pr is None:
            body = self._body(store, group_key, ids, files, facts, branch, layout, infos)
            pr = forge.create(
                branch.name, branch.pr_base, pr_title(group_key, by_id(infos, ids), facts.run), body
            )
            killpoint("pr-created")
        branch.pr = pr
        self._record_branch(store, branch, pushed=branch.tip)
        threshold = self.options.pr_comment_threshold
        if threshold is not None:
            self._comment(forge, pr, branch, units, layout, infos, threshold)

    def _body(
        self,
        store: RunStore,
        group_key: str,
        ids: Sequence[str],
        files: Sequence[str],
        facts: Facts,
        branch: _Branch,
        layout: Layout,
        infos: Mapping[str, IncidentInfo],
    ) -> str:
        assert self.root is not None
        known = {b.name: b for b in records.branches(store, self.root)}
        stacked = None
        also: list[tuple[str, int | None]] = []
        if branch.group is not None and branch.group.depends_on:
            names = {g: f"{self.report.branch}-{branch_suffix(g)}" for g in branch.group.depends_on}
            for g in branch.group.depends_on:
                name = names[g]
                entry = (name, known[name].pr_number if name in known else None)
                if g == branch.group.stacked_on:
                    stacked = entry
                else:
                    also.append(entry)
        links = []
        for b in records.branches(store, self.root):
            if b.pr_url or b.name == branch.name:
                title = pr_title(b.group_key, by_id(infos, self._ids_of(layout, b.group_key)), facts.run)
                links.append(PrLink(b.group_key, title, b.pr_number, b.pr_url))
        return pr_body(
            group=group_key,
            incidents=by_id(infos, ids),
            files=files,
            facts=facts,
            stacked_on=stacked,
            also_depends=also,
            low_confidence=self.options.pr_comment_threshold,
            links=links,
        )

    @staticmethod
    def _ids_of(layout: Layout, group_key: str) -> list[str]:
        if group_key == "all":
            return [i for u in layout.units for i in u.incidents]
        group = next((g for g in layout.groups if g.key == group_key), None)
        return [i for u in group.units for i in u.incidents] if group else []

    def _comment(
        self,
        forge: Forge,
        pr: PullRequest,
        branch: _Branch,
        units: Sequence[Unit],
        layout: Layout,
        infos: Mapping[str, IncidentInfo],
        threshold: float,
    ) -> None:
        """An inline comment on the first line of each hunk of a fix below the threshold."""
        repo = self._repo()
        existing = "\n".join(forge.comment_bodies(pr))
        for unit in units:
            for write in layout.writes:
                chosen = unit.picks.get(write.id, frozenset())
                for hunk in write.hunks:
                    if hunk.index not in chosen or not hunk.new:
                        continue
                    low = [infos[i] for i in sorted(hunk.owners) if _below(infos.get(i), threshold)]
                    for info in low:
                        if comment_marker(info.id) in existing:
                            continue
                        line = self._line_in_branch(branch.tip, write, hunk, layout)
                        forge.comment(
                            pr, repo.path(write.path), line, review_comment(info, threshold), branch.tip
                        )
                        existing += comment_marker(info.id)

    def _line_in_branch(self, tip: str, write: WriteChange, hunk: Any, layout: Layout) -> int:
        """Where the hunk's first new line is in the branch's version of the file."""
        repo = self._repo()
        entry = repo.entry(tip, repo.path(write.path))
        lines = repo.checked_out(entry[1], repo.path(write.path)).splitlines(keepends=True) if entry else []
        guess = new_line_of(write.hunks, hunk)
        if 0 < guess <= len(lines) and lines[guess - 1] == hunk.new[0]:
            return guess
        matches = [n + 1 for n, line in enumerate(lines) if line == hunk.new[0]]
        return min(matches, key=lambda n: abs(n - guess)) if matches else max(guess, 1)

    def _link(
        self, store: RunStore, forge: Forge, layout: Layout, infos: Mapping[str, IncidentInfo], facts: Facts
    ) -> None:
        """Every pull request of the job names the others (descriptions updated only if they differ)."""
        assert self.root is not None
        rows = [b for b in records.branches(store, self.root) if b.pr_number is not None]
        if len(rows) < 2:
            return
        for row in rows:
            pr = forge.find(row.name)
            if pr is None:
                continue
            group = next((g for g in layout.groups if g.key == row.group_key), None)
            branch = _Branch(row.name, group, row.tip, row.pr_base, row.stacked_on, pr)
            ids = self._ids_of(layout, row.group_key)
            files = layout.paths(group.picks) if group else []
            body = self._body(store, row.group_key, ids, files, facts, branch, layout, infos)
            if pr.body.strip() != body.strip():
                forge.update_body(pr, body)

    def _note(self, text: str) -> None:
        if text not in self.report.notes:
            self.report.notes.append(text)
            self.say(f"git: {text}")

    def result(self, store: RunStore | None) -> dict[str, Any]:
        return self.report.as_dict(store, self.root)


def _infos(
    store: RunStore, runs: Sequence[int], incidents: Mapping[str, StagedIncident], default_stage: str
) -> dict[str, IncidentInfo]:
    """What messages say about each incident: rule, place, confidence, and its share of the usage.
    Incidents of no stage of this run (an earlier job's) are described from the store."""
    known = store.query(
        "SELECT id, confidence, rule, path, line, verification, repair_rounds FROM incidents WHERE tree=?",
        (store.tree,),
    )
    confidence = {str(r[0]): (None if r[1] is None else float(r[1])) for r in known}
    # What --verify decided (verification, repair rounds): the messages say it.
    verified: dict[str, tuple[str, int]] = {str(r[0]): (str(r[5]), int(r[6])) for r in known}
    usage: dict[str, list[float]] = {}
    unknown: set[str] = set()
    marks = ",".join("?" * len(runs)) or "NULL"
    for ids_json, tokens_in, tokens_out, cost in store.query(
        "SELECT incident_ids, input_tokens + cache_write_tokens + cache_read_tokens, output_tokens, cost"
        f" FROM requests WHERE run_id IN ({marks}) AND status IN ('ok', 'error')",
        tuple(runs),
    ):
        ids = json.loads(str(ids_json))
        if not ids:
            continue
        for incident_id in ids:
            share = usage.setdefault(incident_id, [0.0, 0.0, 0.0])
            share[0] += int(tokens_in or 0) / len(ids)
            share[1] += int(tokens_out or 0) / len(ids)
            if cost is None:
                unknown.add(incident_id)
            else:
                share[2] += float(cost) / len(ids)
    found = {}
    for incident_id, _, rule, path, line, *_ in known:
        if incident_id not in incidents:
            share = usage.get(str(incident_id), [0.0, 0.0, 0.0])
            found[str(incident_id)] = IncidentInfo(
                str(incident_id), str(rule), "", str(path), None if line is None else int(line),
                default_stage,
                default_stage, "", confidence.get(str(incident_id)), round(share[0]), round(share[1]),
                None if incident_id in unknown else share[2], *verified[str(incident_id)],
            )  # fmt: skip
    for incident_id, staged in incidents.items():
        i = staged.incident
        share = usage.get(incident_id, [0.0, 0.0, 0.0])
        found[incident_id] = IncidentInfo(
            incident_id,
            i.violation.rule_id,
            i.violation.description,
            str(i.path) if i.path is not None else i.uri,
            i.line,
            staged.stage,
            staged.stage_name,
            i.message,
            confidence.get(incident_id),
            round(share[0]),
            round(share[1]),
            None if incident_id in unknown else share[2],
            *verified.get(incident_id, ("", 0)),
        )
    return found


def _below(info: IncidentInfo | None, threshold: float) -> bool:
    """A fix whose confidence the model gave and is below the threshold (none given: no comment)."""
    return info is not None and info.confidence is not None and info.confidence < threshold


def _model(store: RunStore, runs: Sequence[int]) -> str:
    marks = ",".join("?" * len(runs)) or "NULL"
    rows = store.query(
        f"SELECT provider, model FROM runs WHERE id IN ({marks}) AND model != '' ORDER BY id DESC LIMIT 1",
        tuple(runs),
    )
    return f"{rows[0][0]}/{rows[0][1]}" if rows else "unknown"


__all__ = [
    "DeliveryConfigError",
    "DeliveryError",
    "GitDelivery",
    "GitOptions",
    "Head",
    "StagedIncident",
]
