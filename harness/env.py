"""An ekswin environment: a cluster backend plus the emulated EKS-Windows components.

``Environment.start()`` runs a list of small named steps (kind-style) and reports
each through a progress callback; ``stop()`` undoes them in reverse order. Any
failure stops what was started and re-raises, so nothing is left half-created.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.backends.local import LocalCluster

Progress = Callable[[str], None]
Step = tuple[str, Callable[[Progress], None]]


@dataclass
class EnvOptions:
    """What `ekswin up` was asked for."""

    name: str
    run_dir: Path
    backend: str = "local"
    windows_nodes: int = 0
    instance_type: str = "m5.large"
    prefix_delegation: bool = False
    subnet: str = "192.168.0.0/19"
    max_pods: int = 110
    dsr: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Environment:
    """Start and stop everything one `ekswin up` owns."""

    def __init__(self, opts: EnvOptions) -> None:
        self.opts = opts
        self.run_dir = opts.run_dir
        self.cluster = LocalCluster(opts.run_dir, name=opts.name)
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self.endpoints: dict[str, str] = {}
        self.pipeline: Any = None  # harness.pipeline.Pipeline when nodes were asked for

    def start(self, progress: Progress | None = None) -> None:
        """Run every step; on failure undo the steps done so far and re-raise."""
        say = progress or (lambda msg: None)
        pre, post = self._component_steps()
        cluster_step: Step = (
            "Starting the control plane (etcd, kube-apiserver, controller-manager, scheduler)",
            self._start_cluster,
        )
        steps: list[Step] = [*pre, cluster_step, *post]
        try:
            for title, action in steps:
                t0 = time.monotonic()
                say(f"• {title} ...")
                action(say)
                say(f"✓ {title} ({time.monotonic() - t0:.1f} s)")
            self._write_state()
        except BaseException:
            self.stop()
            raise

    def _component_steps(self) -> tuple[list[Step], list[Step]]:
        """Steps before/after the control plane (EC2, HNS, controller, nodes) when asked for."""
        if self.opts.windows_nodes <= 0:
            return [], []
        from harness.pipeline import pipeline_steps

        return pipeline_steps(self)

    def on_stop(self, what: str, undo: Callable[[], None]) -> None:
        """Register an undo action (run in reverse order by stop())."""
        self._undo.append((what, undo))

    def _start_cluster(self, say: Progress) -> None:
        self.cluster.start(progress=lambda m: say(f"    {m}"))
        self.on_stop("control plane", self.cluster.stop)
        self.endpoints["kubernetes"] = self.cluster.server

    def _write_state(self) -> None:
        state = {
            "options": {
                k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.opts).items()
            },
            "endpoints": self.endpoints,
        }
        (self.run_dir / "env.json").write_text(json.dumps(state, indent=1))

    def stop(self) -> None:
        """Undo every step, newest first; also reap anything recorded in pids.json."""
        errors = []
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as e:  # keep tearing down the rest
                errors.append(f"{what}: {e}")
        self.cluster.supervisor.stop_all()
        if errors:
            raise RuntimeError("teardown problems: " + "; ".join(errors))


def remove_runtime_state(run_dir: Path) -> None:
    """Remove what a stopped run no longer needs (the tmpfs etcd data), keep logs."""
    try:
        info = json.loads((run_dir / "cluster.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return
    data = info.get("etcd_data")
    if data and Path(data).name.startswith("ekswin-etcd-"):
        shutil.rmtree(data, ignore_errors=True)
