"""The collector pauses for bulk work and always comes back, nested or not, error or not."""

from __future__ import annotations

import gc
import threading

import pytest

from kantra_ai.collector import collector_paused


def test_the_collector_is_back_after_nested_pauses_and_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_overlapping_pauses_in_two_threads_leave_the_collector_on() -> None:
    inside, leave = threading.Event(), threading.Event()

    def worker() -> None:
        with collector_paused():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=worker)
    with collector_paused():
        thread.start()
        inside.wait(5)
    assert not gc.isenabled()  # the worker's pause outlives ours
    leave.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
