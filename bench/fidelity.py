"""Edit fidelity end to end: whole workloads fixed with imperfect replies, judged file by file.

    .venv/bin/python -m bench.fidelity                 # about two minutes; rewrites docs/fidelity.md
    .venv/bin/python -m bench.fidelity --seeds 1 --no-write

Every workload (the bundled examples and a generated 40-file workload) is fixed twice per answer
format (Anthropic tool calls, OpenAI tool calls, SEARCH/REPLACE text): once with the scripted model's
edits as it writes them (the baseline), once in the fake provider's drift mode, where each edit
drifts with probability `--rate` the way real models drift them (`testing/drift.py`, all kinds
mixed) and each reply may come reversed or with an edit repeated.

The judge trusts nothing the product says about its own edits. The drift mode logs, for every
reply, the file as the request showed it and the scripted model's edits before they drifted; those
become line operations (`testing.drift.case_from_edits`). The next request for the file (a retry)
must then show the file with some set of that reply's operations made and nothing else, and so must
the final file for the last reply; if no set gives it, the file is damaged. An incident landed when
the operations of the last reply with edits for it stand; a drifted edit landed exactly when its
incidents did (retries included), was refused cleanly when they did not and the file is undamaged;
an incident reported fixed that did not land is a false "fixed". A retry is a request that asks
again about an incident asked about before; it is charged to the drift kinds of the edits for the
incidents it asks about in the reply before it. The baseline (drift rate 0) gives the requests an
exact reply needs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import itertools
import json
import os
import shutil
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.workloads import synthetic
from kantra_ai.cli.app import main as cli
from kantra_ai.simulated.recipes import respond
from kantra_ai.store.session import default_store_path
from testing.drift import KINDS, TEXT_KINDS, Case, case_from_edits
from testing.fakeprovider.drift import DriftedReply, DriftSettings
from testing.fakeprovider.server import FakeProviderServer

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "fidelity.md"
MODES = ("anthropic", "openai", "text")
MODE_NAMES = {
    "anthropic": "Anthropic tool calls",
    "openai": "OpenAI tool calls",
    "text": "SEARCH/REPLACE text",
}
COMMAND = ".venv/bin/python -m bench.fidelity"
KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")
_EXHAUSTIVE = 16  # operations per file up to which every subset is tried
REPLY_ONLY = {"reverse"}  # drift of a reply's order: its edits are as written


@dataclass(frozen=True)
class Workload:
    name: str
    analysis: Path
    app: Path


def workloads(work: Path, files: int) -> list[Workload]:
    """The bundled examples, then (with `files`) a generated workload of that many files."""
    found = [
        Workload(example.name, example / "output.yaml", example / "app")
        for example in sorted((ROOT / "examples").iterdir())
        if (example / "app").is_dir()
    ]
    if not files:
        return found
    generated = synthetic(work / "synthetic", files=files, seed=11)
    return [*found, Workload(f"generated, {files} files", generated.analysis, generated.app)]


# --- running ------------------------------------------------------------------------------------------


@dataclass
class Run:
    app: Path
    summary: dict[str, Any]
    replies: list[DriftedReply]  # every reply, with the file it was shown and the edits before drift


@contextlib.contextmanager
def _keys() -> Iterator[None]:
    """API keys for the SDKs (the fake provider accepts any), the environment restored after."""
    saved = {name: os.environ.get(name) for name in KEYS}
    for name in KEYS:
        os.environ.setdefault(name, "fake-key")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(workload: Workload, mode: str, work: Path, drift: DriftSettings) -> Run:
    """Fix a copy of the workload in one answer format (rate 0: the baseline)."""
    app = work / "app"
    shutil.copytree(workload.app, app)
    with FakeProviderServer(respond, drift=drift) as server:
        argv = ["remediate", "--analysis", str(workload.analysis), "--input", str(app)]
        argv += ["--json", "--no-progress", "--batch-size", "100", "--max-batch-tokens", "200000"]
        if mode == "openai":
            argv += ["--provider", "openai", "--model", "gpt-5.5", "--base-url", server.openai_base_url]
        else:
            argv += ["--base-url", server.anthropic_base_url]
        if mode == "text":
            argv.append("--text-edits")
        out = io.StringIO()
        with _keys(), contextlib.redirect_stdout(out):
            cli(argv)
        assert server.drift is not None
        replies = list(server.drift.log.replies)
    summary: dict[str, Any] = json.loads(out.getvalue())
    return Run(app, summary, _with_incident_ids(replies, _handles(app)))


def _handles(app: Path) -> dict[str, dict[str, str]]:
    """{path: {number the request showed: incident id}} from the run store: requests name incidents
    by their position in the file's batch (one batch per file here), counted on across the files of
    a request that packs several (each file keeps its numbers for its retries), so the first request
    a file was in lists them in that order."""
    handles: dict[str, dict[str, str]] = {}
    with contextlib.closing(sqlite3.connect(default_store_path(app))) as db:
        path_of = dict(db.execute("SELECT id, path FROM incidents").fetchall())
        rows = db.execute("SELECT incident_ids FROM requests WHERE attempt = 0 ORDER BY id")
        for (ids,) in rows:
            numbered: dict[str, dict[str, str]] = {}
            for n, incident_id in enumerate(json.loads(ids), 1):
                numbered.setdefault(path_of[incident_id], {})[str(n)] = incident_id
            for path, numbers in numbered.items():
                handles.setdefault(path, numbers)
    return handles


def _with_incident_ids(
    replies: Sequence[DriftedReply], handles: dict[str, dict[str, str]]
) -> list[DriftedReply]:
    """The drift log's replies with the numbers the requests showed turned back into incident ids."""

    def ids(path: str, numbers: Sequence[str]) -> tuple[str, ...]:
        known = handles.get(path, {})
        return tuple(known.get(n, f"{path}#{n}") for n in numbers)

    return [
        dataclasses.replace(
            reply,
            incident_ids=ids(reply.path, reply.incident_ids),
            edits=tuple(
                dataclasses.replace(e, incident_ids=ids(reply.path, e.incident_ids)) for e in reply.edits
            ),
            given=tuple(
                dataclasses.replace(e, incident_ids=ids(reply.path, e.incident_ids)) for e in reply.given
            ),
        )
        for reply in replies
    ]


# --- judging ------------------------------------------------------------------------------------------


def _subsets(count: int) -> Iterator[set[int]]:
    for size in range(count + 1):
        for combo in itertools.combinations(range(count), size):
            yield set(combo)


def realised_ops(case: Case, result: str) -> set[int] | None:
    """The set of the case's operations whose result is `result`, or None when there is none."""
    count = len(case.ops)
    if count <= _EXHAUSTIVE:
        return next((s for s in _subsets(count) if case.intended(s) == result), None)
    # Too many to try them all: the operations whose lines stand in the result, if they give it.
    chosen = {i for i in range(count) if all(line in result for line in case.ops[i].lines)}
    return chosen if case.intended(chosen) == result else None


@dataclass
class FileVerdict:
    """One file: each reply's operations the file (or the next request) shows, or damage."""

    damaged: bool
    landed: dict[str, bool]  # incident -> the operations of the last reply with edits for it stand


def judge_file(original: str, replies: Sequence[DriftedReply], final: str) -> FileVerdict:
    """The replies for one file in order: each request must show the file as the reply before left
    it (some of that reply's operations made, nothing else), and the final file likewise."""
    ending = original[len(original.rstrip("\n")) :]  # requests show the file without it
    damaged = not replies or replies[0].content != original.rstrip("\n")
    landed: dict[str, bool] = {}
    for number, reply in enumerate(replies):
        case = case_from_edits("file", reply.content, reply.given)
        realised: set[int] | None = None
        if number + 1 < len(replies):
            realised = realised_ops(case, replies[number + 1].content)
        elif final.endswith(ending):
            realised = realised_ops(case, final[: len(final) - len(ending)])
        if realised is None:
            damaged = True
        for incident_id in {i for edit in reply.given for i in edit.incident_ids}:
            ops = {k for k, edit in enumerate(reply.given) if incident_id in edit.incident_ids}
            landed[incident_id] = realised is not None and ops <= realised
    return FileVerdict(damaged, landed)


@dataclass
class KindRow:
    drifted: int = 0
    landed: int = 0
    refused: int = 0
    wrong: int = 0
    false_fixed: int = 0
    retries: int = 0


@dataclass
class Outcome:
    """One workload in one mode: the drift run judged on its files."""

    workload: str
    mode: str
    files: int = 0
    incidents: int = 0
    drifted: int = 0
    landed: int = 0
    refused: int = 0
    wrong: int = 0
    damaged_files: int = 0
    false_fixed: int = 0
    baseline_requests: int = 0
    requests: int = 0
    retries: int = 0
    duplicate_retries: int = 0  # retries charged only to repeated edits
    kinds: dict[str, KindRow] = field(default_factory=lambda: defaultdict(KindRow))


def judge(workload: Workload, mode: str, baseline: Run, drifted: Run) -> Outcome:
    outcome = Outcome(workload.name, MODE_NAMES[mode])
    outcome.baseline_requests = baseline.summary["requests"]
    outcome.requests = drifted.summary["requests"]
    status = {o["id"]: o["status"] for o in drifted.summary["outcomes"]}
    outcome.incidents = len(status)
    by_path: dict[str, list[DriftedReply]] = defaultdict(list)
    for reply in drifted.replies:
        by_path[reply.path].append(reply)
    verdicts: dict[str, FileVerdict] = {}
    for path, replies in by_path.items():
        original = (workload.app / path).read_text(encoding="utf-8").replace("\r\n", "\n")
        final = (drifted.app / path).read_text(encoding="utf-8").replace("\r\n", "\n")
        verdicts[path] = judge_file(original, replies, final)
    outcome.files = len(verdicts)
    outcome.damaged_files = sum(v.damaged for v in verdicts.values())
    landed = {i: ok and not v.damaged for v in verdicts.values() for i, ok in v.landed.items()}
    false_fixed = {i for i, s in status.items() if s == "fixed" and not landed.get(i, False)}
    outcome.false_fixed = len(false_fixed)
    kinds_of: dict[str, set[str]] = defaultdict(set)  # incident -> every drift its edits had
    for reply in drifted.replies:
        damaged = verdicts[reply.path].damaged
        for edit in reply.edits:
            for incident_id in edit.incident_ids:
                kinds_of[incident_id] |= set(edit.kinds)
            if not edit.kinds:
                continue
            ok = all(landed.get(i, False) for i in edit.incident_ids)
            if set(edit.kinds) - REPLY_ONLY:  # the edit itself drifted (not only its reply's order)
                outcome.drifted += 1
                outcome.landed += ok
                outcome.refused += not ok and not damaged
                outcome.wrong += damaged
            for kind in edit.kinds:
                row = outcome.kinds[kind]
                row.drifted += 1
                row.landed += ok
                row.refused += not ok and not damaged
                row.wrong += damaged
    for incident_id in false_fixed:
        for kind in kinds_of[incident_id] or {"none"}:
            outcome.kinds[kind].false_fixed += 1
    last: dict[str, DriftedReply] = {}
    for reply in drifted.replies:
        if reply.retry and reply.path in last:
            asked = set(reply.incident_ids)
            charged = {k for e in last[reply.path].edits if asked & set(e.incident_ids) for k in e.kinds}
            outcome.retries += 1
            outcome.duplicate_retries += charged == {"duplicate"}
            for kind in charged or {"none"}:
                outcome.kinds[kind].retries += 1
        last[reply.path] = reply
    return outcome


# --- the report ---------------------------------------------------------------------------------------


def _share(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.1%})" if whole else "0"


def render(outcomes: Sequence[Outcome], rate: float, seeds: int, files: int, first_seed: int = 0) -> str:
    first = f" --first-seed {first_seed}" if first_seed else ""
    lines = [
        "# Edit fidelity end to end",
        "",
        "Made by `bench/fidelity.py` (see its docstring for how it judges); rewrite it with",
        "",
        "```bash",
        f"{COMMAND} --rate {rate} --seeds {seeds}{first} --files {files}",
        "```",
        "",
        f"Each workload is fixed in each answer format with {rate:.0%} of the scripted model's edits",
        "drifted (every kind mixed; a SEARCH/REPLACE reply cannot carry line-break drift, so that format",
        f"mixes the others), {seeds} seed(s) each, retries as configured by default (`--max-retries 1`).",
        "*Drifted edits* are edits that drifted themselves (a reply in reverse order leaves its edits",
        "as written: those count in the `reverse` row only). Every count is judged on the files,",
        "against the scripted model's own edits in a baseline run:",
        "an edit *landed exactly* when the final file holds its incidents' change (retries included),",
        "was *refused cleanly* when it does not and the file holds nothing else, *landed wrong* when the",
        "file is not the original plus some of the intended changes.",
        "",
        "## Per workload and answer format",
        "",
        "| workload | format | files | incidents | drifted edits | landed exactly | refused cleanly "
        "| files damaged | reported fixed, file not as intended | requests (baseline -> drift) "
        "| retries charged only to a repeated edit |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    merged: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        merged[(outcome.workload, outcome.mode)].append(outcome)
    for (workload, mode), group in merged.items():
        drifted = sum(o.drifted for o in group)
        lines.append(
            f"| {workload} | {mode} | {group[0].files} | {sum(o.incidents for o in group)} | {drifted} "
            f"| {_share(sum(o.landed for o in group), drifted)} | {sum(o.refused for o in group)} "
            f"| {sum(o.damaged_files for o in group)} | {sum(o.false_fixed for o in group)} "
            f"| {sum(o.baseline_requests for o in group)} -> {sum(o.requests for o in group)} "
            f"| {sum(o.duplicate_retries for o in group)} |"
        )
    total = sum(o.drifted for o in outcomes)
    lines += [
        "",
        f"All together: {_share(sum(o.landed for o in outcomes), total)} of {total} drifted edits landed "
        f"exactly; {sum(o.damaged_files for o in outcomes)} files damaged; "
        f"{sum(o.false_fixed for o in outcomes)} incidents reported fixed whose file is not as intended; "
        f"{sum(o.duplicate_retries for o in outcomes)} retries charged only to repeated edits.",
        "",
        "## Per drift kind (all workloads and formats)",
        "",
        "An edit drifted two ways counts in both rows; a retry counts for every drift of the edits for",
        "the incidents it asks about again (*none*: they were sent as written, yet their incident was",
        "asked again, e.g. with an edit of another reply).",
        "",
        "| drift | drifted edits | landed exactly | refused cleanly | landed wrong (must be 0) "
        "| reported fixed, file not as intended (must be 0) | extra requests (retries) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows: dict[str, KindRow] = defaultdict(KindRow)
    for outcome in outcomes:
        for kind, row in outcome.kinds.items():
            total_row = rows[kind]
            for name in ("drifted", "landed", "refused", "wrong", "false_fixed", "retries"):
                setattr(total_row, name, getattr(total_row, name) + getattr(row, name))
    for kind in [*KINDS, "none"]:
        if kind not in rows:
            continue
        row = rows[kind]
        lines.append(
            f"| {kind} | {row.drifted} | {_share(row.landed, row.drifted)} | {row.refused} | {row.wrong} "
            f"| {row.false_fixed} | {row.retries} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--rate", type=float, default=0.3, help="share of edits (and replies) drifted")
    parser.add_argument("--seeds", type=int, default=3, help="drift runs per workload and format")
    parser.add_argument("--first-seed", type=int, default=0, help="the first drift seed (to look further)")
    parser.add_argument("--files", type=int, default=40, help="files of the generated workload (0: none)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"answer formats, of {', '.join(MODES)}")
    parser.add_argument("--no-write", action="store_true", help=f"print, do not rewrite {DOC.name}")
    args = parser.parse_args(argv)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="kantra-ai-fidelity-") as tmp:
        work = Path(tmp)
        for number, workload in enumerate(workloads(work, args.files)):
            # The scripted model writes the same edits whatever the answer format: one baseline.
            base = run(workload, "anthropic", work / f"{number}-baseline", DriftSettings(0.0))
            for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
                kinds = TEXT_KINDS if mode == "text" else KINDS
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    settings = DriftSettings(args.rate, kinds, seed)
                    drifted = run(workload, mode, work / f"{number}-{mode}-{seed}", settings)
                    outcome = judge(workload, mode, base, drifted)
                    outcomes.append(outcome)
                    print(
                        f"{workload.name} / {mode} / seed {seed}: {outcome.landed}/{outcome.drifted} landed, "
                        f"{outcome.damaged_files} damaged, {outcome.false_fixed} false fixed, "
                        f"{outcome.baseline_requests} -> {outcome.requests} requests",
                        flush=True,
                    )
    text = render(outcomes, args.rate, args.seeds, args.files, args.first_seed)
    if args.no_write:
        print(text)
    else:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC}")
    damaged = sum(o.damaged_files for o in outcomes) + sum(o.false_fixed for o in outcomes)
    return 1 if damaged else 0


if __name__ == "__main__":
    raise SystemExit(main())
