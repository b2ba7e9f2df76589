"""The verification loop: check a scope, repair what our edits broke, revert what stays broken.

A scope is what one strategy checks at one moment (a file after its fixes, a phase, the whole job at
its end); its groups are the pending writes the strategy verifies together (`groups.py`). `settle`
is a state machine driven by the run store, so a run killed anywhere in it continues exactly where it
was: the scope's last recorded check says how many repair rounds are done and which diagnostics the
next round repairs; a round is done for a file once its repair write happened or was recorded as
ending without one. The same replies are found again by their fingerprints, so nothing is paid twice.

    no check yet          -> check (round 0), record it
    last check passes     -> the groups are verified (no round) or repaired (N rounds)
    fails, rounds left    -> repair every file with a new diagnostic (those not done in this round),
                             check again (round + 1), record it
    fails, no rounds left -> the culprits are found (one group whose files hold the diagnostics: that
                             group; otherwise bisection on a scratch copy) and their writes reverted
                             with the diagnostic; the other groups are verified. When taking out all
                             of our writes does not make it pass either, the failure is not ours:
                             nothing is reverted and the groups are reported as failing.

The caller holds the tree lock throughout, so no fix is written while a scope is checked or repaired.
Only diagnostics new against the baseline (the check before any edit) count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kantra_ai.analysis.model import Incident
from kantra_ai.edits.files import SourceFileError, read_source
from kantra_ai.engine.batch_runner import RunContext
from kantra_ai.engine.events import ObserverGroup, RunObserver
from kantra_ai.engine.outcomes import Status
from kantra_ai.errors import UserError
from kantra_ai.killpoints import killpoint
from kantra_ai.scratch import make_folder, remove, scratch_folder
from kantra_ai.store.checks import (
    CheckRow,
    PendingWrite,
    accepted_problems,
    find_baseline,
    last_check,
    live_write_paths,
    mark_writes,
    pending_writes,
    record_accepted,
    record_check,
    round_done_paths,
    set_verification,
    writing_paths,
)
from kantra_ai.store.observer import RepairObserver
from kantra_ai.store.revert import revert_writes
from kantra_ai.store.run_store import RunStore
from kantra_ai.verify.bisect import ScratchTree, find_culprits
from kantra_ai.verify.check import CANNOT_RUN, Check, VerifySettings, run_check, stands_for_output
from kantra_ai.verify.command import CommandResult
from kantra_ai.verify.diagnostics import Diagnostic, strip_ansi
from kantra_ai.verify.groups import Attribution, Group, GroupBy, attribute, group_writes
from kantra_ai.verify.repair import RepairJob, repair_file
from kantra_ai.verify.witness import Witness

VERIFIED, REPAIRED, REVERTED, FAILING = "verified", "repaired", "reverted", "failing"
REASON_PREFIX = "verification: "


def _last_line(output: str) -> str:
    """What the check said, in a line: its first line that says ERROR (Maven's reason, before its
    advice and links), else its last line (what a shell says of a command it cannot run); colour
    codes taken out, shortened."""
    lines = [line.strip() for line in strip_ansi(output).splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line]
    return (errors[0] if errors else lines[-1] if lines else "no output")[:200]


def describe(state: str, rounds: int, detail: str) -> str:
    """What an incident's row says: verified, repaired in N rounds, reverted: <diagnostic>."""
    if state == VERIFIED:
        return "verified"
    if state == REPAIRED:
        return f"repaired in {rounds} round{'s' if rounds != 1 else ''}"
    if state in (REVERTED, FAILING):
        return f"{state}: {detail}" if detail else state
    return state


def label(scope: str) -> str:
    """A scope as people read it: the file, the stage, or "the job"."""
    name = scope.split("#", 1)[0]
    if name.startswith("file:"):
        return name.removeprefix("file:")
    return "the job" if name == "end" else name.replace("stage:", "stage ")


class _Stopped(Exception):
    """The run was stopped during a check: the next run continues from the store."""


class _TreeChanged(Exception):
    """The check changed a file our writes made, or the run store (witness.py): no verdict."""


@dataclass
class VerifyEnv:
    """What the application lends the verifier for one scope."""

    store: RunStore
    run_id: int
    runs: Sequence[int]  # this run and the unfinished runs it continues: their writes are verified
    engine: RunContext | None  # provider, budget, prompts, replies, control; None: no repair possible
    observers: Sequence[RunObserver]  # progress, report capture, the stage's observer (not the store's)
    incidents: Mapping[str, Incident]  # every incident of the job, by id
    max_input_tokens: int = 24_000


@dataclass(frozen=True)
class Settled:
    """A group a check decided."""

    group: Group
    state: str  # verified, repaired, reverted, failing
    rounds: int
    detail: str = ""  # the diagnostic that decided it (reverted, failing)

    @property
    def reason(self) -> str:
        return f"{REASON_PREFIX}{self.detail}"


@dataclass
class Verifier:
    settings: VerifySettings
    tree: Path
    say: Callable[[str], None]
    baseline: list[Diagnostic] = field(default_factory=list)  # the failures before any edit
    baseline_check: Check | None = None  # run by this run (recorded once it has an id)
    baseline_passed: bool = True
    checks: int = 0  # run by this run
    # Problems of groups kept although they fail (not ours, or not revertible): known from then on,
    # so they count against no later group. Loaded from the store, so a resumed run knows them too.
    accepted: list[Diagnostic] | None = None
    # Why the run must stop: a check changed what it checks. Nothing is settled from then on.
    halted: str = ""
    _scratch: Path | None = None

    def reference(self, env: VerifyEnv) -> list[Diagnostic]:
        """What a check is compared with: the baseline and the problems accepted since."""
        if self.accepted is None:
            self.accepted = [Diagnostic.from_json(d) for d in accepted_problems(env.store, env.runs)]
        return [*self.baseline, *self.accepted]

    # -- the baseline --------------------------------------------------------------------------

    async def take_baseline(self, store: RunStore, runs: Sequence[int], stop: asyncio.Event | None) -> None:
        """Reuse the baseline of the run this one continues, else check the tree before any edit."""
        command = self.settings.check.command
        stored = find_baseline(store, runs) if runs else None
        if stored is not None and stored.command == command:
            self.baseline = [Diagnostic.from_json(d) for d in stored.new]
            self.baseline_passed = stored.exit_code == 0
            self._refuse_shapeless_baseline(stored.exit_code, "")
            self.say(
                f"verification: the baseline recorded by run #{stored.run_id} stands ({self._state(stored)})"
            )
            return
        self.say(f"verification: baseline check before any edit: {self.settings.check.describe()}")
        try:
            check = await self._run_on_tree(stop, store, ())
        except _TreeChanged as exc:  # nothing is written yet: the run has not begun
            raise UserError(f"verification: {exc} (nothing was sent)") from None
        if check.result.stopped:
            raise KeyboardInterrupt
        if check.result.timed_out:
            raise UserError(
                f"verification: the baseline check `{command}` did not finish within "
                f"{self.settings.timeout:g} s; raise --verify-timeout or pass a quicker --verify-command "
                "(nothing was changed)"
            )
        self.baseline_check = check
        self.baseline = check.failures
        self.baseline_passed = check.passed
        if check.result.exit_code in CANNOT_RUN:
            raise UserError(
                f"verification: the check `{command}` cannot run ({CANNOT_RUN[check.result.exit_code]}, exit "
                f"{check.result.exit_code}: {_last_line(check.result.output)}); fix --verify-command "
                "(nothing was changed)"
            )
        self._refuse_shapeless_baseline(check.result.exit_code, check.result.output)
        if check.passed:
            self.say("verification: the baseline passes")
        else:
            first = self.baseline[0].first_line()
            self.say(
                f"verification: the build already fails before any edit ({len(self.baseline)} problems, "
                f"first: {first}); only new problems will count against a fix"
            )

    def _refuse_shapeless_baseline(self, exit_code: int | None, output: str) -> None:
        """A check that fails before any edit with output that names no problem (a missing tool, a
        network error) cannot tell a fix's failure from its own: every later failure would read the
        same, and every fix would count as verified. Refused before anything is sent."""
        if self.baseline_passed or not all(stands_for_output(d) for d in self.baseline):
            return
        said = f": {_last_line(output)}" if output.strip() else ""
        raise UserError(
            f"verification: the check `{self.settings.check.command}` already fails before any edit "
            f"(exit {exit_code}{said}) and names no problem a fix's check could be compared with; "
            "make it pass first, or run without --verify (nothing was changed)"
        )

    def record_baseline(self, store: RunStore, run_id: int) -> None:
        if self.baseline_check is not None:
            self._record(
                store, run_id, self.baseline_check, kind="baseline", scope="", round=0, new=self.baseline
            )

    @staticmethod
    def _state(row: CheckRow) -> str:
        return "it passed" if row.exit_code == 0 else f"it failed with {len(row.new)} problems"

    # -- one scope ------------------------------------------------------------------------------

    async def settle(
        self,
        scope: str,
        by: GroupBy,
        env: VerifyEnv,
        *,
        select: Callable[[PendingWrite], bool] = lambda write: True,
    ) -> list[Settled]:
        """Check, repair and revert the pending writes `select` picks until they are decided; what
        was decided before the run was stopped (the next run continues from the store)."""
        rule_of = {i.id: i.violation.rule_id for i in env.incidents.values()}
        settled: list[Settled] = []
        stop = env.engine.control.stop if env.engine is not None else None
        while True:
            if (stop is not None and stop.is_set()) or self.halted:
                return settled
            pending = pending_writes(env.store, env.runs)
            writes = [w for w in pending if select(w)]
            groups = group_writes(writes, by, rule_of)
            if not groups:
                return settled
            # A problem in a file another scope has yet to verify (a file written meanwhile) waits
            # for that scope's check.
            others = {w.path for w in pending if not select(w)} | writing_paths(env.store)
            elsewhere = others - {w.path for w in writes}
            last = last_check(env.store, scope, env.runs)
            if last is None:
                if not await self._check_and_record(scope, 0, env, stop, elsewhere):
                    return settled
                continue
            new = [d for d in map(Diagnostic.from_json, last.new) if d.path not in elsewhere]
            if not new:
                return settled + self._accept(groups, env)
            attribution = attribute(new, groups, self._read, rule_of)
            files = self._files_to_repair(groups, attribution, alone=not others - {w.path for w in writes})
            if last.round < self.settings.max_rounds and files and env.engine is not None:
                round = last.round + 1
                done = round_done_paths(env.store, scope, round, env.runs)
                for path in [p for p in files if p not in done]:
                    self.say(f"verification: repairing {path} (round {round} of {self.settings.max_rounds})")
                    job = self._repair_job(path, groups, attribution, env)
                    result = await repair_file(job, self._engine(env, scope, round))
                    if result.stopped:
                        return settled
                    if result.note:
                        self.say(f"verification: {path}: {result.note}")
                if not await self._check_and_record(scope, round, env, stop, elsewhere):
                    return settled
                continue
            others_pending = group_writes([w for w in pending if not select(w)], "file", rule_of)
            try:
                given_up = await self._give_up(
                    scope, last.round, groups, attribution, new, env, others_pending
                )
                return settled + given_up
            except _Stopped:
                return settled

    def _files_to_repair(
        self, groups: Sequence[Group], attribution: Attribution, *, alone: bool
    ) -> list[str]:
        """Files of ours with a new diagnostic; a single group with only diagnostics elsewhere
        (a failing test, output naming no file): all of its files, when no other unverified write
        (`alone`) could be the cause."""
        ours = {p for g in groups for p in g.paths}
        located = sorted({d.path for ds in attribution.by_group.values() for d in ds if d.path in ours})
        if not located and alone and len(groups) == 1 and attribution.unattributed:
            return groups[0].paths
        return [p for p in located if p is not None]

    def _repair_job(
        self, path: str, groups: Sequence[Group], attribution: Attribution, env: VerifyEnv
    ) -> RepairJob:
        writes = [w for g in groups for w in g.writes if w.path == path]
        unique = {w.id: w for w in writes}
        ids = list(dict.fromkeys(i for w in unique.values() for i in w.fixed))
        problems = list(
            dict.fromkeys(d for ds in attribution.by_group.values() for d in ds if d.path == path)
        )
        return RepairJob(
            path=path,
            incidents=tuple(env.incidents[i] for i in ids if i in env.incidents),
            edits=tuple(e for w in sorted(unique.values(), key=lambda w: w.id) for e in w.edits),
            problems=tuple(problems),
            others=tuple(attribution.unattributed),
            command=self.settings.check.command,
            max_input_tokens=env.max_input_tokens,
        )

    def _engine(self, env: VerifyEnv, scope: str, round: int) -> RunContext:
        assert env.engine is not None
        recorder = RepairObserver(env.store, env.run_id, scope, round)
        return replace(env.engine, observer=ObserverGroup(*env.observers, recorder))

    # -- checks ---------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        """Python's bytecode of a check goes to a scratch folder, never into the user's tree."""
        if self._scratch is None:
            self._scratch = make_folder("verify")
        return {"PYTHONPYCACHEPREFIX": str(self._scratch / "pycache")}

    async def _run(self, stop: asyncio.Event | None, cwd: Path | None = None) -> Check:
        self.checks += 1
        return await run_check(
            self.settings.check, cwd or self.tree, timeout=self.settings.timeout, stop=stop, env=self._env()
        )

    async def _run_on_tree(self, stop: asyncio.Event | None, store: RunStore, runs: Sequence[int]) -> Check:
        """A check of the user's tree; _TreeChanged when the check changed a file our writes made or
        the run store (witness.py): no verdict is drawn from it."""
        store_file = store.path if isinstance(store.path, Path) else None
        witness = Witness.before(self.tree, live_write_paths(store, runs) if runs else (), store_file)
        check = await self._run(stop)
        why = "" if check.result.stopped else witness.verdict(self.settings.check.command)
        if why:
            raise _TreeChanged(why)
        return check

    async def _check_and_record(
        self, scope: str, round: int, env: VerifyEnv, stop: asyncio.Event | None, elsewhere: set[str]
    ) -> bool:
        """Check the tree and record the result; False when the run was stopped meanwhile, or must
        stop because the check changed what it checks (`halted`: nothing is recorded of it)."""
        try:
            check = await self._run_on_tree(stop, env.store, env.runs)
        except _TreeChanged as exc:
            self.halted = str(exc)
            return False
        if check.result.stopped:
            return False
        new = check.new_against(self.reference(env))
        self._record(env.store, env.run_id, check, kind="check", scope=scope, round=round, new=new)
        killpoint("check-recorded")
        ours = [d for d in new if d.path not in elsewhere]
        what = "passes" if not ours else f"{len(ours)} new problems, first: {ours[0].first_line()}"
        self.say(f"verification: {label(scope)}: {what}")
        return True

    def _record(
        self,
        store: RunStore,
        run_id: int,
        check: Check,
        *,
        kind: str,
        scope: str,
        round: int,
        new: list[Diagnostic],
    ) -> None:
        result: CommandResult = check.result
        record_check(
            store,
            run_id,
            kind=kind,
            scope=scope,
            round=round,
            command=result.command,
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            seconds=result.seconds,
            diagnostics=[d.as_json() for d in check.diagnostics],
            new=[d.as_json() for d in new],
            tail=result.tail(),
        )

    def _read(self, path: str) -> str | None:
        try:
            return read_source(self.tree / path).text
        except (OSError, SourceFileError):
            return None

    # -- decisions -------------------------------------------------------------------------------

    def _accept(self, groups: Sequence[Group], env: VerifyEnv) -> list[Settled]:
        settled = []
        for group in groups:
            rounds = len({w.round for w in group.writes if w.kind == "repair"})
            state = REPAIRED if rounds else VERIFIED
            settled.append(Settled(group, state, rounds))
        self._mark(settled, env)
        return settled

    def _mark(self, settled: Sequence[Settled], env: VerifyEnv) -> None:
        for item in settled:
            if item.state != REVERTED:
                mark_writes(env.store, item.group.write_ids, item.state)
            # A fix kept in the tree while its check fails (not ours to revert, or not revertible)
            # was never shown to work: failed, as a reverted one is (whose revert records that).
            failed = (env.run_id, item.reason) if item.state == FAILING else None
            set_verification(
                env.store, item.group.incident_ids, item.state, item.rounds, item.detail, failed=failed
            )

    async def _give_up(
        self,
        scope: str,
        round: int,
        groups: Sequence[Group],
        attribution: Attribution,
        new: Sequence[Diagnostic],
        env: VerifyEnv,
        others: Sequence[Group],
    ) -> list[Settled]:
        """Revert the culprits; `others`: unverified writes outside the scope (taken out of every
        probe: they are not what this scope verifies)."""
        if len(groups) == 1 and not attribution.unattributed:
            culprits: list[Group] | None = list(groups)
        else:
            culprits = await self._bisect(scope, round, groups, env, others)
        if culprits is None:
            detail = f"fails without kantra-ai's edits too, so nothing was reverted: {new[0].first_line()}"
            settled = [Settled(g, FAILING, self._rounds(g), detail) for g in groups]
            self._mark(settled, env)
            self._accept_problems(new, env)
            return settled
        settled = []
        for group in culprits:
            diagnostics = attribution.of(group) or list(attribution.unattributed) or list(new)
            detail = diagnostics[0].first_line()
            result = revert_writes(
                env.store,
                self.tree,
                group.write_ids,
                run_id=env.run_id,
                status=Status.FAILED,
                reason=REASON_PREFIX + detail,
                answered=True,
            )
            if result.refused:
                why = "; ".join(f"{p}: {r}" for p, r in sorted(result.refused.items()))
                settled.append(
                    Settled(group, FAILING, self._rounds(group), f"{detail} (not reverted: {why})")
                )
                self._accept_problems(diagnostics, env)
            else:
                settled.append(Settled(group, REVERTED, self._rounds(group), detail))
            killpoint("reverted")
        self._mark(settled, env)
        # The other groups pass without the culprits; a group whose writes all went with a culprit's
        # (per-violation: a file's edits are written together) was reverted with it.
        culprit_keys = {g.key for g in culprits}
        still = {w.id for w in pending_writes(env.store, env.runs)}
        others, gone = [], []
        for group in groups:
            if group.key in culprit_keys:
                continue
            kept = tuple(w for w in group.writes if w.id in still)
            if kept:
                others.append(Group(group.key, kept))
            else:
                gone.append(
                    Settled(
                        group, REVERTED, self._rounds(group), f"{settled[0].detail} (with {culprits[0].key})"
                    )
                )
        self._mark(gone, env)
        return settled + gone + self._accept(others, env)

    @staticmethod
    def _rounds(group: Group) -> int:
        return len({w.round for w in group.writes if w.kind == "repair"})

    def _accept_problems(self, problems: Sequence[Diagnostic], env: VerifyEnv) -> None:
        """Problems kept in the tree from now on: no later group is blamed for them. Never a failure
        that only stands for output naming nothing (a blip of the network, a flaky test): accepted,
        it would excuse every later failure of that kind, a fix's included."""
        kept = [d for d in problems if not stands_for_output(d)]
        self.reference(env)
        assert self.accepted is not None
        self.accepted += kept
        record_accepted(env.store, env.run_id, [d.as_json() for d in kept])

    async def _bisect(
        self, scope: str, round: int, groups: Sequence[Group], env: VerifyEnv, others: Sequence[Group] = ()
    ) -> list[Group] | None:
        """Culprits by bisection on a scratch copy (see bisect.py). Each probe is recorded as a check
        run (kind `probe`: no scope's verdict reads it), so the checks reported are the checks run."""
        with scratch_folder("bisect") as base:
            try:
                scratch = ScratchTree(self.tree, base / "tree", env.store)
            except OSError as exc:
                self.say(f"verification: cannot copy the tree to find the culprits ({exc}); reverting all")
                return list(groups)
            stop = env.engine.control.stop if env.engine is not None else None

            reference = self.reference(env)

            async def probe(chosen: Sequence[Group]) -> bool:
                scratch.without([*chosen, *others])
                check = await self._run(stop, cwd=scratch.root)
                if check.result.stopped:
                    raise _Stopped
                new = check.new_against(reference)
                self._record(env.store, env.run_id, check, kind="probe", scope=scope, round=round, new=new)
                return not new

            self.say(f"verification: finding which of {len(groups)} groups broke the check (on a copy)")
            return await find_culprits(groups, probe)

    def close(self) -> None:
        """Remove the checks' scratch folder; the pipeline calls this however the run ends."""
        if self._scratch is not None:
            remove(self._scratch)
            self._scratch = None
