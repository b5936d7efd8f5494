"""Plain arithmetic the benchmarks print: percentiles, rates and ratios (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) by linear interpolation between closest ranks
    (numpy's default); ValueError on an empty sequence or `q` outside 0..100."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q={q!r}: expected 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class PodRun:
    """How a batch of pods went from their create call to Running."""

    total: int  # pods created
    running: int  # pods seen Running before the deadline
    p50_s: float  # create call started -> seen Running, over the pods that ran
    p99_s: float
    span_s: float  # first create call started -> last pod seen Running
    pods_per_s: float  # running / span


def pod_run(created: Mapping[str, float], running: Mapping[str, float]) -> PodRun:
    """Latencies and throughput from each pod's create-call start time and the time it
    was first seen Running (same clock; pods never seen Running count in `total` only)."""
    ran = {name: running[name] - t for name, t in created.items() if name in running}
    if not ran:
        return PodRun(len(created), 0, math.nan, math.nan, math.nan, 0.0)
    span = max(running[n] for n in ran) - min(created.values())
    return PodRun(
        total=len(created),
        running=len(ran),
        p50_s=percentile(list(ran.values()), 50),
        p99_s=percentile(list(ran.values()), 99),
        span_s=span,
        pods_per_s=len(ran) / span if span > 0 else math.inf,
    )


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is zero or not a number."""
    if not denominator or math.isnan(denominator):
        return math.nan
    return numerator / denominator
