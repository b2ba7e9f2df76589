"""`kantra-ai batches cancel`: cancel a tree's batch API submissions that are still with the provider.

No tree lock: a run waiting on the batches (`--wait`) keeps going and applies what they answered
before the cancellation took effect. Requests the cancellation stopped come back as cancelled; the
next `remediate ... --batch-api` treats them as `--batch-retry` says.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from kantra_ai.app.prepare import check_input_dir
from kantra_ai.errors import UserError
from kantra_ai.providers.batch_api import BatchApiError, BatchClient, BatchGone, open_batch_client
from kantra_ai.providers.registry import ProviderConfigError, resolve_preset
from kantra_ai.store.batches import BatchLedger, JobRow
from kantra_ai.store.schema import StoreError
from kantra_ai.store.session import open_store


@dataclass(frozen=True)
class Cancelled:
    submission: int  # the store's number for it
    batch: str | None  # the provider's batch id (None: not confirmed yet)
    status: str  # the provider's status after the cancel, or why there was none
    cancelled: bool


def cancel_batches(
    input_dir: Path, *, state: Path | None, batch: str | None = None, base_url: str | None = None
) -> list[Cancelled]:
    """Cancel every live submission of the tree (or the one `batch` names: a batch id or #number)."""
    check_input_dir(input_dir)
    try:
        store = open_store(input_dir, state, create=False)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    try:
        ledger = BatchLedger(store)
        jobs = ledger.live_jobs()
        if batch is not None:
            wanted = batch.removeprefix("#")
            jobs = [j for j in jobs if batch in j.remote_ids or str(j.id) == wanted]
            if not jobs:
                raise UserError(
                    f"--batch {batch}: no submission of this tree is still with the provider "
                    "(`kantra-ai status` lists them)"
                )
        return asyncio.run(_cancel(ledger, jobs, base_url))
    except StoreError as exc:
        raise UserError(str(exc)) from None
    finally:
        store.close()


async def _cancel(ledger: BatchLedger, jobs: list[JobRow], base_url: str | None) -> list[Cancelled]:
    done: list[Cancelled] = []
    clients: dict[tuple[str, str, str | None], BatchClient] = {}
    try:
        for job in jobs:
            if not job.remote_ids:
                done.append(
                    Cancelled(
                        job.id,
                        None,
                        "not confirmed by the provider yet: the next run settles it first",
                        False,
                    )
                )
                continue
            url = base_url or job.base_url
            key = (job.provider, job.model, url)
            if key not in clients:
                try:
                    preset = resolve_preset(job.provider)
                    clients[key] = open_batch_client(preset, job.model, base_url=url, tool_name=None)
                except ProviderConfigError as exc:
                    raise UserError(str(exc)) from exc
            client = clients[key]
            if job.guessed:  # it may be someone else's: cancelling it would cost them a day
                why = (
                    "not cancelled: found by time and size after a lost answer, it may be another "
                    "tree's batch on the same key (cancel it at the provider if it is this tree's)"
                )
                done += [Cancelled(job.id, remote_id, why, False) for remote_id in job.remote_ids]
                continue
            for remote_id in job.remote_ids:
                try:
                    remote = await client.cancel(remote_id)
                except BatchGone as exc:  # nothing left to cancel: its requests are let go
                    ledger.abandon(job.id, f"gone at the provider: {exc}")
                    done.append(Cancelled(job.id, remote_id, "gone: the provider no longer knows it", True))
                    continue
                except BatchApiError as exc:
                    done.append(Cancelled(job.id, remote_id, str(exc), False))
                    continue
                ledger.cancel_requested(job.id)
                ledger.polled(job.id, remote.status, remote.counts)
                done.append(Cancelled(job.id, remote_id, remote.status, True))
    finally:
        for client in clients.values():
            await client.aclose()
    return done
