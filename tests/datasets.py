"""Data the tests read, all checked into the repository (tests never read outside it)."""

from __future__ import annotations

from pathlib import Path

# Real Konveyor analyzer outputs (origin and licence: tests/data/konveyor/README.md).
KONVEYOR_DATA = Path(__file__).resolve().parent / "data" / "konveyor"
