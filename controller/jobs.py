"""Warm pool job dispatch: the providers' asynchronous job queue (worker.Worker upstream).

A pool's reconcile returns a job (create N, delete these, re-sync); it is queued here and
run on a worker by the `run` callback. Outstanding jobs are counted per node so the
introspection can tell whether EC2 work is still in flight.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Hashable

from controller.config import PoolMode
from controller.pool import JobOp, WarmPoolJob
from controller.workqueue import TimerScheduler, WorkQueue

RunJob = Callable[[str, PoolMode, WarmPoolJob], None]


class JobDispatcher:
    """Queues (node, mode, job) and runs each once on a worker pool."""

    def __init__(self, run: RunJob, *, workers: int, timers: TimerScheduler) -> None:
        self._run = run
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._jobs: dict[int, tuple[str, PoolMode, WarmPoolJob]] = {}
        self._outstanding: Counter[str] = Counter()
        self.queue = WorkQueue("jobs", self._work, workers=workers, timers=timers)

    def submit(self, node: str, mode: PoolMode, job: WarmPoolJob) -> None:
        """Queue `job` for the node's `mode` pool (a NONE job is dropped)."""
        if job.op is JobOp.NONE:
            return
        with self._lock:
            seq = next(self._seq)
            self._jobs[seq] = (node, mode, job)
            self._outstanding[node] += 1
        self.queue.add(seq)

    def outstanding(self, node: str | None = None) -> int:
        """Jobs queued or running, for one node or for all."""
        with self._lock:
            if node is not None:
                return self._outstanding.get(node, 0)
            return sum(self._outstanding.values())

    def nodes_with_work(self) -> list[str]:
        """The nodes that have jobs queued or running."""
        with self._lock:
            return list(self._outstanding)

    def _work(self, key: Hashable) -> float | None:
        with self._lock:
            entry = self._jobs.pop(int(key), None)  # type: ignore[call-overload]
        if entry is None:
            return None
        node, mode, job = entry
        try:
            self._run(node, mode, job)
        finally:
            with self._lock:
                self._outstanding[node] -= 1
                if self._outstanding[node] <= 0:
                    del self._outstanding[node]
        return None

    def stop(self) -> None:
        """Stop the workers."""
        self.queue.stop()
