"""Poll a condition until it holds or a deadline passes (no bare sleeps to synchronise)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class WaitTimeout(TimeoutError):
    """A condition did not hold in time; the message names what was awaited."""


def wait_until(
    cond: Callable[[], Any],
    timeout_s: float = 30.0,
    what: str = "a condition",
    *,
    max_interval_s: float = 0.5,
) -> Any:
    """Poll `cond` until it returns something truthy (returned) or raise WaitTimeout.

    The poll interval starts at 50 ms and grows to `max_interval_s`, so quick conditions
    are seen quickly and slow ones do not hammer what they poll. The error names `what`
    and the last value `cond` returned.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(
                f"timed out after {timeout_s:g} s waiting for {what} (last: {value!r})"
            )
        time.sleep(min(delay, max_interval_s))
        delay *= 1.5
