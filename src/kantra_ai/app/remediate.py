"""`remediate`: the whole selection of an analysis as one stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kantra_ai.app.batch_run import add_batch_summary, batch_dry_run
from kantra_ai.app.options import RunOptions
from kantra_ai.app.prepare import Stage, load_selection
from kantra_ai.app.run import DryRun, JobRun, abandoned_block, add_hook_results, doubtful_not_applicable
from kantra_ai.engine.events import RunObserver
from kantra_ai.engine.outcomes import Status
from kantra_ai.errors import UserError
from kantra_ai.providers.pricing import describe_price
from kantra_ai.report.record import RecordError, write_job_report
from kantra_ai.report.summary import run_summary
from kantra_ai.store.session import RESUME_HINT

STAGE_ID = "all"


class RemediateJob:
    command = ""
    resume_hint = RESUME_HINT
    again = "run the same command again"
    verify_strategy = "per-file"

    def __init__(self, analysis: Path) -> None:
        self.analysis = analysis

    def load(self, options: RunOptions) -> list[Stage]:
        return [Stage(STAGE_ID, "remediate", load_selection(options.selection))]

    def check(self, options: RunOptions) -> None:
        pass

    def started(self, stages: Sequence[Stage]) -> None:
        pass

    def stage_observer(self, stage: Stage) -> RunObserver | None:
        return None

    def stage_finished(self, stage: Stage, outcome_of: Mapping[str, Status], interrupted: bool) -> None:
        pass


def remediate_summary(run: JobRun, options: RunOptions) -> dict[str, Any]:
    """The `--json` document of a remediate run (this run's incidents; earlier ones in `store`),
    with the job's report written (report.html and run.json, every run on the tree)."""
    stage = run.stages[0]
    summary = run_summary(
        provider=run.choice.provider_name,
        model=run.choice.model,
        selected=run.planned,
        not_applicable=stage.selection.not_applicable,
        informational=stage.selection.informational,
        filtered_out=stage.selection.filtered_out,
        outcomes=run.outcomes,
        totals=run.totals,
        aborted=run.aborted,
        confidence=options.confidence,
        records=run.records,
        performance=run.performance,
        price=run.choice.price,
    )
    if run.delivery is not None:
        summary["git"] = run.delivery
    add_batch_summary(summary, run.batch, selected=run.planned, outcomes=run.outcomes, records=run.records)
    add_hook_results(run, summary, "outcomes")
    summary["store"] = run.store
    summary["abandoned"] = abandoned_block(run)
    summary["doubtful_not_applicable"] = doubtful_not_applicable(run, options.input_dir)
    summary["changed_files"] = sorted(run.changed_files)
    add_job_report(summary, options)
    return summary


def add_job_report(summary: dict[str, Any], options: RunOptions) -> None:
    """The job's report written and named in the summary (`report`). One that cannot be written
    (the store deleted during the run) is said (`report_error`), not a reason to hide the summary
    of a run whose changes are in the files."""
    summary["report"] = None
    summary["report_error"] = None
    if (summary.get("store") or {}).get("deleted_during_run"):  # another store's report would lie
        summary["report_error"] = "the run store was deleted or replaced during the run"
        return
    try:
        summary["report"] = str(write_job_report_for(options))
    except UserError as exc:
        summary["report_error"] = str(exc)


def write_job_report_for(options: RunOptions) -> Path:
    """The job's report (every run on the tree, from the store), where the options say."""
    try:
        history = options.history
        return write_job_report(
            options.input_dir,
            history.state,
            options.output.report,
            store_url=history.store,
            store_key=history.store_key,
        )
    except RecordError as exc:
        raise UserError(str(exc)) from None


def remediate_dry_run(dry: DryRun) -> dict[str, Any]:
    """The dry run's document: every request that would be sent, and the totals."""
    stage = dry.stages[0]
    totals = dry.total.as_dict()
    del totals["minutes"]
    totals.update(
        model=dry.choice.model,
        price=describe_price(dry.choice.price),
        not_applicable=len(stage.selection.not_applicable),
        informational=stage.selection.informational,
        filtered_out=stage.selection.filtered_out,
        unreadable=dry.unreadable,
    )
    batch_dry_run(totals, dry.batch_total)
    document: dict[str, Any] = {"dry_run": True, "requests": dry.request_rows(), "totals": totals}
    if dry.verification is not None:
        document["verification"] = dry.verification
    return document
