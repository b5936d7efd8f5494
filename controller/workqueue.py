"""A keyed work queue with a fixed worker pool, and one timer thread for delayed work.

Like controller-runtime's workqueue: a key waiting in the queue is not added twice, a
key being processed is not processed concurrently (a re-add while it runs is queued
for after), and delayed re-adds go through a single heap-based timer thread.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)


class TimerScheduler:
    """One thread running callbacks at their due time (a heap, no sleeping thread per timer)."""

    def __init__(self, name: str = "timers") -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run `fn` (quickly: it should only enqueue work) after `delay` seconds."""
        due = time.monotonic() + max(delay, 0.0)
        with self._cv:
            heapq.heappush(self._heap, (due, next(self._seq), fn))
            self._cv.notify()

    def pending(self) -> int:
        """Number of timers waiting."""
        with self._cv:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cv.wait(timeout)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                log.exception("timer callback failed")

    def stop(self) -> None:
        """Stop the timer thread; pending timers are dropped."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        self._thread.join(timeout=5)


class WorkQueue:
    """Deduplicating keyed queue processed by `workers` threads calling `handler(key)`.

    The handler returns None, or a delay in seconds after which the key is re-added.
    """

    def __init__(
        self,
        name: str,
        handler: Callable[[Hashable], float | None],
        *,
        workers: int,
        timers: TimerScheduler,
    ) -> None:
        self.name = name
        self._handler = handler
        self._timers = timers
        self._queue: deque[Hashable] = deque()
        self._queued: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._cv = threading.Condition()
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def add(self, key: Hashable) -> None:
        """Queue `key` unless it is already waiting."""
        with self._cv:
            if self._stopped:
                return
            if key in self._processing:
                self._dirty.add(key)
                return
            if key in self._queued:
                return
            self._queued.add(key)
            self._queue.append(key)
            self._cv.notify()

    def add_after(self, key: Hashable, delay: float) -> None:
        """Queue `key` after `delay` seconds."""
        if delay <= 0:
            self.add(key)
        else:
            self._timers.call_later(delay, lambda: self.add(key))

    def depth(self) -> int:
        """Keys waiting."""
        with self._cv:
            return len(self._queue)

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and not self._queue:
                    self._cv.wait()
                if self._stopped:
                    return
                key = self._queue.popleft()
                self._queued.discard(key)
                self._processing.add(key)
            delay: float | None = None
            try:
                delay = self._handler(key)
            except Exception:
                log.exception("%s: handler failed for %r; retrying in 1s", self.name, key)
                delay = 1.0
            with self._cv:
                self._processing.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    if key not in self._queued:
                        self._queued.add(key)
                        self._queue.append(key)
                        self._cv.notify()
            if delay is not None:
                self.add_after(key, delay)

    def stop(self) -> None:
        """Stop the workers (the current handler calls finish)."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout=5)
