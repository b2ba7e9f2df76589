"""The calibration of token estimates, kept in the run store by provider and model.

A run starts from what earlier runs on the tree learned (`engine/calibration.py`) and adds what it
learns itself; the dry run and `plan` read the same figures, so their estimates use real counts.
Figures are sums (reported and estimated tokens, output tokens and units), so a new run's figures
replace the stored ones: they already include them.
"""

from __future__ import annotations

import time

from kantra_ai.engine.calibration import Calibration
from kantra_ai.store.run_store import RunStore


def load_calibration(store: RunStore, provider: str, model: str) -> Calibration:
    rows = store.query(
        "SELECT key, total, count FROM calibration WHERE provider = ? AND model = ?", (provider, model)
    )
    return Calibration.from_rows((str(key), float(total), float(count)) for key, total, count in rows)


def save_calibration(store: RunStore, provider: str, model: str, calibration: Calibration) -> None:
    now = time.time()
    with store.tx(durable=False) as db:
        db.executemany(
            "INSERT INTO calibration (provider, model, key, total, count, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, model, key) DO UPDATE SET "
            "total = excluded.total, count = excluded.count, updated_at = excluded.updated_at",
            [(provider, model, key, total, count, now) for key, total, count in calibration.rows()],
        )
