"""What the provider's own counts teach a run about its estimates, kept for the next run.

The offline token estimate (`tokens.py`) is within a few percent of a real BPE on average, but a
model's tokenizer is its own, and how much a model writes per incident cannot be known offline.
Every response reports real usage, so a run learns:

- the ratio of real to estimated input tokens (`input_ratio`): it corrects the rate-limit pacing
  (input tokens per minute), the cache decisions (is the shared prefix over the model's minimum?)
  and the dry run's token and cost figures;
- the output tokens per incident, by rule (`expected_output`), and from them `max_tokens` for the
  next request (`max_tokens_for`): providers reserve output rate limit from `max_tokens` up front,
  and some never give back what a reply did not use, so asking for four times what a reply needs
  costs throughput. Until a rule has been seen a few times the static budget of the batcher
  applies; a reply cut off at `max_tokens` is never applied, its request is sent again with twice
  the room (batch_runner.py), and the headroom of later requests of the rules it held grows (only
  theirs: one rule's long replies say nothing about another's);
- while requests wait for output tokens per minute, or the run expects to write more than a
  minute's allowance of a known output limit (`output_bound`, which the adaptive provider copies
  from the limiter before each request), every token of `max_tokens` is one the run waits
  for (a provider that keeps unused output reserved counts all of it): requests are then sized by
  the sizing's own error, what complete replies to like requests (the same rules, about as many
  incidents) took against what was expected of them (`ERROR_QUANTILE` of those ratios; a fifth above
  the mean, without the peak and the slack, until there are enough), and a reply cut off is asked
  again with twice its room rather than the static budget.

The run store keeps the figures by provider and model (`store/calibration.py`); the next run, and
its dry run, start from them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import MAX_OUTPUT_TOKENS, incident_units
from kantra_ai.edits.model import ProposedFix
from kantra_ai.tokens import estimate_tokens

# Until this many input tokens were both estimated and reported, the ratio stays 1.
MIN_INPUT_SAMPLE = 2_000
# A rule's output figure is trusted once this many incidents of it were answered.
MIN_OUTPUT_SAMPLE = 3
HEADROOM = 1.5  # max_tokens: the expected output times this, or the most seen per unit and a tenth,
PEAK_HEADROOM = 1.1  # whichever is more (a cut-off reply is paid for and asked again: costlier
HEADROOM_SLACK = 16  # than room reserved and not used), plus this many tokens
UNSEEN_RULE_FACTOR = 1.5  # a rule not seen yet: the run's average output, half as much again
MAX_HEADROOM = 3.0
# While output tokens per minute bind (`output_bound`): a fifth above the mean, without the peak term
# and the slack, whose tokens every request would reserve and wait for. Replayed on the replies of
# bench/throughput_bench.py's strict run: reserved / needed about 1.35 instead of 1.8, one reply in
# thirty cut off (asked again with twice the room, its input and output paid again); a tenth above
# cut off more replies than it saved reservations. (The whole run measured 1.65x: its requests sized
# before the first wait for output keep the usual headroom.)
BOUND_HEADROOM = 1.2
# Where output binds and there is evidence enough: max_tokens is the expected output (the rules'
# means, no headroom) times this quantile of what complete replies of like requests took against
# what was expected of them. The expectation is biased where a rule's figure was learned in requests
# unlike this one (a reply's frame spread over few incidents or many, a rename said once for five
# imports): on bench/throughput_bench.py's strict run, replies of import renames took 0.7 of their
# expectation, others 0.9-1.1, so one fixed headroom reserved 1.7x the output. Requests are alike
# when they ask about the same rules and about as many incidents (in powers of two); a kind seen too
# rarely takes the ratios of any request. A cut-off does not grow the room here: the reply asked
# again adds its own ratio when it is complete. A cut-off reply is continued from what arrived whole
# (`engine/continuation.py`), so a cut costs the item it fell in and the request's input again, not
# the whole reply. Measured on that strict run, sized so from its first request (the limiter expects
# more output than a minute's allowance): the median gave 0.74 of the bound at 12% more cost than
# sizing only after the first wait (0.56), the 70th percentile 0.72 at 3% more, the 85th 0.68 at
# 1.5% less (when a cut-off reply was asked again whole: 0.8, 0.9 and 0.95 gave 0.54, 0.52, 0.51).
ERROR_QUANTILE = 0.7
MIN_ERROR_SAMPLE = 5  # ratios of one kind of request before its own quantile sizes it
MIN_ANY_ERROR_SAMPLE = 10  # ratios of any requests before theirs size a kind not seen enough
ERROR_WINDOW = 50  # the most recent ratios kept per kind
ANY_ERROR_WINDOW = 200  # and for any request
BOUND_MIN_MAX_TOKENS = 16
MIN_MAX_TOKENS = 48  # a verdict with a short reason fits
ITEM_FRAME_TOKENS = 4  # what an edit or verdict costs beyond its texts (keys, brackets, its numbers)
# The first figure for an unknown rule: what an incident of effort 0-1 takes in a terse reply
# (a changed line as old text and the words that change, in JSON), per output unit (`incident_units`).
DEFAULT_OUTPUT_PER_UNIT = 20.0


@dataclass
class _Mean:
    total: float = 0.0
    count: float = 0.0
    peak: float = 0.0  # the highest value seen (this run; not stored)

    def add(self, value: float, weight: float = 1.0) -> None:
        self.total += value * weight
        self.count += weight
        self.peak = max(self.peak, value)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


@dataclass
class Calibration:
    """Learned figures of one provider and model (see the module docstring)."""

    input_estimated: float = 0.0
    input_reported: float = 0.0
    output: dict[str, _Mean] = field(default_factory=dict)  # rule key -> output tokens per unit
    # rule key -> output tokens per token of the prior (`batching.output_prior`): how far the shape
    # of a rule's incidents says what its replies take. A reply's output is not spread over its
    # incidents evenly: a rename repeated in a request costs a number, a declined finding a verdict,
    # and the prior already knows which is which.
    prior_ratio: dict[str, _Mean] = field(default_factory=dict)
    # rule key -> how much cut-offs of its replies grew its headroom (a quarter each, up to MAX_HEADROOM)
    rule_growth: dict[str, float] = field(default_factory=dict)
    truncations: int = 0
    # Requests wait for output tokens per minute (`AdaptiveLimiter.output_bound`, set by the adaptive
    # provider; not stored): the room a request reserves is then time the run waits.
    output_bound: bool = False
    # kind of request (`_request_kind`) -> output / expected output of its recent complete replies
    # ("": any request's; this run only, not stored: the bias depends on how its requests are made)
    sizing_error: dict[str, deque[float]] = field(default_factory=dict)

    # -- input -------------------------------------------------------------------------------------

    def observe_input(self, estimated: int, reported: int) -> None:
        if estimated > 0 and reported > 0:
            self.input_estimated += estimated
            self.input_reported += reported

    @property
    def input_ratio(self) -> float:
        """Real input tokens per estimated one (1.0 until enough was seen)."""
        if self.input_estimated < MIN_INPUT_SAMPLE:
            return 1.0
        return self.input_reported / self.input_estimated

    def real_tokens(self, estimated: float) -> int:
        return math.ceil(estimated * self.input_ratio)

    # -- output ------------------------------------------------------------------------------------

    def observe_output(
        self,
        incidents: Sequence[Incident],
        output_tokens: int,
        prior: Mapping[str, int] | None = None,
        reply: ProposedFix | None = None,
    ) -> None:
        """A complete reply for `incidents` took `output_tokens`: per rule as output per unit (what
        the dry run's estimate uses) and, with the `prior` the request was sized from, as a ratio to
        it (what sizes the next requests). With the parsed `reply`, each rule is given the share of
        the output its incidents' edits and verdicts took (`reply_shares`), so that a rename answered
        next to costlier findings is not taught their cost; without it, the output is spread evenly."""
        all_units = incident_units(incidents)
        if not incidents or all_units <= 0 or output_tokens <= 0:
            return
        self._observe_error(incidents, output_tokens, prior)
        by_rule: dict[str, list[Incident]] = {}
        for incident in incidents:
            by_rule.setdefault(incident.violation.key, []).append(incident)
        per_unit = output_tokens / all_units
        for key, group in by_rule.items():
            units = incident_units(group)
            if units > 0:
                self.output.setdefault(key, _Mean()).add(per_unit, units)
        if not prior:
            return
        expected = {key: sum(prior.get(i.id, 0) for i in group) for key, group in by_rule.items()}
        all_expected = sum(expected.values())
        if all_expected <= 0:
            return
        shares = reply_shares(reply, incidents) if reply is not None else {}
        spent = sum(shares.values())
        # What the items themselves took goes to their rules; the rest (the reply's frame, which
        # the items cannot account for) is spread by the prior, as without a parsed reply.
        scale = min(1.0, output_tokens / spent) if spent > 0 else 0.0
        rest = output_tokens - spent * scale
        for key, group in by_rule.items():
            if expected[key] <= 0:
                continue
            tokens = sum(shares.get(i.id, 0.0) for i in group) * scale + rest * expected[key] / all_expected
            # Counted once per incident: a rule's figure weighs what it was learned from.
            self.prior_ratio.setdefault(key, _Mean()).add(tokens / expected[key], len(group))

    def _observe_error(
        self, incidents: Sequence[Incident], output_tokens: int, prior: Mapping[str, int] | None
    ) -> None:
        """Keep what this reply took against what the figures (before they learn from it) expected."""
        if not self.has_output_evidence and prior is None:
            return  # sized by the static budget, not by an expectation
        expected = self._room_for(incidents, prior, lambda _: 1.0, peak=False)
        if expected <= 0:
            return
        ratio = output_tokens / expected
        for key in (_request_kind(incidents), ""):
            window = ANY_ERROR_WINDOW if key == "" else ERROR_WINDOW
            self.sizing_error.setdefault(key, deque(maxlen=window)).append(ratio)

    def _error_factor(self, incidents: Sequence[Incident]) -> float | None:
        """`ERROR_QUANTILE` of output / expected for requests like this one (its rules, about as many
        incidents), else for any request (None: too few complete replies seen to tell)."""
        ratios = self.sizing_error.get(_request_kind(incidents), ())
        if len(ratios) < MIN_ERROR_SAMPLE:
            ratios = self.sizing_error.get("", ())
            if len(ratios) < MIN_ANY_ERROR_SAMPLE:
                return None
        ranked = sorted(ratios)
        return ranked[min(len(ranked) - 1, math.ceil(ERROR_QUANTILE * len(ranked)) - 1)]

    def observe_truncation(self, incidents: Iterable[Incident]) -> None:
        """A reply for `incidents` was cut off at max_tokens: more room from now on for their rules."""
        self.truncations += 1
        for key in {i.violation.key for i in incidents}:
            self.rule_growth[key] = min(MAX_HEADROOM / HEADROOM, self.rule_growth.get(key, 1.0) * 1.25)

    def _headroom(self, rule_key: str) -> float:
        base = BOUND_HEADROOM if self.output_bound else HEADROOM
        return base * self.rule_growth.get(rule_key, 1.0)

    def _per_unit(self, rule_key: str) -> float | None:
        seen = self.output.get(rule_key)
        if seen is None or seen.count < MIN_OUTPUT_SAMPLE:
            return None
        return seen.mean

    def _room(self, seen: _Mean | None, headroom: float, peak: bool) -> float | None:
        """Room for a rule's figure (output per unit, or per token of the prior): its mean with
        headroom, or (with `peak`) its peak, whichever is more (None until enough of its incidents
        were answered)."""
        if seen is None or seen.count < MIN_OUTPUT_SAMPLE:
            return None
        if not peak:
            return seen.mean * headroom
        return max(seen.mean * headroom, seen.peak * PEAK_HEADROOM)

    def _fallback_per_unit(self) -> float:
        """For a rule not seen yet: the average of those seen, else the default."""
        total = sum(m.total for m in self.output.values())
        count = sum(m.count for m in self.output.values())
        return total / count if count >= MIN_OUTPUT_SAMPLE else DEFAULT_OUTPUT_PER_UNIT

    def expected_output(self, incidents: Sequence[Incident], prior: Sequence[int] = ()) -> float:
        """Expected output tokens of a reply for these incidents: by what their rules' replies took,
        and for a rule without replies yet, by each incident's `prior` (its expected output from its
        line, in the order of `incidents`) when there is one, else by the average of the rules seen."""
        fallback = self._fallback_per_unit()
        total = 0.0
        for n, incident in enumerate(incidents):
            per_unit = self._per_unit(incident.violation.key)
            if per_unit is not None:
                total += per_unit * incident_units([incident])
            elif n < len(prior):
                total += prior[n]
            else:
                total += fallback * incident_units([incident])
        return total

    @property
    def has_output_evidence(self) -> bool:
        """Replies were seen (in this run or an earlier one): output can be sized from them."""
        return sum(m.count for m in self.output.values()) >= MIN_OUTPUT_SAMPLE

    def max_tokens_for(
        self, incidents: Sequence[Incident], planned: int, prior: Mapping[str, int] | None = None
    ) -> int:
        """`max_tokens` for a request: from the evidence once there is some, else from `prior` (the
        expected output of each incident from its shape, `batching.output_prior`), else `planned`
        (the batcher's static budget); never above `planned` nor the provider's ceiling. An incident
        of a rule not seen yet counts at its prior, or at twice the run's average without one."""
        evidence = self.has_output_evidence
        if not incidents or (not evidence and prior is None):
            return planned
        if self.output_bound:  # no slack, and no floor beyond a one-incident answer's frame
            factor = self._error_factor(incidents)
            if factor is None:
                room = self._room_for(incidents, prior, self._headroom, peak=False)
            else:
                room = self._room_for(incidents, prior, lambda _: 1.0, peak=False) * factor
            return max(BOUND_MIN_MAX_TOKENS, min(planned, math.ceil(room), MAX_OUTPUT_TOKENS))
        room = self._room_for(incidents, prior, self._headroom, peak=True)
        sized = math.ceil(room + HEADROOM_SLACK)
        return max(MIN_MAX_TOKENS, min(planned, sized, MAX_OUTPUT_TOKENS))

    def _room_for(
        self,
        incidents: Sequence[Incident],
        prior: Mapping[str, int] | None,
        headroom_of: Callable[[str], float],
        *,
        peak: bool,
    ) -> float:
        """The output these incidents are expected to take, each with its rule's headroom (and, with
        `peak`, at least its rule's peak): by the rule's ratio to the prior, else its output per
        unit, else the prior, else the run's average for a rule not seen yet."""
        fallback = self._fallback_per_unit() * UNSEEN_RULE_FACTOR
        room = 0.0
        for incident in incidents:
            key = incident.violation.key
            headroom = headroom_of(key)
            ratio = self._room(self.prior_ratio.get(key), headroom, peak)
            per_unit = self._room(self.output.get(key), headroom, peak)
            if ratio is not None and prior is not None and incident.id in prior:
                room += prior[incident.id] * ratio
            elif per_unit is not None:
                room += per_unit * incident_units([incident])
            elif prior is not None and incident.id in prior:
                room += prior[incident.id] * headroom
            else:
                room += fallback * headroom * incident_units([incident])
        return room

    # -- persistence -------------------------------------------------------------------------------

    def rows(self) -> list[tuple[str, float, float]]:
        """(key, total, count) rows for the run store: "input" (reported, estimated),
        "output:<rule key>" (tokens, units) and "prior:<rule key>" (ratios to the prior, incidents)."""
        rows = [("input", self.input_reported, self.input_estimated)]
        rows += [(f"output:{key}", m.total, m.count) for key, m in sorted(self.output.items())]
        rows += [(f"prior:{key}", m.total, m.count) for key, m in sorted(self.prior_ratio.items())]
        return rows

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, float, float]]) -> Calibration:
        calibration = cls()
        for key, total, count in rows:
            if key == "input":
                calibration.input_reported, calibration.input_estimated = total, count
            elif key.startswith("output:"):
                calibration.output[key.removeprefix("output:")] = _Mean(total, count)
            elif key.startswith("prior:"):
                # The peak is not stored: a mean learned earlier is sized with headroom alone.
                calibration.prior_ratio[key.removeprefix("prior:")] = _Mean(total, count)
        return calibration


def _request_kind(incidents: Sequence[Incident]) -> str:
    """What makes requests alike for sizing: the rules they ask about and how many incidents (in
    powers of two: a reply's frame weighs on one incident, not on twenty)."""
    return "\n".join([*sorted({i.violation.key for i in incidents}), f"#{len(incidents).bit_length()}"])


def reply_shares(reply: ProposedFix, incidents: Sequence[Incident]) -> dict[str, float]:
    """How much of a reply went to each incident, in estimated tokens: each edit's texts (or its
    [from, to] pairs) and frame, split among the incidents it names (all of them when it names
    none of these), and each verdict's reason and frame. Only the proportions matter: the provider's
    count of the whole reply is shared out by them."""
    asked = [i.id for i in incidents]
    shares = dict.fromkeys(asked, 0.0)
    for edit in reply.edits:
        named = [i for i in edit.incident_ids if i in shares] or asked
        texts = [edit.old_text, edit.new_text, *(word for pair in edit.line_sub for word in pair)]
        tokens = sum(estimate_tokens(text) for text in texts) + ITEM_FRAME_TOKENS + len(named)
        for incident_id in named:
            shares[incident_id] += tokens / len(named)
    for verdict in reply.verdicts:
        if verdict.incident_id in shares and not verdict.implied:
            shares[verdict.incident_id] += estimate_tokens(verdict.explanation) + ITEM_FRAME_TOKENS
    return shares
