"""From options to what a run will send: the selection, its stages, and their batches, all checked.

Everything that can fail on the user's input fails here, before a tree is locked or a request paid:
an unreadable analysis, unknown filters, a user template that does not render for some request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kantra_ai.analysis.loader import AnalysisError, load_analysis
from kantra_ai.analysis.model import Category, Incident
from kantra_ai.analysis.selection import Selection, SelectionError, select_incidents
from kantra_ai.app.options import SelectionOptions
from kantra_ai.engine.runner import BatchSettings, RunBatches, batch_incidents
from kantra_ai.errors import UserError
from kantra_ai.prompts.builder import PromptBuilder


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
        )
        return select_incidents(
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
