"""The range every number the user gives must lie in: options, config keys, analysis fields; and
what a URL option must be (`http_url_problem`).

One table, read by the command line (`cli/run_options.py`), the config file's settings
(`config/settings.py`) and the analysis loader (`analysis/schema.py`), so that a value is refused at
the edge, in one line naming where it came from, instead of doing something strange later:
`--max-cost nan` switching the budget off, `lineNumber: 99999999999999999999` overflowing SQLite.
NaN and infinities are never in range. Bottom-level: imports nothing from kantra_ai.
"""

from __future__ import annotations

import ipaddress
import math
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    low: float
    high: float
    low_open: bool = False  # the low end itself is not allowed (a budget of $0)
    integer: bool = False

    def problem(self, value: object) -> str | None:
        """Why `value` is out of range (one phrase), or None when it is fine."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{value!r} is not a number"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{value} is not a finite number"
        if self.integer and not float(value).is_integer():
            return f"{value} is not a whole number"
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or value > self.high:
            return f"{value} is out of range ({self.describe()})"
        return None

    def describe(self) -> str:
        low = _show(self.low)
        high = _show(self.high)
        return f"more than {low} and at most {high}" if self.low_open else f"{low} to {high}"


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


MAX_COST_USD = Bound(0.0, 1_000_000.0, low_open=True)
MAX_MINUTES = Bound(0.0, 100_000.0, low_open=True)  # --max-minutes: a run's wall time
CONFIDENCE = Bound(0.0, 1.0)
EFFORT = Bound(0, 1_000, integer=True)
RETRIES = Bound(0, 5, integer=True)
BATCH_SIZE = Bound(1, 10_000, integer=True)
PACK_FILES = Bound(1, 64, integer=True)  # --pack-files: small files per request (1: none packed)
PARALLELISM = Bound(1, 1_024, integer=True)
BATCH_TOKENS = Bound(2_000, 2_000_000, integer=True)
CHUNK_TOKENS = Bound(1_000, 2_000_000, integer=True)
PHASES = Bound(1, 10_000, integer=True)
RUNS_SHOWN = Bound(1, 1_000_000, integer=True)
RATE_LIMIT = Bound(1, 1_000_000_000_000, integer=True)  # requests or tokens per minute
PRICE_PER_MTOK = Bound(0.0, 1_000_000.0)  # USD per million tokens
POLL_SECONDS = Bound(0.05, 86_400.0)  # --poll-interval: a batch API answers within 24 h
BATCH_REQUESTS = Bound(1, 1_000_000, integer=True)  # --batch-max-requests: above every provider's cap
# An analyzer line number: 1-based, 0 for "the whole file"; no source file has 2^31 lines.
LINE_NUMBER = Bound(0, 2**31 - 1, integer=True)


def http_url_problem(value: str) -> str | None:
    """Why `value` is not a usable http(s) URL (one phrase), or None: the scheme, a host, a port in
    range and a well-formed IPv6 address, checked here rather than met as an HTTP client's traceback
    when the first request is made."""
    if not value.startswith(("http://", "https://")):
        return "expected an http:// or https:// URL"
    try:
        parts = urllib.parse.urlsplit(value)
        host, _port = parts.hostname, parts.port  # `port` raises for a port out of range or not a number
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if not host:
        return "the URL names no host"
    if parts.netloc.rpartition("@")[2].startswith("["):
        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return f"not a valid URL (bad IPv6 address {host!r})"
    return None
