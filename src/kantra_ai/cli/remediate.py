"""`kantra-ai remediate`, and how every command that runs a job prints what it did.

Notes and progress go to stderr; the result (the summary tables and what to do next, or the
`--json` document) goes to stdout, so `| tee run.log` and CI logs keep all of it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from kantra_ai.app.options import RunOptions
from kantra_ai.app.remediate import RemediateJob, remediate_dry_run, remediate_summary
from kantra_ai.app.run import DryRun, Job, JobRun, dry_run_job, exit_code, run_job
from kantra_ai.app.verification import verification_lines
from kantra_ai.cli.progress import ConsoleUi
from kantra_ai.errors import ExitCode
from kantra_ai.report.batch_summary import print_batch_dry_run, print_batch_summary
from kantra_ai.report.summary import count_of, print_dry_run, print_summary

Document = dict[str, Any]


def result_console() -> Console:
    """stdout for the result; piped, it is wide enough that tables do not fold."""
    return Console() if sys.stdout.isatty() else Console(width=120)


def run_command(
    job: Job,
    options: RunOptions,
    console: Console,
    *,
    dry_document: Callable[[DryRun], Document],
    print_dry: Callable[[Document, Console], None],
    summarize: Callable[[JobRun], Document],
    print_result: Callable[[Document, Console], None],
) -> int:
    """Dry-run or run `job`, then print the result for people, or as JSON on stdout with `--json`.

    `console` is stderr: notes and progress (whenever it is a terminal, `--json` or not)."""
    out = result_console()
    with ConsoleUi(console, progress=options.output.progress, max_cost=options.limits.max_cost) as ui:
        if options.dry_run:
            dry = dry_run_job(job, options, ui)
            ui.close()
            _show(dry_document(dry), options, _with_verification(print_dry), out)
            return ExitCode.OK
        run = run_job(job, options, ui)
        ui.close()
        document = summarize(run)
    _show(document, options, _with_verification(print_result), out)
    if not options.output.json:
        print_next_steps(document, run, options, out, job.again)
    return exit_code(run)


def _with_verification(printer: Callable[[Document, Console], None]) -> Callable[[Document, Console], None]:
    """The printer, followed by what verification checked and decided (when it was asked)."""

    def show(document: Document, console: Console) -> None:
        printer(document, console)
        block = document.get("verification")
        if not block:
            return
        if document.get("dry_run"):
            source = f" ({block['detected_from']})" if block.get("detected_from") else ""
            console.print(
                f"verification: `{block['command']}`{source}, {block['strategy']}, at most "
                f"{block['max_repair_rounds']} repair rounds per group",
                markup=False,
                highlight=False,
            )
            return
        for line in verification_lines(block):
            console.print(line, markup=False, highlight=False)

    return show


def _show(
    document: Document, options: RunOptions, printer: Callable[[Document, Console], None], console: Console
) -> None:
    if options.output.json:
        emit_json(document)
    else:
        printer(document, console)


def _git_root(path: Path) -> Path | None:
    for folder in [path.resolve(), *path.resolve().parents]:
        if (folder / ".git").exists():
            return folder
    return None


# Reasons of failures no reply covered: the request failed, or nothing was sent (the file could not
# be read, or written). store/history.py plans them again without --retry-failed.
_NOT_ANSWERED = ("request failed", "not sent", "cannot read file")


def print_next_steps(
    document: Document,
    run: JobRun,
    options: RunOptions,
    console: Console,
    again: str = "run the same command again",
) -> None:
    """What changed and what to do now: review the diff, open the report, retry, continue. Lines are
    never wrapped: a path or a command cut in two cannot be copied."""

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, highlight=False)

    changed = sorted(run.changed_files)
    git = document.get("git") or {}
    commits = [c for c in git.get("commits") or [] if c["branch"] == git.get("branch")]  # not the PRs
    if changed:
        names = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
        say(f"[green]changed {len(changed)} files[/]: {escape(names)}")
        where = options.input_dir
        review = f"git -C {where} diff" if _git_root(where) else f"diff against your copy of {where}"
        if commits:  # committed: `git diff` of the working tree shows nothing
            review = f"git -C {where} log -p {str(git['base']['sha'])[:12]}..{git['branch']}"
        say(f"  review the edits: {escape(review)}")
    elif not run.aborted:
        say("no file was changed in this run")
    if commits:
        say(f"  git: {len(commits)} commit(s) on {escape(str(git['branch']))}")
    for pull in git.get("pull_requests") or []:
        into = f"{pull['branch']} into {pull['base']}"
        say(f"  pull request: {escape(str(pull['url']))} ({escape(into)})")
    report = document.get("report")
    if report:
        uri = Path(report).resolve().as_uri()
        say(f"  report: [link={uri}]{escape(str(report))}[/link]")
    elif document.get("report_error"):
        say(f"  [yellow]report not written[/]: {escape(str(document['report_error']))}")
    # Failures the model answered are asked again only with --retry-failed; those whose request
    # got no reply (refused, timed out) or that were never sent (a folder that cannot be written)
    # are simply retried by the next run (store/history.py).
    failed = [o for o in document.get("outcomes", []) if o["status"] == "failed"]
    answered = [o for o in failed if not o["reason"].startswith(_NOT_ANSWERED)]
    if answered:
        say(
            f"  {count_of(len(answered), 'incident')} failed: see why in the report; ask the model again "
            "with the same command plus --retry-failed"
        )
    if len(failed) > len(answered):
        lost = count_of(len(failed) - len(answered), "incident")
        say(f"  {lost} got no answer (not sent, or no reply): the next run asks again")
    doubtful = document.get("doubtful_not_applicable") or []
    if doubtful:
        first = doubtful[0]
        spot = f"{first['file']}:{first['line']}" if first["line"] else str(first["file"])
        say(
            f"[yellow]check[/]: the model said {len(doubtful)} incidents do not apply, yet their files still "
            f"hold what their rules replace (`{escape(first['name'])}` in {escape(spot)}); a rerun does not "
            "ask again about them (--fresh does)"
        )
    waiting = (document.get("batch_api") or {}).get("waiting") or {}
    if waiting.get("incidents"):
        say(
            f"[yellow]waiting[/]: {waiting['incidents']} incidents are with the provider in "
            f"{escape(', '.join(waiting['batches']))}: {again} to apply what has ended "
            "(--wait keeps polling; kantra-ai batches cancel cancels them)"
        )
    stopped = document.get("stopped") or {}
    abandoned = document.get("abandoned") or {}
    if abandoned.get("requests"):
        files = ", ".join(abandoned["files"][:3]) + (" ..." if len(abandoned["files"]) > 3 else "")
        say(
            f"[yellow]abandoned[/] {abandoned['requests']} requests in flight ({len(abandoned['incidents'])} "
            f"incidents: {escape(files)}): their replies were not waited for; what the provider bills for "
            "them is unknown and not in the cost above; the next run asks again"
        )
    if run.aborted:
        refused = (document.get("store") or {}).get("state") == "refused"
        say(
            "[red]the provider refused the run before answering anything[/]: nothing was done and there is "
            f"nothing to continue; fix what it said (API key, model, endpoint) and {again}"
            if refused
            else f"[yellow]aborted[/]: fix what the provider said and {again} to continue where it stopped"
        )
    elif run.interrupted:
        say(f"[yellow]interrupted[/]: {again} to continue where it stopped")
    elif stopped.get("not_sent"):
        say(
            f"[yellow]stopped early[/]: {escape(stopped['reason'])}; {stopped['not_sent']} incidents were "
            f"not sent. {again[0].upper()}{again[1:]} (with a higher --max-cost) to continue"
        )


def remediate(options: RunOptions, console: Console) -> int:
    """Run (or dry-run) with the run store: skip what earlier runs settled, record this one."""
    return run_command(
        RemediateJob(options.selection.analysis),
        options,
        console,
        dry_document=remediate_dry_run,
        print_dry=_print_dry_run,
        summarize=lambda run: remediate_summary(run, options),
        print_result=_print_result,
    )


def _print_result(summary: Document, console: Console) -> None:
    print_summary(summary, console)
    print_batch_summary(summary, console)


def _print_dry_run(document: Document, console: Console) -> None:
    print_dry_run(document, console)
    print_batch_dry_run(document["totals"], console)


def emit_json(document: Document) -> None:
    for piece in json_pieces(document):
        sys.stdout.write(piece)
    sys.stdout.write("\n")


_PLACE = "\x00list\x00"  # stands in for a top-level list while the rest is written


def json_pieces(document: Document) -> Iterator[str]:
    """`json.dumps(document, indent=2)` in pieces: each item of a top-level list (a dry run's
    requests, a run's incidents: one per file or incident of a 100,000-incident analysis) written on
    its own, the whole text never in memory. Every piece is whole JSON values (the redaction of
    stdout masks each write on its own: no key is parted from its value)."""
    lists = {key: value for key, value in document.items() if isinstance(value, list) and value}
    if not lists:
        yield json.dumps(document, indent=2)
        return
    text = json.dumps({key: _PLACE if key in lists else value for key, value in document.items()}, indent=2)
    parts = text.split(json.dumps(_PLACE))
    if len(parts) != len(lists) + 1:  # a value that reads as the stand-in: written whole
        yield json.dumps(document, indent=2)
        return
    yield parts[0]
    for items, after in zip(lists.values(), parts[1:], strict=True):
        yield "[\n    "
        for n, item in enumerate(items):
            yield (",\n    " if n else "") + json.dumps(item, indent=2).replace("\n", "\n    ")
        yield "\n  ]" + after
