"""`--verify`: the job hook that proves each fix builds (or passes the tests), has the model repair
what it broke, and reverts what stays broken; `--reanalyze-command` at the end.

When it checks, by strategy (the groups are what is repaired and reverted together):

| strategy        | checks                                   | groups                                  |
|-----------------|------------------------------------------|-----------------------------------------|
| `per-file`      | after each file's fixes (remediate)      | the file                                |
| `per-violation` | when a stage's files are written         | each violation's writes                 |
| `per-phase`     | after each stage (execute: each phase)   | the stage's writes                      |
| `at-end`        | once, when every stage is done           | files, bisected when they cannot be told |

Checks run on the tree itself and are serialised with the writes: while a check (and its repairs)
runs, the tree lock keeps every other file from being written, so a check never sees half a batch;
requests keep going meanwhile. Writes a killed run left unverified are verified first (per-file) or
with their stage; the loop itself continues from the run store (`verify/loop.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

from kantra_ai.analysis.model import Incident
from kantra_ai.app.hooks import JobContext, RunHook, SettledUnit
from kantra_ai.app.options import RunOptions, VerifyOptions
from kantra_ai.app.prepare import Stage
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord, Status
from kantra_ai.errors import UserError
from kantra_ai.store.checks import (
    PendingWrite,
    checks_of,
    fail_fixes,
    find_baseline,
    live_write_paths,
    pending_writes,
    repair_costs,
    run_chain,
    set_verification,
    unrecorded_reverts,
    verification_of,
)
from kantra_ai.store.run_store import RunStore
from kantra_ai.verify.check import STRATEGIES, VerifySettings
from kantra_ai.verify.detect import CheckCommand, CheckKind, DetectionError, detect_command
from kantra_ai.verify.groups import GroupBy
from kantra_ai.verify.loop import (
    FAILING,
    REASON_PREFIX,
    REPAIRED,
    REVERTED,
    VERIFIED,
    Settled,
    Verifier,
    VerifyEnv,
    describe,
)
from kantra_ai.verify.reanalysis import OUTPUT_PLACEHOLDER, Reanalysis, reanalyze

STRATEGY_ALIASES = {"per-fix": "per-file", "per-incident": "per-file"}  # the predecessor's names


def verify_settings(options: VerifyOptions, tree_dir: Any, default_strategy: str) -> VerifySettings | None:
    """The checked settings, with the command detected; None when verification is off."""
    if not math.isfinite(options.timeout) or options.timeout <= 0:  # nan and inf too: no timeout at all
        raise UserError(f"--verify-timeout: must be a positive number of seconds, not {options.timeout:g}")
    if options.max_repair_rounds < 0:
        raise UserError("--max-repair-rounds: must be 0 or more")
    if options.reanalyze_command is not None and OUTPUT_PLACEHOLDER not in options.reanalyze_command:
        raise UserError(
            f"--reanalyze-command: put {OUTPUT_PLACEHOLDER} where the command writes its analysis, e.g. "
            f"'kantra analyze --input . --output {OUTPUT_PLACEHOLDER} ...'"
        )
    if not options.enabled:
        return None
    if options.kind not in ("build", "test"):
        raise UserError(f"--verify: expected build or test, not {options.kind!r}")
    kind = cast(CheckKind, options.kind)
    asked = options.strategy or default_strategy
    strategy = next((s for s in STRATEGIES if s == STRATEGY_ALIASES.get(asked, asked)), None)
    if strategy is None:
        raise UserError(f"--verify-strategy: expected one of {', '.join(STRATEGIES)}, not {asked!r}")
    if options.command is not None and not options.command.strip():
        # Never "detect it then": the user asked for a command of their own and would get another.
        raise UserError(
            "--verify-command: empty; give the check to run, or leave it out to use the detected one"
        )
    if options.command is not None:
        check = CheckCommand(options.command, "your command", "")
    else:
        try:
            check = detect_command(tree_dir, kind)
        except DetectionError as exc:
            raise UserError(str(exc)) from None
    return VerifySettings(
        kind=kind,
        check=check,
        strategy=strategy,
        timeout=options.timeout,
        fail_fast=options.fail_fast,
        max_rounds=options.max_repair_rounds,
    )


def _change_outcome(job: JobContext, incident_id: str, status: Status, reason: str) -> None:
    """This run's outcome of the incident, decided again by a hook; the live views follow."""
    earlier = job.run.outcomes.get(incident_id)
    after = IncidentOutcome(
        incident_id,
        status,
        reason,
        earlier.confidence if earlier else None,
        earlier.explanation if earlier else "",
    )
    job.run.hook_outcomes[incident_id] = job.run.outcomes[incident_id] = after
    if job.engine is not None:
        job.engine.observer.outcome_changed(incident_id, after)


def verification_hook(
    options: RunOptions, default_strategy: str, say: Callable[[str], None]
) -> VerificationHook | None:
    """The hook for `options.verify`, or None when neither verification nor re-analysis is asked."""
    settings = verify_settings(options.verify, options.input_dir, default_strategy)
    if settings is None and options.verify.reanalyze_command is None:
        return None
    if settings is not None:
        say(
            f"verification: {settings.kind} with {settings.check.describe()}; strategy {settings.strategy}, "
            f"at most {settings.max_rounds} repair rounds per group"
        )
    return VerificationHook(settings, options, say)


def _on_path(path: str) -> Callable[[PendingWrite], bool]:
    return lambda write: write.path == path


class _Requests(RunObserver):
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def request_finished(self, record: RequestRecord) -> None:
        self.records.append(record)


class VerificationHook(RunHook):
    name = "verification"

    def __init__(
        self, settings: VerifySettings | None, options: RunOptions, say: Callable[[str], None]
    ) -> None:
        self.settings = settings
        self.options = options
        self.say = say
        self.verifier = Verifier(settings, options.input_dir, say) if settings is not None else None
        self.prior: list[int] = []  # the unfinished runs this one continues whose writes it verifies
        self.runs: list[int] = []  # this run and those
        self.settled: list[Settled] = []
        self.reanalysis: Reanalysis | None = None

    @property
    def check_name(self) -> str | None:
        """The check as commit messages name it ("build check `mvn -q -o compile`"); None: no check."""
        if self.settings is None:
            return None
        return f"{self.settings.kind} check `{self.settings.check.command}`"

    # -- RunHook (app/hooks.py) ------------------------------------------------------------------

    def wants_provider(self, job: JobContext) -> bool:
        store = job.session.store
        if self.verifier is None or store is None:
            return False
        self.prior = self._prior_runs(job, store)
        return bool(self.prior) and bool(pending_writes(store, self.prior))

    async def prepare(self, job: JobContext) -> None:
        store = job.session.store
        if self.verifier is None or store is None:
            return
        self.prior = self._prior_runs(job, store)  # `wants_provider` is not always asked
        await self.verifier.take_baseline(store, self.prior, None)

    async def started(self, job: JobContext) -> None:
        store, run_id = job.session.store, job.run_id
        if self.verifier is None or store is None or run_id is None:
            return
        self.verifier.record_baseline(store, run_id)
        self.runs = [run_id, *self.prior]
        job.run.verification_pending = self.settings is not None and self.settings.strategy == "at-end"
        # A revert a killed run made and had no time to record as such.
        for incident_id, detail, rounds in unrecorded_reverts(store, self.prior, REASON_PREFIX):
            set_verification(store, [incident_id], REVERTED, rounds, detail)
        assert self.settings is not None
        if self.settings.strategy == "per-file":
            # Files a killed run fixed and did not verify, and this run does not touch again.
            planned = {str(i.path) for s in job.todo for i in s.incidents}
            await self._per_file(job, {w.path for w in self._pending(job)} - planned)

    async def file_finished(self, job: JobContext, stage: Stage, path: str) -> None:
        if self.settings is not None and self.settings.strategy == "per-file":
            await self._per_file(job, {path})

    async def stage_checked(self, job: JobContext, stage: Stage) -> None:
        if self.settings is None or self._stopped(job):
            return
        strategy = self.settings.strategy
        if strategy == "per-file":  # files whose check a stop skipped
            members = self._stage_members(job, stage)
            await self._per_file(
                job, {w.path for w in self._pending(job) if self._in_stage(w, members, stage)}
            )
        elif strategy in ("per-violation", "per-phase"):
            by: GroupBy = "violation" if strategy == "per-violation" else "all"
            members = self._stage_members(job, stage)
            await self._settle(job, f"stage:{stage.id}", by, lambda w: self._in_stage(w, members, stage))

    async def finished(self, job: JobContext) -> None:
        if self.settings is not None and self.settings.strategy == "at-end" and not self._stopped(job):
            await self._settle(job, "end", "file", lambda w: True)
        job.run.verification_pending = False
        if self.options.verify.reanalyze_command and not self._stopped(job):
            self.reanalysis = await reanalyze(
                self.options.verify.reanalyze_command,
                analysis=self.options.selection.analysis,
                tree=self.options.input_dir,
                source_root=self.options.selection.source_root,
                fixed=self._fixed_now(job),
                timeout=self.options.verify.timeout,
                stop=job.engine.control.stop if job.engine is not None else None,
                say=self.say,
            )
            self._apply_reanalysis(job)
        self._report(job)

    def close(self) -> None:
        if self.verifier is not None:
            self.verifier.close()

    # -- scopes ---------------------------------------------------------------------------------

    def _prior_runs(self, job: JobContext, store: RunStore) -> list[int]:
        """The runs this one continues, up to the one whose baseline (same command) it reuses."""
        resumes = job.session.resumes
        if resumes is None or self.settings is None:
            return []
        chain = run_chain(store, resumes.id)
        baseline = find_baseline(store, chain)
        if baseline is None or baseline.command != self.settings.check.command:
            return []
        return chain[: chain.index(baseline.run_id) + 1]

    def _pending(self, job: JobContext) -> list[PendingWrite]:
        store = job.session.store
        return pending_writes(store, self.runs) if store is not None and self.runs else []

    @staticmethod
    def _stopped(job: JobContext) -> bool:
        return job.engine is not None and job.engine.control.stop.is_set()

    @staticmethod
    def _stage_members(job: JobContext, stage: Stage) -> set[str]:
        original = next((s for s in job.stages if s.id == stage.id), stage)
        return {i.id for i in original.incidents}

    @staticmethod
    def _in_stage(write: PendingWrite, members: set[str], stage: Stage) -> bool:
        if write.kind == "repair":
            return write.scope.startswith(f"stage:{stage.id}") or write.scope.startswith("file:")
        return any(i in members for i in write.incidents) or not write.incidents

    async def _per_file(self, job: JobContext, paths: set[str]) -> None:
        pending = self._pending(job)
        for path in sorted(paths, key=lambda p: min((w.id for w in pending if w.path == p), default=0)):
            first = min((w.id for w in pending if w.path == path), default=None)
            if first is None:
                continue
            await self._settle(job, f"file:{path}#{first}", "file", _on_path(path))

    async def _settle(
        self, job: JobContext, scope: str, by: GroupBy, select: Callable[[PendingWrite], bool]
    ) -> None:
        store, run_id = job.session.store, job.run_id
        if self.verifier is None or store is None or run_id is None or self._stopped(job):
            return
        if self.verifier.halted:
            return
        collector = _Requests()
        env = VerifyEnv(
            store=store,
            run_id=run_id,
            runs=self.runs,
            engine=job.engine,
            observers=[collector, *([job.engine.observer] if job.engine is not None else [])],
            incidents=job.incidents,
            max_input_tokens=self.options.limits.batch.max_batch_tokens,
        )
        async with job.tree_lock:
            settled = await self.verifier.settle(scope, by, env, select=select)
        if self.verifier.halted and not job.run.halted:
            # The check changed what it checks: the run stops, its writes stay unverified (recorded
            # as written: the next run sees what the tree holds and plans again what is gone).
            job.run.halted = f"verification: {self.verifier.halted}"
            self.say(f"{job.run.halted}; stopping the run")
            if job.engine is not None:
                job.engine.control.stop.set()
        for record in collector.records:  # repairs are paid like fixes: the run's totals include them
            job.run.records.append(record)
            job.run.totals.add(record)
        self.settled += settled
        for item in settled:
            self._apply(job, item)
        if any(item.state == REVERTED for item in settled):
            # A file whose every write of ours was reverted is as it was: not a file the run changed.
            live = live_write_paths(store, self.runs)
            job.run.changed_files = {p for p in job.run.changed_files if p in live}
        for item in settled:
            await job.announce(
                SettledUnit(
                    item.group.key,
                    tuple(item.group.paths),
                    tuple(item.group.incident_ids),
                    item.state,
                    item.rounds,
                    item.detail,
                )
            )
        failed = [s for s in settled if s.state in (REVERTED, FAILING)]
        if failed and self.settings is not None and self.settings.fail_fast and job.engine is not None:
            job.run.halted = (
                f"--verify-fail-fast: {failed[0].group.key} {failed[0].state}: {failed[0].detail}"
            )
            self.say(f"verification: stopping the run ({job.run.halted})")
            job.engine.control.stop.set()

    def _apply(self, job: JobContext, item: Settled) -> None:
        """This run's outcome and the incident's row follow what verification decided."""
        text = describe(item.state, item.rounds, item.detail)
        for incident_id in item.group.incident_ids:
            job.run.incident_extras.setdefault(incident_id, {}).update(
                verification=text, verification_state=item.state, repair_rounds=item.rounds
            )
            if item.state in (REVERTED, FAILING):  # failing: kept in the tree, never shown to work
                _change_outcome(job, incident_id, Status.FAILED, item.reason)

    # -- re-analysis ----------------------------------------------------------------------------

    def _fixed_now(self, job: JobContext) -> list[Incident]:
        by_id = job.incidents
        fixed = [
            by_id[i]
            for i, outcome in job.run.outcomes.items()
            if outcome.status is Status.FIXED and i in by_id
        ]
        return fixed + [by_id[i] for i, status in job.run.settled.items() if status == "fixed" and i in by_id]

    def _apply_reanalysis(self, job: JobContext) -> None:
        if self.reanalysis is None:
            return
        reason = "re-analysis: the analyzer still reports it"
        for incident_id in self.reanalysis.still_reported:
            extras = job.run.incident_extras.setdefault(incident_id, {})
            extras["reanalysis"] = "still reported"
            _change_outcome(job, incident_id, Status.FAILED, reason)
        # The store too: `status`, the report and the next run must not call these fixed.
        if job.session.store is not None and job.run_id is not None:
            fail_fixes(job.session.store, job.run_id, self.reanalysis.still_reported, reason)
        for incident_id in self.reanalysis.gone:
            job.run.incident_extras.setdefault(incident_id, {})["reanalysis"] = "gone"

    # -- the summary block ----------------------------------------------------------------------

    def _report(self, job: JobContext) -> None:
        store = job.session.store
        block: dict[str, Any] = {"enabled": self.settings is not None}
        if self.settings is not None and self.verifier is not None and store is not None:
            states = [s.state for s in self.settled]
            known = verification_of(store, [i for s in self.settled for i in s.group.incident_ids])
            for incident_id, (state, rounds, detail) in known.items():
                if state:
                    job.run.incident_extras.setdefault(incident_id, {}).setdefault(
                        "verification", describe(state, rounds, detail)
                    )
            runs = self.runs or [0]  # no run recorded: nothing of it to show
            checks = checks_of(store, runs)
            baseline = next((c for c in checks if c.kind == "baseline"), None)
            costs = repair_costs(store, runs)
            rounds_by_file: dict[str, int] = {}
            for item in self.settled:
                for path in item.group.paths:
                    rounds_by_file[path] = max(rounds_by_file.get(path, 0), item.rounds)
            block.update(
                kind=self.settings.kind,
                command=self.settings.check.command,
                detected_from=self.settings.check.marker or None,
                strategy=self.settings.strategy,
                max_repair_rounds=self.settings.max_rounds,
                baseline={
                    "passed": self.verifier.baseline_passed,
                    "problems": [d.first_line() for d in self.verifier.baseline[:20]],
                    "run": baseline.run_id if baseline else None,
                },
                checks=len(checks),  # every check run: the baseline, the tree's, bisection's probes
                groups={state: states.count(state) for state in (VERIFIED, REPAIRED, REVERTED, FAILING)},
                incidents={
                    state: sum(len(s.group.incident_ids) for s in self.settled if s.state == state)
                    for state in (VERIFIED, REPAIRED, REVERTED, FAILING)
                },
                repair_requests=sum(n for n, _ in costs.values()),
                repair_cost_usd=None
                if any(c is None for _, c in costs.values())
                else round(sum(c or 0.0 for _, c in costs.values()), 6),
                files=[
                    {
                        "path": path,
                        "rounds": rounds_by_file.get(path, 0),
                        "repair_requests": costs.get(path, (0, 0.0))[0],
                        "repair_cost_usd": costs.get(path, (0, 0.0))[1],
                    }
                    for path in sorted(set(rounds_by_file) | set(costs))
                ],
                groups_detail=[
                    {
                        "group": s.group.key,
                        "state": s.state,
                        "rounds": s.rounds,
                        "detail": s.detail,
                        "incidents": len(s.group.incident_ids),
                    }
                    for s in self.settled
                ],
                unverified=self._stopped(job),
                halted=self.verifier.halted or None,  # a check changed what it checks (witness.py)
            )
        if self.reanalysis is not None:
            block["reanalysis"] = self.reanalysis.as_dict()
        job.run.extras["verification"] = block


def verification_lines(block: dict[str, Any]) -> list[str]:
    """Lines for people: what verification decided (the CLI prints them under the summary)."""
    lines: list[str] = []
    if block.get("reanalysis"):
        again = block["reanalysis"]
        if again.get("error"):
            lines.append(f"re-analysis: {again['error']}")
        else:
            lines.append(
                f"re-analysis: {again['gone']} fixed incidents gone, {len(again['still_reported'])} still "
                f"reported, {len(again['new_incidents'])} new incidents of the rules fixed"
            )
    if not block.get("enabled"):
        return lines
    lines.insert(0, f"verification: `{block['command']}` ({block['strategy']}), {block['checks']} checks")
    if not block["baseline"]["passed"]:
        lines.append(f"  the build failed before any edit: {'; '.join(block['baseline']['problems'][:3])}")
    counts = block["incidents"]
    lines.append(
        f"  incidents: {counts[VERIFIED]} verified, {counts[REPAIRED]} repaired, "
        f"{counts[REVERTED]} reverted, {counts[FAILING]} still failing"
    )
    cost = block["repair_cost_usd"]
    lines.append(
        f"  repairs: {block['repair_requests']} requests, cost "
        + ("unknown" if cost is None else f"${cost:.4f}")
    )
    for group in block["groups_detail"]:
        if group["state"] in (REVERTED, FAILING):
            lines.append(f"  {group['state']} {group['group']}: {group['detail']}")
    if block.get("halted"):
        lines.append(f"  stopped before every fix was verified: {block['halted']}")
    elif block.get("unverified"):
        lines.append("  stopped before every fix was verified: run the same command again to continue")
    return lines
