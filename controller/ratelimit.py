"""Client rate limiters, like client-go's flowcontrol and the controller's EC2 client.

`rate_limiter(qps, burst)` gives a token bucket, or no limit at all when qps is 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    """What a client calls before each request."""

    def acquire(self) -> float:
        """Block until the request may go; return the seconds waited."""
        ...


class TokenBucket:
    """`qps` tokens per second, at most `burst` saved; `acquire` blocks until one is free."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if qps <= 0 or burst <= 0:
            raise ValueError(f"qps and burst must be > 0, got qps={qps} burst={burst}")
        self.qps = float(qps)
        self.burst = int(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take a token (possibly going negative) and return how long to wait for it."""
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


class Unlimited:
    """No client-side limit (qps 0): every request goes at once."""

    def acquire(self) -> float:
        """Never waits."""
        return 0.0


def rate_limiter(qps: float, burst: int) -> RateLimiter:
    """A token bucket of `qps`/`burst`; qps 0 means no limit. Negative values are an error."""
    if qps < 0:
        raise ValueError(f"qps {qps}: expected >= 0 (0 means no rate limit)")
    if qps == 0:
        return Unlimited()
    if burst <= 0:
        raise ValueError(f"burst {burst}: expected > 0 when qps is {qps}")
    return TokenBucket(qps, burst)
