"""From options to what a run will send: the selection, its stages, and their batches, all checked.

Everything that can fail on the user's input fails here, before a tree is locked or a request paid:
an unreadable analysis, unknown filters, a user template that does not render for some request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kantra_ai.analysis.loader import AnalysisError, load_analysis
from kantra_ai.analysis.model import Analysis, Applicability, Category, Incident
from kantra_ai.analysis.selection import Selection, SelectionError, select_incidents
from kantra_ai.analysis.uris import misplaced_input, uri_to_path
from kantra_ai.app.model_choice import ModelChoice
from kantra_ai.app.options import RunOptions, SelectionOptions
from kantra_ai.engine.runner import BatchSettings, RunBatches, batch_incidents
from kantra_ai.errors import UserError
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.caching import min_cacheable_tokens


def split_list(values: Iterable[str]) -> list[str]:
    """Accept both repeated flags and comma-separated lists, as the predecessor did."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _categories(values: Sequence[str]) -> list[Category] | None:
    names = split_list(values)
    if not names:
        return None
    allowed = [c.value for c in Category]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise UserError(f"--categories: unknown category {bad[0]!r}; allowed: {', '.join(allowed)}")
    return [Category(n) for n in names]


def check_input_dir(input_dir: Path) -> None:
    if not input_dir.is_dir():
        raise UserError(f"--input {input_dir}: not a directory")


def load_selection(opts: SelectionOptions) -> Selection:
    """The analysis, loaded and mapped onto the tree, with the user's filters applied."""
    check_input_dir(opts.input_dir)
    try:
        analysis = load_analysis(
            opts.analysis,
            opts.input_dir,
            source_root=opts.source_root,
            include_informational=opts.include_informational,
            include_generated=opts.include_generated,
        )
        selection = select_incidents(
            analysis,
            violation_ids=split_list(opts.violation_ids) or None,
            categories=_categories(opts.categories),
            max_effort=opts.max_effort,
            include=split_list(opts.include) or None,
            exclude=split_list(opts.exclude) or None,
            include_informational=opts.include_informational,
        )
    except (AnalysisError, SelectionError) as exc:
        raise UserError(str(exc)) from exc
    check_tree(analysis, selection, opts.input_dir, opts.source_root)
    return selection


def check_tree(analysis: Analysis, selection: Selection, input_dir: Path, source_root: str | None) -> None:
    """Refuse a `--input` (or `--source-root`) that is not the analyzed application, for every
    command that reads incidents (from an analysis, or from a plan made from one)."""
    if source_root is None:  # a root the user gave says which folder --input stands for
        check_input_level(analysis, input_dir)
    else:
        check_source_root(selection, source_root)
    check_tree_matches(analysis, selection, input_dir)


def missing_files(incidents: Iterable[Incident]) -> list[str]:
    """The checkout-relative paths the analysis names that are not in the tree, sorted, once each."""
    return sorted({str(i.path) for i in incidents if i.applicability is Applicability.MISSING_FILE})


def check_input_level(analysis: Analysis, input_dir: Path) -> None:
    """Refuse a `--input` one or two folders below or above the analyzed application: its files may
    map, but incidents outside it are lost and the store, reports and incident ids land in the
    wrong folder (see `misplaced_input`)."""
    paths = (uri_to_path(i.uri) for i in analysis.incidents)
    misplaced = misplaced_input(paths, analysis.source_root, input_dir)
    if misplaced is None:
        return
    levels = abs(misplaced.levels)
    distance = "one level" if levels == 1 else f"{levels} levels"
    where = f"{distance} {'below' if misplaced.levels > 0 else 'above'}"
    keep = f" (or --source-root {misplaced.root} to use this folder as it is)" if misplaced.levels > 0 else ""
    raise UserError(
        f"--input {input_dir} is {where} the analyzed application: the analysis expects the folder "
        f"{misplaced.expected}; pass --input {misplaced.expected}{keep}"
    )


def check_source_root(selection: Selection, source_root: str) -> None:
    """Refuse a `--source-root` that most selected incidents' files are not under: they map outside
    --input, nothing would be sent, and the run would end "successfully" having done nothing."""
    outside = [i for i in selection.not_applicable if i.applicability is Applicability.OUTSIDE_INPUT]
    wanted = len(selection.selected) + len(outside)
    if not outside or len(outside) * 2 <= wanted:
        return
    example = outside[0].uri
    raise UserError(
        f"--source-root {source_root}: the files of {len(outside)} of {wanted} selected incidents are "
        f"not under it (the analysis names {example}); pass the folder kantra analyzed, as the analysis "
        "spells it"
    )


def check_tree_matches(analysis: Analysis, selection: Selection, input_dir: Path) -> None:
    """Refuse a `--input` that is not the analyzed application (an empty folder, one level too high
    or too low, another application): when most selected incidents' files are missing, nothing
    would be fixed and the run would only record noise, or pay to edit the wrong tree."""
    missing = [i for i in selection.not_applicable if i.applicability is Applicability.MISSING_FILE]
    wanted = len(selection.selected) + len(missing)
    if not missing or len(missing) * 2 <= wanted:
        return
    examples = missing_files(missing)[:2]
    looked = " and ".join(examples)
    root = analysis.source_root or "none detected"
    found = _where_the_files_are(input_dir, examples[0])
    hint = f" (the files are under {found})" if found else ""
    raise UserError(
        f"--input {input_dir} does not look like the analyzed application: the files of {len(missing)} of "
        f"{wanted} selected incidents are missing (looked for {looked}; analyzer root {root}); pass the "
        f"checkout kantra analyzed as --input{hint}, or the analyzer's root with --source-root"
    )


def _where_the_files_are(input_dir: Path, example: str) -> Path | None:
    """A nearby folder that holds `example`: a parent of `--input`, or a folder up to two levels below."""
    for parent in list(input_dir.resolve().parents)[:2]:
        if (parent / example).is_file():
            return parent
    try:
        below = [p for p in input_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
        below += [q for p in below for q in p.iterdir() if q.is_dir() and not q.name.startswith(".")]
    except OSError:
        return None
    return next((p for p in sorted(below) if (p / example).is_file()), None)


@dataclass
class Stage:
    """A part of a job run in order: the whole selection for `remediate`, one phase for `execute`."""

    id: str
    name: str
    selection: Selection  # `selected`: sendable incidents; `not_applicable`: reported, never sent

    @property
    def incidents(self) -> list[Incident]:
        return self.selection.selected


def plan_batches(
    incidents: Sequence[Incident], input_dir: Path, settings: BatchSettings, prompts: PromptBuilder
) -> RunBatches:
    """Batch the incidents and render every request's templates now: a user template that fails on
    some request's data is a one-line error before the first request is sent."""
    batches = batch_incidents(incidents, input_dir, settings, prompts)
    prompts.check(batch for file_batches in batches.files for batch in file_batches.batches)
    return batches


def run_prompts(
    choice: ModelChoice, options: RunOptions, incidents: Sequence[Incident], *, token_ratio: float = 1.0
) -> PromptBuilder:
    """The request builder of a run: bound to all its incidents (one rule book, one shared prefix
    for every request, lengthened to the model's cache minimum), asking for full verdicts only when
    something uses each fix's confidence (confidence filtering, pull request comments on fixes below a
    threshold). `token_ratio`: the calibrated real/estimated token ratio."""
    uses_confidence = options.confidence.enabled or options.git.pr_comment_threshold is not None
    builder = PromptBuilder(choice.format, options.templates, full_verdicts=uses_confidence)
    minimum = (
        None if choice.preset.local else min_cacheable_tokens(choice.model, protocol=choice.preset.protocol)
    )
    return builder.with_rules(incidents, cache_minimum=minimum, token_ratio=token_ratio)
