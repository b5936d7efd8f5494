"""SteppedScheduler: virtual time, no threads; queues on it run only when stepped."""

from __future__ import annotations

import threading
from collections.abc import Hashable

import pytest

from controller.workqueue import SteppedScheduler, WorkQueue


def test_timers_fire_in_due_order_only_as_virtual_time_passes() -> None:
    s = SteppedScheduler()
    fired: list[tuple[str, float]] = []
    s.call_later(5, lambda: fired.append(("b", s.now())))
    s.call_later(1, lambda: fired.append(("a", s.now())))
    assert s.run() == 0 and fired == []
    s.advance(2)
    assert fired == [("a", 1.0)] and s.now() == 2.0
    s.advance(10)
    assert fired == [("a", 1.0), ("b", 5.0)] and s.now() == 12.0 and s.pending() == 0


def test_queue_runs_on_the_callers_thread_with_dedup_and_delayed_readds() -> None:
    s = SteppedScheduler()
    seen: list[tuple[Hashable, float, str]] = []

    def handler(key: Hashable) -> float | None:
        seen.append((key, s.now(), threading.current_thread().name))
        return 3.0 if key == "again" and len(seen) < 3 else None

    q = WorkQueue("q", handler, workers=4, timers=s)
    q.add("x")
    q.add("x")  # waiting already: not added twice
    q.add("again")
    assert seen == [] and q.depth() == 2  # nothing runs until stepped
    s.run()
    me = threading.current_thread().name
    assert seen == [("x", 0.0, me), ("again", 0.0, me)]
    s.advance(10)
    assert seen[2:] == [("again", 3.0, me)]  # re-added after its delay, once


def test_queues_take_turns_and_a_livelock_is_reported() -> None:
    s = SteppedScheduler()
    order: list[str] = []
    a = WorkQueue("a", lambda k: order.append(f"a{k}"), workers=1, timers=s)
    b = WorkQueue("b", lambda k: order.append(f"b{k}"), workers=1, timers=s)
    for i in range(2):
        a.add(i)
        b.add(i)
    s.run()
    assert order == ["a0", "b0", "a1", "b1"]

    spin = WorkQueue("spin", lambda k: 0.0, workers=1, timers=s)  # re-adds itself at once
    spin.add("k")
    with pytest.raises(RuntimeError, match="still busy after 50 items"):
        s.run(max_items=50)


def test_stop_drops_timers_and_stops_queues() -> None:
    s = SteppedScheduler()
    ran: list[Hashable] = []
    q = WorkQueue("q", lambda k: ran.append(k), workers=1, timers=s)
    s.call_later(1, lambda: q.add("late"))
    q.stop()
    s.stop()
    q.add("x")
    assert s.advance(5) == 0 and ran == []
