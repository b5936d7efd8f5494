"""Cold start of the local control plane to /readyz (binaries cached)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

NAME = "local control plane cold start (etcd + kube-apiserver to /readyz, then all 4 healthy)"
RUNS = 3


def run() -> list[str]:
    """Start and stop the local backend RUNS times; report median times."""
    from harness.backends.local import LocalCluster

    ready: list[float] = []
    full: list[float] = []
    stop: list[float] = []
    for i in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="ekswin-bench-") as tmp:
            marks: dict[str, float] = {}
            t0 = time.perf_counter()

            def progress(msg: str, marks: dict[str, float] = marks, t0: float = t0) -> None:
                if msg.startswith("starting kube-controller-manager"):
                    marks["readyz"] = time.perf_counter() - t0

            cluster = LocalCluster(Path(tmp) / "run", name=f"bench{i}")
            cluster.start(progress=progress)
            full.append(time.perf_counter() - t0)
            ready.append(marks["readyz"])
            t1 = time.perf_counter()
            cluster.stop()
            stop.append(time.perf_counter() - t1)
    import os

    return [
        f"cores: {os.cpu_count()}, runs: {RUNS}",
        f"API /readyz after launch: median {statistics.median(ready):.2f} s "
        f"(min {min(ready):.2f}, max {max(ready):.2f}); target < 6 s",
        f"all four components healthy: median {statistics.median(full):.2f} s",
        f"teardown: median {statistics.median(stop):.2f} s",
    ]
