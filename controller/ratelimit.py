"""Token bucket rate limiter, like client-go's flowcontrol and the controller's EC2 client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`qps` tokens per second, at most `burst` saved; `acquire` blocks until one is free.

    `qps` 0 means no limit (the fast timing profile lifts client rate limits)."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if qps < 0 or (qps > 0 and burst <= 0):
            raise ValueError(f"qps must be >= 0 and burst > 0, got qps={qps} burst={burst}")
        self.unlimited = qps == 0
        self.qps = float(qps)
        self.burst = int(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take a token (possibly going negative) and return how long to wait for it."""
        if self.unlimited:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.qps

    def acquire(self) -> float:
        """Block until a token is available; return the seconds waited."""
        wait = self._reserve()
        if wait > 0:
            time.sleep(wait)
        return wait
