"""A stage whose work may wait lowers its own thread's priority, and only its own."""

from __future__ import annotations

import logging
import os
import sys
import threading

import pytest

from vigie_runtime.priority import lower_thread_priority

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice")


def nice_of_thread_after(nice: int) -> tuple[int, int, bool]:
    """(the thread's nice before, after, what the call said), in a thread of its own."""
    seen: dict[str, object] = {}

    def body() -> None:
        tid = threading.get_native_id()
        seen["before"] = os.getpriority(os.PRIO_PROCESS, tid)
        seen["done"] = lower_thread_priority(nice)
        seen["after"] = os.getpriority(os.PRIO_PROCESS, tid)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen["before"], seen["after"], seen["done"]  # type: ignore[return-value]


def test_the_calling_thread_yields_and_the_rest_of_the_process_does_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with caplog.at_level(logging.INFO, logger="vigie_runtime.priority"):  # the record is made
        before, after, done = nice_of_thread_after(5)
    assert done and after == min(19, before + 5)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before
    (record,) = [r for r in caplog.records if r.name == "vigie_runtime.priority"]
    assert record.nice == after  # type: ignore[attr-defined]


def test_zero_leaves_the_priority_alone() -> None:
    before, after, done = nice_of_thread_after(0)
    assert not done and after == before


def test_the_nice_value_stops_at_19() -> None:
    _, after, _ = nice_of_thread_after(40)
    assert after == 19


def test_idle_moves_only_the_calling_thread_to_sched_idle() -> None:
    seen: dict[str, int | bool] = {}

    def body() -> None:
        seen["done"] = lower_thread_priority(0, idle=True)
        seen["policy"] = os.sched_getscheduler(threading.get_native_id())

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == {"done": True, "policy": os.SCHED_IDLE}
    assert os.sched_getscheduler(threading.get_native_id()) == os.SCHED_OTHER
