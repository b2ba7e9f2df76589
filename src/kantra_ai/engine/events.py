"""Hooks through which progress displays and the run store follow a run as it happens."""

from __future__ import annotations

from collections.abc import Sequence

from kantra_ai.analysis.model import Incident
from kantra_ai.edits.model import Edit
from kantra_ai.engine.outcomes import IncidentOutcome, RequestRecord
from kantra_ai.engine.replies import PackShare
from kantra_ai.providers.base import ModelResponse


class RunObserver:
    """Does nothing; subclasses override what they care about. Called from the event loop thread."""

    def run_planned(self, requests: int, incidents: int) -> None:
        pass

    def request_started(self, path: str, incident_ids: tuple[str, ...]) -> None:
        """The engine starts a request; it may still wait for its turn (pacing) before it is sent."""

    def request_sent(self, path: str) -> None:
        """The request is going out to the provider now (again for each retry)."""

    def request_progress(self, path: str, received_chars: int) -> None:
        pass

    def request_finished(self, record: RequestRecord) -> None:
        pass

    def file_written(self, path: str, before_sha: str, after_sha: str, edits: list[Edit]) -> None:
        pass

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        pass

    def outcome_changed(self, incident_id: str, after: IncidentOutcome) -> None:
        """A hook changed an outcome the engine had reported (verification reverted a fix,
        re-analysis still finds the incident): displays move it from one count to the other."""

    def rate_limit_wait(self, seconds: float) -> None:
        """The run waits this long before the next request: the provider's rate limit (its buckets,
        or a 429/529 the provider answered). Progress displays show it."""

    # The run store's hooks (store/observer.py): enough to survive a kill at any moment.

    def reply_arrived(
        self, path: str, fingerprint: str, response: ModelResponse, cost: float | None = None
    ) -> None:
        """The reply's last event is in, inside the provider call, before anything else happens:
        the store keeps it now, with what it cost, so a kill from here on costs no second request
        and loses no cost."""

    def response_received(self, record: RequestRecord, fingerprint: str, response: ModelResponse) -> None:
        """A reply arrived, before it is checked or applied (and before `request_finished`)."""

    def response_reused(self, path: str, incident_ids: tuple[str, ...], fingerprint: str) -> None:
        """A stored reply stands in for a request that was paid for by an earlier, killed run."""

    def reply_shared(self, path: str, incident_ids: tuple[str, ...], fingerprint: str) -> None:
        """A request recorded under another file (a packed request, `engine/packed.py`) also asked
        for these incidents of `path`: its reply answers them too."""

    def pack_split(self, shares: Sequence[PackShare]) -> None:
        """A packed reply was split by file, before any file's share is applied: the store keeps
        the shares, so that a kill after some files of the pack were written costs no new request
        for the others (`engine/replies.py`)."""

    def reply_rejected(self, path: str, fingerprint: str, reason: str) -> None:
        """A reply could not be used (it did not parse, or was cut off): it must never stand in for
        its request again, so that the retry reaches the model."""

    def write_planned(
        self,
        path: str,
        before_sha: str,
        after_sha: str,
        outcomes: list[IncidentOutcome],
        contents: tuple[bytes, bytes] | None = None,
        edits: Sequence[Edit] = (),
    ) -> None:
        """About to replace a file; `outcomes` are the batch's outcomes if the write succeeds;
        `contents`, the file's bytes before and after (kept so the write can be undone); `edits`,
        the edits the write makes (kept with the intent: a write recovered after a kill has them)."""

    def batch_finished(self, path: str, outcomes: list[IncidentOutcome]) -> None:
        """A batch is over: every outcome of it was reported through `incident_done`."""


class ObserverGroup(RunObserver):
    """Fans every event out to several observers, in order."""

    def __init__(self, *observers: RunObserver) -> None:
        self.observers = list(observers)

    def run_planned(self, requests: int, incidents: int) -> None:
        for o in self.observers:
            o.run_planned(requests, incidents)

    def request_started(self, path: str, incident_ids: tuple[str, ...]) -> None:
        for o in self.observers:
            o.request_started(path, incident_ids)

    def request_sent(self, path: str) -> None:
        for o in self.observers:
            o.request_sent(path)

    def request_progress(self, path: str, received_chars: int) -> None:
        for o in self.observers:
            o.request_progress(path, received_chars)

    def request_finished(self, record: RequestRecord) -> None:
        for o in self.observers:
            o.request_finished(record)

    def file_written(self, path: str, before_sha: str, after_sha: str, edits: list[Edit]) -> None:
        for o in self.observers:
            o.file_written(path, before_sha, after_sha, edits)

    def incident_done(self, incident: Incident, outcome: IncidentOutcome) -> None:
        for o in self.observers:
            o.incident_done(incident, outcome)

    def outcome_changed(self, incident_id: str, after: IncidentOutcome) -> None:
        for o in self.observers:
            o.outcome_changed(incident_id, after)

    def rate_limit_wait(self, seconds: float) -> None:
        for o in self.observers:
            o.rate_limit_wait(seconds)

    def reply_arrived(
        self, path: str, fingerprint: str, response: ModelResponse, cost: float | None = None
    ) -> None:
        for o in self.observers:
            o.reply_arrived(path, fingerprint, response, cost)

    def response_received(self, record: RequestRecord, fingerprint: str, response: ModelResponse) -> None:
        for o in self.observers:
            o.response_received(record, fingerprint, response)

    def response_reused(self, path: str, incident_ids: tuple[str, ...], fingerprint: str) -> None:
        for o in self.observers:
            o.response_reused(path, incident_ids, fingerprint)

    def reply_shared(self, path: str, incident_ids: tuple[str, ...], fingerprint: str) -> None:
        for o in self.observers:
            o.reply_shared(path, incident_ids, fingerprint)

    def pack_split(self, shares: Sequence[PackShare]) -> None:
        for o in self.observers:
            o.pack_split(shares)

    def reply_rejected(self, path: str, fingerprint: str, reason: str) -> None:
        for o in self.observers:
            o.reply_rejected(path, fingerprint, reason)

    def write_planned(
        self,
        path: str,
        before_sha: str,
        after_sha: str,
        outcomes: list[IncidentOutcome],
        contents: tuple[bytes, bytes] | None = None,
        edits: Sequence[Edit] = (),
    ) -> None:
        for o in self.observers:
            o.write_planned(path, before_sha, after_sha, outcomes, contents, edits)

    def batch_finished(self, path: str, outcomes: list[IncidentOutcome]) -> None:
        for o in self.observers:
            o.batch_finished(path, outcomes)
