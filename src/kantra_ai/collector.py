"""Pause Python's cyclic garbage collector during bounded bulk work.

Loading a 100,000-incident analysis and planning its requests builds millions of objects, none of
them garbage; every full collection walks them all again (a quarter of `plan`'s time). Reference
counting still frees everything as usual; only cycles wait for the collector, which runs again when
the last pause ends. Pauses nest and may overlap across threads (the web app plans in a worker).
Never around open-ended work (a real run, a server).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
