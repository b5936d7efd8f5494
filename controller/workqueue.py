"""A keyed work queue with a fixed worker pool, and one timer thread for delayed work.

Like controller-runtime's workqueue: a key waiting in the queue is not added twice, a
key being processed is not processed concurrently (a re-add while it runs is queued
for after), and delayed re-adds go through a single heap-based timer thread.

`SteppedScheduler` replaces the timer thread with virtual time and runs every queue
built on it on the caller's thread, one item at a time, only when told to: the whole
controller then runs deterministically (the property-based tests drive it so).
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

    def now(self) -> float:
        """The clock these timers run on (monotonic seconds)."""
        return time.monotonic()

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
        self._threads: list[threading.Thread] = []
        if isinstance(timers, SteppedScheduler):
            timers.register(self)
            return
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
                key = self._take()
            self._process(key)

    def _take(self) -> Hashable:
        """Pop the next key and mark it processing (under the lock)."""
        key = self._queue.popleft()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def _process(self, key: Hashable) -> None:
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

    def step(self) -> bool:
        """Process one waiting key on this thread (stepped queues); False when none waits."""
        with self._cv:
            if self._stopped or not self._queue:
                return False
            key = self._take()
        self._process(key)
        return True

    def stop(self) -> None:
        """Stop the workers (the current handler calls finish)."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout=5)


class SteppedScheduler(TimerScheduler):
    """Virtual time and no threads: timers fire and queues run only in `run` / `advance`.

    Every `WorkQueue` built on it registers here and processes its keys on the caller's
    thread, so a run is a deterministic function of what the caller does. `now` is the
    clock to hand whatever measures time against these timers (the pools' cool-down).
    """

    def __init__(self, name: str = "stepped") -> None:  # no thread: super() not called
        self.name = name
        self._now = 0.0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._queues: list[WorkQueue] = []
        self._stopped = False

    def now(self) -> float:
        """Virtual seconds since the scheduler was made."""
        return self._now

    def register(self, queue: WorkQueue) -> None:
        """A queue built on this scheduler (in build order, which is the run order)."""
        self._queues.append(queue)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run `fn` once virtual time reaches now + `delay`."""
        if not self._stopped:
            heapq.heappush(self._heap, (self._now + max(delay, 0.0), next(self._seq), fn))

    def pending(self) -> int:
        """Number of timers waiting."""
        return len(self._heap)

    def next_due(self) -> float | None:
        """Virtual time of the next timer (None: none)."""
        return self._heap[0][0] if self._heap else None

    def run(self, max_items: int = 100_000) -> int:
        """Fire the timers due now and drain every queue until nothing is left to do now.

        Returns the number of timers and keys processed; RuntimeError after `max_items`
        (work that keeps re-queueing itself without time passing is a livelock).
        """
        done = 0
        while not self._stopped:
            moved = False
            while self._heap and self._heap[0][0] <= self._now:
                _, _, fn = heapq.heappop(self._heap)
                try:
                    fn()
                except Exception:
                    log.exception("timer callback failed")
                moved, done = True, done + 1
            for q in list(self._queues):  # one key each, in turn
                if q.step():
                    moved, done = True, done + 1
            if not moved:
                return done
            if done > max_items:
                raise RuntimeError(
                    f"{self.name}: still busy after {max_items} items at t={self._now:g}"
                )
        return done

    def advance(self, seconds: float, max_items: int = 100_000) -> int:
        """Let `seconds` of virtual time pass, running everything that falls due on the way."""
        target = self._now + max(seconds, 0.0)
        done = self.run(max_items)
        while not self._stopped and self._heap and self._heap[0][0] <= target:
            self._now = max(self._now, self._heap[0][0])
            done += self.run(max_items)
        self._now = target
        return done + self.run(max_items)

    def stop(self) -> None:
        """Drop every timer; queues stop on their own `stop`."""
        self._stopped = True
        self._heap.clear()


class ControllerRateLimiter:
    """client-go workqueue.DefaultControllerRateLimiter, as the custom pod controller uses
    it (controllers/custom/builder.go): per key 5 ms x 2^failures capped at 1000 s, and
    one 10 qps / burst 100 token bucket over all keys; the longer wait wins. `scale`
    shortens the per-key waits for the harness's fast timing profile (1.0: client-go's).
    """

    BASE_S = 0.005
    CAP_S = 1000.0
    QPS = 10.0
    BURST = 100

    def __init__(self, scale: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._scale = scale
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[Hashable, int] = {}
        self._tokens = float(self.BURST)
        self._last = clock()

    def when(self, key: Hashable) -> float:
        """AddRateLimited: the delay before `key` runs again (counts one more failure)."""
        with self._lock:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
            per_key = min(self.BASE_S * 2.0**n, self.CAP_S) * self._scale
            now = self._clock()
            self._tokens = min(self.BURST, self._tokens + (now - self._last) * self.QPS)
            self._last = now
            self._tokens -= 1.0  # a reservation: a negative balance is a wait
            bucket = max(0.0, -self._tokens / self.QPS)
            return max(per_key, bucket)

    def failures(self, key: Hashable) -> int:
        """NumRequeues."""
        with self._lock:
            return self._failures.get(key, 0)

    def forget(self, key: Hashable) -> None:
        """Forget: the key's next failure starts again at the base delay."""
        with self._lock:
            self._failures.pop(key, None)
